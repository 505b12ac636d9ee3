#include "experiments/attention/problem.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "kernels/common/attention/reference.h"
#include "kernels/common/attention/tolerances.h"

namespace talklab::experiments::attention {

attn::AttnShape shape_of(const Params& p) {
  attn::AttnShape s;
  s.B = p.integer("batch");
  s.H = p.integer("heads");
  s.H_kv = p.integer("kv_heads");
  s.S_q = s.S_kv = p.integer("seq");
  s.D = p.integer("head_dim");
  return s;
}

attn::DType dtype_of(const Params& p) { return p.str("dtype") == "bf16" ? attn::DType::bf16 : attn::DType::f32; }

size_t element_bytes(attn::DType dtype) { return dtype == attn::DType::bf16 ? 2 : 4; }

std::vector<int64_t> document_lengths(int64_t seq) {
  std::mt19937_64 rng(uint64_t(seq) * 0x9E3779B97F4A7C15ull);
  std::uniform_int_distribution<int64_t> len(1, std::max<int64_t>(1, seq / 3));
  std::vector<int64_t> out;
  int64_t left = seq;
  while (left > 0) {
    const int64_t n = std::min(left, len(rng));
    out.push_back(n);
    left -= n;
  }
  return out;
}

attn::MaskSpec mask_spec_of(const Params& p) {
  const std::string& name = p.str("mask");
  const int64_t seq = p.integer("seq");
  std::string spec_name = name;
  if (name == "sliding_window") spec_name += ":" + std::to_string(p.integer("window"));
  if (name == "prefix_lm") spec_name += ":" + std::to_string(seq / 4);
  attn::MaskSpec spec = attn::MaskSpec::parse(spec_name);
  if (spec.mask == attn::MaskKind::document) spec.doc_lengths = document_lengths(seq);
  return spec;
}

namespace {

uint16_t to_bf16(float x) {  // round to nearest even; inputs are finite
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return uint16_t(bits >> 16);
}

void fill_normal(memory::Buffer<std::byte>& buf, attn::DType dtype, std::mt19937_64& rng) {
  std::normal_distribution<float> d(0.f, 1.f);
  if (dtype == attn::DType::f32) {
    float* p = reinterpret_cast<float*>(buf.data());
    for (size_t i = 0; i < buf.size() / 4; ++i) p[i] = d(rng);
  } else {
    uint16_t* p = reinterpret_cast<uint16_t*>(buf.data());
    for (size_t i = 0; i < buf.size() / 2; ++i) p[i] = to_bf16(d(rng));
  }
}

}  // namespace

void Inputs::fill(uint64_t seed) {
  const size_t e = element_bytes(dtype);
  q = memory::Buffer<std::byte>(size_t(shape.B * shape.H * shape.S_q * shape.D) * e);
  k = memory::Buffer<std::byte>(size_t(shape.B * shape.H_kv * shape.S_kv * shape.D) * e);
  v = memory::Buffer<std::byte>(k.size());
  std::mt19937_64 rng(seed);
  fill_normal(q, dtype, rng);
  fill_normal(k, dtype, rng);
  fill_normal(v, dtype, rng);
}

attn::AttnTensors Inputs::tensors(void* out, float* lse) const {
  attn::AttnTensors t;
  t.dtype = dtype;
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  t.o = out;
  t.lse = lse;
  return t;
}

std::vector<attn::RowId> rows_to_check(const attn::AttnShape& s, uint64_t seed) {
  std::vector<attn::RowId> rows;
  const int64_t total = s.B * s.H * s.S_q;
  if (total <= 4 * kSampledRows) {
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t q = 0; q < s.S_q; ++q) rows.push_back({b, h, q});
    return rows;
  }
  for (int64_t h = 0; h < s.H; h += std::max<int64_t>(1, s.H / s.H_kv)) {
    rows.push_back({0, h, 0});
    rows.push_back({s.B - 1, h, s.S_q - 1});
  }
  std::mt19937_64 rng(seed ^ 0xA5A5A5A5ull);
  std::uniform_int_distribution<int64_t> b(0, s.B - 1), h(0, s.H - 1), q(0, s.S_q - 1);
  while (int64_t(rows.size()) < kSampledRows) rows.push_back({b(rng), h(rng), q(rng)});
  return rows;
}

