// bench run --shard (harness/shard.h): how the text and the schedulers' variables are read, and that the split is a
// partition of the plan, the same every time it is computed, balanced by declared work, and spreads skipped cases.
#include "harness/shard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "harness/config.h"
#include "harness/registry.h"
#include "tests/message_of.h"

namespace talklab {
namespace {

using Env = std::map<std::string, std::string>;

ShardSpec parse(const std::string& text, const Env& env, std::optional<int> count = std::nullopt) {
  return parse_shard(text, count, [&](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  });
}

std::string error(const std::string& text, const Env& env, std::optional<int> count = std::nullopt) {
  return test::message_of<InputError>([&] { parse(text, env, count); });
}

TEST(ParseShard, ReadsIndexOverCount) {
  const ShardSpec s = parse("2/5", {});
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.source, "--shard");
}

TEST(ParseShard, RejectsWhatIsNotAShardNamingIt) {
  EXPECT_EQ(error("4/4", {}), "--shard 4/4: shard index 4 is out of range (0 to 3)");
  EXPECT_EQ(error("-1/4", {}), "--shard -1/4: shard index -1 is out of range (0 to 3)");
  EXPECT_EQ(error("0/0", {}), "--shard 0/0: a shard count of 0 (it must be at least 1)");
  EXPECT_EQ(error("two/4", {}), "--shard 'two/4': expected I/N (e.g. 0/4) or auto");
  EXPECT_EQ(error("3", {}), "--shard '3': expected I/N (e.g. 0/4) or auto");
  EXPECT_EQ(error("1/4", {}, 3), "--shard 1/4 and --shard-count 3 disagree");
}

TEST(ParseShard, AutoReadsASlurmArrayFromItsFirstTask) {
  const Env env{{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "5"}, {"SLURM_ARRAY_TASK_MAX", "8"},
                {"SLURM_ARRAY_TASK_COUNT", "4"}};
  const ShardSpec s = parse("auto", env);
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.source, "SLURM_ARRAY_TASK_ID");
}

TEST(ParseShard, AutoRefusesAnArrayWithGapsAndSaysWhatToSubmit) {
  const Env env{{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "6"},
                {"SLURM_ARRAY_TASK_COUNT", "4"}};
  EXPECT_EQ(error("auto", env),
            "--shard auto: the Slurm array is not a contiguous range (SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_MAX=6, "
            "SLURM_ARRAY_TASK_COUNT=4); submit --array=0-3 or pass --shard I/N");
  EXPECT_EQ(error("auto", {{"SLURM_ARRAY_TASK_ID", "x"}}), "--shard auto: SLURM_ARRAY_TASK_ID='x' is not an integer");
}

TEST(ParseShard, AutoReadsAKubernetesIndexedJobWithItsCount) {
  const ShardSpec s = parse("auto", {{"JOB_COMPLETION_INDEX", "3"}}, 8);
  EXPECT_EQ(s.index, 3);
  EXPECT_EQ(s.count, 8);
  EXPECT_EQ(s.source, "JOB_COMPLETION_INDEX");
  EXPECT_NE(error("auto", {{"JOB_COMPLETION_INDEX", "3"}}).find("pass --shard-count N"), std::string::npos);
  EXPECT_EQ(error("auto", {{"JOB_COMPLETION_INDEX", "8"}}, 8),
            "--shard auto (JOB_COMPLETION_INDEX): shard index 8 is out of range (0 to 7)");
  EXPECT_NE(error("auto", {}).find("neither SLURM_ARRAY_TASK_ID"), std::string::npos);
}

// Cases from nothing to far more than the maximum sampling time's worth of declared FLOPs, some skipped.
Experiment split_experiment() {
  Experiment e;
  e.name = "split";
  e.description = "cases of very different sizes";
  e.axes = {int_axis("flops", "declared work"), string_axis("mode", {"run", "off"}, "off: skipped")};
  e.work = [](const CaseContext& ctx) { return Work{double(ctx.params.integer("flops")), 0, "fp32"}; };
  e.skip = [](const Params& p) { return p.str("mode") == "off" ? std::string("off") : ""; };
  Implementation a;
  a.name = "ours";
  a.device = Device::cpu;
  a.make = [](const CaseContext&) -> std::unique_ptr<Case> { return nullptr; };
  Implementation b = a;
  b.name = "theirs";
  e.implementations = {a, b};
  return e;
}

