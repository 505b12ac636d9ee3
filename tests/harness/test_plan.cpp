#include "harness/plan.h"

#include <gtest/gtest.h>

#include "harness/registry.h"
#include "tests/harness/toy_experiment.h"

namespace talklab {
namespace {

Profile toy_profile() {
  Profile p;
  p.name = "test";
  ExperimentProfile ep;
  ep.axes["seq"] = {{int64_t(7), int64_t(129)}, 1};
  ep.axes["dtype"] = {{std::string("f32"), std::string("bf16")}, 2};
  ep.axes["mode"] = {{std::string("plain")}, 3};
  p.experiments["toy"] = {ep};
  return p;
}

struct PlanTest : ::testing::Test {
  Registry registry;
  void SetUp() override { registry.add(testing::toy_experiment()); }
  std::vector<std::string> names(const std::vector<PlannedCase>& plan) {
    std::vector<std::string> out;
    for (const auto& c : plan) out.push_back(c.name);
    return out;
  }
};

TEST_F(PlanTest, CrossesAxesInDeclaredOrderWithTheFirstAxisSlowest) {
  const auto plan = make_plan(registry, toy_profile(), PlanOptions{});
  EXPECT_EQ(names(plan), (std::vector<std::string>{
                             "toy/ours/seq=7/dtype=f32/mode=plain/device=cpu",
                             "toy/ours/seq=7/dtype=bf16/mode=plain/device=cpu",
                             "toy/ours/seq=129/dtype=f32/mode=plain/device=cpu",
                             "toy/ours/seq=129/dtype=bf16/mode=plain/device=cpu",
                         }));
}

TEST_F(PlanTest, ZippedAxesAdvanceTogether) {
  Profile p = toy_profile();
  p.experiments["toy"][0].zip = {{"seq", "dtype"}};
  EXPECT_EQ(names(make_plan(registry, p, PlanOptions{})),
            (std::vector<std::string>{"toy/ours/seq=7/dtype=f32/mode=plain/device=cpu",
                                      "toy/ours/seq=129/dtype=bf16/mode=plain/device=cpu"}));
}

TEST_F(PlanTest, OverlappingSweepsGiveEachCaseOnceAndRespectImplementationLists) {
  Profile p = toy_profile();
  ExperimentProfile second = p.experiments["toy"][0];
  second.axes["seq"] = {{int64_t(129), int64_t(500)}, 1};
  second.implementations = {"ours"};
  p.experiments["toy"].push_back(second);
  PlanOptions o;
  o.filter = "f32";
  EXPECT_EQ(names(make_plan(registry, p, o)),
            (std::vector<std::string>{"toy/ours/seq=7/dtype=f32/mode=plain/device=cpu",
                                      "toy/ours/seq=129/dtype=f32/mode=plain/device=cpu",
                                      "toy/ours/seq=500/dtype=f32/mode=plain/device=cpu"}));
}

TEST_F(PlanTest, FilterIsARegexSearchOnTheName) {
  PlanOptions o;
  o.filter = "seq=129/.*bf16";
  EXPECT_EQ(names(make_plan(registry, toy_profile(), o)),
            (std::vector<std::string>{"toy/ours/seq=129/dtype=bf16/mode=plain/device=cpu"}));
}

TEST_F(PlanTest, InvalidRegexIsAnInputError) {
  PlanOptions o;
  o.filter = "seq=(12";
  try {
    make_plan(registry, toy_profile(), o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not a valid regular expression"), std::string::npos) << e.what();
  }
}

TEST_F(PlanTest, FilterMatchingNothingIsAnInputError) {
  PlanOptions o;
  o.filter = "nothing-like-this";
  EXPECT_THROW(make_plan(registry, toy_profile(), o), InputError);
}

TEST_F(PlanTest, OverridesReplaceValuesAndAreTyped) {
  PlanOptions o;
  o.overrides = {parse_override("seq=3,5"), parse_override("dtype=bf16")};
  EXPECT_EQ(names(make_plan(registry, toy_profile(), o)),
            (std::vector<std::string>{"toy/ours/seq=3/dtype=bf16/mode=plain/device=cpu",
                                      "toy/ours/seq=5/dtype=bf16/mode=plain/device=cpu"}));
  o.overrides = {parse_override("seq=abc")};
  try {
    make_plan(registry, toy_profile(), o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("axis 'seq' takes integers, got 'abc'"), std::string::npos) << e.what();
  }
}

TEST_F(PlanTest, UnknownAxisListsTheValidOnes) {
  PlanOptions o;
  o.overrides = {parse_override("sequence=4")};
  try {
    make_plan(registry, toy_profile(), o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown axis 'sequence' (valid: dtype, mode, seq)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_override("seq"), InputError);
  EXPECT_THROW(parse_override("seq=1,,2"), InputError);
}

TEST_F(PlanTest, SkipRulesKeepTheCaseWithItsReason) {
  PlanOptions o;
  o.overrides = {parse_override("seq=2000")};
  o.filter = "f32";
  const auto plan = make_plan(registry, toy_profile(), o);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].skip_reason, "seq above 1000 is too long");
}

TEST_F(PlanTest, DevicesSelectImplementationsAndAppliesDropsPoints) {
  PlanOptions o;
  o.devices = {Device::cuda};
  o.overrides = {parse_override("mode=plain,fancy"), parse_override("seq=7"), parse_override("dtype=f32")};
  const auto plan = make_plan(registry, toy_profile(), o);
  ASSERT_EQ(plan.size(), 1u);  // the gpu implementation applies only to mode=plain
  EXPECT_EQ(plan[0].name, "toy/gpu/seq=7/dtype=f32/mode=plain/device=cuda");
  EXPECT_EQ(plan[0].skip_reason, "not compiled into this build");  // no factory
}

TEST_F(PlanTest, CudaCasesOnAMachineWithoutAGpuCarryTheReason) {
  Registry r;
  Experiment e = testing::toy_experiment();
  e.implementations[1].make = [](const CaseContext&) -> std::unique_ptr<Case> { return nullptr; };
  r.add(e);
  PlanOptions o;
  o.devices = {Device::cpu, Device::cuda};
  o.cuda_unavailable_reason = "no CUDA device here";
  o.filter = "seq=7/dtype=f32";
  const auto plan = make_plan(r, toy_profile(), o);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].skip_reason, "");
  EXPECT_EQ(plan[1].skip_reason, "no CUDA device here");
}

}  // namespace
}  // namespace talklab
