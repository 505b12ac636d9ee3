#include "harness/runner.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>

#include "harness/memory.h"
#include "harness/nvtx.h"
#include "harness/torch_glue.h"
#if TALKLAB_HAVE_CUDA
#include "harness/cuda/timer.h"
#endif

namespace talklab {
namespace {

// Keeps what Google Benchmark reports for the one benchmark registered at a time.
class CollectingReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override { runs_.insert(runs_.end(), runs.begin(), runs.end()); }
  const std::vector<Run>& runs() const { return runs_; }

 private:
  std::vector<Run> runs_;
};

// Out-of-memory, however the allocator that ran out says it.
bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return true;
  const std::string what = e.what();
  return what.find("out of memory") != std::string::npos || what.find("can't allocate memory") != std::string::npos;
}

// One sample on the CPU: `runs` runs between two steady-clock reads.
double cpu_sample(Case& c, int64_t runs) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < runs; ++i) c.run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Timing time_case(Case& c, const PlannedCase& planned, const RunOptions& options, const GpuInfo& gpu) {
  Timing timing;
  std::exception_ptr failure;
  SamplingOptions sampling = options.sampling;
#if TALKLAB_HAVE_CUDA
  std::optional<cuda::EventTimer> cuda_timer;
  if (planned.device == Device::cuda) {
    cuda_timer.emplace(c.stream(), options.cuda_cold ? cuda::CacheMode::cold : cuda::CacheMode::hot, gpu.l2_bytes);
    sampling.batch_runs = !options.cuda_cold;
  }
#else
  (void)gpu;
#endif
  benchmark::RegisterBenchmark(planned.name.c_str(), [&](benchmark::State& state) {
    for (auto _ : state) {
      try {
        timing = measure(
            [&](int64_t runs) {
#if TALKLAB_HAVE_CUDA
              if (cuda_timer) return cuda_timer->sample([&] { for (int64_t i = 0; i < runs; ++i) c.run(); });
#endif
              return cpu_sample(c, runs);
            },
            sampling);
        state.SetIterationTime(timing.stats.median);
      } catch (...) {
        failure = std::current_exception();
        state.SkipWithError("the case threw while it was timed");
        state.SetIterationTime(0);
      }
    }
  })
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kNanosecond);
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter, "all");
  benchmark::ClearRegisteredBenchmarks();
  if (failure) std::rethrow_exception(failure);
  if (reporter.runs().size() != 1 || reporter.runs().front().error_occurred) {
    throw std::runtime_error("Google Benchmark did not report the case");
  }
  return timing;
}

}  // namespace

