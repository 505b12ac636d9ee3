// kernels/cuda/attention/flash_cuda.h: the host-side plan (runs everywhere) and the kernel against the float64
// reference (GPU only): every mask and score mod, D 64 and 128, bf16 and fp16, grouped-query heads, sequence lengths
// that are not multiples of the tiles, S_q != S_kv, fully masked rows; outputs poisoned with NaN before each run,
// LSE checked, and the tiles the kernel executed counted on the device against the block mask's.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "harness/cuda/memory.h"
#include "kernels/common/attention/reference.h"
#include "kernels/cuda/attention/flash_cuda.h"
#include "kernels/cuda/attention/flash_cuda_tolerances.h"
#include "tests/kernels/cuda/require_gpu.h"
#include "tests/message_of.h"

namespace talklab::cuda::attention {
namespace {

common_attn::AttnShape shape(int64_t B, int64_t H, int64_t H_kv, int64_t S_q, int64_t S_kv, int64_t D) {
  common_attn::AttnShape s;
  s.B = B;
  s.H = H;
  s.H_kv = H_kv;
  s.S_q = S_q;
  s.S_kv = S_kv;
  s.D = D;
  return s;
}

common_attn::MaskSpec spec_for(const std::string& name, int64_t S) {
  common_attn::MaskSpec spec = common_attn::MaskSpec::parse(name);
  if (spec.mask == common_attn::MaskKind::document) {  // documents of 1, 37, 130, ... tokens, the last one cut at S
    int64_t left = S;
    for (int64_t n = 1; left > 0; n = n * 3 + 34) {
      spec.doc_lengths.push_back(std::min(n, left));
      left -= spec.doc_lengths.back();
    }
  }
  return spec;
}

using test::message_of;

// ---- host side: no GPU needed ----------------------------------------------------------------------------------

TEST(FlashCudaPlan, RefusesUnsupportedArgumentsNamingThem) {
  const common_attn::MaskSpec causal = common_attn::MaskSpec::parse("causal");
  std::string m = message_of([&] { make_flash_launch_plan(shape(1, 8, 2, 100, 100, 96), causal, ElementType::bf16); });
  EXPECT_NE(m.find("head_dim 96"), std::string::npos) << m;
  EXPECT_NE(m.find("64, 128"), std::string::npos) << m;
  m = message_of([&] { make_flash_launch_plan(shape(1, 8, 2, 100, 100, 128), causal, ElementType::f32); });
  EXPECT_NE(m.find("dtype f32"), std::string::npos) << m;
  EXPECT_NE(m.find("bf16, fp16"), std::string::npos) << m;
  m = message_of([&] { make_flash_launch_plan(shape(1, 8, 2, 100, 100, 64), causal, ElementType::bf16, 0.f, 24); });
  EXPECT_NE(m.find("warp_rows 24"), std::string::npos) << m;
  EXPECT_NE(m.find("16, 32"), std::string::npos) << m;
  m = message_of([&] { make_flash_launch_plan(shape(1, 8, 3, 100, 100, 64), causal, ElementType::fp16); });
  EXPECT_NE(m.find("kv heads 3 do not divide query heads 8"), std::string::npos) << m;
  m = message_of([&] { make_flash_launch_plan(shape(1, 8, 2, 0, 100, 64), causal, ElementType::bf16); });
  EXPECT_NE(m.find("S_q 0"), std::string::npos) << m;
  common_attn::MaskSpec rel = common_attn::MaskSpec::parse("causal+rel_bias:4");
  rel.rel_bias.assign(8 * 9, 0.5f);
  m = message_of([&] { make_flash_launch_plan(shape(1, 8, 2, 100, 100, 64), rel, ElementType::bf16); });
  EXPECT_NE(m.find("rel_bias is not supported"), std::string::npos) << m;
  // What the CPU kernel's mod builder refuses, the plan refuses too.
  m = message_of([&] {
    make_flash_launch_plan(shape(1, 8, 2, 100, 90, 64), spec_for("document", 100), ElementType::bf16);
  });
  EXPECT_NE(m.find("document lengths"), std::string::npos) << m;
}

TEST(FlashCudaPlan, RunRefusesAShapeOtherThanThePlans) {
  const FlashLaunchPlan plan =
      make_flash_launch_plan(shape(2, 8, 2, 300, 300, 128), common_attn::MaskSpec::parse("causal"), ElementType::bf16);
  EXPECT_NO_THROW(check_same_shape(plan, shape(2, 8, 2, 300, 300, 128)));
  const std::string m = message_of([&] { check_same_shape(plan, shape(2, 8, 2, 300, 300, 64)); });
  EXPECT_NE(m.find("head_dim 64 differs from the plan's 128"), std::string::npos) << m;
  EXPECT_THROW(check_same_shape(plan, shape(2, 8, 4, 300, 300, 128)), std::invalid_argument);
  EXPECT_THROW(check_same_shape(plan, shape(2, 8, 2, 301, 300, 128)), std::invalid_argument);
}

TEST(FlashCudaPlan, LaunchOrderIsHeaviestFirstAndCoversEveryWorkItemOnce) {
  for (const std::string name : {"full", "causal", "sliding_window:300", "prefix_lm:500", "document"}) {
    const common_attn::AttnShape s = shape(3, 4, 2, 2000, 2000, 64);
    const FlashLaunchPlan plan = make_flash_launch_plan(s, spec_for(name, 2000), ElementType::bf16);
    const common_attn::BlockMask& bm = plan.block_mask;
    ASSERT_EQ(bm.q_block, kQTile);
    ASSERT_EQ(bm.kv_block, kKvTile);
    ASSERT_EQ(int64_t(plan.work.size()), s.B * s.H * bm.num_q_blocks) << name;
    std::vector<int32_t> sorted = plan.work;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int32_t> every(sorted.size());
    std::iota(every.begin(), every.end(), 0);
    EXPECT_EQ(sorted, every) << name << ": not every (b, h, q block) exactly once";
    for (size_t i = 1; i < plan.work.size(); ++i) {
      ASSERT_GE(work_item_tiles(bm, s.H, plan.work[i - 1]), work_item_tiles(bm, s.H, plan.work[i]))
          << name << " at position " << i;
    }
  }
  // Causal: the last query block has the most key blocks, so it leads.
  const common_attn::AttnShape s = shape(1, 1, 1, 1000, 1000, 128);
  const FlashLaunchPlan plan = make_flash_launch_plan(s, spec_for("causal", 1000), ElementType::bf16);
  EXPECT_EQ(plan.work.front(), plan.block_mask.num_q_blocks - 1);
  EXPECT_EQ(plan.work.back(), 0);
}

// The kernel's mask is row_interval; it must be exactly mask.h's mod at every (q, kv < S_kv).
TEST(FlashCudaPlan, RowIntervalsAreTheMaskMods) {
  struct Case {
    std::string name;
    int64_t S_q, S_kv;
  };
  const Case cases[] = {{"full", 70, 130},          {"causal", 130, 70},         {"causal", 70, 130},
                        {"sliding_window:1", 90, 90}, {"sliding_window:17", 150, 60}, {"prefix_lm:0", 80, 80},
                        {"prefix_lm:33", 60, 140},  {"prefix_lm:500", 80, 80},   {"document", 200, 200}};
  for (const Case& c : cases) {
    const common_attn::MaskSpec spec = spec_for(c.name, c.S_q);
    const FlashLaunchPlan plan = make_flash_launch_plan(shape(1, 2, 1, c.S_q, c.S_kv, 64), spec, ElementType::fp16);
    const common_attn::BuiltMods mods = common_attn::build_mods(spec, 2, c.S_q, c.S_kv);
    int64_t mismatches = 0;
    common_attn::visit_mods(mods, [&](const auto& mask, const auto&) {
      for (int q = 0; q < c.S_q; ++q) {
        const KeyInterval iv = row_interval(plan.mask, q, int(c.S_kv), plan.spec.window, plan.spec.prefix,
                                            plan.doc_start.empty() ? nullptr : plan.doc_start.data());
        for (int kv = 0; kv < c.S_kv; ++kv) mismatches += (iv.lo <= kv && kv <= iv.hi) != mask(0, 0, q, kv);
      }
      return 0;
    });
    EXPECT_EQ(mismatches, 0) << c.name << " S_q " << c.S_q << " S_kv " << c.S_kv;
  }
}

// The kernel evaluates no mask on FULL blocks (other than the last, short key block) and never visits empty ones:
// with the kernel's tiles, every FULL block must lie inside the row intervals and every skipped block outside.
TEST(FlashCudaPlan, FullBlocksNeedNoMaskAndSkippedBlocksAreEmpty) {
  for (const std::string name : {"causal", "sliding_window:100", "prefix_lm:200", "document"}) {
    const int64_t S_q = 700, S_kv = name == "document" ? 700 : 500;
    const FlashLaunchPlan plan =
        make_flash_launch_plan(shape(1, 1, 1, S_q, S_kv, 64), spec_for(name, S_q), ElementType::bf16);
    const common_attn::BlockMask& bm = plan.block_mask;
    for (int qb = 0; qb < bm.num_q_blocks; ++qb) {
      std::vector<common_attn::BlockKind> kind(size_t(bm.num_kv_blocks), common_attn::BlockKind::empty);
      for (int kb : bm.full(bm.row(0, 0, qb))) kind[size_t(kb)] = common_attn::BlockKind::full;
      for (int kb : bm.partial(bm.row(0, 0, qb))) kind[size_t(kb)] = common_attn::BlockKind::partial;
      for (int q = qb * kQTile; q < std::min<int64_t>((qb + 1) * kQTile, S_q); ++q) {
        const KeyInterval iv = row_interval(plan.mask, q, int(S_kv), plan.spec.window, plan.spec.prefix,
                                            plan.doc_start.empty() ? nullptr : plan.doc_start.data());
        for (int kv = 0; kv < S_kv; ++kv) {
          const bool visible = iv.lo <= kv && kv <= iv.hi;
          const common_attn::BlockKind k = kind[size_t(kv / kKvTile)];
          if (k == common_attn::BlockKind::full) {
            ASSERT_TRUE(visible) << name << " q " << q << " kv " << kv << ": FULL block with a masked element";
          }
          if (k == common_attn::BlockKind::empty) {
            ASSERT_FALSE(visible) << name << " q " << q << " kv " << kv << ": skipped block with a visible element";
          }
        }
      }
    }
    const common_attn::FlashStats st = flash_cuda_stats(plan);
    EXPECT_EQ(st.full_blocks, bm.num_full()) << name;
    EXPECT_EQ(st.partial_blocks, bm.num_partial()) << name;
  }
}

TEST(FlashCudaPlan, CarriesWhatTheModsNeed) {
  const FlashLaunchPlan alibi = make_flash_launch_plan(shape(1, 8, 2, 100, 100, 64),
                                                       common_attn::MaskSpec::parse("causal+alibi"), ElementType::bf16);
  EXPECT_EQ(alibi.score, ScoreMod::alibi);
  EXPECT_EQ(alibi.alibi_slopes, common_attn::alibi_slopes(8));
  EXPECT_FLOAT_EQ(alibi.scale, 0.125f);  // 1 / sqrt(64)
  const FlashLaunchPlan doc =
      make_flash_launch_plan(shape(1, 8, 2, 300, 300, 64), spec_for("document", 300), ElementType::bf16);
  EXPECT_EQ(doc.mask, RowMask::document);
  ASSERT_EQ(doc.doc_start.size(), 300u);
  EXPECT_EQ(doc.doc_start[0], 0);
  EXPECT_EQ(doc.doc_start[1], 1);    // the first document is one token long
  EXPECT_EQ(doc.doc_start[37], 1);   // the second, 37 tokens
  EXPECT_EQ(doc.doc_start[38], 38);
}

// ---- the kernel (GPU) ----------------------------------------------------------------------------------------

// Normal values rounded to bf16 and kept out of fp16's subnormal range (|x| >= 2^-14): exact in bf16, fp16 and
// float, so both dtypes and the float64 reference see the same numbers.
std::vector<float> random_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) {
    uint32_t bits = std::bit_cast<uint32_t>(d(rng));
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000u;
    x = std::bit_cast<float>(bits);
    if (std::fabs(x) < 0x1p-14f) x = std::copysign(0x1p-14f, x);
  }
  return v;
}

