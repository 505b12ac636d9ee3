// flash_cpu_backward against the float64 reference backward (kernels/common/attention/reference_backward.h), on
// every ISA this CPU supports and both dtypes: the shapes (seq 1, 7, 129, 1000, 3001; S_q != S_kv; window 1
// and >= seq; head_dim 32..256; heads:kv_heads 12:4 and 8:1; batch 3; documents with one-token ones; prefix 0 and
// seq; softcap; ALiBi; relative bias; fully masked rows), odd block sizes, NaN-poisoned outputs, and bit-identical
// results for 1 and 2 threads and across runs, for both schedules (one pass per (b, kv head), two passes). O and
// LSE come from flash_cpu (what a training step hands over).
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>

#include "kernels/common/attention/reference_backward.h"
#include "kernels/cpu/attention/block_mask_from_mask_mod.h"
#include "kernels/cpu/attention/flash_backward.h"
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

// A forward problem plus dO and the three gradients, in the problem's dtype.
struct GradProblem {
  Problem fwd;
  std::vector<float> d_o, dq, dk, dv;
  std::vector<uint16_t> d_o16, dq16, dk16, dv16;
  std::vector<char> workspace;

  AttnGradTensors tensors() {
    const AttnTensors t = fwd.tensors();
    AttnGradTensors g;
    g.dtype = t.dtype;
    g.q = t.q, g.k = t.k, g.v = t.v, g.o = t.o, g.lse = t.lse;
    const bool f32 = t.dtype == DType::f32;
    g.d_o = f32 ? static_cast<const void*>(d_o.data()) : d_o16.data();
    g.dq = f32 ? static_cast<void*>(dq.data()) : dq16.data();
    g.dk = f32 ? static_cast<void*>(dk.data()) : dk16.data();
    g.dv = f32 ? static_cast<void*>(dv.data()) : dv16.data();
    return g;
  }
  void poison() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (auto* x : {&dq, &dk, &dv}) std::fill(x->begin(), x->end(), nan);
    for (auto* x : {&dq16, &dk16, &dv16}) std::fill(x->begin(), x->end(), uint16_t(0x7fc0));
  }
  double get(const std::vector<float>& f, const std::vector<uint16_t>& b, size_t i) const {
    return fwd.dtype == DType::f32 ? double(f[i]) : load_element(b.data(), DType::bf16, int64_t(i));
  }
};

GradProblem make_grad_problem(const AttnShape& s, DType dtype, uint64_t seed, Isa isa) {
  GradProblem p;
  p.fwd = testing::make_problem(s, dtype, seed, isa);
  const size_t nq = size_t(s.B * s.H * s.S_q * s.D), nkv = size_t(s.B * s.H_kv * s.S_kv * s.D);
  std::mt19937_64 rng(seed ^ 0xD0D0u);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  p.d_o.resize(nq);
  for (float& e : p.d_o) {
    e = nd(rng);
    if (std::fabs(e) < 1e-3f) e = 1e-3f;
  }
  if (dtype == DType::bf16) {
    p.d_o16.resize(nq);
    for (size_t i = 0; i < nq; ++i) p.d_o16[i] = testing::to_bf16(p.d_o[i]);
    p.dq16.resize(nq), p.dk16.resize(nkv), p.dv16.resize(nkv);
  } else {
    p.dq.resize(nq), p.dk.resize(nkv), p.dv.resize(nkv);
  }
  p.workspace.resize(flash_cpu_backward_workspace_bytes(s));
  return p;
}

struct GradErrors {
  double dq = 0, dk = 0, dv = 0;  // normwise: max |got - ref| / max |ref|
  int64_t nan = 0;
};

GradErrors compare(const GradProblem& p, const ReferenceGrads& ref) {
  GradErrors e;
  auto one = [&](const std::vector<float>& f, const std::vector<uint16_t>& b, const std::vector<double>& want) {
    double diff = 0, mag = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double got = p.get(f, b, i);
      e.nan += std::isnan(got);
      diff = std::max(diff, std::fabs(got - want[i]));
      mag = std::max(mag, std::fabs(want[i]));
    }
    return mag > 0 ? diff / mag : diff;
  };
  e.dq = one(p.dq, p.dq16, ref.dq);
  e.dk = one(p.dk, p.dk16, ref.dk);
  e.dv = one(p.dv, p.dv16, ref.dv);
  return e;
}

