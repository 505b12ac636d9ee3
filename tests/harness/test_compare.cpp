// bench compare's rules on synthetic result files written by the real entry writer (to_json of a
// CaseResult): an A/A pair compares clean, each planted regression is caught and named, bad input is an
// InputError naming the file, and the Mann-Whitney p-values match hand-computed ones. Also: preempted
// samples a run left out stay out, CI's any-size rule, confirmation by a re-run, and the comparison of
// roofline fractions across machines.
#include "harness/compare.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <tuple>
#include <utility>

#include "harness/config.h"
#include "harness/result.h"

namespace talklab {
namespace {

using nlohmann::json;

// Per-run times drawn around `median_s` with a log-normal spread (timing noise is multiplicative) and an
// occasional 1.5x outlier, as a busy machine gives them.
std::vector<double> draw(std::mt19937_64& rng, double median_s, int n, double sigma = 0.05) {
  std::lognormal_distribution<double> noise(0.0, sigma);
  std::bernoulli_distribution outlier(0.05);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(median_s * noise(rng) * (outlier(rng) ? 1.5 : 1.0));
  return out;
}

CaseResult ok_case(const std::string& name, std::vector<double> samples) {
  CaseResult r;
  r.name = name;
  r.experiment = "toy";
  r.implementation = "impl";
  r.status = "ok";
  Timing t;
  t.samples_s = std::move(samples);
  t.stats = summarize(t.samples_s);
  t.stop_reason = "converged";
  r.timing = t;
  r.work = Work{2e9, 1e8, "fp32"};
  r.peak_bytes = 100 << 20;
  Accuracy a;
  a.max_rel_error = 3e-7;
  a.sqnr_db = 130;
  a.passed = true;
  r.accuracy = a;
  r.counters = {{"executed_flops", 3e9}, {"full_blocks", 40}, {"density", 0.5}};
  return r;
}

json context(const std::string& cpu = "Test CPU 9000", json gpu = nullptr) {
  return {{"talklab", {{"schema_version", 1}, {"cpu", {{"model", cpu}}}, {"gpu", gpu}, {"threads", 2}}}};
}

ResultDoc doc(const std::vector<CaseResult>& cases, const std::string& path, json ctx = context()) {
  json j = {{"context", std::move(ctx)}, {"benchmarks", json::array()}};
  for (const CaseResult& c : cases) j["benchmarks"].push_back(to_json(c));
  return parse_result(j.dump(2), path);
}

// Ten cases of 1 us to 10 ms, 30 samples each (a few with only 5, as a converged quick run gives them).
std::vector<CaseResult> run(uint64_t seed) {
  std::seed_seq seq{seed};  // small integer seeds straight into mt19937_64 gave visibly correlated first draws
  std::mt19937_64 rng(seq);
  std::vector<CaseResult> out;
  for (int i = 0; i < 10; ++i) {
    out.push_back(ok_case("toy/impl/i=" + std::to_string(i) + "/device=cpu",
                          draw(rng, 1e-6 * std::pow(10, i % 5), i < 3 ? 5 : 30, i == 9 ? 0.2 : 0.05)));
  }
  return out;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines) {
    if (l.find(what) != std::string::npos) return true;
  }
  return false;
}

const CaseComparison& find_case(const Comparison& c, const std::string& name) {
  for (const auto& k : c.cases) {
    if (k.name == name) return k;
  }
  throw std::runtime_error("no case " + name);
}

TEST(MannWhitney, ExactSmallSamplesMatchHandCounts) {
  // 3 vs 3, complete separation: U = 0 is 1 of C(6,3) = 20 equally likely rank sets, two-sided 2/20.
  const std::vector<double> a3{1, 2, 3}, b3{4, 5, 6};
  MannWhitney r = mann_whitney(a3, b3);
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 0);
  EXPECT_DOUBLE_EQ(r.p, 0.1);
  // 4 vs 4, complete separation: 2 / C(8,4) = 2/70.
  EXPECT_DOUBLE_EQ(mann_whitney(std::vector<double>{5, 6, 7, 8}, std::vector<double>{1, 2, 3, 4}).p, 2.0 / 70);
  // 5 vs 5 with U = 2 (7 beats 5 and 6): U <= 2 has 1 + 1 + 2 = 4 of C(10,5) = 252 rank sets (the
  // textbook table: P(U <= 2) = 0.016), two-sided 8/252 = 0.0317.
  r = mann_whitney(std::vector<double>{1, 2, 3, 4, 7}, std::vector<double>{5, 6, 8, 9, 10});
  EXPECT_DOUBLE_EQ(r.u, 2);
  EXPECT_DOUBLE_EQ(r.p, 8.0 / 252);
  // Ties, exact: a = {1, 2}, b = {2, 3}; mid-ranks 1, 2.5, 2.5, 4; U = 0.5. The six 2-subsets have rank
  // sums 3.5, 3.5, 5, 5, 6.5, 6.5 around the mean 5; four are at least 1.5 away: p = 4/6.
  r = mann_whitney(std::vector<double>{1, 2}, std::vector<double>{2, 3});
  EXPECT_DOUBLE_EQ(r.u, 0.5);
  EXPECT_DOUBLE_EQ(r.p, 4.0 / 6);
  // All equal: no evidence of anything.
  EXPECT_DOUBLE_EQ(mann_whitney(std::vector<double>{1, 1, 1}, std::vector<double>{1, 1, 1}).p, 1.0);
}