uint16_t encode(float x, ElementType t) {  // exact for the values above
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  if (t == ElementType::bf16) return uint16_t(bits >> 16);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int32_t exponent = int32_t((bits >> 23) & 0xFF) - 127 + 15;
  return uint16_t(sign | (uint32_t(exponent) << 10) | ((bits >> 13) & 0x3FFu));
}

double decode(uint16_t h, ElementType t) {
  if (t == ElementType::bf16) return double(std::bit_cast<float>(uint32_t(h) << 16));
  const int exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0x1F) return mantissa ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(double(mantissa), -24);
  return sign * std::ldexp(double(mantissa + 1024), exponent - 25);
}

std::vector<common_attn::RowId> rows_to_check(const common_attn::AttnShape& s, uint64_t seed) {
  std::vector<common_attn::RowId> rows;
  if (s.B * s.H * s.S_q <= 1200) {  // every row; else both ends and 24 random rows per (b, h)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t q = 0; q < s.S_q; ++q) rows.push_back({b, h, q});
    return rows;
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick(0, s.S_q - 1);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      rows.push_back({b, h, 0});
      rows.push_back({b, h, s.S_q - 1});
      for (int i = 0; i < 24; ++i) rows.push_back({b, h, pick(rng)});
    }
  return rows;
}