double grad_tol(DType d) { return d == DType::f32 ? kGradTolF32 : kGradTolBf16; }

struct Case {
  std::string name;
  AttnShape s;
  MaskSpec spec;
  int q_block = kDefaultQBlock, kv_block = kDefaultKvBlock;
};

// Sizes keep the float64 reference (~8 * S_q * S_kv * D flops per head) to about a second per configuration.
std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"seq1_full_d32", {1, 2, 1, 1, 1, 32}, spec("full")});
  c.push_back({"seq7_causal_b3_gqa12to4_d80", {3, 12, 4, 7, 7, 80}, spec("causal")});
  c.push_back({"seq129_window1_gqa8to1_d96", {1, 8, 1, 129, 129, 96}, spec("sliding_window:1")});
  c.push_back({"seq129_window17_d256_blocks32x48", {1, 2, 1, 129, 129, 256}, spec("sliding_window:17"), 32, 48});
  c.push_back({"seq129_window_ge_seq_b3_gqa12to4_d64", {3, 12, 4, 129, 129, 64}, spec("sliding_window:200")});
  c.push_back({"seq129_causal_d128_blocks128x256", {1, 2, 1, 129, 129, 128}, spec("causal"), 128, 256});
  c.push_back({"seq129_causal_d32_blocks16x2", {1, 2, 1, 129, 129, 32}, spec("causal"), 16, 2});
  c.push_back({"seq129_causal_softcap2_d64", {1, 4, 2, 129, 129, 64}, spec("causal+softcap:2")});
  c.push_back({"seq129_full_softcap50_d64", {1, 2, 2, 129, 129, 64}, spec("full+softcap:50")});
  c.push_back({"seq129_full_rel_bias_d80", {1, 3, 1, 129, 129, 80}, rel_bias_spec(3, 16, 11)});
  c.push_back({"seq1000_prefix0_d64", {1, 2, 2, 1000, 1000, 64}, spec("prefix_lm:0")});
  c.push_back({"seq1000_prefix_seq_d32", {1, 1, 1, 1000, 1000, 32}, spec("prefix_lm:1000")});
  c.push_back({"seq1000_prefix333_d32_blocks7x14", {1, 1, 1, 1000, 1000, 32}, spec("prefix_lm:333"), 7, 14});
  c.push_back({"seq1000_document_d64_blocks48x80", {1, 2, 1, 1000, 1000, 64}, document_spec(1000, 5), 48, 80});
  c.push_back({"seq517_causal_alibi_d128", {1, 4, 4, 517, 517, 128}, spec("causal+alibi")});
  c.push_back({"seq1000_window100_d33", {1, 1, 1, 1000, 1000, 33}, spec("sliding_window:100")});
  c.push_back({"cross_causal_q100_kv300_d200", {1, 2, 1, 100, 300, 200}, spec("causal")});
  c.push_back({"cross_full_q300_kv100_d48", {1, 2, 2, 300, 100, 48}, spec("full")});
  c.push_back({"seq3001_causal_d64", {1, 1, 1, 3001, 3001, 64}, spec("causal")});
  return c;
}

class FlashBackward : public ::testing::TestWithParam<Config> {
 protected:
  // one_pass: -1 the schedule the shape picks, 0 / 1 forced (every test below runs both).
  FlashOptions options(int threads = 2, int one_pass = -1) const {
    FlashOptions o;
    o.isa = GetParam().isa;
    o.num_threads = threads;
    o.backward_one_pass = one_pass;
    return o;
  }
  // Forward (O, LSE) then backward on poisoned gradients; no NaN anywhere, each gradient within tolerance.
  template <class Fwd, class Bwd>
  GradErrors check(const std::string& name, GradProblem& p, const ReferenceGrads& ref, Fwd fwd, Bwd bwd) {
    SCOPED_TRACE(name);
    fwd(p);
    p.poison();
    bwd(p);
    const GradErrors e = compare(p, ref);
    EXPECT_EQ(e.nan, 0) << "unwritten or NaN gradient elements";
    const double tol = grad_tol(p.fwd.dtype);
    EXPECT_LE(e.dq, tol) << "dQ normwise error";
    EXPECT_LE(e.dk, tol) << "dK normwise error";
    EXPECT_LE(e.dv, tol) << "dV normwise error";
    return e;
  }
};

