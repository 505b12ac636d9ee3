#include "harness/sampler.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

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

// A pass or re-run more than kMaxAttemptSlowdown times the case's fastest clean one is disturbed (a slowdown no probe
// saw); within it, or with one clean timing only, nothing changes.
TEST(Sampler, AttemptsFarSlowerThanTheFastestCleanOneAreDisturbed) {
  const auto attempt = [](double median, bool disturbed = false) {
    Timing t;
    t.samples_s = {median, median, median};
    t.stats = summarize(t.samples_s);
    t.disturbed = disturbed;
    return t;
  };
  std::vector<Timing> a = {attempt(4.72e-3), attempt(7.28e-3), attempt(8.65e-3), attempt(5.50e-3)};
  EXPECT_EQ(mark_slow_attempts(a), 2);
  EXPECT_FALSE(a[0].disturbed);
  EXPECT_TRUE(a[1].disturbed);
  EXPECT_TRUE(a[2].disturbed);
  EXPECT_FALSE(a[3].disturbed);  // 1.17x: within the bound
  EXPECT_NE(a[1].disturbed_evidence.find("7.280 ms is 1.54x the fastest of the case's 4 clean passes and re-runs "
                                         "(4.720 ms)"),
            std::string::npos)
      << a[1].disturbed_evidence;
  // The merged figure is then over the clean ones only (runner.cpp's settle_figure).
  std::vector<Timing> clean;
  for (const Timing& t : a)
    if (!t.disturbed) clean.push_back(t);
  EXPECT_DOUBLE_EQ(merge_passes(clean).stats.median, (4.72e-3 + 5.50e-3) / 2);

  // Already disturbed: neither the reference nor marked again (its evidence stays its own).
  std::vector<Timing> b = {attempt(1.0e-3, true), attempt(2.0e-3), attempt(2.3e-3)};
  b[0].disturbed_evidence = "probe";
  EXPECT_EQ(mark_slow_attempts(b), 0);
  EXPECT_EQ(b[0].disturbed_evidence, "probe");
  EXPECT_FALSE(b[2].disturbed);  // 1.15x the fastest clean one (2.0), not of the disturbed 1.0
  // One clean timing: nothing to compare it with.
  std::vector<Timing> c = {attempt(1.0e-3), attempt(3.0e-3, true)};
  EXPECT_EQ(mark_slow_attempts(c), 0);
  EXPECT_FALSE(c[0].disturbed);
}

// Interference, on synthetic samples: a 3 us case sampled 354 runs at a time on a machine with a 4 ms tick.
constexpr double kTick = 0.004;
constexpr int64_t kRuns = 354;

Timing synthetic(const std::vector<double>& per_run, const std::vector<int64_t>& preemptions) {
  Timing t;
  t.samples_s = per_run;
  t.preemptions = preemptions;
  t.runs_per_sample = kRuns;
  t.interference.seconds = 1.0;
  return t;
}

// A sample that lost a tick to a neighbour: 4 ms more over its 354 runs (plus 1 us of ordinary jitter).
double stalled(double clean, int ticks) { return clean + (ticks * kTick + 1e-6) / double(kRuns); }

TEST(Sampler, PreemptedSamplesAreDroppedAndTheMedianIsTheCleanOne) {
  std::vector<double> samples;
  std::vector<int64_t> preempted;
  for (int i = 0; i < 20; ++i) {
    const bool hit = i % 3 == 0;  // 7 of 20 samples lost one or two ticks, and the switch count saw it
    samples.push_back(hit ? stalled(3e-6, 1 + i % 2) : 3e-6 * (1 + 0.001 * i));
    preempted.push_back(hit ? 1 + i % 2 : 0);
  }
  Timing t = synthetic(samples, preempted);
  settle(t, 5, kTick);
  EXPECT_TRUE(t.kept_clean);
  EXPECT_EQ(t.dropped, 7);
  EXPECT_NE(t.dropped_reason.find("7 of 20 samples were preempted (10 involuntary context switches)"), std::string::npos)
      << t.dropped_reason;
  EXPECT_NEAR(t.stats.median, 3e-6 * (1 + 0.001 * 10), 1e-9);
  EXPECT_LT(t.stats.max, 3.1e-6);
  EXPECT_FALSE(t.disturbed) << t.disturbed_evidence;
  EXPECT_EQ(kept_samples(t).size(), 13u);
}

