#include "experiments/attention/backward_problem.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "kernels/common/attention/reference_backward.h"
#include "kernels/common/attention/tolerances.h"

namespace talklab::experiments::attention {

bool is_step(const Params& p) { return p.str("pass") == "step"; }

memory::Buffer<std::byte> make_grad_output(const Inputs& in, uint64_t seed) {
  const attn::AttnShape& s = in.shape;
  const size_t n = size_t(s.B * s.H * s.S_q * s.D);
  memory::Buffer<std::byte> out(n * element_bytes(in.dtype));
  std::mt19937_64 rng(seed ^ 0x5EEDD0D0ull);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (size_t i = 0; i < n; ++i) {
    const float x = nd(rng);
    if (in.dtype == attn::DType::f32) {
      reinterpret_cast<float*>(out.data())[i] = x;
    } else {
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      bits += 0x7FFF + ((bits >> 16) & 1);  // round to nearest even
      reinterpret_cast<uint16_t*>(out.data())[i] = uint16_t(bits >> 16);
    }
  }
  return out;
}

Accuracy check_grads(const Inputs& in, const void* d_o, const attn::MaskSpec& spec, const void* dq, const void* dk,
                     const void* dv, uint64_t seed, double tolerance) {
  const attn::AttnShape& s = in.shape;
  constexpr int kRows = 24;
  std::mt19937_64 rng(seed ^ 0xB4C4ull);
  const int64_t b = s.B - 1, hk = int64_t(rng() % uint64_t(s.H_kv)), group = s.H / s.H_kv, h0 = hk * group;
  std::vector<attn::QueryRow> q_rows{{h0, 0}, {h0 + group - 1, s.S_q - 1}};
  std::vector<int64_t> kv_rows{0, s.S_kv - 1};
  while (int64_t(q_rows.size()) < std::min<int64_t>(kRows, group * s.S_q))
    q_rows.push_back({h0 + int64_t(rng() % uint64_t(group)), int64_t(rng() % uint64_t(s.S_q))});
  while (int64_t(kv_rows.size()) < std::min<int64_t>(kRows, s.S_kv))
    kv_rows.push_back(int64_t(rng() % uint64_t(s.S_kv)));
  const attn::BuiltMods mods = attn::build_mods(spec, s.H, s.S_q, s.S_kv);
  const attn::ReferenceGradRows ref =
      attn::reference_attention_backward_rows(mods, s, in.tensors(nullptr, nullptr), d_o, 0.0, b, hk, q_rows, kv_rows);
  AccuracyAccumulator acc_q, acc_k, acc_v;
  for (size_t r = 0; r < q_rows.size(); ++r) {
    const int64_t base = ((b * s.H + q_rows[r].h) * s.S_q + q_rows[r].q) * s.D;
    for (int64_t d = 0; d < s.D; ++d)
      acc_q.add(attn::load_element(dq, in.dtype, base + d), ref.dq[r * size_t(s.D) + size_t(d)], "dQ");
  }
  for (size_t r = 0; r < kv_rows.size(); ++r) {
    const int64_t base = ((b * s.H_kv + hk) * s.S_kv + kv_rows[r]) * s.D;
    for (int64_t d = 0; d < s.D; ++d) {
      acc_k.add(attn::load_element(dk, in.dtype, base + d), ref.dk[r * size_t(s.D) + size_t(d)], "dK");
      acc_v.add(attn::load_element(dv, in.dtype, base + d), ref.dv[r * size_t(s.D) + size_t(d)], "dV");
    }
  }
  // Each gradient normwise on its own (their scales differ); the result is the worst of the three.
  Accuracy worst;
  bool first = true;
  for (const Accuracy& a : {acc_q.finish(Tolerance{tolerance}), acc_k.finish(Tolerance{tolerance}),
                            acc_v.finish(Tolerance{tolerance})}) {
    const int64_t checked = worst.checked_elements + a.checked_elements;
    if (first || (!a.passed && worst.passed) || (a.passed == worst.passed && a.max_rel_error > worst.max_rel_error))
      worst = a;
    worst.checked_elements = checked;
    first = false;
  }
  return worst;
}

double flash_grad_tolerance(attn::DType dtype) {
  return dtype == attn::DType::bf16 ? attn::kGradTolBf16 : attn::kGradTolF32;
}

double torch_grad_tolerance(attn::DType dtype) { return dtype == attn::DType::bf16 ? 6e-2 : attn::kGradTolF32; }

}  // namespace talklab::experiments::attention
