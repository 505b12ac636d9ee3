// flash_cpu against the float64 reference, on every ISA this CPU supports and both dtypes: built-in masks by name
// (MaskSpec), custom mask_mods / score_mods through the template entry, fully masked rows, GQA, odd head dims,
// sequence lengths that are multiples of no block size, several block sizes, and NaN-poisoned outputs.
#include <gtest/gtest.h>

#include <numeric>
#include <tuple>
#include <utility>

#include "kernels/cpu/attention/block_mask_from_mask_mod.h"
#include "tests/kernels/cpu/attention/attention_test_util.h"

namespace talklab::cpu::attention {
namespace {

using testing::Config;
using testing::config_name;
using testing::configs;
using testing::document_spec;
using testing::Problem;
using testing::rel_bias_spec;
using testing::spec;

struct Case {
  std::string name;
  AttnShape s;
  MaskSpec spec;
  int q_block = kDefaultQBlock, kv_block = kDefaultKvBlock;
  int sample = 0;  // > 0: check this many random rows (plus each head's first and last) instead of all
};

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"seq1_full_d32", {1, 2, 1, 1, 1, 32}, spec("full")});
  c.push_back({"seq1_causal_d64", {1, 2, 2, 1, 1, 64}, spec("causal")});
  c.push_back({"seq7_causal_b3_gqa12to4_d80", {3, 12, 4, 7, 7, 80}, spec("causal")});
  c.push_back({"seq7_full_b3_gqa12to4_d96", {3, 12, 4, 7, 7, 96}, spec("full")});
  c.push_back({"seq129_window1_gqa8to1_d96", {1, 8, 1, 129, 129, 96}, spec("sliding_window:1")});
  c.push_back({"seq129_window17_d256_blocks32x48", {1, 2, 1, 129, 129, 256}, spec("sliding_window:17"), 32, 48});
  c.push_back({"seq129_window_ge_seq_b2_d64", {2, 2, 2, 129, 129, 64}, spec("sliding_window:200")});
  c.push_back({"seq129_causal_d128_blocks128x256", {1, 2, 1, 129, 129, 128}, spec("causal"), 128, 256});
  c.push_back({"seq129_causal_d32_blocks16x2", {1, 2, 1, 129, 129, 32}, spec("causal"), 16, 2});
  c.push_back({"seq129_causal_softcap2_d64", {1, 4, 2, 129, 129, 64}, spec("causal+softcap:2")});
  c.push_back({"seq129_full_softcap50_d64", {1, 2, 2, 129, 129, 64}, spec("full+softcap:50")});
  c.push_back({"seq129_full_rel_bias_d80", {1, 3, 1, 129, 129, 80}, rel_bias_spec(3, 16, 11)});
  c.push_back({"seq1000_prefix0_d64", {1, 2, 2, 1000, 1000, 64}, spec("prefix_lm:0")});
  c.push_back({"seq1000_prefix333_d32", {1, 2, 1, 1000, 1000, 32}, spec("prefix_lm:333")});
  c.push_back({"seq1000_prefix_seq_d64", {1, 1, 1, 1000, 1000, 64}, spec("prefix_lm:1000")});
  c.push_back({"seq1000_document_d64_blocks48x80", {1, 2, 1, 1000, 1000, 64}, document_spec(1000, 5), 48, 80});
  c.push_back({"seq1000_causal_alibi_d128", {1, 4, 4, 1000, 1000, 128}, spec("causal+alibi")});
  c.push_back({"seq1000_window100_d33", {1, 2, 1, 1000, 1000, 33}, spec("sliding_window:100")});
  c.push_back({"cross_causal_q100_kv300_d200", {1, 2, 1, 100, 300, 200}, spec("causal")});
  c.push_back({"cross_full_q300_kv100_d48", {1, 2, 2, 300, 100, 48}, spec("full")});
  c.push_back({"seq3001_causal_d128", {1, 2, 1, 3001, 3001, 128}, spec("causal"), 64, 64, 24});
  c.push_back({"seq3001_window512_d64", {1, 2, 2, 3001, 3001, 64}, spec("sliding_window:512"), 64, 64, 24});
  c.push_back({"seq3001_full_d80", {1, 1, 1, 3001, 3001, 80}, spec("full"), 64, 64, 24});
  // The AVX2 forward's wider blocks (choose_flash_blocks), on every ISA: short last blocks on both sides.
  c.push_back({"seq1000_causal_gqa4to2_d128_blocks96x96", {1, 4, 2, 1000, 1000, 128}, spec("causal"), 96, 96});
  c.push_back({"seq3001_full_d128_blocks96x96", {1, 2, 1, 3001, 3001, 128}, spec("full"), 96, 96, 24});
  return c;
}

