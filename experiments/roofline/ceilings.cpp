// The CPU ceilings and the capacity probe (ceilings.h), timed as bursts by the sampler (harness/sampler.h).
#include "experiments/roofline/ceilings.h"

#include <algorithm>
#include <utility>

#include "harness/memory.h"
#include "harness/sampler.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/roofline/stream.h"

namespace talklab::experiments::roofline {
namespace {

using cpu::roofline::PeakOp;

// A ceiling's burst (and a capacity probe's) is a sixteenth of the roofline experiment's run: about 0.3 ms of fp32
// at 80 GFLOP/s, 1.3 ms of copy at 25 GB/s. Short beside a 4 ms tick, so a neighbour that takes one of our cores for
// ticks at a time still leaves clean bursts between its turns.
constexpr size_t kBurstShare = 16;
constexpr int64_t kBurstIterations = cpu::roofline::kPeakIterationsPerRun / int64_t(kBurstShare);
constexpr int kCapacityBursts = 3;

// A ceiling's spread: the best is the fastest clean burst (the fastest of all when none was clean).
CeilingSpread spread_of(const Bursts& b, double ops_per_burst) {
  CeilingSpread c;
  c.best = ops_per_burst / (b.clean > 0 ? b.fastest_clean_s : b.fastest_s);
  c.median = ops_per_burst / b.median_s;
  c.worst = ops_per_burst / b.slowest_s;
  c.samples = b.samples;
  c.preempted = b.preempted;
  c.clean = b.clean;
  return c;
}

double peak_ops_per_burst(PeakOp op, cpu::Isa isa, int threads) {
  return double(cpu::roofline::peak_ops_per_iteration(op, isa)) * double(kBurstIterations) * threads;
}

}  // namespace

const char* peak_dtype(PeakOp op) {
  switch (op) {
    case PeakOp::fp32_fma: return "fp32";
    case PeakOp::bf16_dot: return "bf16";
    case PeakOp::int8_dot: return "int8";
  }
  return "";
}

double cpu_capacity(const Roofline& cpu_ceilings) {
  const auto peak = cpu_ceilings.peak_ops_per_s.find(peak_dtype(PeakOp::fp32_fma));
  if (peak == cpu_ceilings.peak_ops_per_s.end() || peak->second <= 0 || cpu_ceilings.threads < 1) return 0;
  const cpu::Isa isa = cpu::best_isa();
  const int threads = cpu_ceilings.threads;
  // Only clean bursts count: a neighbour in the guest that takes one of our cores shows as preemption or as a
  // thread's CPU time short of the wall time, which the sampler deals with sample by sample; the probe speaks for
  // losses the guest cannot see (the host's).
  const Bursts b = probe_bursts(
      [&] { return wall_seconds([&] { cpu::roofline::run_peak(PeakOp::fp32_fma, isa, kBurstIterations, threads); }); },
      threads, kCapacityBursts);
  if (b.clean == 0) return 0;
  return peak_ops_per_burst(PeakOp::fp32_fma, isa, threads) / b.fastest_clean_s / peak->second;
}

Roofline measure_cpu_ceilings(int threads, double seconds_per_ceiling) {
  Roofline r;
  r.threads = threads;
  const cpu::Isa isa = cpu::best_isa();
  r.isa = cpu::isa_name(isa);
  for (const PeakOp op : {PeakOp::fp32_fma, PeakOp::bf16_dot, PeakOp::int8_dot}) {
    if (!cpu::roofline::peak_supported(op, isa, nullptr)) continue;
    const Bursts b = measure_bursts(
        [&] { return wall_seconds([&] { cpu::roofline::run_peak(op, isa, kBurstIterations, threads); }); }, threads,
        seconds_per_ceiling);
    const char* name = peak_dtype(op);
    r.spread[name] = spread_of(b, peak_ops_per_burst(op, isa, threads));
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
  const Bursts copy = measure_bursts(
      [&] {
        const size_t o = offset();
        return wall_seconds([&] { cpu::roofline::stream_copy(a.data() + o, b.data() + o, chunk, threads, isa); });
      },
      threads, seconds_per_ceiling);
  r.spread["copy"] = spread_of(copy, double(cpu::roofline::stream_bytes_moved_copy(chunk)));
  const Bursts triad = measure_bursts(
      [&] {
        const size_t o = offset();
        return wall_seconds(
            [&] { cpu::roofline::stream_triad(a.data() + o, b.data() + o, c.data() + o, 0.75f, chunk, threads, isa); });
      },
      threads, seconds_per_ceiling);
  r.spread["triad"] = spread_of(triad, double(cpu::roofline::stream_bytes_moved_triad(chunk)));
  r.bandwidth_bytes_per_s = std::max(r.spread["copy"].best, r.spread["triad"].best);
  // The read-only stream over b (256 MiB, already paged in), a quarter a burst (64 MiB, ~1.3 ms at 50 GB/s): the
  // bound of work that declares itself read-bound (Work::bandwidth = "read": decode-shaped products read weights,
  // they do not copy). A quarter, not a sixteenth: a call must read more than kStreamNonTemporalMinBytes to take
  // the prefetching path the roofline experiment's read case (buffer_mib) takes, so that case lands at 100% of it.
  // Its own ceiling, not folded into the one above: a case that writes as much as it reads cannot reach it.
  constexpr size_t kReadShare = 4;
  const size_t read_chunk = n / kReadShare;
  size_t next_read = 0;
  volatile double sink = 0;
  const Bursts read = measure_bursts(
      [&] {
        const size_t o = (next_read++ % kReadShare) * read_chunk;
        return wall_seconds([&] { sink = cpu::roofline::stream_read(b.data() + o, read_chunk, threads, isa); });
      },
      threads, seconds_per_ceiling);
  r.spread["read"] = spread_of(read, double(cpu::roofline::stream_bytes_moved_read(read_chunk)));
  r.read_bandwidth_bytes_per_s = r.spread["read"].best;
  return r;
}

}  // namespace talklab::experiments::roofline
