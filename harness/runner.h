// Runs planned cases one by one: gate, then time, then record. Google Benchmark is the engine underneath:
// each timed case is a registered benchmark with manual time, reported through a collecting reporter; the
// lab's sampler (harness/sampler.h) decides how many samples a case gets.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/context.h"
#include "harness/plan.h"
#include "harness/result.h"
#include "harness/roofline.h"
#include "harness/sampler.h"

namespace talklab {

struct RunOptions {
  SamplingOptions sampling;
  bool cuda_cold = true;  // flush L2 between CUDA samples
  uint64_t seed = 0;
  int threads = 1;
  // Run the whole selection this many times; each case's figure is the median of its passes' medians
  // (merge_passes in harness/sampler.h).
  int passes = 1;
  // Disturbed cases (Timing::disturbed) are run again at the end of the run, up to this many more times each,
  // until an attempt is not disturbed. The figure is over the attempts (passes and re-runs) that were not
  // disturbed, the others stay in the result beside it (CaseResult::earlier_attempts); when every attempt was
  // disturbed, over all of them.
  int retries = 2;
};

struct RunSummary {
  int ok = 0, failed = 0, skipped = 0;
  int disturbed = 0;        // cases disturbed in every pass (no clean pass to take the figure from)
  int rerun = 0;            // of those, re-run at the end
  int still_disturbed = 0;  // disturbed in every attempt, re-runs included
  std::vector<CaseResult> results;  // every case, in plan order, its passes merged
};

// Writes each result to `out` as soon as it is known and then calls on_result (for the live line); with several
// passes a case's entry is replaced by its merged result after each pass, and on_result sees every pass and
// every re-run.
// The ceilings each device's cases are placed under (either may be null: no fraction then), and the capacity
// probe run before and after each CPU case (MachineProbes::cpu_capacity; empty: none).
struct Rooflines {
  const Roofline* cpu = nullptr;
  const Roofline* cuda = nullptr;
  std::function<double(const Roofline& cpu)> cpu_capacity;
};

RunSummary run_cases(const std::vector<PlannedCase>& cases, const RunOptions& options, const Rooflines& rooflines,
                     const GpuInfo& gpu, ResultFile& out, const std::function<void(const CaseResult&)>& on_result);

// The seed of one case: the run's seed mixed with the case name, so cases draw different inputs and a run
// with the same --seed draws the same ones.
uint64_t case_seed(uint64_t run_seed, const std::string& case_name);

}  // namespace talklab
