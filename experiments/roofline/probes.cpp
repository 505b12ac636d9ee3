// The machine probes the harness asks for (harness/machine_probes.h): the ceilings and the capacity probe
// (ceilings.h), and the CPU as our kernels see it. Registered here because the roofline experiment owns the loops
// every ceiling is measured with; the harness names no kernel.
#include "experiments/roofline/ceilings.h"
#include "harness/machine_probes.h"
#include "kernels/cpu/cpu_features.h"

namespace talklab::experiments::roofline {
namespace {

CpuDescription describe_cpu() {
  const cpu::CpuFeatures& f = cpu::cpu_features();
  return CpuDescription{f.vendor, f.model, f.flag_names(), cpu::isa_name(cpu::best_isa())};
}

MachineProbes provide() {
  MachineProbes p;
  p.measure_cpu_ceilings = measure_cpu_ceilings;
  p.cpu_capacity = cpu_capacity;
#if TALKLAB_HAVE_CUDA
  p.measure_cuda_ceilings = measure_cuda_ceilings;
#endif
  p.describe_cpu = describe_cpu;
  return p;
}

TALKLAB_REGISTER_MACHINE_PROBES(provide);

}  // namespace
}  // namespace talklab::experiments::roofline