TEST_P(FlashBackward, BuiltInMasksMatchReference) {
  uint64_t seed = 5000 + uint64_t(GetParam().isa) * 100 + uint64_t(GetParam().dtype) * 10;
  double worst = 0;
  for (const Case& c : cases()) {
    GradProblem p = make_grad_problem(c.s, GetParam().dtype, seed++, GetParam().isa);
    const FlashBackwardPlan plan = make_flash_backward_plan(c.spec, c.s, c.q_block, c.kv_block);
    const ReferenceGrads ref =
        reference_attention_backward(plan.forward.mods, c.s, p.fwd.tensors(), p.tensors().d_o, 0.0);
    const GradErrors e = check(
        c.name + " (" + c.spec.name() + ")", p, ref,
        [&](GradProblem& g) {
          flash_cpu(plan.forward, g.fwd.tensors(), options(), g.fwd.workspace.data(), g.fwd.workspace.size());
        },
        [&](GradProblem& g) {
          const FlashStats st =
              flash_cpu_backward(plan, g.tensors(), options(2, 0), g.workspace.data(), g.workspace.size());
          EXPECT_EQ(st.partial_blocks, plan.forward.block_mask.num_partial() * c.s.B * c.s.H);
        });
    // The one-pass schedule on the same problem (O and LSE already there).
    p.poison();
    flash_cpu_backward(plan, p.tensors(), options(2, 1), p.workspace.data(), p.workspace.size());
    const GradErrors e1 = compare(p, ref);
    EXPECT_EQ(e1.nan, 0) << c.name << " one pass";
    EXPECT_LE(std::max({e1.dq, e1.dk, e1.dv}), grad_tol(p.fwd.dtype)) << c.name << " one pass";
    worst = std::max({worst, e.dq, e.dk, e.dv, e1.dq, e1.dk, e1.dv});
  }
  RecordProperty("worst_normwise_error", std::to_string(worst));
  std::printf("worst normwise gradient error %s: %.3g\n", testing::dtype_name(GetParam().dtype), worst);
}

// A custom mask_mod hiding whole rows (q % 5 == 3) and, for head 1, every row below 70, with a per-head generic
// block mask and its transposed generic twin: those rows get dQ exactly 0, nothing is NaN, all within tolerance.
TEST_P(FlashBackward, FullyMaskedRowsGiveZeroGradients) {
  for (int one_pass : {0, 1}) {
  SCOPED_TRACE(one_pass ? "one pass" : "two passes");
  const AttnShape s{2, 2, 1, 203, 203, 64};
  GradProblem p = make_grad_problem(s, GetParam().dtype, 77 + uint64_t(GetParam().dtype), GetParam().isa);
  auto mask = [](int, int h, int q, int kv) { return (q % 5 != 3) & (kv <= q) & ((h != 1) | (q >= 70)); };
  auto swapped = [mask](int b, int h, int kv, int q) { return mask(b, h, q, kv); };
  const BlockMask bm = block_mask_from_mask_mod(mask, 1, 2, s.S_q, s.S_kv, 32, 32);
  const BlockMask bt = block_mask_from_mask_mod(swapped, 1, 2, s.S_kv, s.S_q, 32, 32);
  const ReferenceGrads ref = reference_attention_backward(s, p.fwd.tensors(), p.tensors().d_o, mask, NoScore{}, 0.0);
  check(
      "custom rows masked", p, ref,
      [&](GradProblem& g) {
        flash_cpu(s, g.fwd.tensors(), bm, mask, NoScore{}, options(), g.fwd.workspace.data(), g.fwd.workspace.size());
      },
      [&](GradProblem& g) {
        flash_cpu_backward(s, g.tensors(), bm, bt, mask, NoScore{}, options(2, one_pass), g.workspace.data(),
                           g.workspace.size());
      });
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < s.S_q; ++q) {
        if (q % 5 != 3 && !(h == 1 && q < 70)) continue;
        const size_t row = size_t(((b * s.H + h) * s.S_q + q) * s.D);
        for (int64_t d = 0; d < s.D; ++d) ASSERT_EQ(p.get(p.dq, p.dq16, row + size_t(d)), 0.0) << "q " << q;
      }
  }
}

