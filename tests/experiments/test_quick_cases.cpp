// Every CPU case of the quick profile, through its correctness gate (setup, poison, run, check), without
// timing: each experiment's adapters stay correct, and a case that cannot run says why.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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

// Each quick-profile CPU case matching `filter` that runs here, set up, run once and asked for its counters:
// f(planned, counters, the case) (its check still to come).
template <class F>
void for_each_run_case(const std::string& filter, F&& f) {
  set_threads(2);
  const Profile profile = load_profile(default_config_dir(), "quick", registry());
  PlanOptions options;
  options.devices = {Device::cpu};
  options.filter = filter;
  for (const PlannedCase& planned : make_plan(registry(), profile, options)) {
    SCOPED_TRACE(planned.name);
    if (!planned.skip_reason.empty()) continue;
    const CaseContext ctx{planned.params, planned.device, case_seed(12345, planned.name), 2};
    std::unique_ptr<Case> c = planned.implementation->make(ctx);
    c->setup();
    c->run();
    Counters counters;
    c->add_counters(counters);
    f(planned, counters, *c);
  }
}

// decode's cases time their step against a plain read of as many bytes (read_fraction, read_gbps_paired), the
// quantized ones against a bf16 cache of the same data (speedup_vs_bf16), and the paged ones their cache against a
// contiguous one of the same data (paged_over_contiguous), in add_counters: positive,
// finite figures where they belong and no paged ratio on a contiguous case; the output the case leaves behind still
// passes its check (the contiguous cache's steps write the same bits).
TEST(QuickProfile, DecodeCasesReportTheirPairedFigures) {
  int paged = 0, contiguous = 0;
  const char* filter = "^decode/decode_cpu/.*/kv_dtype=(bf16|int4_g32)/q_len=1/split=auto/";
  for_each_run_case(filter, [&](const PlannedCase& planned, const Counters& counters, Case& c) {
    auto find = [&](const char* name) {
      return std::find_if(counters.begin(), counters.end(), [&](const auto& kv) { return kv.first == name; });
    };
    for (const char* name : {"read_fraction", "read_gbps_paired"}) {
      const auto f = find(name);
      ASSERT_NE(f, counters.end()) << name;
      EXPECT_TRUE(std::isfinite(f->second) && f->second > 0.0) << name << " " << f->second;
    }
    const bool quantized = planned.params.str("kv_dtype") != "bf16";
    const auto speedup = find("speedup_vs_bf16");
    EXPECT_EQ(speedup != counters.end(), quantized);
    if (quantized && speedup != counters.end()) {
      EXPECT_TRUE(std::isfinite(speedup->second) && speedup->second > 0.0);
    }
    const auto it = find("paged_over_contiguous");
    if (planned.params.integer("page_size") > 0) {
      ASSERT_NE(it, counters.end());
      EXPECT_TRUE(std::isfinite(it->second));
      EXPECT_GT(it->second, 0.0);
      ++paged;
    } else {
      EXPECT_EQ(it, counters.end());
      ++contiguous;
    }
    const Accuracy a = c.check();
    EXPECT_TRUE(a.passed) << a.error;
  });
  EXPECT_GT(paged, 0);
  EXPECT_GT(contiguous, 0);
}

// Our matmul recipes at M = 1 (decode-shaped) time themselves against a plain read of their weights' bytes
// (read_fraction, read_gbps_paired, problem.h's add_weight_counters); at larger M they report no such figure.
TEST(QuickProfile, MatmulDecodeCasesReportTheirPairedRead) {
  int m1 = 0, larger = 0;
  const char* filter = "^matmul/(bf16|int8_w8a8|int4_w4a16)/";
  for_each_run_case(filter, [&](const PlannedCase& planned, const Counters& counters, Case& c) {
    const bool decode_shaped = planned.params.integer("M") == 1;
    for (const char* name : {"read_fraction", "read_gbps_paired"}) {
      const auto f = std::find_if(counters.begin(), counters.end(), [&](const auto& kv) { return kv.first == name; });
      EXPECT_EQ(f != counters.end(), decode_shaped) << name;
      if (f != counters.end()) {
        EXPECT_TRUE(std::isfinite(f->second) && f->second > 0.0) << name << " " << f->second;
      }
    }
    ++(decode_shaped ? m1 : larger);
    const Accuracy a = c.check();  // the paired runs leave a product that still passes
    EXPECT_TRUE(a.passed) << a.error;
  });
  EXPECT_GT(m1, 0);
  EXPECT_GT(larger, 0);
}

}  // namespace
}  // namespace talklab