class FlashCpu : public ::testing::TestWithParam<Config> {
 protected:
  FlashOptions options() const {
    FlashOptions o;
    o.isa = GetParam().isa;
    o.num_threads = 2;
    return o;
  }
  // Runs the kernel on poisoned outputs; checks no NaN anywhere and the rows against the reference.
  template <class Run, class Ref>
  void check(const std::string& name, Problem& p, const std::vector<RowId>& rows, Run run, Ref ref) {
    SCOPED_TRACE(name);
    p.poison();
    run(p);
    EXPECT_EQ(testing::count_nan(p), 0) << "unwritten or NaN output elements";
    const testing::Errors e = testing::compare(p, ref(p), rows);
    EXPECT_LE(e.out, testing::out_tol(p.dtype)) << "normwise output error";
    EXPECT_LE(e.lse, testing::lse_tol(p.dtype)) << "LSE error";
    EXPECT_EQ(e.lse_inf_mismatch, 0) << "fully masked rows must give LSE -inf, others finite";
  }
};

TEST_P(FlashCpu, BuiltInMasksMatchReference) {
  uint64_t seed = 1000 + uint64_t(GetParam().isa) * 100 + uint64_t(GetParam().dtype) * 10;
  for (const Case& c : cases()) {
    Problem p = testing::make_problem(c.s, GetParam().dtype, seed++, GetParam().isa);
    const FlashPlan plan = make_flash_plan(c.spec, c.s, c.q_block, c.kv_block);
    const auto rows = c.sample ? testing::sample_rows(c.s, c.sample, seed) : testing::all_rows(c.s);
    check(
        c.name + " (" + c.spec.name() + ")", p, rows,
        [&](Problem& pr) { flash_cpu(plan, pr.tensors(), options(), pr.workspace.data(), pr.workspace.size()); },
        [&](Problem& pr) { return reference_attention_rows(plan.mods, c.s, pr.tensors(), 0.0, rows); });
  }
}

// A custom mask_mod that leaves whole rows (q % 5 == 3) and, for head 1, a whole prefix of rows with nothing
// visible: those rows must be exactly 0 with LSE -inf, never NaN. Per-head block mask (H stored, not broadcast).
TEST_P(FlashCpu, FullyMaskedRowsGiveZeroAndNegInf) {
  const AttnShape s{2, 2, 1, 203, 203, 64};
  Problem p = testing::make_problem(s, GetParam().dtype, 77 + uint64_t(GetParam().dtype), GetParam().isa);
  auto mask = [](int, int h, int q, int kv) { return (q % 5 != 3) & (kv <= q) & ((h != 1) | (q >= 70)); };
  const BlockMask bm = block_mask_from_mask_mod(mask, 1, 2, s.S_q, s.S_kv, 32, 32);
  const auto rows = testing::all_rows(s);
  check(
      "custom rows masked", p, rows,
      [&](Problem& pr) {
        flash_cpu(s, pr.tensors(), bm, mask, NoScore{}, options(), pr.workspace.data(), pr.workspace.size());
      },
      [&](Problem& pr) { return reference_attention_rows(s, pr.tensors(), mask, NoScore{}, 0.0, rows); });
  for (const RowId& r : rows) {
    if (r.q % 5 != 3 && !(r.h == 1 && r.q < 70)) continue;
    const int64_t row = (r.b * s.H + r.h) * s.S_q + r.q;
    EXPECT_EQ(p.lse[size_t(row)], -std::numeric_limits<float>::infinity());
    for (int64_t d = 0; d < s.D; ++d) ASSERT_EQ(p.out(row * s.D + d), 0.0) << "row " << r.q << " head " << r.h;
  }
}

