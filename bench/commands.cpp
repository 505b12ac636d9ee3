#include "bench/commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "bench/format.h"
#include "harness/config.h"
#include "harness/context.h"
#include "harness/machine.h"
#include "harness/memory.h"
#include "harness/openmp.h"
#include "harness/plan.h"
#include "harness/registry.h"
#include "harness/runner.h"
#include "harness/torch_glue.h"

namespace talklab::bench {
namespace {

// Whether `bench run` pins its threads unless told: see docs/results.md, "Thread placement", for the measurement.
constexpr bool kPinByDefault = false;

struct Selection {
  std::filesystem::path config_dir;
  std::vector<Talk> talks;
  Profile profile;
  GpuInfo gpu;
  std::vector<PlannedCase> plan;
};

std::vector<Device> parse_devices(const std::string& text, const GpuInfo& gpu) {
  if (text.empty()) return gpu.available ? std::vector<Device>{Device::cpu, Device::cuda} : std::vector<Device>{Device::cpu};
  if (text == "cpu") return {Device::cpu};
  if (text == "cuda") return {Device::cuda};
  if (text == "all") return {Device::cpu, Device::cuda};
  throw InputError(fmt::format("--device '{}': expected cpu, cuda or all", text));
}

Selection select(const CommonOptions& o) {
  Selection s;
  s.config_dir = o.config_dir.empty() ? default_config_dir() : std::filesystem::path(o.config_dir);
  s.talks = load_talks(s.config_dir / "talks.toml");
  check_talk_ids(registry(), s.talks);
  s.profile = load_profile(s.config_dir, o.profile, registry());
  s.gpu = probe_gpu();
  PlanOptions plan_options;
  plan_options.filter = o.filter;
  plan_options.devices = parse_devices(o.device, s.gpu);
  for (const std::string& set : o.sets) plan_options.overrides.push_back(parse_override(set));
  if (!s.gpu.available) plan_options.cuda_unavailable_reason = s.gpu.reason;
  s.plan = make_plan(registry(), s.profile, plan_options);
  return s;
}

std::string default_out_path(const std::string& profile) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("out/bench-{}-{}.json", profile, stamp);
}

std::string disturbed_line(const RunSummary& s, int retries) {
  if (s.disturbed == 0) return "No case was disturbed.";
  return fmt::format("{} case{} disturbed, {} re-run (up to {} times), {} still disturbed{}.", s.disturbed,
                     s.disturbed == 1 ? " was" : "s were", s.rerun, retries, s.still_disturbed,
                     s.still_disturbed > 0 ? " (talklab.time.disturbed_evidence says why)" : "");
}

void print_summary(const std::vector<CaseResult>& results) {
  size_t width = 4;
  for (const auto& r : results) width = std::max(width, r.name.size());
  width = std::min<size_t>(width, 110);
  fmt::print("\n{:<7} {:<{}} {:>11} {:>15} {:>8} {:>11}\n", "status", "case", width, "median", "rate", "roofline",
             "max rel err");
  fmt::print("{}\n", std::string(7 + 1 + width + 12 + 16 + 9 + 12, '-'));
  bool marked = false;
  for (const auto& r : results) {
    const std::string median = r.timing ? format_seconds(r.timing->stats.median) : "-";
    const std::string err = r.accuracy ? fmt::format("{:.1e}", r.accuracy->max_rel_error) : "-";
    const bool disturbed = r.timing && r.timing->disturbed, above = above_roofline(r.roofline_fraction);
    marked = marked || disturbed || above;
    fmt::print("{:<7} {:<{}} {:>11} {:>15} {:>8} {:>11}\n", r.status + (disturbed ? "~" : ""), r.name, width, median,
               format_rate(r), format_fraction(r.roofline_fraction) + (above ? "!" : ""), err);
  }
  if (marked) fmt::print("~ disturbed (its median is suspect; see the live line), ! above the measured roofline\n");
}

}  // namespace

void add_selection_options(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("--filter", o.filter, "regular expression searched in case names (ECMAScript)");
  cmd.add_option("--device", o.device, "cpu, cuda or all (default: every device this machine has)");
  cmd.add_option("--profile", o.profile, "axis values from configs/profiles/NAME.toml: quick, default, full, gpu")
      ->capture_default_str();
  cmd.add_option("--set", o.sets, "override an axis's values: AXIS=V1,V2 (repeatable)");
  cmd.add_option("--config-dir", o.config_dir, "folder with talks.toml and profiles/ (default: the source tree's configs/)");
}

