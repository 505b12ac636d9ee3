#include "harness/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "harness/openmp.h"
#include "harness/units.h"

namespace talklab {
namespace {

// A stall of whole ticks (one of our threads lost its core until the next tick) makes a sample at least this
// much slower than the fastest, and lands within a quarter tick of a whole number of ticks above it.
constexpr double kStallRatio = 1.5;
constexpr double kTickTolerance = 0.25;
// Kept samples of a case cluster at ticks when at least this share of them is stalled: enough to move the
// upper quartile, so the spread and the comparison's test see it.
constexpr double kStalledShare = 0.25;
// Other processes using this share of all CPUs while a case had too few clean samples make it disturbed.
constexpr double kBusyShare = 0.10;
// Other processes using this share of all CPUs while a case was sampled make it disturbed however clean its samples:
// a neighbour that holds a core slows the cores beside it without preempting anything (a shared core's other
// hardware thread, caches, memory bandwidth, a host that runs both vCPUs on one core). On the 2-vCPU guest a busy
// loop pinned to the other vCPU moved single-threaded cases 1.55x (0.45 to 0.71 us, a block-mask build) and 1.69x
// (6.7 to 11.6 us, LibTorch's M=1 product) with every sample clean. A quiet machine's kernel threads use 1-3%.
constexpr double kNeighbourShare = 0.25;

bool clean_enough(const Timing& t, int min_samples) {
  const auto clean = std::count(t.preemptions.begin(), t.preemptions.end(), 0);
  return !t.preemptions.empty() && clean >= std::max(1, min_samples);
}

struct Burst {
  double seconds = 0;
  bool clean = false;
  bool preempted = false;
};

Burst burst(const std::function<double()>& run, int threads) {
  const int64_t switches = machine::involuntary_switches();
  const std::vector<double> cpu0 = openmp::thread_cpu_seconds(threads);
  Burst b;
  b.seconds = run();
  const std::vector<double> cpu1 = openmp::thread_cpu_seconds(threads);
  b.preempted = machine::involuntary_switches() != switches;
  b.clean = !b.preempted;
  for (size_t i = 0; i < cpu0.size() && i < cpu1.size(); ++i) {
    b.clean = b.clean && cpu1[i] - cpu0[i] >= kCleanBurstUtilization * b.seconds;
  }
  return b;
}

Bursts summarize_bursts(const std::vector<Burst>& bursts) {
  Bursts out;
  std::vector<double> all, clean;
  for (const Burst& b : bursts) {
    all.push_back(b.seconds);
    if (b.clean) clean.push_back(b.seconds);
    out.preempted += b.preempted;
  }
  const SampleStats s = summarize(all);
  out.fastest_s = s.min;
  out.median_s = s.median;
  out.slowest_s = s.max;
  out.fastest_clean_s = clean.empty() ? 0 : summarize(clean).min;
  out.samples = int(all.size());
  out.clean = int(clean.size());
  return out;
}

}  // namespace

std::vector<double> kept_samples(const Timing& t) {
  if (!t.kept_clean) return t.samples_s;
  std::vector<double> kept;
  for (size_t i = 0; i < t.samples_s.size(); ++i) {
    if (i >= t.preemptions.size() || t.preemptions[i] == 0) kept.push_back(t.samples_s[i]);
  }
  return kept;
}

void settle(Timing& t, int min_samples, double tick_s) {
  const size_t n = t.samples_s.size();
  t.kept_clean = clean_enough(t, min_samples);
  const std::vector<double> kept = kept_samples(t);
  t.dropped = int(n - kept.size());
  int64_t switches = 0;
  for (int64_t p : t.preemptions) switches += p;
  t.dropped_reason = t.dropped == 0 ? ""
                                    : fmt::format("{} of {} samples were preempted ({} involuntary context switches)",
                                                  t.dropped, n, switches);
  t.stats = summarize(kept);
  t.disturbed = false;
  t.disturbed_evidence.clear();
  if (kept.empty()) return;

  std::vector<std::string> evidence;
  const double fastest = t.stats.min;
  int stalled = 0, fewest = 0, most = 0;
  for (double s : kept) {
    const double ticks = (s - fastest) * double(t.runs_per_sample) / tick_s;
    if (s < kStallRatio * fastest || ticks < 1 - kTickTolerance || std::abs(ticks - std::round(ticks)) > kTickTolerance) {
      continue;
    }
    const int whole = int(std::lround(ticks));
    fewest = stalled == 0 ? whole : std::min(fewest, whole);
    most = std::max(most, whole);
    ++stalled;
  }
  if (stalled >= std::max<double>(2, kStalledShare * double(kept.size()))) {
    evidence.push_back(fmt::format("{} of {} kept samples are {}{} scheduler ticks ({:.3g} ms each) slower than the "
                                   "fastest ({:.3g} us per run)",
                                   stalled, kept.size(), fewest, most > fewest ? fmt::format("-{}", most) : "",
                                   tick_s * 1e3, fastest * 1e6));
  }
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const double wall = t.interference.seconds;
  const double others = wall > 0 ? t.interference.others_cpu_s / (wall * cpus) : 0.0;
  const double steal = wall > 0 ? t.interference.steal_s / (wall * cpus) : 0.0;
  if (!t.kept_clean && !t.preemptions.empty() && (others >= kBusyShare || steal >= kBusyShare)) {
    const auto clean = std::count(t.preemptions.begin(), t.preemptions.end(), 0);
    evidence.push_back(fmt::format("only {} of {} samples ran without preemption while other processes used {:.0f}% "
                                   "of the {} CPUs and the hypervisor stole {:.0f}%",
                                   clean, n, 100 * others, cpus, 100 * steal));
  } else if (others >= kNeighbourShare) {
    evidence.push_back(fmt::format("other processes used {:.0f}% of the {} CPUs while it was sampled: beside a "
                                   "neighbour that holds a core, a case runs slower without being preempted",
                                   100 * others, cpus));
  }
  t.disturbed = !evidence.empty();
  for (size_t i = 0; i < evidence.size(); ++i) t.disturbed_evidence += (i ? "; " : "") + evidence[i];
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double wall_seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median_seconds(const std::function<double()>& sample, int warmups, int samples) {
  for (int i = 0; i < warmups; ++i) sample();
  std::vector<double> t;
  for (int i = 0; i < samples; ++i) t.push_back(sample());
  return summarize(t).median;
}

double median_wall_seconds(const std::function<void()>& f, int repeats) {
  return median_seconds([&] { return wall_seconds(f); }, 0, repeats);
}

PairedTimes paired_times(const std::function<void()>& a, const std::function<void()>& b, int rounds,
                         double min_side_s) {
  PairedTimes out;
  const double one = std::max(std::min(wall_seconds(a), wall_seconds(b)), 1e-9);  // also the warm-up
  out.runs = std::max<int64_t>(1, int64_t(std::ceil(min_side_s / one)));
  out.rounds = std::max(rounds, 1);
  auto side = [&](const std::function<void()>& f) {
    return wall_seconds([&] {
             for (int64_t i = 0; i < out.runs; ++i) f();
           }) /
           double(out.runs);
  };
  std::vector<double> ratio, ta, tb;
  for (int i = 0; i < out.rounds; ++i) {
    double x, y;
    if (i % 2 == 0) {
      x = side(a);
      y = side(b);
    } else {
      y = side(b);
      x = side(a);
    }
    ratio.push_back(x / y);
    ta.push_back(x);
    tb.push_back(y);
  }
  out.ratio = summarize(ratio).median;
  out.a_s = summarize(ta).median;
  out.b_s = summarize(tb).median;
  return out;
}

void add_paired_read(Counters& out, const std::function<void()>& read, const std::function<void()>& step,
                     double bytes) {
  const PairedTimes t = paired_times(read, step);
  out.emplace_back("read_fraction", t.ratio);
  out.emplace_back("read_gbps_paired", bytes / t.a_s / 1e9);
}

Bursts measure_bursts(const std::function<double()>& run, int threads, double seconds) {
  SamplingOptions o;
  o.warmup_s = std::min(0.05, seconds / 4);
  o.min_time_s = seconds;
  o.max_time_s = 4 * seconds;
  o.max_noise = 0.01;
  o.min_samples = 10;
  o.min_sample_s = 0;  // one burst per sample
  std::vector<Burst> bursts;  // every call, warm-up first: the last samples_s.size() are the samples
  const Timing t = measure(
      [&](int64_t runs) {
        double s = 0;
        for (int64_t i = 0; i < runs; ++i) {
          bursts.push_back(burst(run, threads));
          s += bursts.back().seconds;
        }
        return s;
      },
      o);
  return summarize_bursts(std::vector<Burst>(bursts.end() - std::ptrdiff_t(t.samples_s.size()), bursts.end()));
}

Bursts probe_bursts(const std::function<double()>& run, int threads, int count) {
  std::vector<Burst> bursts;
  for (int i = 0; i < count; ++i) bursts.push_back(burst(run, threads));
  return summarize_bursts(bursts);
}

Timing merge_passes(const std::vector<Timing>& passes) {
  if (passes.empty()) return {};
  if (passes.size() == 1) return passes.front();
  Timing t;
  double cpu = 0;
  t.kept_clean = true;
  std::vector<double> kept;
  for (size_t i = 0; i < passes.size(); ++i) {
    const Timing& p = passes[i];
    t.samples_s.insert(t.samples_s.end(), p.samples_s.begin(), p.samples_s.end());
    t.preemptions.insert(t.preemptions.end(), p.preemptions.begin(), p.preemptions.end());
    const std::vector<double> k = kept_samples(p);
    kept.insert(kept.end(), k.begin(), k.end());
    t.kept_clean = t.kept_clean && p.kept_clean;
    t.dropped += p.dropped;
    // The runner numbers its attempts (passes, then re-runs); a bare list of passes is numbered here.
    const std::string which = p.attempt_numbers.size() == 1 ? fmt::format("attempt {}", p.attempt_numbers[0])
                                                            : fmt::format("pass {}", i + 1);
    if (!p.dropped_reason.empty()) t.dropped_reason += fmt::format("{}{}: {}", t.dropped_reason.empty() ? "" : "; ", which, p.dropped_reason);
    if (p.disturbed) {
      t.disturbed = true;
      t.disturbed_evidence += fmt::format("{}{}: {}", t.disturbed_evidence.empty() ? "" : "; ", which, p.disturbed_evidence);
    }
    t.pass_medians_s.push_back(p.stats.median);
    t.attempt_numbers.insert(t.attempt_numbers.end(), p.attempt_numbers.begin(), p.attempt_numbers.end());
    cpu += p.cpu_s_per_run;
    t.total_s += p.total_s;
    t.interference.seconds += p.interference.seconds;
    t.interference.others_cpu_s += p.interference.others_cpu_s;
    t.interference.steal_s += p.interference.steal_s;
  }
  t.interference.runnable_before = passes.front().interference.runnable_before;
  t.interference.load_before = passes.front().interference.load_before;
  t.interference.mhz_before = passes.front().interference.mhz_before;
  t.interference.capacity_before = passes.front().interference.capacity_before;
  t.interference.capacity_after = passes.back().interference.capacity_after;
  t.interference.runnable_after = passes.back().interference.runnable_after;
  t.interference.load_after = passes.back().interference.load_after;
  t.interference.mhz_after = passes.back().interference.mhz_after;
  t.runs_per_sample = passes.back().runs_per_sample;
  t.stop_reason = passes.back().stop_reason;
  t.cpu_s_per_run = cpu / double(passes.size());
  // Over what each pass kept; a mix of clean and all is written as "all" (kept_clean false), and the
  // samples themselves are then all kept.
  if (!t.kept_clean) kept = t.samples_s;
  t.dropped = int(t.samples_s.size() - kept.size());
  t.stats = summarize(kept);
  t.stats.median = summarize(t.pass_medians_s).median;
  t.stats.rel_spread = t.stats.median > 0 ? (t.stats.q3 - t.stats.q1) / t.stats.median : 0.0;
  return t;
}

int mark_slow_attempts(std::vector<Timing>& attempts) {
  double fastest = 0;
  int clean = 0;
  for (const Timing& t : attempts) {
    if (t.disturbed || t.stats.median <= 0) continue;
    fastest = clean++ == 0 ? t.stats.median : std::min(fastest, t.stats.median);
  }
  if (clean < 2) return 0;
  int marked = 0;
  for (Timing& t : attempts) {
    if (t.disturbed || t.stats.median <= kMaxAttemptSlowdown * fastest) continue;
    t.disturbed = true;
    t.disturbed_evidence += fmt::format(
        "{}its median {} is {:.2f}x the fastest of the case's {} clean passes and re-runs ({}), more than {:.2f}x: "
        "slowed by something neither its samples nor the capacity probes saw (another guest's memory traffic, "
        "say)",
        t.disturbed_evidence.empty() ? "" : "; ", format_seconds(t.stats.median), t.stats.median / fastest, clean,
        format_seconds(fastest), kMaxAttemptSlowdown);
    ++marked;
  }
  return marked;
}

Timing measure(const std::function<double(int64_t runs)>& sample, const SamplingOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  Timing t;
  const auto start = Clock::now();

  // A sample is sized from the fastest warm-up run: one that a stall stretched to a tick would make every
  // sample a single run, and every sample would then carry whole stalls.
  double fastest = 0;
  do {
    const double s = sample(1);
    fastest = fastest > 0 ? std::min(fastest, s) : s;
  } while (since(start) < options.warmup_s && since(start) < options.max_time_s);

  if (options.batch_runs && fastest > 0 && fastest < options.min_sample_s) {
    t.runs_per_sample = std::max<int64_t>(1, int64_t(std::ceil(options.min_sample_s / fastest)));
  }

  const machine::Snapshot before = machine::snapshot();
  const auto sampling_start = Clock::now();
  const double cpu_start = process_cpu_seconds();
  int64_t runs = 0;
  while (true) {
    const int64_t switches = machine::involuntary_switches();
    const double seconds = sample(t.runs_per_sample);
    t.preemptions.push_back(machine::involuntary_switches() - switches);
    t.samples_s.push_back(seconds / double(t.runs_per_sample));
    runs += t.runs_per_sample;
    const double elapsed = since(sampling_start);
    const int n = int(t.samples_s.size());
    // Converged on what the statistics will be over: the clean samples once there are enough of them.
    t.kept_clean = clean_enough(t, options.min_samples);
    if (n >= options.min_samples && elapsed >= options.min_time_s &&
        summarize(kept_samples(t)).rel_spread <= options.max_noise) {
      t.stop_reason = "converged";
      break;
    }
    if (since(start) >= options.max_time_s) {
      t.stop_reason = "time_cap";
      break;
    }
    if (n >= options.max_samples) {
      t.stop_reason = "sample_cap";
      break;
    }
  }
  t.cpu_s_per_run = (process_cpu_seconds() - cpu_start) / double(runs);
  t.interference = machine::between(before, machine::snapshot());
  t.total_s = since(start);
  settle(t, options.min_samples, machine::scheduler_tick().seconds);
  return t;
}

}  // namespace talklab
