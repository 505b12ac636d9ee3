// flash_cpu_backward, avx2: bwd::Kernel (flash_backward_core.h) over 8-lane ymm traits (vec_avx2.h): 6 x 2 register
// tiles (12 accumulators of 16 ymm).
#include "kernels/cpu/attention/vec_avx2.h"
#include "kernels/cpu/attention/flash_backward_core.h"

namespace talklab::cpu::attention::avx2 {

void flash_backward(const BackwardArgs& a) { bwd::Kernel<V>::run(a); }
size_t backward_thread_bytes(const AttnShape& s, DType dt, int q_block, int kv_block, bool one_pass) {
  return bwd::Kernel<V>::thread_bytes(s, dt, q_block, kv_block, one_pass);
}

}  // namespace talklab::cpu::attention::avx2