// Stalls the switch count did not see (the hypervisor took the vCPU): a quarter or more of the kept samples at whole
// ticks above the fastest make the case disturbed, naming the ticks; a single such sample does not.
TEST(Sampler, KeptSamplesAtWholeTicksAreDisturbed) {
  std::vector<double> samples(16, 3e-6);
  for (int i = 0; i < 5; ++i) samples[size_t(3 * i)] = stalled(3e-6, i % 2 == 0 ? 1 : 2);
  Timing t = synthetic(samples, std::vector<int64_t>(16, 0));
  settle(t, 5, kTick);
  EXPECT_TRUE(t.disturbed);
  EXPECT_NE(t.disturbed_evidence.find("5 of 16 kept samples are 1-2 scheduler ticks (4 ms each) slower than the fastest"),
            std::string::npos)
      << t.disturbed_evidence;

  std::vector<double> one(16, 3e-6);
  one[4] = stalled(3e-6, 1);
  Timing u = synthetic(one, std::vector<int64_t>(16, 0));
  settle(u, 5, kTick);
  EXPECT_FALSE(u.disturbed) << u.disturbed_evidence;
  // A long case whose samples vary by a tick is not stalled: 4 ms on a 50 ms run is not 1.5x.
  Timing v = synthetic({0.050, 0.054, 0.050, 0.058, 0.054, 0.050}, std::vector<int64_t>(6, 0));
  v.runs_per_sample = 1;
  settle(v, 5, kTick);
  EXPECT_FALSE(v.disturbed) << v.disturbed_evidence;
}

// Every sample of a 3 us case preempted and 8 ms long (the case from the issue): too few clean samples while other
// processes used half the machine is disturbed; the same marks on a quiet machine (a kernel thread's blips on
// long samples) are not, and the statistics are then over all samples.
TEST(Sampler, TooFewCleanSamplesOnABusyMachineAreDisturbed) {
  Timing busy = synthetic(std::vector<double>(12, 0.008), std::vector<int64_t>(12, 2));
  busy.runs_per_sample = 1;
  busy.interference.others_cpu_s = 1.0;  // one of two CPUs for the whole second
  settle(busy, 5, kTick);
  EXPECT_FALSE(busy.kept_clean);
  EXPECT_TRUE(busy.disturbed);
  EXPECT_NE(busy.disturbed_evidence.find("only 0 of 12 samples ran without preemption"), std::string::npos)
      << busy.disturbed_evidence;

  Timing quiet = synthetic(std::vector<double>(12, 0.4), {1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1});
  quiet.runs_per_sample = 1;
  quiet.interference.others_cpu_s = 0.01;
  settle(quiet, 5, kTick);
  EXPECT_FALSE(quiet.kept_clean);
  EXPECT_FALSE(quiet.disturbed) << quiet.disturbed_evidence;
  EXPECT_EQ(quiet.dropped, 0);
  EXPECT_DOUBLE_EQ(quiet.stats.median, 0.4);
}

// Clean samples beside a neighbour that held a core for the whole sampling are still suspect (it slows the core beside
// it without preempting anything); a quiet machine's few percent are not.
TEST(Sampler, CleanSamplesBesideABusyNeighbourAreDisturbed) {
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  Timing beside = synthetic(std::vector<double>(20, 0.71e-6), std::vector<int64_t>(20, 0));
  beside.interference.others_cpu_s = 0.49 * cpus;  // on 2 CPUs: one of them for the whole second
  settle(beside, 5, kTick);
  EXPECT_TRUE(beside.kept_clean);
  EXPECT_EQ(beside.dropped, 0);
  EXPECT_TRUE(beside.disturbed);
  EXPECT_NE(beside.disturbed_evidence.find(fmt::format("other processes used 49% of the {} CPUs while it was sampled", cpus)),
            std::string::npos)
      << beside.disturbed_evidence;

  Timing quiet = synthetic(std::vector<double>(20, 0.45e-6), std::vector<int64_t>(20, 0));
  quiet.interference.others_cpu_s = 0.02 * cpus;
  settle(quiet, 5, kTick);
  EXPECT_FALSE(quiet.disturbed) << quiet.disturbed_evidence;
}

