#include "harness/sampler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace talklab {
namespace {

// The sample function reports synthetic times (it does not sleep them): the sampler's statistics and
// stop rules are checked on known numbers.
TEST(Sampler, StableSamplesConvergeAfterTheMinimumCount) {
  SamplingOptions o;
  o.warmup_s = 0;
  o.min_time_s = 0;
  o.min_samples = 7;
  o.max_noise = 0.01;
  o.batch_runs = false;
  const Timing t = measure([](int64_t runs) { return 0.002 * double(runs); }, o);
  EXPECT_EQ(t.stop_reason, "converged");
  EXPECT_EQ(t.samples_s.size(), 7u);
  EXPECT_DOUBLE_EQ(t.stats.median, 0.002);
  EXPECT_EQ(t.runs_per_sample, 1);
}

TEST(Sampler, NoisySamplesStopAtTheSampleCap) {
  SamplingOptions o;
  o.warmup_s = 0;
  o.min_time_s = 0;
  o.max_samples = 40;
  o.max_noise = 0.01;
  o.batch_runs = false;
  int i = 0;
  const Timing t = measure([&](int64_t) { return (i++ % 2 == 0) ? 0.001 : 0.003; }, o);
  EXPECT_EQ(t.stop_reason, "sample_cap");
  EXPECT_EQ(t.samples_s.size(), 40u);
  EXPECT_GT(t.stats.rel_spread, 0.01);
}

TEST(Sampler, TimeCapStopsALongCase) {
  SamplingOptions o;
  o.warmup_s = 0;
  o.min_time_s = 0;
  o.max_time_s = 0.05;
  o.max_noise = 1e-9;
  o.batch_runs = false;
  int i = 0;
  const Timing t = measure(
      [&](int64_t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return 0.001 * (1 + (i++ % 3));
      },
      o);
  EXPECT_EQ(t.stop_reason, "time_cap");
  EXPECT_GE(t.samples_s.size(), 1u);
}

TEST(Sampler, ShortRunsAreBatchedAndReportedPerRun) {
  SamplingOptions o;
  o.warmup_s = 0;
  o.min_time_s = 0;
  o.min_sample_s = 1e-3;
  const Timing t = measure([](int64_t runs) { return 1e-5 * double(runs); }, o);
  EXPECT_EQ(t.runs_per_sample, 100);
  EXPECT_NEAR(t.stats.median, 1e-5, 1e-12);
}

// Three passes, one slow: the figure is the median of the passes' medians (the slow pass does not move it), and
// samples, min and max cover every pass, so the spread shows the slow one.
TEST(Sampler, PassesMergeToTheMedianOfTheirMedians) {
  const auto pass = [](std::vector<double> samples) {
    Timing t;
    t.samples_s = std::move(samples);
    t.stats = summarize(t.samples_s);
    t.cpu_s_per_run = 2 * t.stats.median;
    t.stop_reason = "converged";
    return t;
  };
  const Timing merged = merge_passes({pass({1.00, 1.01, 0.99}), pass({1.50, 1.52, 1.49}), pass({1.02, 1.03, 1.01})});
  EXPECT_DOUBLE_EQ(merged.stats.median, 1.02);
  ASSERT_EQ(merged.pass_medians_s, (std::vector<double>{1.00, 1.50, 1.02}));
  EXPECT_EQ(merged.samples_s.size(), 9u);
  EXPECT_DOUBLE_EQ(merged.stats.min, 0.99);
  EXPECT_DOUBLE_EQ(merged.stats.max, 1.52);
  EXPECT_GT(merged.stats.rel_spread, 0.4);  // the IQR of all nine samples spans the slow pass
  EXPECT_NEAR(merged.cpu_s_per_run, 2 * (1.00 + 1.50 + 1.02) / 3, 1e-12);
  // One pass is that pass, unchanged: no pass_medians_s.
  EXPECT_TRUE(merge_passes({pass({1.0, 2.0, 3.0})}).pass_medians_s.empty());
}

}  // namespace
}  // namespace talklab
