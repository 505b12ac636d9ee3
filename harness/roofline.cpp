#include "harness/roofline.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "harness/machine.h"
#include "harness/memory.h"
#include "harness/openmp.h"
#include "harness/sampler.h"
#include "harness/stats.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/roofline/peak.h"
#include "kernels/cpu/roofline/stream.h"

namespace talklab {

std::optional<double> Roofline::attainable_ops_per_s(const Work& work) const {
  std::optional<double> best;
  if (!work.peak.empty()) {
    const auto it = peak_ops_per_s.find(work.peak);
    if (it == peak_ops_per_s.end()) return std::nullopt;
    best = it->second;
  }
  if (work.bytes > 0 && bandwidth_bytes_per_s > 0) {
    if (work.peak.empty()) return bandwidth_bytes_per_s;  // a memory-only case: its "rate" is bytes/s
    const double memory_bound = work.flops / work.bytes * bandwidth_bytes_per_s;
    best = std::min(*best, memory_bound);
  }
  return best;
}

std::optional<double> Roofline::fraction(const Work& work, double seconds) const {
  if (seconds <= 0) return std::nullopt;
  const auto attainable = attainable_ops_per_s(work);
  if (!attainable || *attainable <= 0) return std::nullopt;
  const double achieved = work.peak.empty() ? work.bytes / seconds : work.flops / seconds;
  return achieved / *attainable;
}

namespace {

// A ceiling's sample (and a capacity probe's burst) is a sixteenth of the roofline experiment's run: about 0.3 ms
// of fp32 at 80 GFLOP/s, 1.3 ms of copy at 25 GB/s. Short beside a 4 ms tick, so a neighbour that takes one of
// our cores for ticks at a time still leaves clean samples between its turns.
constexpr size_t kBurstShare = 16;
constexpr int kCapacityBursts = 3;
// A burst is clean when its CPU time is at least this share of wall time x threads.
constexpr double kCleanBurstUtilization = 0.9;

// A ceiling is the best the machine does: the fastest kept sample of `run` under the sampler, with its warm-up,
// its preemption marks and at least `seconds` of sampling. The median of a few samples, as before, took every
// disturbed sample of a busy machine into the ruler (a quick run beside a busy process printed 311% of roofline).
// One burst of `run` (which returns its wall seconds), and whether it was clean: not preempted, and every thread
// on a core all along (a thread that waited for one, behind a neighbour or beside its sibling thread, has CPU
// time short of the wall time; measured by the threads themselves, openmp::thread_cpu_seconds).
struct Burst {
  double seconds = 0;
  bool clean = false;
};
Burst burst(const std::function<double()>& run, int threads) {
  const int64_t switches = machine::involuntary_switches();
  const std::vector<double> cpu0 = openmp::thread_cpu_seconds(threads);
  Burst b;
  b.seconds = run();
  const std::vector<double> cpu1 = openmp::thread_cpu_seconds(threads);
  b.clean = machine::involuntary_switches() == switches;
  for (size_t i = 0; i < cpu0.size() && i < cpu1.size(); ++i) {
    b.clean = b.clean && cpu1[i] - cpu0[i] >= kCleanBurstUtilization * b.seconds;
  }
  return b;
}

// A ceiling is the best the machine does: the fastest clean burst under the sampler (its warm-up, at least
// `seconds` of sampling), with the spread of all of them. The median of a few long samples, as before, took every
// disturbed sample of a busy machine into the ruler (a quick run beside a busy process printed 311% of roofline).
CeilingSpread best_rate(const std::function<double()>& run, double ops_per_run, int threads, double seconds) {
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
  std::vector<double> clean;
  for (size_t i = bursts.size() - t.samples_s.size(); i < bursts.size(); ++i) {
    if (bursts[i].clean) clean.push_back(bursts[i].seconds);
  }
  const SampleStats all = summarize(t.samples_s);
  CeilingSpread c;
  c.best = ops_per_run / (clean.empty() ? all.min : summarize(clean).min);
  c.median = ops_per_run / all.median;
  c.worst = ops_per_run / all.max;
  c.samples = int(t.samples_s.size());
  c.preempted = int(t.samples_s.size()) - int(std::count(t.preemptions.begin(), t.preemptions.end(), 0));
  c.clean = int(clean.size());
  return c;
}

}  // namespace

double cpu_capacity(const Roofline& roofline) {
  const auto peak = roofline.peak_ops_per_s.find("fp32");
  if (peak == roofline.peak_ops_per_s.end() || peak->second <= 0 || roofline.threads < 1) return 0;
  const cpu::Isa isa = cpu::best_isa();
  const int64_t iterations = cpu::roofline::kPeakIterationsPerRun / int64_t(kBurstShare);
  const double ops = double(cpu::roofline::peak_ops_per_iteration(cpu::roofline::PeakOp::fp32_fma, isa)) *
                     double(iterations) * roofline.threads;
  // Only clean bursts count: a neighbour in the guest that takes one of our cores shows as preemption or as a
  // thread's CPU time short of the wall time, which the sampler deals with sample by sample; the probe speaks for
  // losses the guest cannot see (the host's). 0 when no burst was clean.
  double best = 0;
  for (int i = 0; i < kCapacityBursts; ++i) {
    const Burst b = burst(
        [&] {
          return wall_seconds(
              [&] { cpu::roofline::run_peak(cpu::roofline::PeakOp::fp32_fma, isa, iterations, roofline.threads); });
        },
        roofline.threads);
    if (b.clean) best = std::max(best, ops / b.seconds);
  }
  return best / peak->second;
}

Roofline measure_cpu_roofline(int threads, double seconds_per_ceiling) {
  using cpu::roofline::PeakOp;
  Roofline r;
  r.threads = threads;
  const cpu::Isa isa = cpu::best_isa();
  r.isa = cpu::isa_name(isa);
  const std::pair<PeakOp, const char*> ops[] = {
      {PeakOp::fp32_fma, "fp32"}, {PeakOp::bf16_dot, "bf16"}, {PeakOp::int8_dot, "int8"}};
  for (const auto& [op, name] : ops) {
    if (!cpu::roofline::peak_supported(op, isa, nullptr)) continue;
    const int64_t iterations = cpu::roofline::kPeakIterationsPerRun / int64_t(kBurstShare);
    const double ops_per_run = double(cpu::roofline::peak_ops_per_iteration(op, isa)) * double(iterations) * threads;
    r.spread[name] = best_rate(
        [&, op = op] { return wall_seconds([&] { cpu::roofline::run_peak(op, isa, iterations, threads); }); },
        ops_per_run, threads, seconds_per_ceiling);
    r.peak_ops_per_s[name] = r.spread[name].best;
  }
  // Copy and triad over buffers far larger than any last-level cache (256 MiB each), a sixteenth at a time (16 MiB,
  // still past the non-temporal threshold), the next sixteenth each burst so no burst finds its data in cache.
  // The bandwidth ceiling is the better of the two: either is a way to move bytes the machine offers (triad, with
  // more reads per write, beat copy by about 5% on the 2-vCPU guest and was flagged above a copy-only ceiling).
  const size_t n = size_t(64) << 20, chunk = n / kBurstShare;
  memory::Buffer<float> a(n), b(n), c(n);
  std::fill(b.span().begin(), b.span().end(), 1.5f);
  std::fill(c.span().begin(), c.span().end(), 0.5f);
  cpu::roofline::stream_copy(a.data(), b.data(), n, threads, isa);  // touches every page once
  size_t next = 0;
  const auto offset = [&] { return (next++ % kBurstShare) * chunk; };
  r.spread["copy"] = best_rate(
      [&] {
        const size_t o = offset();
        return wall_seconds([&] { cpu::roofline::stream_copy(a.data() + o, b.data() + o, chunk, threads, isa); });
      },
      double(cpu::roofline::stream_bytes_moved_copy(chunk)), threads, seconds_per_ceiling);
  r.spread["triad"] = best_rate(
      [&] {
        const size_t o = offset();
        return wall_seconds(
            [&] { cpu::roofline::stream_triad(a.data() + o, b.data() + o, c.data() + o, 0.75f, chunk, threads, isa); });
      },
      double(cpu::roofline::stream_bytes_moved_triad(chunk)), threads, seconds_per_ceiling);
  r.bandwidth_bytes_per_s = std::max(r.spread["copy"].best, r.spread["triad"].best);
  return r;
}

}  // namespace talklab
