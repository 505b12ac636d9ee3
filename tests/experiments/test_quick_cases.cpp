// Every CPU case of the quick profile, through its correctness gate (setup, poison, run, check), without
// timing: each experiment's adapters stay correct, and a case that cannot run says why.
#include <gtest/gtest.h>

#include "harness/config.h"
#include "harness/plan.h"
#include "harness/registry.h"
#include "harness/runner.h"
#include "harness/torch_glue.h"

namespace talklab {
namespace {

TEST(QuickProfile, EveryCpuCasePassesItsCheckOrIsSkippedWithAReason) {
  set_threads(2);
  install_torch_allocator();
  const Profile profile = load_profile(default_config_dir(), "quick", registry());
  PlanOptions options;
  options.devices = {Device::cpu};
  const std::vector<PlannedCase> plan = make_plan(registry(), profile, options);
  ASSERT_GT(plan.size(), 20u);
  int checked = 0;
  for (const PlannedCase& planned : plan) {
    SCOPED_TRACE(planned.name);
    if (!planned.skip_reason.empty()) continue;
    const CaseContext ctx{planned.params, planned.device, case_seed(12345, planned.name), 2};
    const Work work = declared_work(planned, ctx);
    EXPECT_TRUE(work.flops > 0 || work.bytes > 0 || planned.implementation->work);
    std::unique_ptr<Case> c = planned.implementation->make(ctx);
    c->setup();
    c->poison();
    c->run();
    const Accuracy a = c->check();
    EXPECT_TRUE(a.passed) << a.error;
    EXPECT_GT(a.checked_elements, 0);
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

TEST(QuickProfile, EveryProfileLoadsAgainstTheRealExperiments) {
  for (const std::string& name : profile_names(default_config_dir())) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(load_profile(default_config_dir(), name, registry()));
  }
  EXPECT_NO_THROW(check_talk_ids(registry(), load_talks(default_config_dir() / "talks.toml")));
}

}  // namespace
}  // namespace talklab
