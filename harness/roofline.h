// This machine's ceilings, and where a case sits under them.
//
// attainable(work) = min(compute peak of the work's dtype, arithmetic intensity x memory bandwidth), the bandwidth
// being the one the work names (Work::bandwidth: the copy/triad stream, or the read-only stream)
// roofline_fraction = achieved rate / attainable(work)
// The peaks are measured at the start of every run with the same kernels the roofline experiment times in detail
// (experiments/roofline/ceilings.h, provided to the harness through harness/machine_probes.h), so every result
// file carries the ruler it was measured with.
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
  double read_bandwidth_bytes_per_s = 0;         // read-only stream: bytes read per second (0: not measured)
  int threads = 0;
  std::string isa;
  std::map<std::string, CeilingSpread> spread;  // per peak name, and "copy", "triad", "read"

  // The bandwidth the work declares it is bound by (Work::bandwidth); 0 when this machine did not measure it.
  double bandwidth_for(const Work& work) const;
  // nullopt when the work declares nothing, or its peak is unknown here and it names no memory ceiling (Work::
  // bandwidth); a work that names one, with its peak unknown (bf16 on AVX2), gets the memory bound alone.
  std::optional<double> attainable_ops_per_s(const Work& work) const;
  std::optional<double> fraction(const Work& work, double seconds) const;
};

// A case is disturbed when the machine's capacity around it (MachineProbes::cpu_capacity) was below this share
// of the fp32 ceiling.
inline constexpr double kMinCapacity = 0.85;

}  // namespace talklab
