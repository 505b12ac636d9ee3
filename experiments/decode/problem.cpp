// The decode problem, its inputs and its gate (problem.h).
#include "experiments/decode/problem.h"

#include <fmt/format.h>

#include <random>

#include "kernels/cpu/decode/decode_reference.h"
#include "kernels/cpu/decode/decode_tolerances.h"
#include "kernels/cpu/quant/bf16.h"

namespace talklab::experiments::decode {
namespace {

constexpr int64_t kSampledRows = 96;

std::vector<dec::ReferenceRow> rows_to_check(const dec::DecodeShape& s, uint64_t seed) {
  std::vector<dec::ReferenceRow> rows;
  if (s.B * s.H * s.q_len <= 2 * kSampledRows) {
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t i = 0; i < s.q_len; ++i) rows.push_back({b, h, i});
    return rows;
  }
  rows.push_back({0, 0, 0});
  rows.push_back({s.B - 1, s.H - 1, s.q_len - 1});
  std::mt19937_64 rng(seed ^ 0xDEC0DEull);
  std::uniform_int_distribution<int64_t> b(0, s.B - 1), h(0, s.H - 1), i(0, s.q_len - 1);
  while (int64_t(rows.size()) < kSampledRows) rows.push_back({b(rng), h(rng), i(rng)});
  return rows;
}

}  // namespace

Problem problem_of(const Params& p) {
  Problem r;
  r.shape = {p.integer("batch"), p.integer("heads"), p.integer("kv_heads"), p.integer("q_len"), p.integer("head_dim")};
  r.context = p.integer("context");
  r.page_size = p.integer("page_size");
  r.format = dec::format_from_name(p.str("kv_dtype"));
  r.split_off = p.str("split") == "off";
  return r;
}

void Inputs::fill(const Problem& p, uint64_t seed) {
  const dec::DecodeShape& s = p.shape;
  const size_t nkv = size_t(s.B * s.H_kv * p.context * s.D), nq = size_t(s.B * s.H * s.q_len * s.D);
  k = memory::Buffer<float>(nkv);
  v = memory::Buffer<float>(nkv);
  q = memory::Buffer<uint16_t>(nq);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (size_t i = 0; i < nkv; ++i) k[i] = nd(rng);
  for (size_t i = 0; i < nkv; ++i) v[i] = nd(rng);
  for (size_t i = 0; i < nq; ++i) q[i] = cpu::quant::float_to_bf16(nd(rng));
  lengths.assign(size_t(s.B), int32_t(p.context));
}

double kv_bytes_per_token(const Problem& p) { return dec::kv_bytes_per_token(p.format, p.shape.D) * double(p.shape.H_kv); }

double kv_bytes_read(const Problem& p) { return kv_bytes_per_token(p) * double(p.context * p.shape.B); }

double useful_flops(const Problem& p) {
  const dec::DecodeShape& s = p.shape;
  return 4.0 * double(s.D) * double(s.B * s.H * s.q_len) * double(p.context);
}

Accuracy check_output(const Problem& p, const Inputs& in, const uint16_t* out, uint64_t seed, const Tolerance& tol) {
  const dec::DecodeShape& s = p.shape;
  const std::vector<dec::ReferenceRow> rows = rows_to_check(s, seed);
  const std::vector<double> ref = dec::decode_reference(s, dec::DType::bf16, in.q.data(), in.k.data(), in.v.data(),
                                                        p.context, in.lengths.data(), dec::DecodeOptions{}, rows);
  AccuracyAccumulator acc;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t base = ((rows[r].b * s.H + rows[r].h) * s.q_len + rows[r].qi) * s.D;
    for (int64_t d = 0; d < s.D; ++d)
      acc.add(double(cpu::quant::bf16_to_float(out[base + d])), ref[r * size_t(s.D) + size_t(d)]);
  }
  return acc.finish(tol);
}

Tolerance our_tolerance(const dec::KvFormat& f) {
  if (f.dtype == dec::KvDtype::bf16) return Tolerance{dec::kBf16MaxRelError};
  // Quantized: the SQNR floor is the gate; a normwise bound of 1 still fails an O(1) indexing error's worst rows.
  return Tolerance{1.0, dec::min_sqnr_db(f)};
}

Tolerance torch_tolerance() { return Tolerance{6e-2}; }

}  // namespace talklab::experiments::decode