uint64_t case_seed(uint64_t run_seed, const std::string& case_name) {
  uint64_t h = 1469598103934665603ull ^ run_seed;  // FNV-1a over the name, then a final mix
  for (unsigned char ch : case_name) h = (h ^ ch) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

namespace {

// One pass of one case: gate, then time. Never throws: a crash or an exhausted allocator is the result.
CaseResult run_case(const PlannedCase& planned, int index, const RunOptions& options, const GpuInfo& gpu) {
  CaseResult r;
  r.name = planned.name;
  r.experiment = planned.experiment->name;
  r.implementation = planned.implementation->name;
  r.device = planned.device;
  r.params = planned.params;
  r.talks = planned.experiment->talks;
  r.family_index = index;
  const CaseContext ctx{planned.params, planned.device, case_seed(options.seed, planned.name), options.threads};
  r.work = declared_work(planned, ctx);
  r.reason = planned.skip_reason;
  if (!r.reason.empty()) return r;

  NvtxRange range(planned.name);
  try {
    const int64_t baseline = memory::current_bytes();
    memory::reset_peak();
    if (planned.device == Device::cuda) reset_torch_cuda_peak();
    std::unique_ptr<Case> c = planned.implementation->make(ctx);
    c->setup();
    c->poison();
    c->run();
    r.accuracy = c->check();
    if (planned.device == Device::cpu) {
      r.peak_bytes = memory::peak_bytes() - baseline;
    } else {  // the case's own count (raw cudaMalloc), else LibTorch's caching allocator if it was used
      r.peak_bytes = c->device_peak_bytes();
      const std::optional<int64_t> torch_peak = torch_cuda_peak_bytes();
      if (!r.peak_bytes && torch_peak && *torch_peak > 0) r.peak_bytes = torch_peak;
    }
    c->add_labels(r.labels);
    if (!r.accuracy->passed) {
      r.status = "failed";
      r.reason = "correctness check failed: " + r.accuracy->error;
    } else {
      r.timing = time_case(*c, planned, options, gpu);
      c->add_counters(r.counters);
      r.status = "ok";
    }
  } catch (const CaseSkipped& e) {
    r.timing.reset();
    r.accuracy.reset();
    r.status = "skipped";
    r.reason = e.what();
  } catch (const std::exception& e) {
    r.timing.reset();
    if (is_out_of_memory(e)) {
      r.status = "skipped";
      r.reason = fmt::format("out of memory: {}", e.what());
    } else {
      r.status = "failed";
      r.reason = fmt::format("crashed: {}", e.what());
    }
  }
  return r;
}

// run_case with the CPU's capacity probed around it (Rooflines::cpu_capacity): a case that ran while the machine
// delivered less than kMinCapacity of its fp32 ceiling is disturbed, whatever its samples say.
CaseResult run_probed(const PlannedCase& planned, int index, const RunOptions& options, const GpuInfo& gpu,
                      const Rooflines& rooflines) {
  const bool probed = planned.device == Device::cpu && planned.skip_reason.empty() && rooflines.cpu_capacity;
  const Roofline* cpu = probed ? rooflines.cpu : nullptr;
  const double before = cpu != nullptr ? rooflines.cpu_capacity(*cpu) : 0.0;
  CaseResult r = run_case(planned, index, options, gpu);
  if (cpu == nullptr || !r.timing) return r;
  Timing& t = *r.timing;
  t.interference.capacity_before = before;
  t.interference.capacity_after = rooflines.cpu_capacity(*cpu);
  // Every probe that could be read must be low: one low probe beside a normal one is a moment, not the case.
  const double probes[] = {t.interference.capacity_before, t.interference.capacity_after};
  int read = 0, low = 0;
  for (double p : probes) {
    read += p > 0;
    low += p > 0 && p < kMinCapacity;
  }
  if (read > 0 && low == read) {
    t.disturbed = true;
    t.disturbed_evidence += fmt::format("{}the machine delivered {} of its fp32 ceiling just before and after the case, "
                                        "without preempting us (below {:.0f}%: the host shared our cores or lowered "
                                        "the clock)",
                                        t.disturbed_evidence.empty() ? "" : "; ",
                                        fmt::join(std::vector<std::string>{
                                                      probes[0] > 0 ? fmt::format("{:.0f}%", 100 * probes[0]) : "-",
                                                      probes[1] > 0 ? fmt::format("{:.0f}%", 100 * probes[1]) : "-"},
                                                  " and "),
                                        100 * kMinCapacity);
  }
  return r;
}

// The case's fraction of its device's ceiling, from its current timing (none without a timing or a ceiling).
void place_on_roofline(CaseResult& r, const Rooflines& rooflines) {
  const Roofline* roofline = r.device == Device::cpu ? rooflines.cpu : rooflines.cuda;
  r.roofline_fraction.reset();
  if (r.timing && roofline != nullptr) r.roofline_fraction = roofline->fraction(r.work, r.timing->stats.median);
}

// The figure of a case from all its timings (its passes, then its re-runs): the median of the medians of those
// that were not disturbed, and the disturbed ones beside it as earlier attempts; when every one was disturbed,
// the median of all their medians, still marked disturbed. A disturbance only slows a case, so one slow
// attempt (a re-run beside a neighbour, say) does not replace clean ones, and does not decide the figure alone
// when none was clean.
void settle_figure(CaseResult& r, std::vector<Timing>& attempts) {
  mark_slow_attempts(attempts);
  std::vector<Timing> clean, left_out;
  for (const Timing& t : attempts) (t.disturbed ? left_out : clean).push_back(t);
  if (clean.empty()) {
    r.timing = merge_passes(attempts);
    r.earlier_attempts.clear();
  } else {
    r.timing = merge_passes(clean);
    r.earlier_attempts = std::move(left_out);
  }
}

// A later pass of a case into what the earlier ones gave: a failure in any pass is the result; otherwise the
// timings merge (settle_figure), the peak is the largest, the accuracy the worst, the counters the latest pass's.
void merge_pass(CaseResult& merged, std::vector<Timing>& timings, CaseResult&& pass) {
  if (merged.status != "ok") return;
  if (pass.status != "ok") {
    merged = std::move(pass);
    return;
  }
  timings.push_back(*pass.timing);
  timings.back().attempt_numbers = {int(timings.size())};
  settle_figure(merged, timings);
  if (pass.peak_bytes && (!merged.peak_bytes || *pass.peak_bytes > *merged.peak_bytes)) merged.peak_bytes = pass.peak_bytes;
  if (pass.accuracy && merged.accuracy && pass.accuracy->max_rel_error > merged.accuracy->max_rel_error) {
    merged.accuracy = pass.accuracy;
  }
  merged.counters = std::move(pass.counters);
  merged.labels = std::move(pass.labels);
}

}  // namespace

RunSummary run_cases(const std::vector<PlannedCase>& cases, const RunOptions& options, const Rooflines& rooflines,
                     const GpuInfo& gpu, ResultFile& out, const std::function<void(const CaseResult&)>& on_result) {
  std::vector<CaseResult> results(cases.size());
  std::vector<std::vector<Timing>> timings(cases.size());
  for (int pass = 0; pass < std::max(1, options.passes); ++pass) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const PlannedCase& planned = cases[i];
      if (pass > 0 && results[i].status != "ok") {  // skipped or failed: one pass says so
        if (on_result) on_result(results[i]);
        continue;
      }
      CaseResult r = run_probed(planned, int(i), options, gpu, rooflines);
      if (pass == 0) {
        if (r.timing) {
          r.timing->attempt_numbers = {1};
          timings[i].push_back(*r.timing);
        }
        results[i] = std::move(r);
      } else {
        merge_pass(results[i], timings[i], std::move(r));
      }
      CaseResult& m = results[i];
      place_on_roofline(m, rooflines);
      if (pass == 0) out.add(m);
      else out.replace(i, m);
      if (on_result) on_result(m);
    }
  }
  RunSummary summary;
  std::vector<size_t> disturbed;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].status == "ok" && results[i].timing && results[i].timing->disturbed) disturbed.push_back(i);
  }
  summary.disturbed = int(disturbed.size());
  // At the end of the run, so a neighbour that disturbed a case has had the whole run's time to finish.
  for (int retry = 0; retry < options.retries && !disturbed.empty(); ++retry) {
    std::vector<size_t> still;
    for (size_t i : disturbed) {
      if (retry == 0) ++summary.rerun;
      CaseResult r = run_probed(cases[i], int(i), options, gpu, rooflines);
      CaseResult& m = results[i];
      if (r.status != "ok") {  // a re-run that fails or runs out of memory says so; the earlier timing is kept
        m.labels.emplace_back("rerun_" + std::to_string(retry + 1), r.status + ": " + r.reason);
      } else {
        timings[i].push_back(std::move(*r.timing));
        timings[i].back().attempt_numbers = {int(timings[i].size())};
        settle_figure(m, timings[i]);
        if (r.peak_bytes && (!m.peak_bytes || *r.peak_bytes > *m.peak_bytes)) m.peak_bytes = r.peak_bytes;
        place_on_roofline(m, rooflines);
      }
      out.replace(i, m);
      if (on_result) on_result(m);
      if (m.timing->disturbed) still.push_back(i);
    }
    disturbed = std::move(still);
  }
  summary.still_disturbed = int(disturbed.size());
  for (const CaseResult& r : results) {
    if (r.status == "ok") ++summary.ok;
    else if (r.status == "failed") ++summary.failed;
    else ++summary.skipped;
  }
  summary.results = std::move(results);
  return summary;
}

}  // namespace talklab
