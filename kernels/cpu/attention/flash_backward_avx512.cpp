// flash_cpu_backward, avx512: bwd::Kernel (flash_backward_core.h) over 16-lane zmm traits (vec_avx512.h): 6 keys x 4
// vectors register tiles, as the forward's Q.K^T.
#include "kernels/cpu/attention/vec_avx512.h"  // first: its pragma must precede <immintrin.h>
#include "kernels/cpu/attention/flash_backward_core.h"

namespace talklab::cpu::attention::avx512 {

void flash_backward(const BackwardArgs& a) { bwd::Kernel<V>::run(a); }
size_t backward_thread_bytes(const AttnShape& s, DType dt, int q_block, int kv_block, bool one_pass) {
  return bwd::Kernel<V>::thread_bytes(s, dt, q_block, kv_block, one_pass);
}

}  // namespace talklab::cpu::attention::avx512
