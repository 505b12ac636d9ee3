#include "harness/shard.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "harness/config.h"

namespace talklab {
namespace {

// Nominal rates of the machines the lab runs on (a 2-core AVX-512 VM, an H200): within a few times of any of
// them, which is all balancing needs; what matters is that every machine computes the same numbers.
constexpr double kCpuFlopsPerS = 5e10, kCpuBytesPerS = 1e10;
constexpr double kGpuFlopsPerS = 2e14, kGpuBytesPerS = 2e12;
// The reference and the checked run: a float64 reference is several times the case's own run.
constexpr double kCheckRuns = 4;

std::optional<int> parse_int(const std::string& text) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

int required_int(const std::function<std::optional<std::string>(const std::string&)>& env, const std::string& name,
                 const std::string& why) {
  const std::optional<std::string> text = env(name);
  if (!text) throw InputError(fmt::format("--shard auto: {} is not set ({})", name, why));
  const std::optional<int> v = parse_int(*text);
  if (!v) throw InputError(fmt::format("--shard auto: {}='{}' is not an integer", name, *text));
  return *v;
}

ShardSpec checked(ShardSpec s, const std::string& what) {
  if (s.count < 1) throw InputError(fmt::format("{}: a shard count of {} (it must be at least 1)", what, s.count));
  if (s.index < 0 || s.index >= s.count) {
    throw InputError(fmt::format("{}: shard index {} is out of range (0 to {})", what, s.index, s.count - 1));
  }
  return s;
}

}  // namespace

ShardSpec parse_shard(const std::string& text, std::optional<int> count_flag,
                      const std::function<std::optional<std::string>(const std::string&)>& env) {
  ShardSpec s;
  if (text == "auto") {
    if (env("SLURM_ARRAY_TASK_ID")) {
      const int id = required_int(env, "SLURM_ARRAY_TASK_ID", "");
      const int min = required_int(env, "SLURM_ARRAY_TASK_MIN", "Slurm sets it for every array task");
      const int max = required_int(env, "SLURM_ARRAY_TASK_MAX", "Slurm sets it for every array task");
      s.count = required_int(env, "SLURM_ARRAY_TASK_COUNT", "Slurm sets it for every array task");
      if (max - min + 1 != s.count) {
        throw InputError(fmt::format("--shard auto: the Slurm array is not a contiguous range (SLURM_ARRAY_TASK_MIN={}, "
                                     "SLURM_ARRAY_TASK_MAX={}, SLURM_ARRAY_TASK_COUNT={}); submit --array={}-{} "
                                     "or pass --shard I/N", min, max, s.count, min, min + s.count - 1));
      }
      s.index = id - min;
      s.source = "SLURM_ARRAY_TASK_ID";
      return checked(s, "--shard auto (SLURM_ARRAY_TASK_ID)");
    }
    if (env("JOB_COMPLETION_INDEX")) {
      if (!count_flag) {
        throw InputError("--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes indexed job) but not the number of "
                         "shards: pass --shard-count N (the job's completions)");
      }
      s.index = required_int(env, "JOB_COMPLETION_INDEX", "");
      s.count = *count_flag;
      s.source = "JOB_COMPLETION_INDEX";
      return checked(s, "--shard auto (JOB_COMPLETION_INDEX)");
    }
    throw InputError("--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX "
                     "(a Kubernetes indexed job) is set; pass --shard I/N");
  }
  const size_t slash = text.find('/');
  const std::optional<int> index = slash == std::string::npos ? std::nullopt : parse_int(text.substr(0, slash));
  const std::optional<int> count = slash == std::string::npos ? std::nullopt : parse_int(text.substr(slash + 1));
  if (!index || !count) throw InputError(fmt::format("--shard '{}': expected I/N (e.g. 0/4) or auto", text));
  if (count_flag && *count_flag != *count) {
    throw InputError(fmt::format("--shard {} and --shard-count {} disagree", text, *count_flag));
  }
  s.index = *index;
  s.count = *count;
  s.source = "--shard";
  return checked(s, fmt::format("--shard {}", text));
}

double estimated_case_seconds(const PlannedCase& c, const SamplingOptions& sampling) {
  if (!c.skip_reason.empty()) return 0;
  const CaseContext ctx{c.params, c.device, 0, 1};
  const Work w = declared_work(c, ctx);
  const bool gpu = c.device == Device::cuda;
  const double run = w.flops / (gpu ? kGpuFlopsPerS : kCpuFlopsPerS) + w.bytes / (gpu ? kGpuBytesPerS : kCpuBytesPerS);
  const double sampling_s =
      std::min(sampling.max_time_s, std::max(sampling.min_time_s, run * double(sampling.min_samples)));
  return sampling.warmup_s + kCheckRuns * run + sampling_s;
}

std::vector<int> assign_shards(const std::vector<PlannedCase>& plan, int count, const SamplingOptions& sampling) {
  if (count < 1) throw InputError(fmt::format("a shard count of {} (it must be at least 1)", count));
  // Whole microseconds: integer sums are the same on every machine and compiler, whatever the order of additions.
  std::vector<int64_t> cost(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) cost[i] = std::llround(estimated_case_seconds(plan[i], sampling) * 1e6);
  // Longest first; equal costs by name, so the order (and the split) depends on nothing but the plan.
  std::vector<size_t> order(plan.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return cost[a] != cost[b] ? cost[a] > cost[b] : plan[a].name < plan[b].name;
  });
  std::vector<int64_t> load(size_t(count), 0);
  std::vector<size_t> cases(size_t(count), 0);
  std::vector<int> shard(plan.size(), 0);
  for (size_t i : order) {
    // The least loaded shard, the first among equals; a skipped case (no cost, sorted last) to the one with the
    // fewest cases, so that every shard's file says what its machine could not run.
    size_t best = 0;
    for (size_t s = 1; s < load.size(); ++s) {
      if (cost[i] > 0 ? load[s] < load[best] : cases[s] < cases[best]) best = s;
    }
    shard[i] = int(best);
    load[best] += cost[i];
    ++cases[best];
  }
  return shard;
}

std::vector<PlannedCase> select_shard(const std::vector<PlannedCase>& plan, const ShardSpec& spec,
                                      const SamplingOptions& sampling) {
  const std::vector<int> shard = assign_shards(plan, spec.count, sampling);
  std::vector<PlannedCase> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (shard[i] == spec.index) out.push_back(plan[i]);
  }
  return out;
}

}  // namespace talklab