// Nothing visible at all: no block is visited, and still every element is written.
TEST_P(FlashCpu, EmptyMaskWritesZeros) {
  const AttnShape s{1, 2, 2, 100, 100, 40};
  Problem p = testing::make_problem(s, GetParam().dtype, 5, GetParam().isa);
  auto none = [](int, int, int, int) { return false; };
  const BlockMask bm = block_mask_from_mask_mod(none, 1, 1, s.S_q, s.S_kv, 64, 64);
  EXPECT_EQ(bm.num_full() + bm.num_partial(), 0);
  p.poison();
  flash_cpu(s, p.tensors(), bm, none, NoScore{}, options(), p.workspace.data(), p.workspace.size());
  for (int64_t i = 0; i < s.B * s.H * s.S_q * s.D; ++i) ASSERT_EQ(p.out(i), 0.0);
  for (float l : p.lse) ASSERT_EQ(l, -std::numeric_limits<float>::infinity());
}

// Poisoned outputs are fully overwritten for awkward tilings: one-row query blocks, 2-key blocks, odd D, padding.
TEST_P(FlashCpu, EveryOutputElementIsWritten) {
  for (auto [qb, kb, D] : std::vector<std::tuple<int, int, int>>{{1, 2, 33}, {7, 10, 17}, {128, 256, 200}, {16, 2, 1}}) {
    const AttnShape s{2, 3, 1, 131, 77, D};
    Problem p = testing::make_problem(s, GetParam().dtype, 900 + uint64_t(qb), GetParam().isa);
    const FlashPlan plan = make_flash_plan(spec("causal"), s, qb, kb);
    p.poison();
    flash_cpu(plan, p.tensors(), options(), p.workspace.data(), p.workspace.size());
    EXPECT_EQ(testing::count_nan(p), 0) << "blocks " << qb << "x" << kb << " D " << D;
  }
}

// No keys at all: every row is empty.
TEST_P(FlashCpu, NoKeysGivesZeros) {
  const AttnShape s{1, 2, 2, 9, 0, 24};
  Problem p = testing::make_problem(s, GetParam().dtype, 4, GetParam().isa);
  const FlashPlan plan = make_flash_plan(spec("full"), s);
  p.poison();
  flash_cpu(plan, p.tensors(), options(), p.workspace.data(), p.workspace.size());
  for (int64_t i = 0; i < s.B * s.H * s.S_q * s.D; ++i) ASSERT_EQ(p.out(i), 0.0);
  for (float l : p.lse) ASSERT_EQ(l, -std::numeric_limits<float>::infinity());
}

// Composition: (sliding window OR prefix) with ALiBi then softcap, and an explicit scale.
TEST_P(FlashCpu, ComposedModsMatchReference) {
  const AttnShape s{1, 4, 2, 517, 517, 96};
  Problem p = testing::make_problem(s, GetParam().dtype, 31 + uint64_t(GetParam().dtype), GetParam().isa);
  const auto mask = mask_or(SlidingWindowMask{40}, PrefixLmMask{20});
  const auto score = score_then(alibi_score(alibi_slopes(4)), SoftcapScore{3.0f});
  const BlockMask bm = block_mask_from_mask_mod(mask, 1, 1, s.S_q, s.S_kv, 64, 64);
  FlashOptions o = options();
  o.scale = 0.2f;
  const auto rows = testing::all_rows(s);
  check(
      "window|prefix, alibi then softcap", p, rows,
      [&](Problem& pr) { flash_cpu(s, pr.tensors(), bm, mask, score, o, pr.workspace.data(), pr.workspace.size()); },
      [&](Problem& pr) { return reference_attention_rows(s, pr.tensors(), mask, score, 0.2, rows); });
}

