// A run session: what `bench run` does once its command line is parsed. It sets the process up (OpenMP's wait
// policy and thread placement, which libgomp reads only at load time, so the session executes the binary again
// under them; malloc thresholds; threads; LibTorch's allocator), warns when the machine is busy, measures the
// ceilings through the machine probes (harness/machine_probes.h), writes the context, runs the planned cases with
// their passes and retries (harness/runner.h) into the result file, and says how it went. Testable without the
// binary (tests/harness/test_session.cpp): bench only parses options into SessionOptions and prints what the
// observer hears.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/config.h"
#include "harness/context.h"
#include "harness/plan.h"
#include "harness/runner.h"
#include "harness/shard.h"

namespace talklab {

// Whether a session pins its threads unless told: see docs/results.md, "Thread placement", for the measurement.
inline constexpr bool kPinByDefault = false;

struct SessionOptions {
  std::string out;  // the result file; empty: out/bench-PROFILE-TIME.json
  int threads = 0;  // 0 = every logical CPU
  std::optional<uint64_t> seed;  // none: a fresh one, recorded
  std::optional<double> min_time, max_time, max_noise;  // over the profile's, over the sampler's defaults
  std::string cuda_cache = "cold";  // cold (flush L2 between samples) or hot
  int passes = 1;
  int retries = 2;
  std::string wait_policy = "auto";  // auto: what the selected experiments ask for; default, passive, active
  std::optional<bool> pin;           // none: kPinByDefault
  std::vector<std::string> command_line;  // recorded in the context, and executed again under OpenMP's settings
  // bench run --shard: which part of which selection the plan is (recorded in the context for bench merge).
  std::optional<ShardSpec> shard;
  std::vector<std::string> selection;  // with a shard: every case name of the whole selection, in plan order
};

// The sampling policy of a session: the profile's, under the command line's overrides. Bad combinations (a min
// time over the max time) are InputErrors.
SamplingOptions sampling_options(const Profile& profile, const SessionOptions& options);

// What a session says as it goes. bench prints it; a test may record it. Every call has a default that ignores it.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void warning(const std::string& /*text*/) {}  // the run goes on, but its numbers may suffer
  virtual void note(const std::string& /*text*/) {}
  // Before a device's ceilings are measured (seconds: worth saying), and once they are.
  virtual void measuring_ceilings(Device /*device*/, const RunSettings& /*settings*/, const GpuInfo& /*gpu*/) {}
  virtual void ceilings(Device /*device*/, const Roofline& /*roofline*/) {}
  virtual void started(const RunSettings& /*settings*/, size_t /*cases*/, const std::filesystem::path& /*out*/) {}
  // Each case's result as it is written (every pass and every re-run); index counts from 1 up to total.
  virtual void result(const CaseResult& /*r*/, int /*index*/, int /*total*/) {}
  virtual void finished(const RunSummary& /*summary*/, const RunSettings& /*settings*/,
                        const std::filesystem::path& /*out*/) {}
};

struct SessionOutcome {
  RunSummary summary;
  std::filesystem::path out;
  int exit_code() const { return summary.failed > 0 ? 1 : 0; }  // a failed case fails the run
};

// Runs `plan` (selected with `profile`, on a machine whose GPU is `gpu`). Bad options (a min time over the max time,
// an out path that is a folder) are InputErrors. May execute the binary again (SessionOptions::command_line) to
// set OpenMP's environment, and then never returns.
SessionOutcome run_session(const std::vector<PlannedCase>& plan, const Profile& profile, const GpuInfo& gpu,
                           const SessionOptions& options, SessionObserver& observer);

}  // namespace talklab