void check_against_reference(const common_attn::AttnShape& s, const std::string& mask_name, ElementType dtype,
                             int warp_rows = kDefaultWarpRows) {
  SCOPED_TRACE(mask_name + " " + element_type_name(dtype) + " rows/warp " + std::to_string(warp_rows) + " B " +
               std::to_string(s.B) + " H " +
               std::to_string(s.H) + "/" + std::to_string(s.H_kv) + " S_q " + std::to_string(s.S_q) + " S_kv " +
               std::to_string(s.S_kv) + " D " + std::to_string(s.D));
  const common_attn::MaskSpec spec = spec_for(mask_name, s.S_q);
  const uint64_t seed = uint64_t(s.S_q * 7919 + s.S_kv * 31 + s.D) ^ std::hash<std::string>{}(mask_name);
  const size_t nq = size_t(s.B * s.H * s.S_q * s.D), nkv = size_t(s.B * s.H_kv * s.S_kv * s.D);
  const std::vector<float> q = random_values(nq, seed), k = random_values(nkv, seed + 1),
                           v = random_values(nkv, seed + 2);
  auto upload = [&](const std::vector<float>& x) {
    std::vector<uint16_t> bits(x.size());
    for (size_t i = 0; i < x.size(); ++i) bits[i] = encode(x[i], dtype);
    DeviceBuffer d(bits.size() * 2);
    d.copy_from_host(bits.data(), bits.size() * 2);
    return d;
  };
  const DeviceBuffer dq = upload(q), dk = upload(k), dv = upload(v);
  DeviceBuffer o(nq * 2), lse(size_t(s.B * s.H * s.S_q) * 4), tiles(2 * sizeof(unsigned long long));
  o.fill_bytes(0xff);  // NaN in bf16, fp16 and float32: an unwritten element fails
  lse.fill_bytes(0xff);
  tiles.fill_bytes(0);

  const FlashCudaPlan plan(s, spec, dtype, 0.f, warp_rows);
  flash_cuda(plan, s, {dq.data(), dk.data(), dv.data(), o.data(), static_cast<float*>(lse.data())}, nullptr,
             static_cast<unsigned long long*>(tiles.data()));
  synchronize_device();

  std::vector<uint16_t> out(nq);
  std::vector<float> out_lse(size_t(s.B * s.H * s.S_q));
  unsigned long long executed[2] = {0, 0};
  o.copy_to_host(out.data(), nq * 2);
  lse.copy_to_host(out_lse.data(), out_lse.size() * 4);
  tiles.copy_to_host(executed, sizeof executed);
  const common_attn::FlashStats st = flash_cuda_stats(plan);
  EXPECT_EQ(int64_t(executed[0]), st.full_blocks);
  EXPECT_EQ(int64_t(executed[1]), st.partial_blocks);

  common_attn::AttnTensors t;
  t.dtype = common_attn::DType::f32;
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  const std::vector<common_attn::RowId> rows = rows_to_check(s, seed);
  const common_attn::BuiltMods mods = common_attn::build_mods(spec, s.H, s.S_q, s.S_kv);
  const common_attn::ReferenceRows ref = common_attn::reference_attention_rows(mods, s, t, 0.0, rows);
  double max_err = 0, max_ref = 0, max_lse_err = 0;
  int64_t non_finite = 0, lse_wrong_inf = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t row = (rows[r].b * s.H + rows[r].h) * s.S_q + rows[r].q;
    for (int64_t d = 0; d < s.D; ++d) {
      const double got = decode(out[size_t(row * s.D + d)], dtype), want = ref.out[r * size_t(s.D) + size_t(d)];
      non_finite += !std::isfinite(got);
      max_err = std::max(max_err, std::fabs(got - want));
      max_ref = std::max(max_ref, std::fabs(want));
    }
    const double got_lse = out_lse[size_t(row)], want_lse = ref.lse[r];
    if (std::isinf(want_lse)) {
      lse_wrong_inf += !(std::isinf(got_lse) && got_lse < 0);
    } else {
      non_finite += !std::isfinite(got_lse);
      if (std::isfinite(got_lse)) max_lse_err = std::max(max_lse_err, std::fabs(got_lse - want_lse));
    }
  }
  const double tol = dtype == ElementType::bf16 ? kOutTolBf16 : kOutTolFp16;
  EXPECT_EQ(non_finite, 0);
  EXPECT_EQ(lse_wrong_inf, 0) << "rows with no visible key must have LSE -inf";
  EXPECT_LE(max_err / std::max(max_ref, 1e-30), tol) << "normwise output error";
  EXPECT_LE(max_lse_err, kLseTol) << "LSE error";
}

