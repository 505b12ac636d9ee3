#include "harness/roofline.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "harness/memory.h"
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

using Clock = std::chrono::steady_clock;

// Median rate of a few samples of `run(iterations)`, which returns the operations it performed; the
// iteration count is grown until one sample lasts a fifth of the budget.
template <class Run>
double median_rate(Run&& run, double seconds) {
  int64_t iterations = 1024;
  double t = 0;
  while ((t = wall_seconds([&] { run(iterations); })) < seconds / 5 && iterations < (int64_t(1) << 40)) {
    iterations *= std::max<int64_t>(2, int64_t(seconds / 5 / std::max(t, 1e-6)));
  }
  std::vector<double> rates;
  for (int i = 0; i < 5; ++i) {
    int64_t ops = 0;
    const double s = wall_seconds([&] { ops = run(iterations); });
    rates.push_back(double(ops) / s);
  }
  return summarize(rates).median;
}

}  // namespace

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
    r.peak_ops_per_s[name] =
        median_rate([&, op = op](int64_t iters) { return cpu::roofline::run_peak(op, isa, iters, threads); },
                    seconds_per_ceiling);
  }
  // Copy over buffers far larger than any last-level cache: 2 x 256 MiB.
  const size_t n = size_t(64) << 20;
  memory::Buffer<float> src(n), dst(n);
  std::fill(src.span().begin(), src.span().end(), 1.5f);
  cpu::roofline::stream_copy(dst.data(), src.data(), n, threads, isa);  // touches every page once
  std::vector<double> rates;
  const auto t0 = Clock::now();
  while (rates.size() < 3 || std::chrono::duration<double>(Clock::now() - t0).count() < seconds_per_ceiling) {
    const double s = wall_seconds([&] { cpu::roofline::stream_copy(dst.data(), src.data(), n, threads, isa); });
    rates.push_back(double(cpu::roofline::stream_bytes_moved_copy(n)) / s);
  }
  r.bandwidth_bytes_per_s = summarize(rates).median;
  return r;
}

}  // namespace talklab
