// flash_cpu float32 path, AVX-512: core::F32Flavor (flash_core.h) over 16-lane zmm traits (vec_avx512.h).
// Compute-bound: Q.K^T and P.V are register-blocked fp32 GEMMs (6x64 and 8x48 tiles), ~2 FMA/cycle/core peak.
// Variants tried (seq 4096, D 128, B1 H4, 2 threads; useful GFLOP/s): see the report in the block comment below.
#include "kernels/cpu/attention/vec_avx512.h"  // first: its pragma must precede <immintrin.h>
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::avx512 {

void flash_forward_f32(const KernelArgs& a) { core::forward<core::F32Flavor<V>>(a); }

}  // namespace talklab::cpu::attention::avx512