// measure() marks each sample with the switches counted around it and settles the statistics on the clean ones.
TEST(Sampler, MeasureRecordsAPreemptionCountPerSample) {
  SamplingOptions o;
  o.warmup_s = 0;
  o.min_time_s = 0;
  o.min_samples = 5;
  o.batch_runs = false;
  const Timing t = measure([](int64_t runs) { return 0.002 * double(runs); }, o);
  EXPECT_EQ(t.preemptions.size(), t.samples_s.size());
  EXPECT_GT(t.interference.seconds, 0);
}

TEST(Sampler, MergedPassesKeepTheirMarksAndTheirDisturbance) {
  Timing a = synthetic({1e-3, 1e-3, 1e-3, 5e-3, 1e-3, 1e-3}, {0, 0, 0, 3, 0, 0});
  a.runs_per_sample = 1;
  settle(a, 5, kTick);
  Timing b = a;
  b.disturbed = true;
  b.disturbed_evidence = "planted";
  const Timing m = merge_passes({a, b});
  EXPECT_EQ(m.preemptions.size(), 12u);
  EXPECT_TRUE(m.kept_clean);
  EXPECT_EQ(m.dropped, 2);
  EXPECT_DOUBLE_EQ(m.stats.max, 1e-3);
  EXPECT_TRUE(m.disturbed);
  EXPECT_EQ(m.disturbed_evidence, "pass 2: planted");
}

// A burst that sleeps holds no core: its thread's CPU time is far short of its wall time, so no burst is clean and
// a ceiling would fall back to the fastest of all (ceilings.cpp) while a capacity probe says 0.
TEST(Sampler, BurstsThatWaitInsteadOfRunningAreNeverClean) {
  const auto sleep_1ms = [] {
    return wall_seconds([] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
  };
  const Bursts probe = probe_bursts(sleep_1ms, 1, 3);
  EXPECT_EQ(probe.samples, 3);
  EXPECT_EQ(probe.clean, 0);
  EXPECT_EQ(probe.fastest_clean_s, 0);
  EXPECT_GE(probe.fastest_s, 1e-3);
  EXPECT_LE(probe.fastest_s, probe.median_s);
  EXPECT_LE(probe.median_s, probe.slowest_s);

  const Bursts measured = measure_bursts(sleep_1ms, 1, 0.05);
  EXPECT_GE(measured.samples, 10);  // the sampler's minimum for a ceiling
  EXPECT_EQ(measured.clean, 0);
}

// paired_times: one warm-up call of each side, then rounds x runs of each, the order alternating (a first in even
// rounds); every side lasts at least min_side_s, so sides of a round hold the same number of runs.
TEST(Sampler, PairedTimesAlternatesTheSidesAndRepeatsShortRuns) {
  std::vector<char> order;
  int a_calls = 0, b_calls = 0;
  auto spin = [](double s) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(s);
    while (std::chrono::steady_clock::now() < end) {
    }
  };
  const PairedTimes t = paired_times([&] { ++a_calls; order.push_back('a'); spin(1e-4); },
                                     [&] { ++b_calls; order.push_back('b'); spin(1e-4); }, 5, 1e-3);
  EXPECT_EQ(t.rounds, 5);
  EXPECT_GE(t.runs, 2);  // 1e-4 s runs, 1e-3 s sides
  EXPECT_EQ(a_calls, 1 + 5 * t.runs);
  EXPECT_EQ(b_calls, a_calls);
  ASSERT_EQ(order.size(), size_t(2 + 10 * t.runs));
  // Round 0: a's runs then b's; round 1: b's then a's.
  EXPECT_EQ(order[2], 'a');
  EXPECT_EQ(order[2 + 2 * t.runs], 'b');
  EXPECT_GT(t.ratio, 0.0);
  EXPECT_GT(t.a_s, 0.0);
  EXPECT_GT(t.b_s, 0.0);
}

}  // namespace
}  // namespace talklab
