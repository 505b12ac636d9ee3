#include "harness/stats.h"

#include <gtest/gtest.h>

#include <vector>

namespace talklab {
namespace {

TEST(Stats, MedianAndQuartilesInterpolate) {
  const std::vector<double> v = {5, 1, 4, 2, 3};
  const SampleStats s = summarize(v);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.q1, 2);
  EXPECT_DOUBLE_EQ(s.q3, 4);
  EXPECT_DOUBLE_EQ(s.rel_spread, 2.0 / 3.0);
}

TEST(Stats, EvenCountMedianIsTheMeanOfTheMiddlePair) {
  const std::vector<double> v = {1, 2, 3, 10};
  EXPECT_DOUBLE_EQ(summarize(v).median, 2.5);
}

TEST(Stats, OneOutlierDoesNotMoveTheMedianOrTheSpread) {
  std::vector<double> v(99, 1.0);
  v.push_back(1000.0);
  const SampleStats s = summarize(v);
  EXPECT_DOUBLE_EQ(s.median, 1.0);
  EXPECT_DOUBLE_EQ(s.rel_spread, 0.0);
  EXPECT_DOUBLE_EQ(s.max, 1000.0);
}

TEST(Stats, EmptyInputGivesZeros) {
  const SampleStats s = summarize(std::vector<double>{});
  EXPECT_EQ(s.median, 0);
  EXPECT_EQ(s.rel_spread, 0);
}

}  // namespace
}  // namespace talklab
