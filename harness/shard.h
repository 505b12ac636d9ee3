// One shard of a selection: `bench run --shard i/n` runs the i-th of n parts of the cases a selection plans, so
// that n machines (a Slurm job array, a Kubernetes indexed job, CI runners) together run each case once and
// `bench merge` puts their files back together (harness/merge.h, docs/cluster.md).
//
// The split is a function of the plan alone: the same profile, filter, overrides and devices give the same n
// shards on every machine, whatever runs there, so shards never coordinate. It balances each case's estimated
// seconds (estimated_case_seconds: the sampler's policy applied to the case's declared work at nominal rates,
// not to anything measured here) by longest-first greedy assignment: a shard gets the next case while it has
// the least. Each shard runs its cases in the plan's order.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/plan.h"
#include "harness/sampler.h"

namespace talklab {

struct ShardSpec {
  int index = 0;  // from 0
  int count = 1;
  std::string source;  // "--shard", or the environment variables it came from
};

// Reads --shard's text: "I/N" (0 <= I < N), or "auto": a Slurm array task (SLURM_ARRAY_TASK_ID less
// SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT; the array must be a contiguous range) or, with
// `count_flag` (--shard-count), a Kubernetes indexed job's JOB_COMPLETION_INDEX. `env` reads a variable (the
// process environment in bench, a map in tests). Throws InputError naming the text or the variable.
ShardSpec parse_shard(const std::string& text, std::optional<int> count_flag,
                      const std::function<std::optional<std::string>(const std::string&)>& env);

// Seconds a case is expected to take under `sampling` on a nominal machine: warm-up, the checked run and the
// float64 reference, and the samples the sampler takes (at least min_samples runs or min_time_s, at most
// max_time_s). A skipped case costs nothing. A model for balancing, not a prediction of this machine.
double estimated_case_seconds(const PlannedCase& c, const SamplingOptions& sampling);

// Which shard each case of `plan` belongs to (same order as plan).
std::vector<int> assign_shards(const std::vector<PlannedCase>& plan, int count, const SamplingOptions& sampling);

// The cases of shard `spec.index`, in the plan's order.
std::vector<PlannedCase> select_shard(const std::vector<PlannedCase>& plan, const ShardSpec& spec,
                                      const SamplingOptions& sampling);

}  // namespace talklab