TEST(MannWhitney, NormalApproximationWithTieAndContinuityCorrection) {
  // 30 vs 30 (N = 60 > kMannWhitneyExactLimit). a = 1..30, b = a + 5.5: a beats b in 1 + 2 + ... + 24 = 300 pairs.
  // mu = 30*30/2 = 450, var = 30*30*61/12 = 4575, z = (450 - 300 - 0.5) / sqrt(4575) = 2.21027,
  // p = erfc(z / sqrt 2) = 0.027086.
  std::vector<double> a, b, b_tied;
  for (int i = 1; i <= 30; ++i) {
    a.push_back(i);
    b.push_back(i + 5.5);
    b_tied.push_back(i + 5);
  }
  MannWhitney r = mann_whitney(a, b);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 300);
  EXPECT_NEAR(r.p, 0.027086, 1e-5);
  // b = a + 5: 25 ties of two (6..30). U = 300 + 25/2 = 312.5; the tie term is 25 * (2^3 - 2) = 150:
  // var = 900/12 * (61 - 150 / (60*59)) = 4571.822, z = (450 - 312.5 - 0.5) / 67.6153 = 2.02617, p = 0.042747.
  r = mann_whitney(a, b_tied);
  EXPECT_DOUBLE_EQ(r.u, 312.5);
  EXPECT_NEAR(r.p, 0.042747, 1e-5);
}

TEST(MannWhitney, SmallestReachablePValue) {
  EXPECT_DOUBLE_EQ(min_p_value(3, 3), 0.1);  // 3 vs 3 can never be significant at 0.05
  EXPECT_DOUBLE_EQ(min_p_value(4, 4), 2.0 / 70);
  EXPECT_DOUBLE_EQ(min_p_value(1, 30), 1.0 / 15.5);
  EXPECT_DOUBLE_EQ(min_p_value(0, 30), 1.0);
}

TEST(Compare, SameBuildTwiceIsNoRegression) {
  // A/A: the same distributions, other random draws. Several pairs, so one lucky draw cannot hide a bias.
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const Comparison c = compare_results(doc(run(seed), "a.json"), doc(run(seed + 100), "b.json"), CompareOptions{});
    EXPECT_EQ(compare_exit_code(c), 0) << "seed " << seed;
    for (const auto& k : c.cases) EXPECT_TRUE(k.regressions.empty()) << k.name << ": " << k.regressions.front();
    EXPECT_TRUE(c.added.empty() && c.removed.empty());
    ASSERT_TRUE(c.geomean_ratio);
    EXPECT_EQ(c.geomean_cases, 10);
    EXPECT_NEAR(*c.geomean_ratio, 1.0, 0.05);
  }
}

