// flash_cpu portable path (x86-64 baseline, no ISA extension): core::F32Flavor (flash_core.h) over one-float
// "vectors"; the compiler may still use SSE2 where it can. bf16 inputs are widened as on AVX2. Here for machines
// without AVX2 and as a second implementation the tests compare against the float64 reference. Compute-bound, slow.
#include "kernels/cpu/attention/vec_scalar.h"
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::scalar {

void flash_forward(const KernelArgs& a) { core::forward<core::F32Flavor<V>>(a); }

}  // namespace talklab::cpu::attention::scalar