struct SplitTest : ::testing::Test {
  Registry registry;
  std::vector<PlannedCase> plan;
  SamplingOptions sampling;
  void SetUp() override {
    registry.add(split_experiment());
    Profile p;
    p.name = "test";
    ExperimentProfile ep;
    ep.axes["flops"] = {{int64_t(1), int64_t(1000000), int64_t(30000000000), int64_t(100000000000), int64_t(3000),
                         int64_t(5000000000), int64_t(7), int64_t(2000), int64_t(400000000000)}, 1};
    ep.axes["mode"] = {{std::string("run"), std::string("off")}, 2};
    p.experiments["split"] = {ep};
    plan = make_plan(registry, p, PlanOptions{});
  }
};

TEST_F(SplitTest, EveryCaseIsInExactlyOneShardInThePlansOrder) {
  for (int count : {1, 2, 3, 4, 7, 40}) {
    std::vector<std::string> all;
    for (int i = 0; i < count; ++i) {
      const std::vector<PlannedCase> shard = select_shard(plan, ShardSpec{i, count, "--shard"}, sampling);
      std::vector<size_t> positions;
      for (const PlannedCase& c : shard) {
        all.push_back(c.name);
        positions.push_back(size_t(std::find_if(plan.begin(), plan.end(), [&](const PlannedCase& p) {
                                     return p.name == c.name;
                                   }) - plan.begin()));
      }
      EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end())) << "shard " << i << " of " << count;
    }
    std::vector<std::string> expected;
    for (const PlannedCase& c : plan) expected.push_back(c.name);
    std::sort(all.begin(), all.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(all, expected) << count << " shards";
  }
}

TEST_F(SplitTest, TheSplitDependsOnThePlanAlone) {
  const std::vector<int> first = assign_shards(plan, 4, sampling);
  EXPECT_EQ(assign_shards(plan, 4, sampling), first);
  // The same cases planned in another order (another machine's registry order) land in the same shards.
  std::vector<PlannedCase> reversed(plan.rbegin(), plan.rend());
  const std::vector<int> again = assign_shards(reversed, 4, sampling);
  for (size_t i = 0; i < plan.size(); ++i) EXPECT_EQ(again[plan.size() - 1 - i], first[i]) << plan[i].name;
}

TEST_F(SplitTest, ShardsAreBalancedByEstimatedSecondsAndSkippedCasesAreSpread) {
  const int count = 3;
  const std::vector<int> shard = assign_shards(plan, count, sampling);
  std::vector<double> load(count, 0);
  std::vector<int> skipped(count, 0);
  double largest = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    const double s = estimated_case_seconds(plan[i], sampling);
    load[size_t(shard[i])] += s;
    largest = std::max(largest, s);
    if (!plan[i].skip_reason.empty()) {
      EXPECT_EQ(s, 0) << plan[i].name;
      ++skipped[size_t(shard[i])];
    }
  }
  // Longest-first greedy: no shard exceeds another by more than the largest single case.
  const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
  EXPECT_LE(*hi - *lo, largest + 1e-6);
  EXPECT_GT(*lo, 0);
  // The 18 skipped cases go to the shards with the fewest cases, not all to the least loaded one.
  EXPECT_EQ(skipped[0] + skipped[1] + skipped[2], 18);
  for (int k : skipped) EXPECT_GT(k, 0);
}

TEST_F(SplitTest, EstimatedSecondsFollowTheSamplersPolicy) {
  // A tiny case costs the warm-up and the minimum sampling time; a huge one is capped by the maximum time
  // plus its checked runs.
  const PlannedCase* tiny = nullptr;
  const PlannedCase* huge = nullptr;
  for (const PlannedCase& c : plan) {
    if (c.params.integer("flops") == 1 && c.skip_reason.empty()) tiny = &c;
    if (c.params.integer("flops") == 400000000000 && c.skip_reason.empty()) huge = &c;
  }
  ASSERT_NE(tiny, nullptr);
  ASSERT_NE(huge, nullptr);
  EXPECT_NEAR(estimated_case_seconds(*tiny, sampling), sampling.warmup_s + sampling.min_time_s, 1e-6);
  EXPECT_GT(estimated_case_seconds(*huge, sampling), sampling.max_time_s);
  EXPECT_THROW(assign_shards(plan, 0, sampling), InputError);
}

}  // namespace
}  // namespace talklab
