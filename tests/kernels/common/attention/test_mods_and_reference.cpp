// The mods' arithmetic (vectorizable tanh / exp, ALiBi slopes, relative-bias clamping, composition) and the float64
// reference on a case small enough to write down by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/common/attention/mask.h"
#include "kernels/common/attention/reference.h"

namespace talklab::attention {
namespace {

TEST(Mods, TanhFloatIsAccurate) {
  double worst = 0.0;
  for (double x = -30.0; x <= 30.0; x += 1.0 / 1024) {
    const double got = detail::tanh_float(float(x)), want = std::tanh(double(float(x)));
    worst = std::max(worst, std::fabs(got - want) / std::max(std::fabs(want), 1e-30));
  }
  EXPECT_LT(worst, 1e-6);  // relative; softcap multiplies it by cap, compared with scores of size ~cap
  EXPECT_EQ(detail::tanh_float(0.0f), 0.0f);
}

TEST(Mods, ExpNonpositiveIsAccurateAndFlushes) {
  double worst = 0.0;
  for (double x = -80.0; x <= 0.0; x += 1.0 / 512) {
    const double got = detail::exp_nonpositive(float(x)), want = std::exp(double(float(x)));
    // x * log2(e) is rounded to float first: 2^-24 * |x| relative error on top of the polynomial's 1.2e-7.
    worst = std::max(worst, std::fabs(got - want) / want / (1.0 + std::fabs(x)));
  }
  EXPECT_LT(worst, 2e-7);
  EXPECT_EQ(detail::exp_nonpositive(-std::numeric_limits<float>::infinity()), 0.0f);
}

TEST(Mods, AlibiSlopesAreStandard) {
  const std::vector<float> s = alibi_slopes(8);
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(s[size_t(h)], std::exp2(-(h + 1.0f)));
  const AlibiScore a = alibi_score(s);
  EXPECT_FLOAT_EQ(a(1.0f, 0, 2, 10, 4), 1.0f - 0.125f * 6);
}

TEST(Mods, RelBiasClampsDistance) {
  std::vector<float> table(2 * (2 * 3 + 1));
  for (size_t i = 0; i < table.size(); ++i) table[i] = float(i);
  const RelBiasScore r = rel_bias_score(table, 3);
  EXPECT_EQ(r(0.0f, 0, 0, 10, 10), 3.0f);   // distance 0 -> column 3
  EXPECT_EQ(r(0.0f, 0, 0, 100, 10), 6.0f);  // +90 clamps to +3
  EXPECT_EQ(r(0.0f, 0, 1, 0, 50), 7.0f);    // -50 clamps to -3, head 1
}

TEST(Mods, MasksFollowTheirConventions) {
  EXPECT_TRUE(SlidingWindowMask{3}(0, 0, 10, 8));   // window 3: keys 8, 9, 10
  EXPECT_FALSE(SlidingWindowMask{3}(0, 0, 10, 7));
  EXPECT_FALSE(SlidingWindowMask{3}(0, 0, 10, 11));
  EXPECT_TRUE(PrefixLmMask{5}(0, 0, 0, 4));
  EXPECT_FALSE(PrefixLmMask{5}(0, 0, 0, 5));
  const DocumentMask d = document_mask({2, 1, 3});  // documents [0,1], [2], [3,4,5]
  EXPECT_TRUE(d(0, 0, 1, 0));
  EXPECT_FALSE(d(0, 0, 2, 1));
  EXPECT_TRUE(d(0, 0, 5, 3));
  EXPECT_FALSE(d(0, 0, 4, 5));  // causal inside the document
  auto first_two = [](int, int, int, int kv) { return kv < 2; };
  const auto both = mask_and(CausalMask{}, mask_or(first_two, SlidingWindowMask{1}));
  EXPECT_FALSE(both(0, 0, 0, 1));
  EXPECT_TRUE(both(0, 0, 5, 1));
  EXPECT_TRUE(both(0, 0, 5, 5));
  EXPECT_FALSE(both(0, 0, 5, 3));
}

// One query, two keys, D = 1, scale 1: scores 1 and 2.
TEST(Reference, MatchesHandComputation) {
  const AttnShape s{1, 1, 1, 1, 2, 1};
  const float q[] = {1.0f}, k[] = {1.0f, 2.0f}, v[] = {3.0f, 5.0f};
  AttnTensors t{DType::f32, q, k, v, nullptr, nullptr};
  const ReferenceRows r = reference_attention_rows(s, t, FullMask{}, NoScore{}, 1.0, {{0, 0, 0}});
  const double e1 = std::exp(1.0), e2 = std::exp(2.0);
  EXPECT_NEAR(r.out[0], (3 * e1 + 5 * e2) / (e1 + e2), 1e-14);
  EXPECT_NEAR(r.lse[0], std::log(e1 + e2), 1e-14);
  const ReferenceRows c = reference_attention_rows(s, t, CausalMask{}, SoftcapScore{1.0f}, 1.0, {{0, 0, 0}});
  EXPECT_NEAR(c.out[0], 3.0, 1e-14);  // only key 0 visible
  EXPECT_NEAR(c.lse[0], std::tanh(1.0), 1e-7);
  const ReferenceRows none = reference_attention_rows(s, t, [](int, int, int, int) { return false; }, NoScore{}, 1.0,
                                                      {{0, 0, 0}});
  EXPECT_EQ(none.out[0], 0.0);
  EXPECT_EQ(none.lse[0], -std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace talklab::attention
