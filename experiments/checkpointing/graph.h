// The training step of a decoder-only transformer as a graph of ops, the unit every checkpointing policy and
// solver reasons about. No LibTorch here: the graph, the schedule and the simulator build without ATen.
//
// Shapes: B batch, S sequence, D d_model, H heads (head dim D / H), F the SwiGLU hidden size, T = B * S tokens.
// Every activation is a (T, width) row-major matrix. One layer, in forward order (value = op(inputs)):
//
//   xn1 = rms_normalize(x)        n1 = xn1 * g1 (mul_weight)   qkv = n1 @ Wqkv      o = attention(qkv)
//   proj = o @ Wo                 drop = dropout(proj)         h = x + drop         xn2 = rms_normalize(h)
//   n2 = xn2 * g2                 a = n2 @ W1                  b = n2 @ W3          s = silu(a)
//   g = s * b                     m = g @ W2                   out = h + m          (out is the next layer's x)
//
// then loss = mean((out_L - target)^2). The ops are the ones LibTorch autograd sees when a user writes the
// model plainly (RMSNorm as normalize-then-scale, SwiGLU as silu and mul), so save_all keeps exactly what
// autograd keeps; attention is one fused op that recomputes its probabilities in backward, as SDPA's flash
// kernels do, and dropout regenerates its mask from a seed (it saves nothing).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/attention/shape.h"
#include "kernels/common/dropout_hash.h"

namespace talklab::experiments::checkpointing {

// How the attention op runs (ops.h):
//   flash   the CPU's: kernels/cpu/attention's flash_cpu forward and flash_cpu_backward (causal block mask, never
//           an S x S matrix), one sequence at a time on copies of its q, k, v in the kernel's (H, S, head_dim)
//           layout. Float32 and bf16 tensors with head_dim <= 256; anything else (the float64 reference) runs
//           `scores`.
//   scores  heads_per_pass heads' (S, S) scores materialized between mm calls, softmax in place: the CUDA path.
enum class AttentionKernel { flash, scores };

// The model, and how a step stores and runs it: the element size of every activation, parameter and gradient
// (4 float32, 2 bf16, 8 the float64 reference), the allocator's rounding of a block (1 for the tracking
// allocator; LibTorch's CUDA caching allocator rounds every block up to 512 bytes), the attention kernel and, for
// `scores`, how many heads one attention pass scores at once (its scratch is that many (S, S) matrices: all of
// them on a GPU, where one head at a time would be launch-bound).
struct ModelShape {
  int64_t layers = 2, d_model = 64, heads = 4, seq = 33, batch = 2;
  int64_t element_bytes = 4;
  int64_t granularity = 1;
  AttentionKernel attention = AttentionKernel::flash;
  int64_t heads_per_pass = 1;
  bool flash_attention() const;  // attention == flash and the head dim is one flash_cpu takes
  int64_t ffn() const;  // SwiGLU hidden: 8/3 d_model rounded up to a multiple of 16 (Llama's rule)
  int64_t tokens() const { return batch * seq; }
  int64_t head_dim() const { return d_model / heads; }
  // The bytes the allocator counts for `elements` elements.
  int64_t block_bytes(int64_t elements) const {
    return (elements * element_bytes + granularity - 1) / granularity * granularity;
  }
};

inline constexpr double kDropoutP = 0.1;
inline constexpr double kRmsEps = 1e-6;

enum class OpKind { rms_normalize, mul_weight, matmul, attention, dropout, add, silu, mul, mse_loss };
const char* op_name(OpKind kind);
bool is_pointwise(OpKind kind);  // everything but matmul and attention

struct Value {
  std::string name;           // "L2.qkv"
  int64_t rows = 0, cols = 0; // (T, width); the loss is (1, 1)
  int producer = -1;          // node index; -1 = external (the input x and the target, never freed)
  int layer = 0;              // the layer that owns it; a layer owns its input x; the loss belongs to `layers`
  bool requires_grad = false; // depends on a parameter
  bool layer_input = false;   // x of a layer, or the final output (the loss's input)
  int64_t bytes = 0;          // what the allocator counts for it (ModelShape::block_bytes)
};

struct Param {
  std::string name;
  int64_t rows = 0, cols = 0;  // a gain is (1, D)
  int64_t bytes = 0;           // the parameter, and so its gradient (ModelShape::block_bytes)
};

struct Node {
  OpKind kind;
  std::vector<int> inputs;  // value ids
  int output = -1;
  int param = -1;           // matmul: the weight; mul_weight: the gain
  int layer = 0;
  uint64_t seed = 0;        // dropout: the mask is a function of (seed, element index), replayed on recompute
};

struct Graph {
  ModelShape shape;
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<Param> params;
  int input = -1, target = -1, output = -1, loss = -1;  // value ids
  std::vector<int> layer_inputs;                          // x of each layer

  bool has_backward(const Node& n) const;                 // a parameter or an input that requires grad
  std::vector<int> backward_needs(const Node& n) const;   // values its backward reads (inputs or output)
  int64_t scratch_bytes(const Node& n, bool backward) const;  // temporaries the op allocates and frees
  double flops(const Node& n) const;                      // forward FLOPs (pointwise: one per element)
  double counted_flops(const Node& n) const;              // PyTorch's estimate: matmul and attention FLOPs, else 1
  int64_t param_bytes() const;
  int64_t layer_param_bytes(int layer) const;
};

// The flash path's temporaries for one sequence, in bytes: ops.cpp allocates exactly these, in this order, and
// frees them before the next sequence; the forward's workspace lives only while the forward runs (in the backward,
// before dO and the gradients are allocated). forward() and backward() are an attention op's scratch
// (Graph::scratch_bytes). Zero where the shape does not run flash.
struct FlashScratch {
  int64_t heads_qkv = 0;           // q, k, v of the sequence in the kernel's layout, (3, H, S, head_dim)
  int64_t heads_out = 0;           // the forward's output in that layout, (H, S, head_dim)
  int64_t lse = 0;                 // backward: the recomputed forward's logsumexp, (H, S) float32
  int64_t forward_workspace = 0;   // flash_cpu's (bf16: K and V packed for the dot instructions)
  int64_t heads_grad_out = 0;      // backward: dO, (H, S, head_dim)
  int64_t heads_grads = 0;         // backward: dq, dk, dv, (3, H, S, head_dim)
  int64_t backward_workspace = 0;  // backward: flash_cpu_backward's rowsum(dO * O), (H, S) float32
  int64_t forward() const { return heads_qkv + heads_out + forward_workspace; }
  int64_t backward() const {
    return heads_qkv + heads_out + lse + std::max(forward_workspace, heads_grad_out + heads_grads + backward_workspace);
  }
};
FlashScratch flash_scratch(const ModelShape& shape);
// The attention of one sequence as the flash kernels see it (the shape flash_scratch sizes their workspaces for).
talklab::attention::AttnShape flash_sequence_shape(const ModelShape& shape);

// dropout seeds derive from `seed`, so every run of a case and its autograd reference use the same masks.
Graph build_graph(const ModelShape& shape, uint64_t seed);

// keep(seed, i) for element i of a dropout (kernels/common/dropout_hash.h): the same mask in every executor and
// on every device.
inline bool dropout_keep(uint64_t seed, uint64_t i) { return kernels::dropout_keep(seed, i, kDropoutP); }

}  // namespace talklab::experiments::checkpointing
