// The runner end to end, through Google Benchmark: a case that passes is timed; one that fails its check,
// leaves an element unwritten or throws is recorded as failed and not timed; one that runs out of memory is
// skipped with the reason; and the result file holds every case, in order, as each finishes.
#include "harness/runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "harness/memory.h"
#include "harness/registry.h"

namespace talklab {
namespace {

enum class Behaviour { good, wrong, unwritten, throws, out_of_memory, wrong_on_second_setup };

int second_setup_count = 0;  // constructions of the wrong_on_second_setup case so far

// y = 2x on a random vector of `n` floats, with a float64 reference.
class ScaleCase final : public Case {
 public:
  ScaleCase(const CaseContext& ctx, Behaviour b) : behaviour_(b), n_(size_t(ctx.params.integer("n"))), seed_(ctx.seed) {
    if (b == Behaviour::wrong_on_second_setup && ++second_setup_count == 2) behaviour_ = Behaviour::wrong;
  }
  void setup() override {
    if (behaviour_ == Behaviour::out_of_memory) throw std::bad_alloc();
    x_ = memory::Buffer<float>(n_);
    y_ = memory::Buffer<float>(n_);
    std::mt19937 rng{uint32_t(seed_)};
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    for (size_t i = 0; i < n_; ++i) x_[i] = d(rng);
  }
  void poison() override { talklab::poison(y_.span()); }
  void run() override {
    if (behaviour_ == Behaviour::throws) throw std::runtime_error("kernel exploded");
    const size_t end = behaviour_ == Behaviour::unwritten ? n_ - 1 : n_;
    for (size_t i = 0; i < end; ++i) y_[i] = 2.f * x_[i];
    if (behaviour_ == Behaviour::wrong) y_[n_ / 2] += 1.f;
  }
  Accuracy check() override {
    AccuracyAccumulator acc;
    for (size_t i = 0; i < n_; ++i) acc.add(y_[i], 2.0 * x_[i]);
    return acc.finish(Tolerance{0.0});
  }
  void add_counters(Counters& out) override { out.emplace_back("elements", double(n_)); }

 private:
  Behaviour behaviour_;
  size_t n_;
  uint64_t seed_;
  memory::Buffer<float> x_, y_;
};

Implementation impl(const char* name, Behaviour b) {
  Implementation i;
  i.name = name;
  i.make = [b](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<ScaleCase>(ctx, b); };
  return i;
}

TEST(Runner, RecordsEveryOutcomeAndTimesOnlyCorrectCases) {
  Registry registry;
  Experiment e;
  e.name = "scale";
  e.axes = {int_axis("n", "elements")};
  e.work = [](const CaseContext& ctx) { return Work{double(ctx.params.integer("n")), 8.0 * ctx.params.integer("n"), "fp32"}; };
  e.implementations = {impl("good", Behaviour::good), impl("wrong", Behaviour::wrong),
                       impl("unwritten", Behaviour::unwritten), impl("throws", Behaviour::throws),
                       impl("oom", Behaviour::out_of_memory)};
  registry.add(e);
  Profile profile;
  profile.name = "test";
  ExperimentProfile sweep;
  sweep.axes["n"] = {{int64_t(1001)}, 1};
  profile.experiments["scale"] = {sweep};
  const auto plan = make_plan(registry, profile, PlanOptions{});
  ASSERT_EQ(plan.size(), 5u);

  const std::string path = ::testing::TempDir() + "runner-" + std::to_string(::getpid()) + ".json";
  ResultFile file(path, nlohmann::json::object());
  RunOptions options;
  options.retries = 0;  // a busy machine (ctest -j2) disturbs the timed case; re-runs are test_session's subject
  options.sampling.warmup_s = 0;
  options.sampling.min_time_s = 0.01;
  options.sampling.max_time_s = 0.2;
  Roofline roofline;
  roofline.peak_ops_per_s["fp32"] = 1e12;
  roofline.bandwidth_bytes_per_s = 1e10;
  std::vector<CaseResult> seen;
  const RunSummary s = run_cases(plan, options, Rooflines{&roofline, nullptr, {}}, GpuInfo{}, file, [&](const CaseResult& r) {
    seen.push_back(r);
    std::ifstream in(path);  // the file already holds this case
    EXPECT_EQ(nlohmann::json::parse(in)["benchmarks"].size(), seen.size());
  });
  EXPECT_EQ(s.ok, 1);
  EXPECT_EQ(s.failed, 3);
  EXPECT_EQ(s.skipped, 1);

  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].status, "ok");
  ASSERT_TRUE(seen[0].timing);
  EXPECT_GT(seen[0].timing->stats.median, 0);
  EXPECT_FALSE(seen[0].timing->samples_s.empty());
  EXPECT_TRUE(seen[0].roofline_fraction);
  EXPECT_EQ(seen[0].peak_bytes, 2 * 1001 * 4);  // x and y, exactly
  EXPECT_EQ(seen[0].counters.at(0).first, "elements");