// Composition: (sliding window OR prefix) with ALiBi then softcap (chain rule through both), explicit scale, GQA.
TEST_P(FlashBackward, ComposedModsMatchReference) {
  for (int one_pass : {0, 1}) {
  SCOPED_TRACE(one_pass ? "one pass" : "two passes");
  const AttnShape s{1, 4, 2, 317, 317, 96};
  GradProblem p = make_grad_problem(s, GetParam().dtype, 31 + uint64_t(GetParam().dtype), GetParam().isa);
  const auto mask = mask_or(SlidingWindowMask{40}, PrefixLmMask{20});
  const auto swapped = [mask](int b, int h, int kv, int q) { return mask(b, h, q, kv); };
  const auto score = score_then(alibi_score(alibi_slopes(4)), SoftcapScore{3.0f});
  const BlockMask bm = block_mask_from_mask_mod(mask, 1, 1, s.S_q, s.S_kv, 64, 64);
  const BlockMask bt = block_mask_from_mask_mod(swapped, 1, 1, s.S_kv, s.S_q, 64, 64);
  FlashOptions o = options(2, one_pass);
  o.scale = 0.2f;
  const ReferenceGrads ref = reference_attention_backward(s, p.fwd.tensors(), p.tensors().d_o, mask, score, 0.2);
  check(
      "window|prefix, alibi then softcap", p, ref,
      [&](GradProblem& g) {
        flash_cpu(s, g.fwd.tensors(), bm, mask, score, o, g.fwd.workspace.data(), g.fwd.workspace.size());
      },
      [&](GradProblem& g) {
        flash_cpu_backward(s, g.tensors(), bm, bt, mask, score, o, g.workspace.data(), g.workspace.size());
      });
  }
}

// Deterministic: each output tile has one owner and a fixed summation order, so 1 thread, 2 threads and a second
// 2-thread run give the same bits (GQA so dK / dV sum over heads; a mask with partial and full blocks; softcap).
TEST_P(FlashBackward, BitIdenticalAcrossThreadCountsAndRuns) {
  const AttnShape s{2, 6, 2, 333, 333, 80};
  GradProblem p = make_grad_problem(s, GetParam().dtype, 9 + uint64_t(GetParam().dtype), GetParam().isa);
  const FlashBackwardPlan plan = make_flash_backward_plan(spec("sliding_window:150+softcap:20"), s, 32, 48);
  flash_cpu(plan.forward, p.fwd.tensors(), options(), p.fwd.workspace.data(), p.fwd.workspace.size());
  for (int one_pass : {0, 1}) {
  SCOPED_TRACE(one_pass ? "one pass" : "two passes");
  auto run = [&](int threads) {
    p.poison();
    flash_cpu_backward(plan, p.tensors(), options(threads, one_pass), p.workspace.data(), p.workspace.size());
    return std::make_tuple(p.dq, p.dk, p.dv, p.dq16, p.dk16, p.dv16);
  };
  const auto one = run(1), two = run(2), again = run(2);
  auto same_bits = [](const auto& a, const auto& b) {
    return std::get<0>(a).size() == std::get<0>(b).size() &&
           std::memcmp(std::get<0>(a).data(), std::get<0>(b).data(), std::get<0>(a).size() * 4) == 0 &&
           std::memcmp(std::get<1>(a).data(), std::get<1>(b).data(), std::get<1>(a).size() * 4) == 0 &&
           std::memcmp(std::get<2>(a).data(), std::get<2>(b).data(), std::get<2>(a).size() * 4) == 0 &&
           std::memcmp(std::get<3>(a).data(), std::get<3>(b).data(), std::get<3>(a).size() * 2) == 0 &&
           std::memcmp(std::get<4>(a).data(), std::get<4>(b).data(), std::get<4>(a).size() * 2) == 0 &&
           std::memcmp(std::get<5>(a).data(), std::get<5>(b).data(), std::get<5>(a).size() * 2) == 0;
  };
  EXPECT_TRUE(same_bits(one, two)) << "1 thread and 2 threads differ";
  EXPECT_TRUE(same_bits(two, again)) << "two 2-thread runs differ";
  }
}

