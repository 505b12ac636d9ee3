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

}  // namespace
}  // namespace talklab
