#include "harness/session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "harness/machine.h"
#include "harness/machine_probes.h"
#include "harness/memory.h"
#include "harness/openmp.h"
#include "harness/python_runtime.h"
#include "harness/torch_glue.h"

namespace talklab {
namespace {

std::string default_out_path(const std::string& profile) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("out/bench-{}-{}.json", profile, stamp);
}

// The OpenMP wait policy the selected experiments ask for, when they all ask for the same one, and the thread
// placement of pin: libgomp reads both only at load time, so the session sets them and executes the binary again
// (harness/openmp.h). Returns when nothing was to be set, or when exec failed (said as a warning).
void set_openmp_environment(const std::vector<PlannedCase>& plan, const SessionOptions& o, SessionObserver& observer) {
  std::set<std::string> policies;
  for (const PlannedCase& c : plan) {
    if (c.skip_reason.empty()) policies.insert(c.experiment->openmp_wait_policy);
  }
  std::vector<std::pair<std::string, std::string>> environment;
  if (o.wait_policy == "auto" && policies.size() == 1 && !policies.begin()->empty()) {
    environment.emplace_back("OMP_WAIT_POLICY", *policies.begin());
  } else if (o.wait_policy == "passive" || o.wait_policy == "active") {
    environment.emplace_back("OMP_WAIT_POLICY", o.wait_policy);
  }
  if (o.pin.value_or(kPinByDefault)) {
    environment.emplace_back("OMP_PROC_BIND", openmp::kPinBind);
    environment.emplace_back("OMP_PLACES", openmp::kPinPlaces);
  }
  if (!environment.empty()) {
    std::vector<char*> argv;
    for (const std::string& a : o.command_line) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string why = openmp::reexec_with_environment(environment, argv.data());
    if (!why.empty()) observer.warning(fmt::format("OpenMP's wait policy and placement left as they were: {}", why));
  }
  if (o.wait_policy == "auto" && policies.size() > 1 && std::getenv("OMP_WAIT_POLICY") == nullptr) {
    observer.note("some experiments here time best with OMP_WAIT_POLICY=passive and others with libgomp's default; "
                  "running with the default (run them separately to give each its own)");
  }
}

bool any_running_on(const std::vector<PlannedCase>& plan, Device device) {
  return std::any_of(plan.begin(), plan.end(),
                     [&](const PlannedCase& c) { return c.device == device && c.skip_reason.empty(); });
}

}  // namespace

SamplingOptions sampling_options(const Profile& profile, const SessionOptions& o) {
  SamplingOptions s;
  if (profile.min_time_s) s.min_time_s = *profile.min_time_s;
  if (profile.max_time_s) s.max_time_s = *profile.max_time_s;
  if (profile.max_noise) s.max_noise = *profile.max_noise;
  if (o.min_time) s.min_time_s = *o.min_time;
  if (o.max_time) s.max_time_s = *o.max_time;
  if (o.max_noise) s.max_noise = *o.max_noise;
  if (s.min_time_s > s.max_time_s) {
    throw InputError(fmt::format("--min-time {} is longer than --max-time {}", s.min_time_s, s.max_time_s));
  }
  return s;
}

SessionOutcome run_session(const std::vector<PlannedCase>& plan, const Profile& profile, const GpuInfo& gpu,
                           const SessionOptions& o, SessionObserver& observer) {
  set_openmp_environment(plan, o, observer);
  if (!memory::fix_malloc_thresholds()) observer.warning("glibc refused the malloc thresholds");
  if (const std::vector<std::string> omp = openmp::mapped_runtimes(); omp.size() > 1) {
    observer.warning(fmt::format("{} OpenMP runtimes are mapped ({}): their thread pools will stall each other; "
                                 "talklab's kernels should share LibTorch's (cmake/talklab_torch.cmake)",
                                 omp.size(), fmt::join(omp, ", ")));
  }
  RunOptions run;
  run.threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  run.seed = o.seed ? *o.seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  run.cuda_cold = o.cuda_cache == "cold";
  run.passes = o.passes;
  run.retries = o.retries;
  run.sampling = sampling_options(profile, o);
  SessionOutcome outcome;
  outcome.out = o.out.empty() ? default_out_path(profile.name) : o.out;
  if (std::filesystem::is_directory(outcome.out)) {
    throw InputError(fmt::format("--out {} is a folder, not a file", outcome.out.string()));
  }

  set_threads(run.threads);
  install_torch_allocator();

  // A busy machine distorts sub-millisecond cases by 1000x (a tick of 4 ms lost at a barrier): say so before
  // an hour is spent, and keep it in the context. The cases themselves still detect what happens later.
  const machine::BusyState busy = machine::busy_state(0.5);
  if (busy.busy) {
    observer.warning(fmt::format("this machine is busy: {}. Timings will be disturbed: disturbed cases are re-run "
                                 "(--retries), but a quiet machine gives trustworthy numbers.", busy.why));
  }

  RunSettings settings;
  settings.profile = profile.name;
  settings.seed = run.seed;
  settings.threads = run.threads;
  settings.command_line = o.command_line;
  settings.cuda_cache_mode = o.cuda_cache;
  settings.passes = o.passes;
  settings.retries = o.retries;
  settings.busy = busy;
  settings.placement = openmp::placement(run.threads);
  if (o.shard) {
    settings.shard = ShardRecord{*o.shard, o.selection, plan.size()};
  }
  Rooflines rooflines;
  if (const MachineProbes* probes = machine_probes()) {
    if (probes->describe_cpu) settings.cpu = probes->describe_cpu();
    if (probes->measure_cpu_ceilings && any_running_on(plan, Device::cpu)) {
      observer.measuring_ceilings(Device::cpu, settings, gpu);
      settings.cpu_roofline = probes->measure_cpu_ceilings(run.threads, 0.25);
      observer.ceilings(Device::cpu, *settings.cpu_roofline);
      rooflines.cpu_capacity = probes->cpu_capacity;
    }
    if (probes->measure_cuda_ceilings && any_running_on(plan, Device::cuda) && gpu.available) {
      observer.measuring_ceilings(Device::cuda, settings, gpu);
      settings.cuda_roofline = probes->measure_cuda_ceilings(gpu.l2_bytes);
      observer.ceilings(Device::cuda, *settings.cuda_roofline);
    }
  }
  // The Python anchors' interpreter starts here, before anything is timed (importing torch takes seconds).
  if (std::any_of(plan.begin(), plan.end(), [](const PlannedCase& c) {
        return c.skip_reason.empty() && c.implementation->embedded_python && c.implementation->make;
      })) {
    try {
      python::start();
      settings.python = python::describe();
    } catch (const CaseSkipped& e) {
      settings.python = {{"error", e.what()}};  // each anchor case is skipped with the same reason
    }
  }
  rooflines.cpu = settings.cpu_roofline ? &*settings.cpu_roofline : nullptr;
  rooflines.cuda = settings.cuda_roofline ? &*settings.cuda_roofline : nullptr;

  ResultFile file(outcome.out, make_context(settings, gpu));
  observer.started(settings, plan.size(), outcome.out);
  int index = 0;
  const int total = int(plan.size()) * run.passes;
  outcome.summary = run_cases(plan, run, rooflines, gpu, file,
                              [&](const CaseResult& r) { observer.result(r, ++index, total); });
  observer.finished(outcome.summary, settings, outcome.out);
  return outcome;
}

}  // namespace talklab
