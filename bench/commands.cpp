#include "bench/commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>

#include "bench/run_printer.h"
#include "harness/config.h"
#include "harness/context.h"
#include "harness/plan.h"
#include "harness/registry.h"
#include "harness/session.h"
#include "harness/shard.h"

namespace talklab::bench {
namespace {

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
  cmd.add_option("--out", o.session.out, "result file (default: out/bench-PROFILE-TIME.json)");
  cmd.add_option("--threads", o.session.threads, "threads for LibTorch and our kernels (default: every logical CPU)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--seed", o.session.seed, "seed of the random inputs (default: a fresh one, recorded)");
  cmd.add_option("--min-time", o.session.min_time, "seconds of sampling before a case may stop (per case)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--max-time", o.session.max_time, "seconds after which a case stops sampling (per case)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--max-noise", o.session.max_noise, "stop once IQR/median is at most this (e.g. 0.03)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--cuda-cache", o.session.cuda_cache, "cold (flush L2 between samples) or hot")
      ->check(CLI::IsMember({"cold", "hot"}))
      ->capture_default_str();
  cmd.add_option("--passes", o.session.passes,
                 "run the whole selection N times; a case's time is the median of its passes' medians")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--retries", o.session.retries,
                 "re-run a disturbed case (its samples stalled by a neighbour or the host: docs/results.md) up to N times at the end")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--wait-policy", o.session.wait_policy,
                 "OpenMP wait policy: auto (what the selected experiments ask for), default (libgomp's), passive or "
                 "active; bench compare --confirm passes NEW's so a re-run waits as NEW did")
      ->check(CLI::IsMember({"auto", "default", "passive", "active"}))
      ->capture_default_str();
  cmd.add_flag("--pin", o.pin,
               "bind each OpenMP thread (ours and LibTorch's) to a core of its own (OMP_PROC_BIND=close, OMP_PLACES=cores)");
  cmd.add_flag("--no-pin", o.no_pin, "leave thread placement to the scheduler")->excludes("--pin");
  cmd.add_flag("--dry-run", o.dry_run, "print the cases, run nothing");
  cmd.add_option("--shard", o.shard,
                 "run part I of N of the selection (I/N, from 0), balanced by declared work and the same on every "
                 "machine; auto: a Slurm array task's (SLURM_ARRAY_TASK_ID) or, with --shard-count, a Kubernetes "
                 "indexed job's (JOB_COMPLETION_INDEX). bench merge joins the shards' files (docs/cluster.md)");
  cmd.add_option("--shard-count", o.shard_count, "the number of shards, for --shard auto under JOB_COMPLETION_INDEX");
}

int run_command(const CommonOptions& common, const RunFlags& flags, const std::vector<std::string>& argv) {
  const Selection s = select(common);
  SessionOptions options = flags.session;
  std::vector<PlannedCase> plan = s.plan;
  if (!flags.shard.empty() || flags.shard_count) {
    if (flags.shard.empty()) throw InputError("--shard-count needs --shard auto");
    options.shard = parse_shard(flags.shard, flags.shard_count, [](const std::string& name) {
      const char* v = std::getenv(name.c_str());
      return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
    });
    for (const PlannedCase& c : s.plan) options.selection.push_back(c.name);
    plan = select_shard(s.plan, *options.shard, sampling_options(s.profile, options));
  }
  if (flags.dry_run) {
    for (const PlannedCase& c : plan) {
      fmt::print("{}{}\n", c.name, c.skip_reason.empty() ? "" : fmt::format("  [skipped: {}]", c.skip_reason));
    }
    fmt::print("{} cases (profile {}{})\n", plan.size(), s.profile.name,
               options.shard ? fmt::format(", shard {} of {} ({} cases in all)", options.shard->index,
                                           options.shard->count, s.plan.size())
                             : "");
    return 0;
  }

  options.command_line = argv;
  if (flags.pin || flags.no_pin) options.pin = flags.pin;
  RunPrinter printer;
  return run_session(plan, s.profile, s.gpu, options, printer).exit_code();
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
