// This machine's ceilings, measured at the start of every run with the very loops the roofline experiment times in
// detail (roofline.cpp, roofline_cuda.cpp), so the experiment's own cases land at 100% of them; the harness places
// every case under them (harness/roofline.h) and gets them through the machine probes (probes.cpp).
// How they are measured, and why: docs/results.md, "Ceilings".
#pragma once

#include <cstdint>

#include "harness/roofline.h"
#include "kernels/cpu/roofline/peak.h"

namespace talklab::experiments::roofline {

// The dtype a peak loop measures, as a case's Work::peak names it ("fp32" for fp32_fma).
const char* peak_dtype(cpu::roofline::PeakOp op);

// The CPU ceilings with `threads` threads, spending about `seconds_per_ceiling` on each: each peak loop the CPU has,
// copy and triad (the bandwidth is the better of the two), and the read-only stream (read_bandwidth_bytes_per_s).
Roofline measure_cpu_ceilings(int threads, double seconds_per_ceiling);

// The share of the fp32 ceiling the machine delivers right now, with the ceiling's threads: the best of three clean
// bursts of about 0.3 ms. 0 when no fp32 ceiling was measured or no burst was clean (a neighbour in the guest: the
// sampler's preemption marks deal with that). A VM's host can put both of our vCPUs on one physical core (or its SMT
// siblings) for seconds: every sample then takes twice as long, consistently, with no preemption and no steal time
// in the guest (measured on the 2-vCPU guest: the roofline experiment's fp32 case at 10.05 ms, 20.5 ms of CPU per
// run, against 5.17 ms a minute earlier). Only the throughput says so.
double cpu_capacity(const Roofline& cpu_ceilings);

#if TALKLAB_HAVE_CUDA
// The GPU ceilings (ceilings_cuda.cpp): cuBLASLt products per dtype and a device-to-device copy. A dtype the GPU
// lacks is left out.
Roofline measure_cuda_ceilings(int64_t l2_bytes);
#endif

}  // namespace talklab::experiments::roofline
