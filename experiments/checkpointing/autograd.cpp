#include "experiments/checkpointing/autograd.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>

#include "experiments/checkpointing/ops.h"

namespace talklab::experiments::checkpointing {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

ModelShape shape_from(AutogradContext* ctx) {
  ModelShape s;
  s.batch = ctx->saved_data["B"].toInt();
  s.seq = ctx->saved_data["S"].toInt();
  s.heads = ctx->saved_data["H"].toInt();
  s.d_model = ctx->saved_data["D"].toInt();
  s.heads_per_pass = ctx->saved_data["G"].toInt();
  s.attention = AttentionKernel(ctx->saved_data["A"].toInt());
  return s;
}

// Keeps qkv, recomputes the probabilities in backward.
struct AttentionFunction : torch::autograd::Function<AttentionFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& qkv, const ModelShape& s) {
    ctx->saved_data["B"] = s.batch;
    ctx->saved_data["S"] = s.seq;
    ctx->saved_data["H"] = s.heads;
    ctx->saved_data["D"] = s.d_model;
    ctx->saved_data["G"] = s.heads_per_pass;
    ctx->saved_data["A"] = int64_t(s.attention);
    ctx->save_for_backward({qkv});
    return attention_forward(qkv, s);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const at::Tensor qkv = ctx->get_saved_variables()[0];
    return {attention_backward(qkv, grad[0].contiguous(), shape_from(ctx)), at::Tensor()};
  }
};

// Keeps the seed, regenerates the mask in backward.
struct DropoutFunction : torch::autograd::Function<DropoutFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t seed) {
    ctx->saved_data["seed"] = seed;
    return dropout_apply(x, uint64_t(seed));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {dropout_apply(grad[0].contiguous(), uint64_t(ctx->saved_data["seed"].toInt())), at::Tensor()};
  }
};

// Keeps the prediction and the target, as at::mse_loss's autograd does; our kernels on every device and dtype, so
// the loss is the same code in every policy (written when the CPU LibTorch, 1.13, had no bf16 mse_loss).
struct MseFunction : torch::autograd::Function<MseFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& y) {
    ctx->save_for_backward({h, y});
    return mse_forward(h, y);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const variable_list saved = ctx->get_saved_variables();
    return {mse_backward(saved[0], saved[1], grad[0]), at::Tensor()};
  }
};

at::Tensor eager_attention(const at::Tensor& qkv, const ModelShape& s) {
  const int64_t B = s.batch, S = s.seq, H = s.heads, dh = s.head_dim();
  const at::Tensor parts = qkv.view({B, S, 3, H, dh}).permute({2, 0, 3, 1, 4});  // (3, B, H, S, dh)
  const at::Tensor scores = at::matmul(parts[0], parts[1].transpose(-2, -1)) * (1.0 / std::sqrt(double(dh)));
  const at::Tensor hidden = at::ones({S, S}, qkv.options().dtype(at::kBool)).triu(1);
  const at::Tensor p = at::softmax(scores.masked_fill(hidden, -std::numeric_limits<double>::infinity()), -1);
  return at::matmul(p, parts[2]).permute({0, 2, 1, 3}).reshape({B * S, H * dh});
}

// The forward through autograd; `fused`: AutogradStep's ops, else the float64 reference's. Each value is
// dropped after its last forward use, as a Python model's locals are: only autograd keeps what it saved.
at::Tensor forward_with_autograd(const Graph& g, const std::vector<at::Tensor>& params, const at::Tensor& input,
                                 const at::Tensor& target, bool fused) {
  std::vector<int> last_use(g.values.size(), -1);
  for (int i = 0; i < int(g.nodes.size()); ++i) {
    for (int v : g.nodes[size_t(i)].inputs) last_use[size_t(v)] = i;
  }
  std::vector<at::Tensor> v(g.values.size());
  v[size_t(g.input)] = input;
  v[size_t(g.target)] = target;
  for (int i = 0; i < int(g.nodes.size()); ++i) {
    const Node& n = g.nodes[size_t(i)];
    const at::Tensor& x = v[size_t(n.inputs[0])];
    at::Tensor out;
    switch (n.kind) {
      case OpKind::rms_normalize:
        // Through the row norm: LibTorch 1.13 kept the (T, D) square of x.pow(2).mean(-1) for backward.
        out = x * at::rsqrt(at::norm(x, 2, {-1}, true).pow(2) / double(x.size(-1)) + kRmsEps);
        break;
      case OpKind::mul_weight: out = x * params[size_t(n.param)]; break;
      case OpKind::matmul: out = at::mm(x, params[size_t(n.param)]); break;
      case OpKind::attention:
        out = fused ? AttentionFunction::apply(x, g.shape) : eager_attention(x, g.shape);
        break;
      case OpKind::dropout:
        out = fused ? DropoutFunction::apply(x, int64_t(n.seed)) : x * dropout_mask(x, n.seed);
        break;
      case OpKind::add: out = x + v[size_t(n.inputs[1])]; break;
      case OpKind::silu: out = at::silu(x); break;
      case OpKind::mul: out = x * v[size_t(n.inputs[1])]; break;
      case OpKind::mse_loss:
        out = fused ? MseFunction::apply(x, v[size_t(n.inputs[1])]) : at::mse_loss(x, v[size_t(n.inputs[1])]);
        break;
    }
    v[size_t(n.output)] = out;
    for (int u : n.inputs) {
      if (last_use[size_t(u)] == i && g.values[size_t(u)].producer >= 0) v[size_t(u)] = at::Tensor();
    }
  }
  return v[size_t(g.loss)];
}

}  // namespace

std::vector<at::Tensor> reference_grads(const Graph& g, const ModelTensors& m) {
  std::vector<at::Tensor> params;
  for (const at::Tensor& p : m.params) params.push_back(p.to(at::kDouble).requires_grad_(true));
  const at::Tensor loss = forward_with_autograd(g, params, m.input.to(at::kDouble), m.target.to(at::kDouble), false);
  return torch::autograd::grad({loss}, params);
}

struct AutogradStep::State {
  const Graph& g;
  const ModelTensors& m;
  std::vector<at::Tensor> params;  // the model's parameters as autograd leaves (same storage)
};

AutogradStep::AutogradStep(const Graph& g, const ModelTensors& m) : state_(new State{g, m, {}}) {
  for (const at::Tensor& p : m.params) state_->params.push_back(p.detach().requires_grad_(true));
}

AutogradStep::~AutogradStep() = default;

StepMemory AutogradStep::run(std::vector<at::Tensor>* param_grads) {
  for (at::Tensor& p : state_->params) p.mutable_grad() = at::Tensor();
  param_grads->clear();
  StepMemory out;
  const MemoryMeter meter(state_->m.input.device());
  const int64_t base = meter.current();
  out.live_before = base;
  meter.reset_peak();
  {
    const at::Tensor loss = forward_with_autograd(state_->g, state_->params, state_->m.input, state_->m.target, true);
    out.boundary_bytes = meter.current() - base;
    torch::autograd::backward({loss});
  }
  out.peak_bytes = meter.peak() - base;
  for (const at::Tensor& p : state_->params) param_grads->push_back(p.grad());
  return out;
}

}  // namespace talklab::experiments::checkpointing
