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

struct Roofline {
  std::map<std::string, double> peak_ops_per_s;  // "fp32", "bf16", "int8", ... (all threads together)
  double bandwidth_bytes_per_s = 0;              // copy: bytes read plus written per second
  int threads = 0;
  std::string isa;

  // nullopt when the work's peak is unknown here or the work declares nothing.
  std::optional<double> attainable_ops_per_s(const Work& work) const;
  std::optional<double> fraction(const Work& work, double seconds) const;
};

// Measures the GPU ceilings (CUDA builds only; harness/cuda_roofline.cpp): cuBLASLt products per dtype and a
// device-to-device copy. A dtype the GPU lacks is left out.
Roofline measure_cuda_roofline(int64_t l2_bytes);

// Measures the CPU ceilings with `threads` threads, spending about `seconds_per_ceiling` on each.
Roofline measure_cpu_roofline(int threads, double seconds_per_ceiling);

}  // namespace talklab
