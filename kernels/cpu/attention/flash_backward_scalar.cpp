// flash_cpu_backward, scalar: bwd::Kernel (flash_backward_core.h) over one-float traits (vec_scalar.h): machines
// without AVX2, and a second path for the tests.
#include "kernels/cpu/attention/vec_scalar.h"
#include "kernels/cpu/attention/flash_backward_core.h"

namespace talklab::cpu::attention::scalar {

void flash_backward(const BackwardArgs& a) { bwd::Kernel<V>::run(a); }
size_t backward_thread_bytes(const AttnShape& s, DType dt, int q_block, int kv_block, bool one_pass) {
  return bwd::Kernel<V>::thread_bytes(s, dt, q_block, kv_block, one_pass);
}

}  // namespace talklab::cpu::attention::scalar
