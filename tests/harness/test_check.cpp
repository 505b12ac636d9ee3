#include "harness/check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace talklab {
namespace {

std::vector<double> random_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Check, ExactOutputPassesWithInfiniteSqnr) {
  const auto ref = random_values(777, 1);
  const Accuracy a = compare(std::span<const double>(ref), std::span<const double>(ref), Tolerance{0.0});
  EXPECT_TRUE(a.passed) << a.error;
  EXPECT_EQ(a.max_abs_error, 0.0);
  EXPECT_TRUE(std::isinf(a.sqnr_db));
  EXPECT_EQ(a.checked_elements, 777);
}

TEST(Check, FloatRoundingPassesAFloatTolerance) {
  const auto ref = random_values(1001, 2);
  std::vector<float> out(ref.begin(), ref.end());
  const Accuracy a = compare(std::span<const float>(out), std::span<const double>(ref), Tolerance{1e-6, 120.0});
  EXPECT_TRUE(a.passed) << a.error;
  EXPECT_GT(a.max_rel_error, 0.0);
  EXPECT_GT(a.sqnr_db, 130.0);  // float32 rounding: about 6 dB per mantissa bit
}

TEST(Check, APlantedErrorIsCaught) {
  const auto ref = random_values(500, 3);
  std::vector<float> out(ref.begin(), ref.end());
  out[123] += 0.01f;
  const Accuracy a = compare(std::span<const float>(out), std::span<const double>(ref), Tolerance{1e-5});
  EXPECT_FALSE(a.passed);
  EXPECT_NE(a.error.find("exceeds the tolerance"), std::string::npos) << a.error;
  EXPECT_NEAR(a.max_abs_error, 0.01, 1e-6);
}

TEST(Check, ANaNIsCaughtAndNamed) {
  const auto ref = random_values(64, 4);
  std::vector<float> out(ref.begin(), ref.end());
  out[40] = std::nanf("");
  const Accuracy a = compare(std::span<const float>(out), std::span<const double>(ref), Tolerance{1.0});
  EXPECT_FALSE(a.passed);
  EXPECT_NE(a.error.find("element 40 is NaN"), std::string::npos) << a.error;
}

TEST(Check, AnUnwrittenElementOfAPoisonedOutputIsCaught) {
  const auto ref = random_values(300, 5);
  std::vector<float> out(300);
  poison(std::span<float>(out));
  for (size_t i = 0; i < out.size(); ++i) {
    if (i != 299) out[i] = float(ref[i]);  // a kernel that forgets the tail
  }
  const Accuracy a = compare(std::span<const float>(out), std::span<const double>(ref), Tolerance{1.0});
  EXPECT_FALSE(a.passed);
  EXPECT_NE(a.error.find("element 299"), std::string::npos) << a.error;
}

TEST(Check, SqnrFloorIsEnforced) {
  const auto ref = random_values(2000, 6);
  std::vector<double> out = ref;
  for (auto& x : out) x *= 1.01;  // 40 dB
  const Accuracy a = compare(std::span<const double>(out), std::span<const double>(ref), Tolerance{1.0, 45.0});
  EXPECT_FALSE(a.passed);
  EXPECT_NEAR(a.sqnr_db, 40.0, 0.01);
  EXPECT_NE(a.error.find("SQNR"), std::string::npos);
}

TEST(Check, SizeMismatchFails) {
  std::vector<double> ref(3, 1.0), out(4, 1.0);
  EXPECT_FALSE(compare(std::span<const double>(out), std::span<const double>(ref), Tolerance{1.0}).passed);
}

TEST(Check, PoisonBf16WritesQuietNaNPatterns) {
  std::vector<uint16_t> v(5, 0);
  poison_bf16(std::span<uint16_t>(v));
  for (uint16_t x : v) {
    EXPECT_EQ(x & 0x7F80, 0x7F80);  // all-ones exponent
    EXPECT_NE(x & 0x007F, 0);       // non-zero mantissa: NaN, not infinity
  }
}

}  // namespace
}  // namespace talklab