// Awkward tilings and empty extremes write every element: no keys (dQ 0), keys nobody sees (dK, dV 0).
TEST_P(FlashBackward, EveryGradientElementIsWritten) {
  const std::vector<std::tuple<int, int, int, int, int>> shapes{
      {1, 2, 33, 131, 77}, {7, 10, 17, 131, 77}, {128, 256, 200, 77, 131}, {16, 2, 1, 31, 45}, {64, 64, 24, 9, 0}};
  for (auto [qb, kb, D, S_q, S_kv] : shapes) {
    const AttnShape s{2, 3, 1, S_q, S_kv, D};
    GradProblem p = make_grad_problem(s, GetParam().dtype, 900 + uint64_t(qb), GetParam().isa);
    const FlashBackwardPlan plan = make_flash_backward_plan(spec("causal"), s, qb, kb);
    flash_cpu(plan.forward, p.fwd.tensors(), options(), p.fwd.workspace.data(), p.fwd.workspace.size());
    const ReferenceGrads ref =
        reference_attention_backward(plan.forward.mods, s, p.fwd.tensors(), p.tensors().d_o, 0.0);
    for (int one_pass : {0, 1}) {
      p.poison();
      flash_cpu_backward(plan, p.tensors(), options(2, one_pass), p.workspace.data(), p.workspace.size());
      const GradErrors e = compare(p, ref);
      EXPECT_EQ(e.nan, 0) << "blocks " << qb << "x" << kb << " D " << D << " S " << S_q << "x" << S_kv
                          << " one pass " << one_pass;
      EXPECT_LE(std::max({e.dq, e.dk, e.dv}), grad_tol(p.fwd.dtype)) << "blocks " << qb << "x" << kb;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, FlashBackward, ::testing::ValuesIn(configs()), config_name);

// The sampled reference (the experiment's run-time gate) agrees with the full one, GQA and softcap included.
TEST(ReferenceBackward, SampledRowsMatchFullReference) {
  const AttnShape s{2, 6, 2, 70, 90, 24};
  GradProblem p = make_grad_problem(s, DType::f32, 3, Isa::scalar);
  const BuiltMods mods = build_mods(spec("sliding_window:30+softcap:5"), s.H, s.S_q, s.S_kv);
  const ReferenceGrads full = reference_attention_backward(mods, s, p.fwd.tensors(), p.tensors().d_o, 0.0);
  const std::vector<QueryRow> q_rows{{3, 0}, {4, 69}, {5, 33}};
  const std::vector<int64_t> kv_rows{0, 89, 41, 75};
  const ReferenceGradRows rows =
      reference_attention_backward_rows(mods, s, p.fwd.tensors(), p.tensors().d_o, 0.0, 1, 1, q_rows, kv_rows);
  for (size_t i = 0; i < q_rows.size(); ++i)
    for (int64_t d = 0; d < s.D; ++d)
      EXPECT_NEAR(rows.dq[i * size_t(s.D) + size_t(d)],
                  full.dq[size_t(((1 * s.H + q_rows[i].h) * s.S_q + q_rows[i].q) * s.D + d)], 1e-12);
  for (size_t i = 0; i < kv_rows.size(); ++i)
    for (int64_t d = 0; d < s.D; ++d) {
      const size_t at = size_t(((1 * s.H_kv + 1) * s.S_kv + kv_rows[i]) * s.D + d);
      EXPECT_NEAR(rows.dk[i * size_t(s.D) + size_t(d)], full.dk[at], 1e-12);
      EXPECT_NEAR(rows.dv[i * size_t(s.D) + size_t(d)], full.dv[at], 1e-12);
    }
}

// Score-mod derivatives against central differences in double (the chain rule of a composed mod included).
TEST(ReferenceBackward, ScoreGradsMatchFiniteDifferences) {
  const auto composed = score_then(alibi_score(alibi_slopes(4)), SoftcapScore{3.0f});
  for (double x : {-7.3, -1.1, 0.0, 0.4, 2.9, 11.0}) {
    const double e = 1e-6;
    auto fd = [&](const auto& f) { return (f(x + e, 0, 2, 9, 4) - f(x - e, 0, 2, 9, 4)) / (2 * e); };
    EXPECT_NEAR(SoftcapScore{3.0f}.grad(x, 0, 2, 9, 4), fd(SoftcapScore{3.0f}), 1e-8) << x;
    EXPECT_NEAR(composed.grad(x, 0, 2, 9, 4), fd(composed), 1e-8) << x;
    EXPECT_NEAR(double(SoftcapScore{3.0f}.grad(float(x), 0, 2, 9, 4)), fd(SoftcapScore{3.0f}), 1e-6) << x;
  }
  static_assert(is_additive_score_v<AlibiScore> && is_additive_score_v<RelBiasScore> && is_additive_score_v<NoScore>);
  static_assert(!is_additive_score_v<SoftcapScore> && !is_additive_score_v<decltype(composed)>);
}

TEST(FlashBackwardApi, RejectsBadArguments) {
  const AttnShape s{1, 2, 2, 10, 10, 32};
  const BlockMask bm = block_mask_causal(10, 10, 64, 64);
  const BlockMask bt = transpose_block_mask(bm);
  std::vector<float> x(2 * 10 * 32), lse(20), ws(20);
  AttnGradTensors g{DType::f32, x.data(), x.data(), x.data(), x.data(), x.data(), lse.data(),
                    x.data(),   x.data(), x.data()};
  // The forward's block mask where the transposed one belongs.
  const BlockMask other = block_mask_causal(10, 12, 64, 64);
  EXPECT_THROW(flash_cpu_backward(s, g, bm, transpose_block_mask(other), CausalMask{}, NoScore{}, FlashOptions{},
                                  ws.data(), 80),
               std::invalid_argument);
  EXPECT_THROW(flash_cpu_backward(s, g, bm, bt, CausalMask{}, NoScore{}, FlashOptions{}, ws.data(), 40),
               std::invalid_argument);  // workspace too small
  const AttnShape big{1, 1, 1, 10, 10, 257};
  EXPECT_THROW(flash_cpu_backward(big, g, bm, bt, CausalMask{}, NoScore{}, FlashOptions{}, ws.data(), 80),
               std::invalid_argument);
  g.d_o = nullptr;
  EXPECT_THROW(flash_cpu_backward(s, g, bm, bt, CausalMask{}, NoScore{}, FlashOptions{}, ws.data(), 80),
               std::invalid_argument);
}

// The per-thread scratch the experiment reports (outside any tracking allocator): at least the tiles a key block
// needs (K^T, V^T, the dK and dV accumulators: 4 x 64 x 128 floats at blocks 64, D 128), and, in the one-pass
// schedule with bf16 (dQ not accumulated in place), exactly one head group's float32 dQ more.
TEST(FlashBackwardApi, ThreadScratchBytesCoverTilesAndTheOnePassDqBuffer) {
  const AttnShape s{1, 8, 2, 1000, 1000, 128};
  const BlockMask bm = block_mask_causal(s.S_q, s.S_kv, 64, 64);
  for (Isa isa : supported_isas()) {
    FlashOptions one, two;
    one.isa = two.isa = isa;
    one.backward_one_pass = 1, two.backward_one_pass = 0;
    const size_t f32 = flash_cpu_backward_thread_bytes(s, DType::f32, bm, one);
    EXPECT_GE(f32, size_t(4 * 64 * 128 * 4)) << isa_name(isa);
    EXPECT_EQ(flash_cpu_backward_thread_bytes(s, DType::f32, bm, two), f32) << isa_name(isa);
    EXPECT_EQ(flash_cpu_backward_thread_bytes(s, DType::bf16, bm, two), f32) << isa_name(isa);
    EXPECT_EQ(flash_cpu_backward_thread_bytes(s, DType::bf16, bm, one), f32 + size_t(4 * 1000 * 128 * 4))
        << isa_name(isa);
  }
}

}  // namespace
}  // namespace talklab::cpu::attention
