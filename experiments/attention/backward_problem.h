// What the attention_backward experiment's implementations share (backward.cpp, backward_torch.cpp): the pass
// axis, dO, the run-time gate on dQ, dK, dV against the float64 reference (sampled rows,
// kernels/common/attention/reference_backward.h) and the tolerances.
#pragma once

#include <cstdint>
#include <string>

#include "experiments/attention/problem.h"

namespace talklab::experiments::attention {

// pass=backward: the forward ran in setup (O and LSE, or LibTorch's graph), run() is the backward alone.
// pass=step: run() is forward plus backward of one attention layer, what a training step pays.
bool is_step(const Params& p);

// dO (B, H, S_q, D) in the problem's dtype: normal values from the seed, as Inputs::fill.
memory::Buffer<std::byte> make_grad_output(const Inputs& in, uint64_t seed);

// dQ, dK, dV (the problem's dtype, contiguous) against the float64 reference on sampled rows of one
// (batch, kv head): ~24 query rows of its group and ~24 key rows (first and last always), each normwise.
Accuracy check_grads(const Inputs& in, const void* d_o, const attn::MaskSpec& spec, const void* dq, const void* dk,
                     const void* dv, uint64_t seed, double tolerance);

// flash_cpu_backward's contract (kernels/common/attention/tolerances.h): 1e-4 float32, 3e-2 bf16, measured at most
// 3.2e-6 and 6.5e-3 on the kernel tests' shapes.
double flash_grad_tolerance(attn::DType dtype);
// LibTorch's autograd paths. float32: the kernel's 1e-4 (measured at most 1.4e-6). bf16: eager autograd rounds S,
// P, dP and dS to bf16 (SDPA its outputs and its bf16 accumulators' stores), and dS = P * (dP - D) loses the bits
// its subtraction cancels: over the quick profile the largest normwise error was 1.2e-2 (torch_eager) and 9.0e-3
// (torch_sdpa), against 3.2e-3 for flash_cpu. 6e-2 keeps ~5x margin and stays far below a wrong mask (O(1)).
double torch_grad_tolerance(attn::DType dtype);

}  // namespace talklab::experiments::attention