void add_run_options(CLI::App& cmd, RunFlags& o) {
  cmd.add_option("--out", o.out, "result file (default: out/bench-PROFILE-TIME.json)");
  cmd.add_option("--threads", o.threads, "threads for LibTorch and our kernels (default: every logical CPU)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--seed", o.seed, "seed of the random inputs (default: a fresh one, recorded)");
  cmd.add_option("--min-time", o.min_time, "seconds of sampling before a case may stop (per case)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--max-time", o.max_time, "seconds after which a case stops sampling (per case)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--max-noise", o.max_noise, "stop once IQR/median is at most this (e.g. 0.03)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--cuda-cache", o.cuda_cache, "cold (flush L2 between samples) or hot")
      ->check(CLI::IsMember({"cold", "hot"}))
      ->capture_default_str();
  cmd.add_option("--passes", o.passes,
                 "run the whole selection N times; a case's time is the median of its passes' medians")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--retries", o.retries,
                 "re-run a disturbed case (its samples stalled by a neighbour or the host: docs/results.md) up to N times at the end")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--wait-policy", o.wait_policy,
                 "OpenMP wait policy: auto (what the selected experiments ask for), default (libgomp's), passive or "
                 "active; bench compare --confirm passes NEW's so a re-run waits as NEW did")
      ->check(CLI::IsMember({"auto", "default", "passive", "active"}))
      ->capture_default_str();
  cmd.add_flag("--pin", o.pin,
               "bind each OpenMP thread (ours and LibTorch's) to a core of its own (OMP_PROC_BIND=close, OMP_PLACES=cores)");
  cmd.add_flag("--no-pin", o.no_pin, "leave thread placement to the scheduler")->excludes("--pin");
  cmd.add_flag("--dry-run", o.dry_run, "print the cases, run nothing");
}