const char* const kMasks[] = {"full", "causal", "sliding_window:100", "prefix_lm:300", "document"};
const ElementType kTypes[] = {ElementType::bf16, ElementType::fp16};

TEST(FlashCuda, EveryMaskHeadDimAndDtypeMatchesTheReference) {
  TALKLAB_REQUIRE_GPU();
  for (const char* mask : kMasks)
    for (const int64_t D : {64, 128})
      for (const ElementType dtype : kTypes)
        for (const int64_t S : {1, 77, 257, 1000}) check_against_reference(shape(1, 8, 2, S, S, D), mask, dtype);
}

TEST(FlashCuda, ScoreModsMatchTheReference) {
  TALKLAB_REQUIRE_GPU();
  for (const char* mask : {"causal+softcap", "causal+softcap:5", "causal+alibi", "full+alibi",
                           "sliding_window:64+softcap", "document+alibi"})
    for (const int64_t D : {64, 128})
      for (const ElementType dtype : kTypes)
        for (const int64_t S : {77, 1000}) check_against_reference(shape(1, 8, 2, S, S, D), mask, dtype);
}

// Queries and keys of different lengths (top-left aligned masks), including rows that see no key at all
// (sliding window with S_q > S_kv: rows q >= S_kv + window - 1 are empty).
TEST(FlashCuda, DifferentQueryAndKeyLengths) {
  TALKLAB_REQUIRE_GPU();
  const std::pair<int64_t, int64_t> kLengths[] = {{77, 300}, {300, 77}, {1000, 257}, {129, 1}};
  for (const char* mask : {"full", "causal", "sliding_window:100", "prefix_lm:300", "causal+alibi"})
    for (const auto& [S_q, S_kv] : kLengths)
      for (const ElementType dtype : kTypes) check_against_reference(shape(2, 4, 4, S_q, S_kv, 128), mask, dtype);
}

