// This machine's ceilings, and where a case sits under them.
//
// attainable(work) = min(compute peak of the work's dtype, arithmetic intensity x memory bandwidth)
// roofline_fraction = achieved rate / attainable(work)
// The peaks are measured at the start of every run (measure_cpu_roofline) with the same kernels the
// roofline experiment times in detail, so every result file carries the ruler it was measured with.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "harness/experiment.h"

namespace talklab {

// A case faster than this share of its ceiling is flagged (in its result and its live line): either the
// ceiling was measured low or the case's declared work is wrong. Both are bugs to look at, not records.
inline constexpr double kAboveRooflineFlag = 1.05;
inline bool above_roofline(const std::optional<double>& fraction) { return fraction && *fraction > kAboveRooflineFlag; }

// The spread of one ceiling's samples: the ceiling is the best, the others say how steady the machine was.
struct CeilingSpread {
  double best = 0, median = 0, worst = 0;  // ops (or bytes) per second
  int samples = 0, preempted = 0;
  int clean = 0;  // samples neither preempted nor short of CPU time (every thread ran all along)
};

struct Roofline {
  std::map<std::string, double> peak_ops_per_s;  // "fp32", "bf16", "int8", ... (all threads together)
  double bandwidth_bytes_per_s = 0;              // copy: bytes read plus written per second
  int threads = 0;
  std::string isa;
  std::map<std::string, CeilingSpread> spread;  // per peak name, and "copy"

  // nullopt when the work's peak is unknown here or the work declares nothing.
  std::optional<double> attainable_ops_per_s(const Work& work) const;
  std::optional<double> fraction(const Work& work, double seconds) const;
};

// Measures the GPU ceilings (CUDA builds only; harness/cuda_roofline.cpp): cuBLASLt products per dtype and a
// device-to-device copy. A dtype the GPU lacks is left out.
Roofline measure_cuda_roofline(int64_t l2_bytes);

// The share of the fp32 ceiling the machine delivers right now, with the ceiling's threads: the best of three
// bursts of about 0.3 ms. 0 when no fp32 ceiling was measured or when the process was preempted during the
// probe (a neighbour in the guest: the sampler's preemption marks deal with that). The runner probes it before and after each CPU
// case. A VM's host can put both of our vCPUs on one physical core (or its SMT siblings) for seconds: every
// sample then takes twice as long, consistently, with no preemption and no steal time in the guest (measured on
// the 2-vCPU guest: the roofline experiment's fp32 case at 10.05 ms, 20.5 ms of CPU per run, against 5.17 ms a
// minute earlier). Only the throughput says so.
double cpu_capacity(const Roofline& roofline);

// A case is disturbed when the capacity around it was below this share of the ceiling.
inline constexpr double kMinCapacity = 0.85;

// Measures the CPU ceilings with `threads` threads, spending about `seconds_per_ceiling` on each.
Roofline measure_cpu_roofline(int threads, double seconds_per_ceiling);

}  // namespace talklab