int run_command(const CommonOptions& common, const RunFlags& flags, const std::vector<std::string>& argv) {
  const Selection s = select(common);
  if (flags.dry_run) {
    for (const PlannedCase& c : s.plan) {
      fmt::print("{}{}\n", c.name, c.skip_reason.empty() ? "" : fmt::format("  [skipped: {}]", c.skip_reason));
    }
    fmt::print("{} cases (profile {})\n", s.plan.size(), s.profile.name);
    return 0;
  }

  // The OpenMP wait policy the selected experiments ask for, when they all ask for the same one, and the thread
  // placement of --pin: libgomp reads both only at load time, so bench sets them and executes itself again
  // (harness/openmp.h).
  std::set<std::string> policies;
  for (const PlannedCase& c : s.plan) {
    if (c.skip_reason.empty()) policies.insert(c.experiment->openmp_wait_policy);
  }
  std::vector<std::pair<std::string, std::string>> omp_environment;
  if (flags.wait_policy == "auto" && policies.size() == 1 && !policies.begin()->empty()) {
    omp_environment.emplace_back("OMP_WAIT_POLICY", *policies.begin());
  } else if (flags.wait_policy == "passive" || flags.wait_policy == "active") {
    omp_environment.emplace_back("OMP_WAIT_POLICY", flags.wait_policy);
  }
  if (flags.pin || (kPinByDefault && !flags.no_pin)) {
    omp_environment.emplace_back("OMP_PROC_BIND", openmp::kPinBind);
    omp_environment.emplace_back("OMP_PLACES", openmp::kPinPlaces);
  }
  if (!omp_environment.empty()) {
    std::vector<char*> exec_argv;
    for (const std::string& a : argv) exec_argv.push_back(const_cast<char*>(a.c_str()));
    exec_argv.push_back(nullptr);
    const std::string why = openmp::reexec_with_environment(omp_environment, exec_argv.data());
    if (!why.empty()) fmt::print(stderr, "bench: warning: OpenMP's wait policy and placement left as they were: {}\n", why);
  }
  if (flags.wait_policy == "auto" && policies.size() > 1 && std::getenv("OMP_WAIT_POLICY") == nullptr) {
    fmt::print(stderr, "bench: note: some experiments here time best with OMP_WAIT_POLICY=passive and others with "
                       "libgomp's default; running with the default (run them separately to give each its own)\n");
  }

  if (!memory::fix_malloc_thresholds()) fmt::print(stderr, "bench: warning: glibc refused the malloc thresholds\n");
  if (const std::vector<std::string> omp = openmp::mapped_runtimes(); omp.size() > 1) {
    fmt::print(stderr, "bench: warning: {} OpenMP runtimes are mapped ({}): their thread pools will stall each other; "
                       "talklab's kernels should share LibTorch's (cmake/talklab_torch.cmake)\n",
               omp.size(), fmt::join(omp, ", "));
  }
  RunOptions options;
  options.threads = flags.threads > 0 ? flags.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  options.seed = flags.seed ? *flags.seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  options.cuda_cold = flags.cuda_cache == "cold";
  options.passes = flags.passes;
  options.retries = flags.retries;
  SamplingOptions& sampling = options.sampling;
  if (s.profile.min_time_s) sampling.min_time_s = *s.profile.min_time_s;
  if (s.profile.max_time_s) sampling.max_time_s = *s.profile.max_time_s;
  if (s.profile.max_noise) sampling.max_noise = *s.profile.max_noise;
  if (flags.min_time) sampling.min_time_s = *flags.min_time;
  if (flags.max_time) sampling.max_time_s = *flags.max_time;
  if (flags.max_noise) sampling.max_noise = *flags.max_noise;
  if (sampling.min_time_s > sampling.max_time_s) {
    throw InputError(fmt::format("--min-time {} is longer than --max-time {}", sampling.min_time_s, sampling.max_time_s));
  }
  const std::filesystem::path out = flags.out.empty() ? default_out_path(s.profile.name) : flags.out;
  if (std::filesystem::is_directory(out)) throw InputError(fmt::format("--out {} is a folder, not a file", out.string()));

  set_threads(options.threads);
  install_torch_allocator();

  // A busy machine distorts sub-millisecond cases by 1000x (a tick of 4 ms lost at a barrier): say so before
  // an hour is spent, and keep it in the context. The cases themselves still detect what happens later.
  const machine::BusyState busy = machine::busy_state(0.5);
  if (busy.busy) {
    fmt::print(stderr, "bench: warning: this machine is busy: {}. Timings will be disturbed: disturbed cases are re-run "
                       "(--retries), but a quiet machine gives trustworthy numbers.\n", busy.why);
  }

  RunSettings settings;
  settings.profile = s.profile.name;
  settings.seed = options.seed;
  settings.threads = options.threads;
  settings.command_line = argv;
  settings.cuda_cache_mode = flags.cuda_cache;
  settings.passes = flags.passes;
  settings.retries = flags.retries;
  settings.busy = busy;
  settings.placement = openmp::placement(options.threads);
  const bool any_cpu = std::any_of(s.plan.begin(), s.plan.end(),
                                   [](const PlannedCase& c) { return c.device == Device::cpu && c.skip_reason.empty(); });
  if (any_cpu) {
    fmt::print("Measuring this machine's CPU roofline with {} threads...\n", options.threads);
    settings.cpu_roofline = measure_cpu_roofline(options.threads, 0.25);
    const auto spread = [&](const std::string& name, double unit) {
      const CeilingSpread& c = settings.cpu_roofline->spread.at(name);
      if (c.clean == 0) {
        fmt::print(stderr, "bench: warning: no burst of the {} ceiling ran undisturbed; it is the best of disturbed ones "
                           "and the roofline fractions above it are suspect\n", name);
      }
      return fmt::format("best of {} clean of {} samples; median {:.1f}, worst {:.1f}", c.clean, c.samples,
                         c.median / unit, c.worst / unit);
    };
    for (const auto& [name, peak] : settings.cpu_roofline->peak_ops_per_s) {
      fmt::print("  {:<5} {:8.1f} G{}/s ({})\n", name, peak / 1e9, name == "int8" ? "OP" : "FLOP", spread(name, 1e9));
    }
    fmt::print("  copy  {:8.1f} GB/s read + write ({})\n", settings.cpu_roofline->spread.at("copy").best / 1e9,
               spread("copy", 1e9));
    fmt::print("  triad {:8.1f} GB/s read + write ({})\n", settings.cpu_roofline->spread.at("triad").best / 1e9,
               spread("triad", 1e9));
  }

  const bool any_cuda = std::any_of(s.plan.begin(), s.plan.end(), [](const PlannedCase& c) {
    return c.device == Device::cuda && c.skip_reason.empty();
  });
#if TALKLAB_HAVE_CUDA
  if (any_cuda && s.gpu.available) {
    fmt::print("Measuring the GPU roofline ({})...\n", s.gpu.name);
    settings.cuda_roofline = measure_cuda_roofline(s.gpu.l2_bytes);
    for (const auto& [name, peak] : settings.cuda_roofline->peak_ops_per_s) {
      fmt::print("  {:<8} {:8.1f} TFLOP/s\n", name, peak / 1e12);
    }
    fmt::print("  copy     {:8.1f} GB/s (read + write)\n", settings.cuda_roofline->bandwidth_bytes_per_s / 1e9);
  }
#else
  (void)any_cuda;
#endif

  ResultFile file(out, make_context(settings, s.gpu));
  fmt::print("Running {} cases{} (profile {}, {} threads, seed {}), writing {}\n", s.plan.size(),
             options.passes > 1 ? fmt::format(" in {} passes", options.passes) : "", s.profile.name, options.threads,
             options.seed, out.string());
  int index = 0;
  const RunSummary summary = run_cases(
      s.plan, options,
      Rooflines{settings.cpu_roofline ? &*settings.cpu_roofline : nullptr,
                settings.cuda_roofline ? &*settings.cuda_roofline : nullptr},
      s.gpu, file,
      [&](const CaseResult& r) {
        fmt::print("{}\n", live_line(r, ++index, int(s.plan.size()) * options.passes));
        std::fflush(stdout);
      });
  print_summary(summary.results);
  fmt::print("\n{} ok, {} failed, {} skipped. {}\nResults: {}\n", summary.ok, summary.failed, summary.skipped,
             disturbed_line(summary, options.retries), std::filesystem::absolute(out).string());
  return summary.failed > 0 ? 1 : 0;
}