// The 4-warp tiling (32 query rows a warp, two m16 tiles sharing each K / V fragment; at D = 128 the keys of a
// tile in two softmax steps of 32): every mask and score mod, both head dims and dtypes, odd lengths, GQA.
TEST(FlashCuda, ThirtyTwoRowsAWarpMatchesTheReference) {
  TALKLAB_REQUIRE_GPU();
  for (const char* mask : {"full", "causal", "sliding_window:100", "prefix_lm:300", "document", "causal+softcap",
                           "document+alibi"})
    for (const int64_t D : {64, 128})
      for (const ElementType dtype : kTypes)
        for (const int64_t S : {77, 257}) check_against_reference(shape(1, 4, 2, S, S, D), mask, dtype, 32);
  check_against_reference(shape(2, 4, 4, 300, 77, 128), "sliding_window:100", ElementType::bf16, 32);
  check_against_reference(shape(2, 4, 1, 129, 1000, 128), "causal+alibi", ElementType::fp16, 32);
}

TEST(FlashCuda, MultiQueryAndBatchedHeads) {
  TALKLAB_REQUIRE_GPU();
  check_against_reference(shape(3, 8, 1, 333, 333, 64), "causal", ElementType::bf16);
  check_against_reference(shape(2, 6, 6, 500, 500, 128), "sliding_window:1", ElementType::fp16);
}

}  // namespace
}  // namespace talklab::cuda::attention