  EXPECT_EQ(seen[1].status, "failed");
  EXPECT_NE(seen[1].reason.find("correctness check failed"), std::string::npos) << seen[1].reason;
  EXPECT_FALSE(seen[1].timing);
  EXPECT_EQ(seen[2].status, "failed");
  EXPECT_NE(seen[2].reason.find("element 1000 is NaN"), std::string::npos) << seen[2].reason;
  EXPECT_EQ(seen[3].status, "failed");
  EXPECT_NE(seen[3].reason.find("crashed: kernel exploded"), std::string::npos) << seen[3].reason;
  EXPECT_EQ(seen[4].status, "skipped");
  EXPECT_NE(seen[4].reason.find("out of memory"), std::string::npos) << seen[4].reason;
  std::remove(path.c_str());
}

// --passes 3: every case runs three times, the file keeps one entry per case (replaced after each pass), the time
// is the median of the passes' medians, and a case that fails in a later pass is recorded as failed.
TEST(Runner, PassesMergeIntoOneEntryPerCase) {
  Registry registry;
  Experiment e;
  e.name = "scale";
  e.axes = {int_axis("n", "elements")};
  e.work = [](const CaseContext& ctx) { return Work{double(ctx.params.integer("n")), 8.0 * ctx.params.integer("n"), "fp32"}; };
  e.implementations = {impl("good", Behaviour::good), impl("flaky", Behaviour::wrong_on_second_setup),
                       impl("oom", Behaviour::out_of_memory)};
  registry.add(e);
  Profile profile;
  profile.name = "test";
  ExperimentProfile sweep;
  sweep.axes["n"] = {{int64_t(777)}, 1};
  profile.experiments["scale"] = {sweep};
  const auto plan = make_plan(registry, profile, PlanOptions{});
  ASSERT_EQ(plan.size(), 3u);

  const std::string path = ::testing::TempDir() + "runner-passes-" + std::to_string(::getpid()) + ".json";
  ResultFile file(path, nlohmann::json::object());
  RunOptions options;
  options.retries = 0;  // as above: the calls counted here are the passes'
  options.passes = 3;
  options.sampling.warmup_s = 0;
  options.sampling.min_time_s = 0.01;
  options.sampling.max_time_s = 0.1;
  second_setup_count = 0;
  int calls = 0;
  const RunSummary s = run_cases(plan, options, Rooflines{}, GpuInfo{}, file, [&](const CaseResult&) {
    ++calls;
    std::ifstream in(path);
    EXPECT_EQ(nlohmann::json::parse(in)["benchmarks"].size(), std::min(calls, 3));
  });
  EXPECT_EQ(calls, 9);
  ASSERT_EQ(s.results.size(), 3u);
  ASSERT_TRUE(s.results[0].timing);
  // Every pass is in the figure or, disturbed beside a clean one (ctest -j2 can do that), left out beside it.
  EXPECT_EQ(s.results[0].timing->attempt_numbers.size() + s.results[0].earlier_attempts.size(), 3u);
  EXPECT_EQ(s.results[1].status, "failed");
  EXPECT_EQ(s.ok, 1);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.skipped, 1);

  std::ifstream in(path);
  const nlohmann::json b = nlohmann::json::parse(in)["benchmarks"];
  const nlohmann::json& good = b[0]["talklab"];
  ASSERT_EQ(good["status"], "ok");
  std::vector<double> medians = good["time"]["pass_medians_s"];
  std::vector<int> numbers = good["time"]["attempt_numbers"];
  for (const auto& left_out : good["time"]["attempts"]) {
    EXPECT_TRUE(left_out["disturbed"].get<bool>()) << left_out;
    numbers.push_back(left_out["attempt_numbers"][0].get<int>());
  }
  std::sort(numbers.begin(), numbers.end());
  EXPECT_EQ(numbers, (std::vector<int>{1, 2, 3}));
  if (medians.size() > 1) {
    std::sort(medians.begin(), medians.end());
    const size_t n = medians.size();
    const double middle = n % 2 ? medians[n / 2] : (medians[n / 2 - 1] + medians[n / 2]) / 2;
    EXPECT_DOUBLE_EQ(good["time"]["median_s"].get<double>(), middle);
  }
  EXPECT_EQ(b[1]["talklab"]["status"], "failed");
  EXPECT_NE(b[1]["talklab"]["reason"].get<std::string>().find("correctness check failed"), std::string::npos);
  EXPECT_EQ(b[2]["talklab"]["status"], "skipped");
  std::remove(path.c_str());
}

TEST(Runner, CaseSeedsDifferPerCaseAndRepeatPerRunSeed) {
  EXPECT_NE(case_seed(1, "a/b/device=cpu"), case_seed(1, "a/c/device=cpu"));
  EXPECT_NE(case_seed(1, "a/b/device=cpu"), case_seed(2, "a/b/device=cpu"));
  EXPECT_EQ(case_seed(7, "a/b/device=cpu"), case_seed(7, "a/b/device=cpu"));
}

}  // namespace
}  // namespace talklab