int list_command(const CommonOptions& common) {
  const Selection s = select(common);
  const Experiment* current = nullptr;
  for (const PlannedCase& c : s.plan) {
    if (c.experiment != current) {
      current = c.experiment;
      fmt::print("{}: {}\n  talks:", current->name, current->description);
      for (const auto& id : current->talks) {
        const Talk* t = find_talk(s.talks, id);
        fmt::print(" {} ({})", id, t ? t->url : "?");
      }
      fmt::print("\n  axes:");
      for (const Axis& a : current->axes) {
        fmt::print(" {} ({}{})", a.name, axis_kind_name(a.kind),
                   a.choices.empty() ? "" : ": " + fmt::format("{}", fmt::join(a.choices, "|")));
      }
      fmt::print("\n");
    }
    fmt::print("  {}{}\n", c.name, c.skip_reason.empty() ? "" : fmt::format("  [skipped: {}]", c.skip_reason));
  }
  fmt::print("{} cases (profile {})\n", s.plan.size(), s.profile.name);
  return 0;
}

int talks_command(const CommonOptions& common) {
  const std::filesystem::path dir = common.config_dir.empty() ? default_config_dir() : std::filesystem::path(common.config_dir);
  const std::vector<Talk> talks = load_talks(dir / "talks.toml");
  check_talk_ids(registry(), talks);
  for (const Talk& t : talks) {
    std::vector<std::string> experiments;
    for (const Experiment& e : registry().experiments()) {
      for (const auto& id : e.talks) {
        if (find_talk(talks, id) == &t) experiments.push_back(e.name);
      }
    }
    fmt::print("{}  {}\n  {}\n  {}\n  reproduces: {}\n  experiments: {}\n\n", t.key, t.title,
               fmt::join(t.speakers, ", "), t.url, t.reproduces,
               experiments.empty() ? std::string("(none yet)") : fmt::format("{}", fmt::join(experiments, ", ")));
  }
  return 0;
}

}  // namespace talklab::bench