TEST(Compare, PlantedSlowdownIsARegressionNamingTheCase) {
  std::vector<CaseResult> now = run(2);
  std::mt19937_64 rng(7);
  const std::string slow = now[5].name;
  now[5] = ok_case(slow, draw(rng, 3 * 1e-6 * 1, 30));  // case 5 is 1 us in run(): now 3 us
  const Comparison c = compare_results(doc(run(1), "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_EQ(compare_exit_code(c), 1);
  const CaseComparison& k = find_case(c, slow);
  EXPECT_EQ(k.verdict, "slower");
  ASSERT_EQ(k.regressions.size(), 1u);
  EXPECT_EQ(k.regressions[0].rfind("time ", 0), 0u) << k.regressions[0];
  EXPECT_NE(k.regressions[0].find("x slower (p="), std::string::npos) << k.regressions[0];
  EXPECT_NEAR(*k.ratio, 3.0, 0.3);
  EXPECT_LT(*k.p_value, 1e-6);
  EXPECT_EQ(c.regression_count(), 1);

  // CI's policy: only beyond 2x. 3x still fails; --fail-on-time-ratio 4 turns it into a warning.
  CompareOptions ci;
  ci.threshold_pct = 100;
  EXPECT_EQ(compare_exit_code(compare_results(doc(run(1), "a.json"), doc(now, "b.json"), ci)), 1);
  CompareOptions lenient;
  lenient.fail_on_time_ratio = 4;
  const Comparison l = compare_results(doc(run(1), "a.json"), doc(now, "b.json"), lenient);
  EXPECT_EQ(compare_exit_code(l), 0);
  EXPECT_TRUE(any_contains(find_case(l, slow).warnings, "--fail-on-time-ratio"));
  // The case is 1 us in BASE: under a 1 ms floor its slowdown is a warning; a floor under 1 us keeps it failing.
  CompareOptions floor = ci;
  floor.fail_time_floor_s = 1e-3;
  const Comparison f = compare_results(doc(run(1), "a.json"), doc(now, "b.json"), floor);
  EXPECT_EQ(compare_exit_code(f), 0);
  EXPECT_TRUE(any_contains(find_case(f, slow).warnings, "--fail-time-floor"));
  floor.fail_time_floor_s = 1e-7;
  EXPECT_EQ(compare_exit_code(compare_results(doc(run(1), "a.json"), doc(now, "b.json"), floor)), 1);
}

TEST(Compare, ModerateSlowdownUnderCiThresholdIsNotARegression) {
  std::vector<CaseResult> now = run(2);
  std::mt19937_64 rng(8);
  now[5] = ok_case(now[5].name, draw(rng, 1.5e-6, 30));
  CompareOptions ci;
  ci.threshold_pct = 100;
  const Comparison c = compare_results(doc(run(1), "a.json"), doc(now, "b.json"), ci);
  EXPECT_EQ(compare_exit_code(c), 0);
  EXPECT_EQ(find_case(c, now[5].name).verdict, "same");
  EXPECT_EQ(find_case(compare_results(doc(run(1), "a.json"), doc(now, "b.json"), CompareOptions{}), now[5].name).verdict, "slower");
}

TEST(Compare, AChangeJustBeyondTheThresholdMustItselfBeSignificant) {
  // 7% slower with 5% noise: "different" is clear from 30 samples each, "more than 5% slower" is not.
  std::mt19937_64 rng(11);
  const std::vector<double> base = draw(rng, 1e-3, 30);
  std::vector<double> now = base;
  for (double& v : now) v *= 1.07;
  const Comparison c = compare_results(doc({ok_case("t/i/device=cpu", base)}, "a.json"),
                                       doc({ok_case("t/i/device=cpu", now)}, "b.json"), CompareOptions{});
  const CaseComparison& k = c.cases.at(0);
  EXPECT_LT(*k.p_plain, 0.05);
  EXPECT_GT(*k.p_value, 0.05);
  EXPECT_EQ(k.verdict, "noisy");
  EXPECT_EQ(compare_exit_code(c), 0);
}

TEST(Compare, FasterNoisyAndTooFewSamples) {
  const auto one = [](std::vector<double> base, std::vector<double> now) {
    const Comparison c = compare_results(doc({ok_case("t/i/device=cpu", base)}, "a.json"),
                                 doc({ok_case("t/i/device=cpu", now)}, "b.json"), CompareOptions{});
    return c.cases.at(0);
  };
  EXPECT_EQ(one({2, 2.1, 1.9, 2, 2.05, 1.95}, {1, 1.05, 0.95, 1, 1.02, 0.98}).verdict, "faster");
  // Medians 1.0 and 1.1, but the samples interleave: a 10% change the test cannot confirm.
  const CaseComparison noisy = one({1.0, 1.2, 0.8, 1.4, 0.6}, {1.1, 1.3, 0.9, 1.5, 0.7});
  EXPECT_EQ(noisy.verdict, "noisy");
  EXPECT_TRUE(noisy.regressions.empty());
  // 3 vs 3 cannot reach p < 0.05 however far apart.
  const CaseComparison few = one({1, 1.01, 0.99}, {3, 3.01, 2.99});
  EXPECT_EQ(few.verdict, "too few samples");
  EXPECT_TRUE(few.regressions.empty());
}

TEST(Compare, AccuracyLossIsARegressionNamingTheMetric) {
  std::vector<CaseResult> base = run(1), now = run(2);
  base[4].accuracy->max_rel_error = 1e-6;
  now[4].accuracy->max_rel_error = 1e-2;
  base[6].accuracy->max_rel_error = 3e-7;  // float32 jitter from another random draw: not a regression
  now[6].accuracy->max_rel_error = 5e-7;
  base[7].accuracy->sqnr_db = 50.0;  // bf16-like SQNR losing 1.5 dB
  now[7].accuracy->sqnr_db = 48.5;
  base[8].accuracy->sqnr_db = 140.0;  // float32 SQNR moving by 10 dB: judged by max_rel_error instead
  now[8].accuracy->sqnr_db = 130.0;
  const Comparison c = compare_results(doc(base, "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_EQ(compare_exit_code(c), 1);
  EXPECT_EQ(c.regression_count(), 2);
  EXPECT_TRUE(any_contains(find_case(c, now[4].name).regressions, "max_rel_error 1e-06 -> 0.01"));
  EXPECT_TRUE(any_contains(find_case(c, now[7].name).regressions, "sqnr_db 50.0 -> 48.5"));
}

TEST(Compare, MemoryGrowthBeyondFivePercentIsARegression) {
  std::vector<CaseResult> base = run(1), now = run(2);
  now[1].peak_bytes = *base[1].peak_bytes * 110 / 100;  // +10%
  now[2].peak_bytes = *base[2].peak_bytes * 104 / 100;  // +4%: within 5%
  base[3].peak_bytes = 10 * 1024;                        // a small case: 10 KiB -> 60 KiB is allocator slack
  now[3].peak_bytes = 60 * 1024;
  const Comparison c = compare_results(doc(base, "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_EQ(c.regression_count(), 1);
  EXPECT_TRUE(any_contains(find_case(c, now[1].name).regressions, "peak_bytes"));
}

TEST(Compare, ExecutedWorkMustNotGrow) {
  std::vector<CaseResult> base = run(1), now = run(2);
  now[0].counters = {{"executed_flops", 3e9 + 1}, {"full_blocks", 40}, {"density", 0.9}};  // density is not work
  now[1].counters = {{"executed_flops", 3e9}, {"full_blocks", 41}, {"density", 0.5}};
  now[2].counters = {{"executed_flops", 2e9}, {"full_blocks", 40}, {"density", 0.5}};  // less: a note
  now[3].work.bytes *= 2;
  const Comparison c = compare_results(doc(base, "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_EQ(c.regression_count(), 3);
  EXPECT_TRUE(any_contains(find_case(c, now[0].name).regressions, "executed_flops"));
  EXPECT_TRUE(any_contains(find_case(c, now[1].name).regressions, "full_blocks 40 -> 41"));
  EXPECT_TRUE(find_case(c, now[2].name).regressions.empty());
  EXPECT_TRUE(any_contains(find_case(c, now[2].name).notes, "executed_flops"));
  EXPECT_TRUE(any_contains(find_case(c, now[3].name).regressions, "work.bytes"));
}

// A plan chosen from costs measured in the run (checkpointing's solvers) may recompute more in one run than in
// another of the same build: a plan_ counter is not held to exactness, the shape-determined ones still are.
TEST(Compare, PlanCountersAreNotHeldToExactWork) {
  std::vector<CaseResult> base = run(1), now = run(2);
  for (CaseResult& r : base) r.counters.emplace_back("plan_recompute_flops", 5198688);
  for (CaseResult& r : now) r.counters.emplace_back("plan_recompute_flops", 5333856);
  now[1].counters[0].second += 1;  // executed_flops
  const Comparison c = compare_results(doc(base, "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_EQ(c.regression_count(), 1);
  EXPECT_TRUE(any_contains(find_case(c, now[1].name).regressions, "executed_flops"));
}

TEST(Compare, FailedIsARegressionSkippedIsAWarningUnlessStrict) {
  std::vector<CaseResult> base = run(1), now = run(2);
  now[0].status = "failed";
  now[0].reason = "max_rel_error 0.3 > 0.01";
  now[1].status = "skipped";
  now[1].reason = "no CUDA device";
  Comparison c = compare_results(doc(base, "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_EQ(c.regression_count(), 1);
  EXPECT_TRUE(any_contains(find_case(c, now[0].name).regressions, "failed in NEW: max_rel_error 0.3"));
  EXPECT_TRUE(any_contains(find_case(c, now[1].name).warnings, "skipped in NEW: no CUDA device"));
  CompareOptions strict;
  strict.strict = true;
  c = compare_results(doc(base, "a.json"), doc(now, "b.json"), strict);
  EXPECT_EQ(c.regression_count(), 2);
}

TEST(Compare, AddedAndRemovedCasesAreListed) {
  std::vector<CaseResult> base = run(1), now = run(2);
  now.erase(now.begin() + 3);
  now.push_back(ok_case("toy/impl/i=new/device=cpu", {1, 1, 1, 1, 1}));
  const Comparison c = compare_results(doc(base, "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_EQ(compare_exit_code(c), 0);
  EXPECT_EQ(c.removed, std::vector<std::string>{base[3].name});
  EXPECT_EQ(c.added, std::vector<std::string>{"toy/impl/i=new/device=cpu"});
  EXPECT_EQ(c.cases.size(), 9u);
}

TEST(Compare, GeometricMeanOfRatios) {
  const std::vector<CaseResult> base = {ok_case("t/a/device=cpu", {1, 1, 1, 1, 1}), ok_case("t/b/device=cpu", {1, 1, 1, 1, 1})};
  const std::vector<CaseResult> now = {ok_case("t/a/device=cpu", {2, 2, 2, 2, 2}), ok_case("t/b/device=cpu", {0.5, 0.5, 0.5, 0.5, 0.5})};
  const Comparison c = compare_results(doc(base, "a.json"), doc(now, "b.json"), CompareOptions{});
  EXPECT_DOUBLE_EQ(*c.geomean_ratio, 1.0);
}

TEST(Compare, DifferentMachinesAreRefusedUnlessAllowed) {
  const ResultDoc a = doc(run(1), "a.json"), b = doc(run(2), "b.json", context("Other CPU 1"));
  try {
    compare_results(a, b, CompareOptions{});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Test CPU 9000"), std::string::npos) << what;
    EXPECT_NE(what.find("Other CPU 1"), std::string::npos) << what;
    EXPECT_NE(what.find("--allow-different-machines"), std::string::npos) << what;
  }
  const ResultDoc gpu = doc(run(2), "b.json", context("Test CPU 9000", {{"name", "NVIDIA H100"}}));
  EXPECT_THROW(compare_results(a, gpu, CompareOptions{}), InputError);
  CompareOptions allow;
  allow.allow_different_machines = true;
  const Comparison c = compare_results(a, b, allow);
  EXPECT_TRUE(any_contains(c.warnings, "different machines"));
}

// A context that names the CPU as CPUID does, as bench run writes it since it reads /proc/cpuinfo's family,
// model and stepping (the brand string alone cannot tell two generations of a VM's "AMD EPYC" apart).
json cpuid_context(int family, int stepping = 1, const std::string& microcode = "0x10") {
  json c = context();
  c["talklab"]["cpu"] = {{"model", "Test CPU 9000"}, {"vendor", "AuthenticAMD"}, {"family", family},
                         {"model_number", 17}, {"stepping", stepping}, {"microcode", microcode}, {"isa", "avx2"}};
  return c;
}

// The time fields a run writes since it marks preempted samples: per sample the involuntary context switches,
// and which samples its statistics kept.
void mark_preempted(json& entry, const std::vector<int>& preempted, const std::string& kept) {
  entry["talklab"]["time"]["samples_preempted"] = preempted;
  entry["talklab"]["time"]["kept"] = kept;
}

TEST(Compare, PreemptedSamplesLeftOutWhenTheRunKeptTheCleanOnes) {
  // NEW is 2x faster in its clean samples; 30 more, preempted, took 5 ms each. The run's median is over the
  // clean ones, and so must the test be: with them it is "faster", with every sample it cannot tell.
  std::mt19937_64 rng(21);
  const ResultDoc base = doc({ok_case("t/i/device=cpu", draw(rng, 1e-3, 30, 0.02))}, "a.json");
  std::vector<double> clean = draw(rng, 0.5e-3, 30, 0.02), all = clean;
  std::vector<int> preempted(30, 0);
  for (int i = 0; i < 30; ++i) {
    all.push_back(5e-3);
    preempted.push_back(2);
  }
  CaseResult r = ok_case("t/i/device=cpu", all);
  r.timing->stats = summarize(clean);
  ResultDoc now = doc({r}, "b.json");
  mark_preempted(now.entries[0], preempted, "clean");
  const CaseComparison kept = compare_results(base, now, CompareOptions{}).cases.at(0);
  EXPECT_EQ(kept.new_samples, 30u);
  EXPECT_EQ(kept.verdict, "faster");
  mark_preempted(now.entries[0], preempted, "all");
  const CaseComparison every = compare_results(base, now, CompareOptions{}).cases.at(0);
  EXPECT_EQ(every.new_samples, 60u);
  EXPECT_EQ(every.verdict, "noisy");
  // An older file has neither field: every sample counts, as before.
  now.entries[0]["talklab"]["time"].erase("samples_preempted");
  now.entries[0]["talklab"]["time"].erase("kept");
  EXPECT_EQ(compare_results(base, now, CompareOptions{}).cases.at(0).new_samples, 60u);
}

TEST(Compare, DisturbedCaseIsComparedWithAWarning) {
  ResultDoc now = doc(run(2), "b.json");
  now.entries[3]["talklab"]["time"]["disturbed"] = true;
  now.entries[3]["talklab"]["time"]["disturbed_evidence"] = "kept samples at whole scheduler ticks";
  const Comparison c = compare_results(doc(run(1), "a.json"), now, CompareOptions{});
  const CaseComparison& k = find_case(c, run(2)[3].name);
  EXPECT_TRUE(any_contains(k.warnings, "disturbed in NEW: kept samples at whole scheduler ticks"));
  EXPECT_NE(k.verdict, "-");  // still judged
  EXPECT_EQ(compare_exit_code(c), 0);
}

// CI's gate: --fail-on-time-ratio 3 --fail-time-floor 0.001 --fail-any-size-ratio 10.
CompareOptions ci_gate() {
  CompareOptions o;
  o.threshold_pct = 100;
  o.fail_on_time_ratio = 3;
  o.fail_time_floor_s = 1e-3;
  o.fail_any_size_ratio = 10;
  return o;
}

// One 5 us case, `slow` times slower in NEW.
std::pair<ResultDoc, ResultDoc> five_us_pair(double slow, uint64_t seed = 5) {
  std::mt19937_64 rng(seed);
  return {doc({ok_case("t/small/device=cpu", draw(rng, 5e-6, 30))}, "a.json"),
          doc({ok_case("t/small/device=cpu", draw(rng, 5e-6 * slow, 30))}, "b.json")};
}

TEST(Compare, AnySizeRatioFailsATenfoldSlowdownUnderTheFloor) {
  auto [base, now] = five_us_pair(20);
  Comparison c = compare_results(base, now, ci_gate());
  EXPECT_EQ(compare_exit_code(c), 1);
  ASSERT_EQ(c.cases.at(0).regressions.size(), 1u);
  EXPECT_NE(c.cases.at(0).regressions[0].find("beyond --fail-any-size-ratio 10"), std::string::npos)
      << c.cases.at(0).regressions[0];
  CompareOptions floor_only = ci_gate();
  floor_only.fail_any_size_ratio.reset();
  EXPECT_EQ(compare_exit_code(compare_results(base, now, floor_only)), 0);  // what the floor alone excused
  std::tie(base, now) = five_us_pair(5);
  c = compare_results(base, now, ci_gate());
  EXPECT_EQ(compare_exit_code(c), 0);
  EXPECT_EQ(c.cases.at(0).verdict, "slower");
  EXPECT_TRUE(any_contains(c.cases.at(0).warnings, "BASE median under --fail-time-floor"));
}

TEST(Compare, ConfirmationKeepsAReproducedSlowdown) {
  auto [base, now] = five_us_pair(20);
  Comparison c = compare_results(base, now, ci_gate());
  ASSERT_EQ(slower_cases(c), std::vector<std::string>{"t/small/device=cpu"});
  std::mt19937_64 rng(99);
  apply_confirmation(c, base, doc({ok_case("t/small/device=cpu", draw(rng, 5e-6 * 19, 60))}, "again.json"), 3);
  const CaseComparison& k = c.cases.at(0);
  EXPECT_EQ(compare_exit_code(c), 1);
  EXPECT_EQ(k.verdict, "slower");
  ASSERT_TRUE(k.confirmation);
  EXPECT_EQ(k.confirmation->verdict, "slower");
  EXPECT_EQ(k.confirmation->runs, 3);
  EXPECT_NEAR(*k.confirmation->ratio, 19, 2);
  ASSERT_EQ(k.regressions.size(), 1u);
  EXPECT_NE(k.regressions[0].find("(confirmed: 3 re-runs, "), std::string::npos) << k.regressions[0];
  EXPECT_EQ(c.confirm_runs, 3);

  // Confirmed, but at 5x: the gate judges the confirmed ratio, and under the floor 5x is a warning.
  Comparison milder = compare_results(base, now, ci_gate());
  apply_confirmation(milder, base, doc({ok_case("t/small/device=cpu", draw(rng, 5e-6 * 5, 60))}, "again.json"), 3);
  EXPECT_EQ(compare_exit_code(milder), 0);
  EXPECT_TRUE(any_contains(milder.cases.at(0).warnings, "(confirmed: 3 re-runs, "));
}

TEST(Compare, ConfirmationClearsAOneOffStallButNotOtherMetrics) {
  auto [base, now] = five_us_pair(20);
  now.entries[0]["talklab"]["accuracy"]["max_rel_error"] = 1e-2;  // judged on NEW, whatever the re-run says
  Comparison c = compare_results(base, now, ci_gate());
  EXPECT_EQ(c.regression_count(), 2);
  std::mt19937_64 rng(98);
  apply_confirmation(c, base, doc({ok_case("t/small/device=cpu", draw(rng, 5e-6, 60))}, "again.json"), 3);
  const CaseComparison& k = c.cases.at(0);
  EXPECT_EQ(k.verdict, "not confirmed");
  EXPECT_EQ(k.confirmation->verdict, "same");
  EXPECT_TRUE(any_contains(k.warnings, fmt::format("slower in NEW ({:.2f}x) but not confirmed by 3 re-runs ({:.2f}x): "
                                                   "not counted", *k.ratio, *k.confirmation->ratio)));
  EXPECT_NEAR(*k.confirmation->ratio, 1.0, 0.1);
  ASSERT_EQ(k.regressions.size(), 1u);
  EXPECT_NE(k.regressions[0].find("max_rel_error"), std::string::npos);
}

TEST(Compare, ACaseTheConfirmationLacksKeepsItsFirstVerdict) {
  auto [base, now] = five_us_pair(20);
  Comparison c = compare_results(base, now, ci_gate());
  apply_confirmation(c, base, doc({ok_case("t/other/device=cpu", {1, 1, 1})}, "again.json"), 2);
  EXPECT_EQ(compare_exit_code(c), 1);
  EXPECT_FALSE(c.cases.at(0).confirmation);
  EXPECT_TRUE(any_contains(c.cases.at(0).warnings, "the re-run did not produce it (again.json)"));

  c = compare_results(base, now, ci_gate());
  CaseResult skipped = ok_case("t/small/device=cpu", {});
  skipped.status = "skipped";
  skipped.timing.reset();
  skipped.reason = "no CUDA device";
  apply_confirmation(c, base, doc({skipped}, "again.json"), 2);
  EXPECT_EQ(compare_exit_code(c), 1);
  EXPECT_TRUE(any_contains(c.cases.at(0).warnings, "the re-run skipped it: no CUDA device"));

  c = compare_results(base, now, ci_gate());
  keep_unconfirmed(c, 2, "the re-run wrote no result file (exit 2)");
  EXPECT_EQ(compare_exit_code(c), 1);
  EXPECT_TRUE(any_contains(c.cases.at(0).warnings, "unconfirmed: the re-run wrote no result file (exit 2)"));
}

TEST(Compare, MachineIsItsCpuidNotOnlyItsBrandString) {
  // The same brand string, another family: another machine. Only another microcode: the same one, with a warning.
  const ResultDoc a = doc(run(1), "a.json", cpuid_context(25));
  EXPECT_THROW(compare_results(a, doc(run(2), "b.json", cpuid_context(26)), CompareOptions{}), InputError);
  EXPECT_THROW(compare_results(a, doc(run(2), "b.json", cpuid_context(25, 2)), CompareOptions{}), InputError);
  const Comparison c = compare_results(a, doc(run(2), "b.json", cpuid_context(25, 1, "0x20")), CompareOptions{});
  EXPECT_FALSE(c.normalized_by_roofline);
  EXPECT_TRUE(any_contains(c.warnings, "BASE ran with 0x10, NEW with 0x20"));
  try {
    compare_results(a, doc(run(2), "b.json", cpuid_context(26)), CompareOptions{});
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("Test CPU 9000 (AuthenticAMD family 26 model 17 stepping 1, microcode 0x10)"),
              std::string::npos) << e.what();
  }
  // A context without family (an older file) against one with it: both are judged by the brand string.
  json older = context();
  older["talklab"]["cpu"]["isa"] = "avx2";
  EXPECT_NO_THROW(compare_results(doc(run(1), "a.json", older), doc(run(2), "b.json", cpuid_context(26)), CompareOptions{}));
}

TEST(Compare, AcrossMachinesTimesAreComparedAsRooflineFractions) {
  // The other machine's ceiling is half as high: a case at the same fraction of it takes twice as long.
  std::mt19937_64 rng(31);
  const auto at = [&](const std::string& name, double median_s, std::optional<double> fraction) {
    CaseResult r = ok_case(name, draw(rng, median_s, 30, 0.02));
    r.roofline_fraction = fraction;
    return r;
  };
  const ResultDoc base = doc({at("t/same_fraction/device=cpu", 1e-3, 0.5), at("t/lower_fraction/device=cpu", 1e-3, 0.5),
                              at("t/no_fraction/device=cpu", 1e-3, std::nullopt)},
                             "a.json", cpuid_context(25));
  const ResultDoc now = doc({at("t/same_fraction/device=cpu", 2e-3, 0.5), at("t/lower_fraction/device=cpu", 1e-3, 0.2),
                             at("t/no_fraction/device=cpu", 1e-3, std::nullopt)},
                            "b.json", cpuid_context(26));
  CompareOptions allow;
  allow.allow_different_machines = true;
  const Comparison c = compare_results(base, now, allow);
  EXPECT_TRUE(c.normalized_by_roofline);
  const CaseComparison& same = find_case(c, "t/same_fraction/device=cpu");
  EXPECT_EQ(same.verdict, "same");
  EXPECT_NEAR(*same.ratio, 1.0, 0.05);
  EXPECT_NEAR(*same.new_median_s / *same.base_median_s, 2.0, 0.2);  // the columns stay the raw medians
  const CaseComparison& lower = find_case(c, "t/lower_fraction/device=cpu");
  EXPECT_EQ(lower.verdict, "slower");
  EXPECT_NEAR(*lower.ratio, 2.5, 0.1);  // base fraction / new fraction, though the raw times are equal
  const CaseComparison& none = find_case(c, "t/no_fraction/device=cpu");
  EXPECT_EQ(none.verdict, "-");
  EXPECT_FALSE(none.ratio);
  EXPECT_TRUE(any_contains(none.warnings, "not comparable across machines: no roofline fraction"));
  EXPECT_EQ(c.geomean_cases, 2);
}

TEST(ReadResult, BadInputNamesTheFile) {
  const auto message = [](const std::string& text) {
    try {
      parse_result(text, "/some/where/x.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("hello").find("/some/where/x.json: not valid JSON"), std::string::npos);
  EXPECT_NE(message("").find("/some/where/x.json: empty file"), std::string::npos);
  EXPECT_NE(message("[1, 2]").find("/some/where/x.json: not a result file"), std::string::npos);
  EXPECT_NE(message(R"({"benchmarks": [], "context": {}})").find("no context.talklab.schema_version"), std::string::npos);
  json v2 = {{"benchmarks", json::array()}, {"context", context()}};
  v2["context"]["talklab"]["schema_version"] = 2;
  EXPECT_NE(message(v2.dump()).find("/some/where/x.json: schema_version 2"), std::string::npos);
  // A syntax error in the middle is not a truncation.
  EXPECT_NE(message(R"({"benchmarks": [}, "context": {}})").find("not valid JSON"), std::string::npos);
  EXPECT_NE(message(R"({"benchmarks": [{"name": )").find("truncated before its first complete case"), std::string::npos);

  const std::string missing = "/nonexistent-talklab/base.json";
  try {
    load_result(missing);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": cannot read"), std::string::npos) << e.what();
  }
}

TEST(ReadResult, TruncatedFileKeepsItsCompleteCases) {
  std::vector<CaseResult> cases = run(1);
  cases.resize(4);
  cases[2].name = R"(toy/impl/odd="quoted]}"/device=cpu)";  // brackets and quotes inside a string
  json j = {{"context", context()}, {"benchmarks", json::array()}};
  for (const CaseResult& c : cases) j["benchmarks"].push_back(to_json(c));
  const std::string text = j.dump(2);  // as our writer: keys sorted, so "benchmarks" before "context"
  const std::string third = json(cases[2].name).dump();
  const size_t third_start = text.rfind("{", text.find(third));
  const size_t fourth_start = text.rfind("{", text.find("\"" + cases[3].name + "\""));
  ASSERT_LT(third_start, fourth_start);
  // Every cut inside the third entry keeps exactly the first two.
  for (size_t cut = third_start + 1; cut + 10 < fourth_start; ++cut) {
    const ResultDoc d = parse_result(text.substr(0, cut), "cut.json");
    ASSERT_EQ(d.entries.size(), 2u) << "cut at " << cut;
  }
  const size_t middle = (third_start + fourth_start) / 2;
  const ResultDoc d = parse_result(text.substr(0, middle), "cut.json");
  EXPECT_TRUE(any_contains(d.warnings, "cut.json: truncated after 2 complete cases; comparing those"));
  EXPECT_TRUE(d.context.is_null());
  // Compared with the whole file: two cases in common, the other two "removed"; no machine check possible.
  const Comparison c = compare_results(doc(cases, "full.json"), d, CompareOptions{});
  EXPECT_EQ(c.cases.size(), 2u);
  EXPECT_EQ(c.removed.size(), 2u);
  EXPECT_EQ(compare_exit_code(c), 0);
  EXPECT_TRUE(any_contains(c.warnings, "truncated after 2"));

  // A writer that puts the context first keeps it, and its schema version is still checked.
  nlohmann::ordered_json ordered;
  ordered["context"] = context();
  ordered["benchmarks"] = j["benchmarks"];
  const std::string text2 = ordered.dump(2);
  const ResultDoc d2 = parse_result(text2.substr(0, text2.find(third)), "cut2.json");
  EXPECT_EQ(d2.entries.size(), 2u);
  EXPECT_EQ(d2.context["talklab"]["cpu"]["model"], "Test CPU 9000");
}

}  // namespace
}  // namespace talklab