std::vector<Axis> problem_axes() {
  const std::vector<std::string> masks = {"full",      "causal",         "sliding_window", "document",
                                          "prefix_lm", "causal+softcap", "causal+alibi"};
  return {string_axis("mask", masks, "mask_mod (+ score_mod)"),
          int_axis("seq", "sequence length, queries = keys"),
          int_axis("window", "sliding_window: keys per query, its own position included"),
          int_axis("heads", "query heads"),
          int_axis("kv_heads", "key/value heads (grouped-query attention when fewer than heads)"),
          int_axis("head_dim", "D"),
          int_axis("batch", "B"),
          dtype_axis("dtype", {"f32", "bf16"}, "inputs and outputs; accumulation is float32")};
}

std::string problem_skip(const Params& p) {
  const int64_t heads = p.integer("heads"), kv = p.integer("kv_heads");
  if (kv < 1 || heads % kv != 0) return fmt::format("kv_heads {} does not divide heads {}", kv, heads);
  if (p.integer("head_dim") > attn::kMaxHeadDim) return fmt::format("head_dim above {}", attn::kMaxHeadDim);
  if (p.integer("seq") < 1 || p.integer("batch") < 1 || p.integer("head_dim") < 1) return "sizes must be positive";
  if (p.str("mask") == "sliding_window" && p.integer("window") < 1) return "window must be at least 1";
  return "";
}

bool is_block_mask_point(const Params& p) {
  const std::string& m = p.str("mask");
  return (m == "causal" || m == "sliding_window" || m == "document" || m == "prefix_lm") && p.str("dtype") == "f32";
}

double flash_tolerance(attn::DType dtype) {
  return dtype == attn::DType::bf16 ? attn::kOutTolBf16 : attn::kOutTolF32;
}

double torch_tolerance(attn::DType dtype) { return dtype == attn::DType::bf16 ? 6e-2 : attn::kOutTolF32; }

Accuracy check_output(const Inputs& in, const attn::MaskSpec& spec, const void* out, uint64_t seed,
                      double tolerance) {
  const attn::AttnShape& s = in.shape;
  const std::vector<attn::RowId> rows = rows_to_check(s, seed);
  const attn::BuiltMods mods = attn::build_mods(spec, s.H, s.S_q, s.S_kv);
  const attn::ReferenceRows ref = attn::reference_attention_rows(mods, s, in.tensors(nullptr, nullptr), 0.0, rows);
  AccuracyAccumulator acc;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t base = ((rows[r].b * s.H + rows[r].h) * s.S_q + rows[r].q) * s.D;
    for (int64_t d = 0; d < s.D; ++d) acc.add(attn::load_element(out, in.dtype, base + d), ref.out[r * size_t(s.D) + size_t(d)]);
  }
  return acc.finish(Tolerance{tolerance});
}

void add_block_counters(Counters& out, const attn::MaskSpec& spec, const attn::AttnShape& s, double executed_flops,
                        int64_t full_blocks, int64_t partial_blocks, double plan_build_s) {
  out.emplace_back("executed_flops", executed_flops);
  out.emplace_back("full_blocks", double(full_blocks));
  out.emplace_back("partial_blocks", double(partial_blocks));
  out.emplace_back("density", attn::useful_flops(spec, s) / (4.0 * double(s.D * s.B * s.H * s.S_q * s.S_kv)));
  out.emplace_back("plan_build_s", plan_build_s);
}

}  // namespace talklab::experiments::attention
