// flash_cpu float32 path, AVX-512: core::F32Flavor (flash_core.h) over 16-lane zmm traits (vec_avx512.h).
// Compute-bound: Q.K^T and P.V are register-blocked fp32 GEMMs (6 keys x 64 queries and 8 queries x 48 dims of
// zmm accumulators). Measured on the 2-core EPYC (it runs zmm FMAs at 1/cycle: ~105-115 GFLOP/s/core peak), seq 4096,
// D 128, B1 H4, 2 threads, useful GFLOP/s: full ~172, causal ~180 (about 80% of the measured fp32 peak).
// Variants tried (same shape, full mask):
//   P.V tile with the alpha rescale inside it (a branch on alpha): GCC kept the 24 accumulators on the stack and
//     stored them every key; 97 GFLOP/s. Rescale as a separate pass + fully unrolled tiles: 168-172. Kept.
//   kv_block 48 / 96 / 192 and q_block 128: within +-5% of 64 x 64 on full, worse on causal and sliding window
//     (bigger partial blocks on the diagonal and window edges). Default 64 x 64.
#include "kernels/cpu/attention/vec_avx512.h"  // first: its pragma must precede <immintrin.h>
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::avx512 {

void flash_forward_f32(const KernelArgs& a) { core::forward<core::F32Flavor<V>>(a); }

}  // namespace talklab::cpu::attention::avx512
