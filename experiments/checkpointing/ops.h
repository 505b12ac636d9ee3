// The ops of the graph in ATen: each forward, and each backward as an explicit formula. Every op allocates
// its outputs and gradients and nothing else, except attention's declared scratch (Graph::scratch_bytes): the
// simulator's byte counts are then exactly what the allocator sees (the tracking allocator on the CPU, the
// caching allocator on CUDA). Tokens are rows: every activation is a contiguous (T, width) matrix.
// Dtype and device follow the inputs: float32, bf16 or float64 (the reference), on the CPU (loops here,
// accumulating in float, double for float64) or CUDA (kernels/cuda/checkpointing/step_ops.h, launched on
// LibTorch's current stream). Matmuls are LibTorch's (mm/bmm into preallocated views).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "experiments/checkpointing/graph.h"

namespace talklab::experiments::checkpointing {

// xn = x / sqrt(mean(x^2) + eps), per row.    dx = r * gy - x * r^3 * mean(gy * x), r the row's rstd.
at::Tensor rms_normalize_forward(const at::Tensor& x);
at::Tensor rms_normalize_backward(const at::Tensor& x, const at::Tensor& grad_y);

// Causal multi-head attention over qkv (T, 3D) = [q | k | v] per token, heads of D / H columns; out (T, D).
// The backward recomputes the probabilities P from q and k and uses dS = P * (dP - rowsum(P * dP)). Two kernels
// (graph.h's AttentionKernel): flash (CPU float32 and bf16: flash_cpu and flash_cpu_backward one sequence at a
// time, on copies in their (H, S, head_dim) layout; the scratch is graph.h's FlashScratch) and scores (everything
// else: s.heads_per_pass heads' (S, S) scores at a time, an (n, S, S) scratch; one head goes through mm, more
// through bmm).
at::Tensor attention_forward(const at::Tensor& qkv, const ModelShape& s);
at::Tensor attention_backward(const at::Tensor& qkv, const at::Tensor& grad_o, const ModelShape& s);

// x * keep(seed, i) / (1 - p): the forward and, applied to the gradient, the backward.
at::Tensor dropout_apply(const at::Tensor& x, uint64_t seed);
// The mask keep(seed, i) / (1 - p) as a tensor of x's shape and the given dtype (for autograd references).
at::Tensor dropout_mask(const at::Tensor& like, uint64_t seed);

// Column sums of a (T, C) product a * b, accumulated in double: the gradient of a (1, C) gain.
at::Tensor column_sum_of_product(const at::Tensor& a, const at::Tensor& b);

// mean((h - y)^2) as a 0-dim tensor, and its gradient 2 (h - y) / numel.
at::Tensor mse_forward(const at::Tensor& h, const at::Tensor& y);
at::Tensor mse_backward(const at::Tensor& h, const at::Tensor& y, const at::Tensor& grad_loss);

// One node of the graph: values are indexed by value id (those the op reads must be defined), params by
// parameter id. backward returns one gradient per input (undefined where the input needs none; add passes
// grad_out itself) and writes the parameter's gradient to *param_grad.
at::Tensor op_forward(const Graph& g, const Node& n, const std::vector<at::Tensor>& values,
                      const std::vector<at::Tensor>& params);
std::vector<at::Tensor> op_backward(const Graph& g, const Node& n, const std::vector<at::Tensor>& values,
                                    const at::Tensor& grad_out, const std::vector<at::Tensor>& params,
                                    at::Tensor* param_grad);

}  // namespace talklab::experiments::checkpointing
