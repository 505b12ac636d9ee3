// flash_cpu on AVX2 + FMA (no AVX-512): core::F32Flavor (flash_core.h) over 8-lane ymm traits. bf16 inputs are
// widened to float32 (K, V once into the workspace; Q per task) and the output rounded back: same algorithm, half the
// lanes and half the registers of the AVX-512 path, so smaller register tiles. Compute-bound.
#include "kernels/cpu/attention/vec_avx2.h"
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::avx2 {

void flash_forward(const KernelArgs& a) { core::forward<core::F32Flavor<V>>(a); }

}  // namespace talklab::cpu::attention::avx2
