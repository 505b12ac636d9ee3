// What the harness asks of the layer that knows our kernels: this machine's ceilings, the CPU's capacity right
// now, and the CPU as our kernels see it. harness holds no kernel (cmake/talklab_layers.cmake), so the roofline
// experiment, which times those very kernels, provides these (experiments/roofline/probes.cpp) and registers them
// with TALKLAB_REGISTER_MACHINE_PROBES, the way experiments register with TALKLAB_REGISTER_EXPERIMENT. A binary
// without them (a harness test) runs with no ceilings: no roofline fractions and no capacity probe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/roofline.h"

namespace talklab {

// The CPU for the result file's context, as our kernels choose their paths by it.
struct CpuDescription {
  std::string vendor;              // "AuthenticAMD", "GenuineIntel", ...
  std::string model;               // the brand string
  std::vector<std::string> flags;  // the features our kernels test, as /proc/cpuinfo spells them
  std::string isa;                 // the level our kernels run at: scalar, avx2, avx512
};

struct MachineProbes {
  // The CPU ceilings with `threads` threads, spending about `seconds_per_ceiling` on each.
  std::function<Roofline(int threads, double seconds_per_ceiling)> measure_cpu_ceilings;
  // The share of the fp32 ceiling the machine delivers right now, with the ceiling's threads; 0 when it cannot
  // say. The runner probes it before and after each CPU case (harness/runner.h, Rooflines::cpu_capacity).
  std::function<double(const Roofline& cpu)> cpu_capacity;
  // The GPU ceilings; empty in a build without CUDA.
  std::function<Roofline(int64_t l2_bytes)> measure_cuda_ceilings;
  std::function<CpuDescription()> describe_cpu;
};

// The registered probes; nullptr when this binary has none.
const MachineProbes* machine_probes();

struct MachineProbesRegistration {
  explicit MachineProbesRegistration(MachineProbes (*provide)());  // throws when probes are registered twice
};

}  // namespace talklab

// TALKLAB_REGISTER_MACHINE_PROBES(provide_fn): provide_fn() returns the MachineProbes; called before main().
#define TALKLAB_REGISTER_MACHINE_PROBES(provide_fn) \
  static const ::talklab::MachineProbesRegistration talklab_machine_probes_registration(provide_fn)
