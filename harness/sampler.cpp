#include "harness/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

namespace talklab {

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

double median_wall_seconds(const std::function<void()>& f, int repeats) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(wall_seconds(f));
  return summarize(t).median;
}

Timing merge_passes(const std::vector<Timing>& passes) {
  if (passes.empty()) return {};
  if (passes.size() == 1) return passes.front();
  Timing t;
  double cpu = 0;
  for (const Timing& p : passes) {
    t.samples_s.insert(t.samples_s.end(), p.samples_s.begin(), p.samples_s.end());
    t.pass_medians_s.push_back(p.stats.median);
    cpu += p.cpu_s_per_run;
    t.total_s += p.total_s;
  }
  t.runs_per_sample = passes.back().runs_per_sample;
  t.stop_reason = passes.back().stop_reason;
  t.cpu_s_per_run = cpu / double(passes.size());
  t.stats = summarize(t.samples_s);
  t.stats.median = summarize(t.pass_medians_s).median;
  t.stats.rel_spread = t.stats.median > 0 ? (t.stats.q3 - t.stats.q1) / t.stats.median : 0.0;
  return t;
}

Timing measure(const std::function<double(int64_t runs)>& sample, const SamplingOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  Timing t;
  const auto start = Clock::now();

  double last = 0;
  do {
    last = sample(1);
  } while (since(start) < options.warmup_s && since(start) < options.max_time_s);

  if (options.batch_runs && last > 0 && last < options.min_sample_s) {
    t.runs_per_sample = std::max<int64_t>(1, int64_t(std::ceil(options.min_sample_s / last)));
  }

  const auto sampling_start = Clock::now();
  const double cpu_start = process_cpu_seconds();
  int64_t runs = 0;
  while (true) {
    t.samples_s.push_back(sample(t.runs_per_sample) / double(t.runs_per_sample));
    runs += t.runs_per_sample;
    const double elapsed = since(sampling_start);
    const int n = int(t.samples_s.size());
    if (n >= options.min_samples && elapsed >= options.min_time_s &&
        summarize(t.samples_s).rel_spread <= options.max_noise) {
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
  t.stats = summarize(t.samples_s);
  t.total_s = since(start);
  return t;
}

}  // namespace talklab