TEST_P(FlashCpu, StatsCountVisitedBlocks) {
  const AttnShape s{2, 4, 2, 1000, 1000, 64};
  for (const char* name : {"full", "causal", "sliding_window:128", "prefix_lm:300"}) {
    const FlashPlan plan = make_flash_plan(spec(name), s);
    Problem p = testing::make_problem(s, GetParam().dtype, 3, GetParam().isa);
    const FlashStats st = flash_cpu(plan, p.tensors(), options(), p.workspace.data(), p.workspace.size());
    EXPECT_EQ(st.full_blocks, plan.block_mask.num_full() * s.B * s.H) << name;
    EXPECT_EQ(st.partial_blocks, plan.block_mask.num_partial() * s.B * s.H) << name;
    const double useful = useful_flops(plan.mods.spec, s);
    EXPECT_GE(st.executed_flops, useful) << name;
    // The closed-form pair count agrees with the block mask + per-element count.
    visit_mods(plan.mods, [&](const auto& mask, const auto&) {
      EXPECT_EQ(4.0 * double(s.D) * double(count_visible_pairs(plan.block_mask, mask, int(s.B), int(s.H))), useful)
          << name;
      return 0;
    });
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, FlashCpu, ::testing::ValuesIn(configs()), config_name);

TEST(FlashCpuApi, RejectsBadArguments) {
  const AttnShape s{1, 3, 2, 10, 10, 32};  // H_kv does not divide H
  const BlockMask bm = block_mask_causal(10, 10, 64, 64);
  std::vector<float> x(3 * 10 * 32);
  AttnTensors t{DType::f32, x.data(), x.data(), x.data(), x.data(), nullptr};
  EXPECT_THROW(flash_cpu(s, t, bm, CausalMask{}, NoScore{}, FlashOptions{}, nullptr, 0), std::invalid_argument);
  const AttnShape big{1, 1, 1, 10, 10, 257};
  EXPECT_THROW(flash_cpu(big, t, bm, CausalMask{}, NoScore{}, FlashOptions{}, nullptr, 0), std::invalid_argument);
  EXPECT_THROW(MaskSpec::parse("causal+nope"), std::invalid_argument);
  EXPECT_THROW(MaskSpec::parse("diagonal"), std::invalid_argument);
}

// make_flash_plan's own choice: 96 x 96 on AVX2 where it computes at most 5% more scores than 64 x 64 (full and
// causal, not a window of 512), 64 x 64 on the other ISAs; named sizes are taken as given, one of two is an error.
TEST(FlashCpuApi, PlanChoosesBlocksByIsaAndWork) {
  const AttnShape s{1, 4, 4, 4096, 4096, 128};
  const auto blocks = [&](const char* name, Isa isa) {
    const BlockMask bm = make_flash_plan(spec(name), s, 0, 0, isa).block_mask;
    return std::pair{bm.q_block, bm.kv_block};
  };
  EXPECT_EQ(blocks("full", Isa::avx2), std::pair(kWideBlock, kWideBlock));
  EXPECT_EQ(blocks("causal", Isa::avx2), std::pair(kWideBlock, kWideBlock));
  EXPECT_EQ(blocks("sliding_window:512", Isa::avx2), std::pair(kDefaultQBlock, kDefaultKvBlock));
  EXPECT_EQ(blocks("full", Isa::avx512), std::pair(kDefaultQBlock, kDefaultKvBlock));
  EXPECT_EQ(blocks("causal", Isa::scalar), std::pair(kDefaultQBlock, kDefaultKvBlock));
  const BlockMask named = make_flash_plan(spec("full"), s, 32, 48, Isa::avx2).block_mask;
  EXPECT_EQ(std::pair(named.q_block, named.kv_block), std::pair(32, 48));
  EXPECT_THROW(make_flash_plan(spec("full"), s, 32, 0), std::invalid_argument);
}

TEST(FlashCpuApi, MaskSpecNamesRoundTrip) {
  for (const char* n : {"full", "causal", "sliding_window:512", "document", "prefix_lm:100", "causal+softcap:50",
                        "causal+alibi", "full+rel_bias:8"})
    EXPECT_EQ(MaskSpec::parse(n).name(), n);
  EXPECT_EQ(MaskSpec::parse("causal+softcap").softcap, 50.0f);
}

}  // namespace
}  // namespace talklab::cpu::attention
