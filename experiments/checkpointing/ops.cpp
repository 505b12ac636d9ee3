#include "experiments/checkpointing/ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "harness/torch_glue.h"
#include "kernels/cpu/attention/flash_backward.h"
#include "kernels/cuda/checkpointing/step_ops.h"

namespace talklab::experiments::checkpointing {
namespace {

// Elements a thread should get before a loop goes parallel (ATen's own grain): small shapes stay serial,
// where waking a second thread costs more than the loop.
constexpr int64_t kGrainElements = 32768;
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, cols)); }

// What a CPU loop accumulates in: double for the float64 reference, float for float32 and bf16 (an element is
// widened on load and rounded once on store).
template <class T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Runs `cpu.template operator()<scalar_t>()` for a CPU tensor (float32, float64 or bf16) and `gpu(dtype,
// stream)` with our kernel's dtype and LibTorch's current stream for a CUDA one. `gpu` is a generic lambda, so
// a build without CUDA never instantiates it and never links the kernels.
template <class Cpu, class Gpu>
void on_device(const at::Tensor& t, const char* op, Cpu&& cpu, Gpu&& gpu) {
  if (!t.is_cuda()) {
    switch (t.scalar_type()) {
      case at::kFloat: return cpu(float{});
      case at::kDouble: return cpu(double{});
      case at::kBFloat16: return cpu(c10::BFloat16{});
      default: throw std::invalid_argument(fmt::format("{}: no CPU loop for dtype {}", op, c10::toString(t.scalar_type())));
    }
  }
#if TALKLAB_HAVE_CUDA
  namespace step = cuda::step_ops;
  step::Dtype dtype;
  switch (t.scalar_type()) {
    case at::kFloat: dtype = step::Dtype::f32; break;
    case at::kDouble: dtype = step::Dtype::f64; break;
    case at::kBFloat16: dtype = step::Dtype::bf16; break;
    default: throw std::invalid_argument(fmt::format("{}: no CUDA kernel for dtype {}", op, c10::toString(t.scalar_type())));
  }
  gpu(dtype, torch_cuda_current_stream());
#else
  (void)gpu;
  throw std::runtime_error(fmt::format("{}: a CUDA tensor, and this build has no CUDA kernels", op));
#endif
}

// Each of the G contiguous (S, S) matrices of `scores`: row i := softmax over j <= i of scale * row, zeros above
// the diagonal, in place.
template <class T>
void causal_softmax_cpu(at::Tensor& scores, double scale) {
  using A = Acc<T>;
  const int64_t S = scores.size(-1), rows = scores.numel() / S;
  T* p = scores.data_ptr<T>();
  at::parallel_for(0, rows, row_grain(S), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i = r % S;
      T* row = p + r * S;
      A mx = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, A(row[j]) * A(scale));
      A sum = 0;
      for (int64_t j = 0; j <= i; ++j) {
        const A e = std::exp(A(row[j]) * A(scale) - mx);
        row[j] = T(e);
        sum += e;
      }
      const A inv = A(1) / sum;
      for (int64_t j = 0; j <= i; ++j) row[j] = T(A(row[j]) * inv);
      for (int64_t j = i + 1; j < S; ++j) row[j] = T(0);
    }
  });
}

// dP := scale * P * (dP - rowsum(P * dP)), in place, on G contiguous (S, S) matrices (zeros above the diagonal).
template <class T>
void softmax_backward_cpu(const at::Tensor& prob, at::Tensor& dprob, double scale) {
  using A = Acc<T>;
  const int64_t S = prob.size(-1), rows = prob.numel() / S;
  const T* p = prob.data_ptr<T>();
  T* d = dprob.data_ptr<T>();
  at::parallel_for(0, rows, row_grain(S), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i = r % S;
      const T* pr = p + r * S;
      T* dr = d + r * S;
      A dot = 0;
      for (int64_t j = 0; j <= i; ++j) dot += A(pr[j]) * A(dr[j]);
      for (int64_t j = 0; j <= i; ++j) dr[j] = T(A(scale) * A(pr[j]) * (A(dr[j]) - dot));
      for (int64_t j = i + 1; j < S; ++j) dr[j] = T(0);
    }
  });
}

void causal_softmax_(at::Tensor& scores, double scale) {
  on_device(
      scores, "causal_softmax", [&](auto t) { causal_softmax_cpu<decltype(t)>(scores, scale); },
      [&](auto dtype, void* stream) {
        cuda::step_ops::causal_softmax_forward(dtype, scores.data_ptr(), scores.numel() / (scores.size(-1) * scores.size(-1)),
                                               scores.size(-1), scale, stream);
      });
}

void softmax_backward_(const at::Tensor& prob, at::Tensor& dprob, double scale) {
  on_device(
      prob, "causal_softmax_backward", [&](auto t) { softmax_backward_cpu<decltype(t)>(prob, dprob, scale); },
      [&](auto dtype, void* stream) {
        cuda::step_ops::causal_softmax_backward(dtype, prob.data_ptr(), dprob.data_ptr(),
                                                prob.numel() / (prob.size(-1) * prob.size(-1)), prob.size(-1), scale,
                                                stream);
      });
}

// Heads [h0, h0 + n) of batch element b of a (T, k * D) matrix, from column `offset`: an (n, S, head_dim)
// strided view (no copy).
at::Tensor heads(const at::Tensor& m, const ModelShape& s, int64_t b, int64_t h0, int64_t n, int64_t offset) {
  return m.narrow(0, b * s.seq, s.seq)
      .narrow(1, offset + h0 * s.head_dim(), n * s.head_dim())
      .view({s.seq, n, s.head_dim()})
      .transpose(0, 1);
}

// out := a @ b over a batch of n matrices, into a strided view of a preallocated tensor. One head goes through
// mm_out on 2-D views, the path whose allocations the CPU tests pin down (nothing beyond `out`).
void batched_mm_out(at::Tensor out, const at::Tensor& a, const at::Tensor& b) {
  if (out.size(0) == 1) {
    at::Tensor out2 = out.select(0, 0);
    at::mm_out(out2, a.select(0, 0), b.select(0, 0));
  } else {
    at::bmm_out(out, a, b);
  }
}

int64_t pass_heads(const ModelShape& s) { return std::max<int64_t>(1, std::min(s.heads_per_pass, s.heads)); }

// The flash path (graph.h's AttentionKernel::flash): one sequence at a time, so its temporaries are one
// sequence's (FlashScratch), allocated in FlashScratch's order and freed before the next sequence.
namespace flash = cpu::attention;

// Float64 (the reference) runs the scores path whatever the shape says; a CUDA tensor under a flash shape is a
// caller's mistake (the simulator would count flash's scratch for the scores path's), refused by name.
bool runs_flash(const at::Tensor& qkv, const ModelShape& s) {
  if (!s.flash_attention()) return false;
  if (qkv.is_cuda()) {
    throw std::invalid_argument("attention: AttentionKernel::flash is the CPU's kernel; a CUDA step needs "
                                "AttentionKernel::scores (checkpointing.cpp's shape_of sets it)");
  }
  return qkv.scalar_type() == at::kFloat || qkv.scalar_type() == at::kBFloat16;
}

struct FlashProblem {
  flash::AttnShape shape;
  flash::FlashBackwardPlan plan;  // the causal block mask and its transpose
  flash::DType dtype;
  FlashScratch scratch;
};

FlashProblem flash_problem(const at::Tensor& qkv, const ModelShape& s) {
  FlashProblem p;
  p.shape = flash_sequence_shape(s);
  flash::MaskSpec causal;
  causal.mask = flash::MaskKind::causal;
  p.plan = flash::make_flash_backward_plan(causal, p.shape);
  p.dtype = qkv.scalar_type() == at::kBFloat16 ? flash::DType::bf16 : flash::DType::f32;
  p.scratch = flash_scratch(s);
  return p;
}

at::Tensor scratch_of(int64_t bytes) { return at::empty({bytes}, at::TensorOptions().dtype(at::kByte)); }

// Columns [part * D, (part + parts) * D) of sequence b's rows of a (T, k * D) matrix, copied into the kernel's
// (parts, H, S, head_dim) layout.
at::Tensor to_heads(const at::Tensor& m, const ModelShape& s, int64_t b, int64_t parts) {
  return m.narrow(0, b * s.seq, s.seq).view({s.seq, parts, s.heads, s.head_dim()}).permute({1, 2, 0, 3}).contiguous();
}

// The inverse: (parts, H, S, head_dim) into sequence b's rows of a (T, parts * D) matrix.
void from_heads(at::Tensor& m, const at::Tensor& h, const ModelShape& s, int64_t b, int64_t parts) {
  m.narrow(0, b * s.seq, s.seq).view({s.seq, parts, s.heads, s.head_dim()}).copy_(h.permute({2, 0, 1, 3}));
}

// The forward of one sequence: q, k, v in heads layout (3, H, S, hd) into o (H, S, hd), and the logsumexp when
// lse is given. Returns the tensors it ran on.
flash::AttnTensors flash_forward_heads(const FlashProblem& p, const at::Tensor& qkv_h, at::Tensor& o_h, float* lse) {
  at::Tensor workspace = scratch_of(p.scratch.forward_workspace);
  const flash::AttnTensors t{p.dtype, qkv_h[0].data_ptr(), qkv_h[1].data_ptr(), qkv_h[2].data_ptr(),
                             o_h.data_ptr(), lse};
  flash::flash_cpu(p.plan.forward, t, flash::FlashOptions{}, workspace.data_ptr(), size_t(workspace.numel()));
  return t;
}

at::Tensor flash_attention_forward(const at::Tensor& qkv, const ModelShape& s) {
  const FlashProblem p = flash_problem(qkv, s);
  at::Tensor o = at::empty({s.tokens(), s.d_model}, qkv.options());
  for (int64_t b = 0; b < s.batch; ++b) {
    const at::Tensor qkv_h = to_heads(qkv, s, b, 3);
    at::Tensor o_h = at::empty({1, s.heads, s.seq, s.head_dim()}, qkv.options());
    flash_forward_heads(p, qkv_h, o_h, nullptr);
    from_heads(o, o_h, s, b, 1);
  }
  return o;
}

// The forward is recomputed (its O and logsumexp), then flash_cpu_backward.
at::Tensor flash_attention_backward(const at::Tensor& qkv, const at::Tensor& grad_o, const ModelShape& s) {
  const FlashProblem p = flash_problem(qkv, s);
  at::Tensor dqkv = at::empty_like(qkv);
  for (int64_t b = 0; b < s.batch; ++b) {
    const at::Tensor qkv_h = to_heads(qkv, s, b, 3);
    at::Tensor o_h = at::empty({1, s.heads, s.seq, s.head_dim()}, qkv.options());
    at::Tensor lse = scratch_of(p.scratch.lse);
    const flash::AttnTensors t = flash_forward_heads(p, qkv_h, o_h, reinterpret_cast<float*>(lse.data_ptr()));
    const at::Tensor go_h = to_heads(grad_o, s, b, 1);
    at::Tensor grads_h = at::empty_like(qkv_h);
    at::Tensor workspace = scratch_of(p.scratch.backward_workspace);
    const flash::AttnGradTensors g{t.dtype, t.q, t.k, t.v, t.o, go_h.data_ptr(), t.lse,
                                   grads_h[0].data_ptr(), grads_h[1].data_ptr(), grads_h[2].data_ptr()};
    flash::flash_cpu_backward(p.plan, g, flash::FlashOptions{}, workspace.data_ptr(), size_t(workspace.numel()));
    from_heads(dqkv, grads_h, s, b, 3);
  }
  return dqkv;
}

}  // namespace

at::Tensor rms_normalize_forward(const at::Tensor& x) {
  at::Tensor out = at::empty_like(x);
  const int64_t T = x.size(0), D = x.size(1);
  on_device(
      x, "rms_normalize_forward",
      [&](auto tag) {
        using S = decltype(tag);
        using A = Acc<S>;
        const S* xp = x.data_ptr<S>();
        S* op = out.data_ptr<S>();
        at::parallel_for(0, T, row_grain(D), [&](int64_t begin, int64_t end) {
          for (int64_t t = begin; t < end; ++t) {
            const S* xr = xp + t * D;
            A ss = 0;
            for (int64_t j = 0; j < D; ++j) ss += A(xr[j]) * A(xr[j]);
            const A r = A(1) / std::sqrt(ss / A(D) + A(kRmsEps));
            for (int64_t j = 0; j < D; ++j) op[t * D + j] = S(A(xr[j]) * r);
          }
        });
      },
      [&](auto dtype, void* stream) {
        cuda::step_ops::rms_normalize_forward(dtype, x.data_ptr(), out.data_ptr(), T, D, kRmsEps, stream);
      });
  return out;
}

at::Tensor rms_normalize_backward(const at::Tensor& x, const at::Tensor& grad_y) {
  at::Tensor dx = at::empty_like(x);
  const int64_t T = x.size(0), D = x.size(1);
  on_device(
      x, "rms_normalize_backward",
      [&](auto tag) {
        using S = decltype(tag);
        using A = Acc<S>;
        const S* xp = x.data_ptr<S>();
        const S* gp = grad_y.data_ptr<S>();
        S* dp = dx.data_ptr<S>();
        at::parallel_for(0, T, row_grain(D), [&](int64_t begin, int64_t end) {
          for (int64_t t = begin; t < end; ++t) {
            const S* xr = xp + t * D;
            const S* gr = gp + t * D;
            A ss = 0, dot = 0;
            for (int64_t j = 0; j < D; ++j) {
              ss += A(xr[j]) * A(xr[j]);
              dot += A(gr[j]) * A(xr[j]);
            }
            const A r = A(1) / std::sqrt(ss / A(D) + A(kRmsEps));
            const A c = r * r * r * dot / A(D);
            for (int64_t j = 0; j < D; ++j) dp[t * D + j] = S(r * A(gr[j]) - A(xr[j]) * c);
          }
        });
      },
      [&](auto dtype, void* stream) {
        cuda::step_ops::rms_normalize_backward(dtype, x.data_ptr(), grad_y.data_ptr(), dx.data_ptr(), T, D, kRmsEps,
                                               stream);
      });
  return dx;
}

at::Tensor attention_forward(const at::Tensor& qkv, const ModelShape& s) {
  if (runs_flash(qkv, s)) return flash_attention_forward(qkv, s);
  const int64_t D = s.d_model, G = pass_heads(s);
  const double scale = 1.0 / std::sqrt(double(s.head_dim()));  // rounded to the dtype by each loop
  at::Tensor o = at::empty({s.tokens(), D}, qkv.options());
  at::Tensor scores = at::empty({G, s.seq, s.seq}, qkv.options());  // scratch: G heads' scores
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h0 = 0; h0 < s.heads; h0 += G) {
      const int64_t n = std::min(G, s.heads - h0);
      at::Tensor p = scores.narrow(0, 0, n);
      batched_mm_out(p, heads(qkv, s, b, h0, n, 0), heads(qkv, s, b, h0, n, D).transpose(1, 2));
      causal_softmax_(p, scale);
      batched_mm_out(heads(o, s, b, h0, n, 0), p, heads(qkv, s, b, h0, n, 2 * D));
    }
  }
  return o;
}

at::Tensor attention_backward(const at::Tensor& qkv, const at::Tensor& grad_o, const ModelShape& s) {
  if (runs_flash(qkv, s)) return flash_attention_backward(qkv, grad_o, s);
  const int64_t D = s.d_model, G = pass_heads(s);
  const double scale = 1.0 / std::sqrt(double(s.head_dim()));  // rounded to the dtype by each loop
  at::Tensor dqkv = at::empty_like(qkv);
  at::Tensor probs = at::empty({G, s.seq, s.seq}, qkv.options());   // scratch: probabilities
  at::Tensor dprobs = at::empty({G, s.seq, s.seq}, qkv.options());  // scratch: their gradient, then dS
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h0 = 0; h0 < s.heads; h0 += G) {
      const int64_t n = std::min(G, s.heads - h0);
      const at::Tensor q = heads(qkv, s, b, h0, n, 0), k = heads(qkv, s, b, h0, n, D), v = heads(qkv, s, b, h0, n, 2 * D);
      const at::Tensor go = heads(grad_o, s, b, h0, n, 0);
      at::Tensor p = probs.narrow(0, 0, n), dp = dprobs.narrow(0, 0, n);
      batched_mm_out(p, q, k.transpose(1, 2));
      causal_softmax_(p, scale);
      batched_mm_out(dp, go, v.transpose(1, 2));
      softmax_backward_(p, dp, scale);
      batched_mm_out(heads(dqkv, s, b, h0, n, 2 * D), p.transpose(1, 2), go);
      batched_mm_out(heads(dqkv, s, b, h0, n, 0), dp, k);
      batched_mm_out(heads(dqkv, s, b, h0, n, D), dp.transpose(1, 2), q);
    }
  }
  return dqkv;
}

at::Tensor dropout_apply(const at::Tensor& x, uint64_t seed) {
  at::Tensor out = at::empty_like(x);
  on_device(
      x, "dropout_apply",
      [&](auto tag) {
        using S = decltype(tag);
        using A = Acc<S>;
        const S* xp = x.data_ptr<S>();
        S* op = out.data_ptr<S>();
        const A scale = A(1.0 / (1.0 - kDropoutP));
        at::parallel_for(0, x.numel(), kGrainElements, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) op[i] = dropout_keep(seed, uint64_t(i)) ? S(A(xp[i]) * scale) : S(0);
        });
      },
      [&](auto dtype, void* stream) {
        cuda::step_ops::dropout_apply(dtype, x.data_ptr(), out.data_ptr(), x.numel(), seed, kDropoutP, stream);
      });
  return out;
}

at::Tensor dropout_mask(const at::Tensor& like, uint64_t seed) {
  at::Tensor mask = at::empty(like.sizes(), at::kDouble);
  double* mp = mask.data_ptr<double>();
  for (int64_t i = 0; i < like.numel(); ++i) mp[i] = dropout_keep(seed, uint64_t(i)) ? 1.0 / (1.0 - kDropoutP) : 0.0;
  return mask.to(like.options());
}

at::Tensor column_sum_of_product(const at::Tensor& a, const at::Tensor& b) {
  const int64_t T = a.size(0), C = a.size(1);
  at::Tensor out = at::empty({1, C}, a.options());
  on_device(
      a, "column_sum_of_product",
      [&](auto tag) {
        using S = decltype(tag);
        std::vector<double> acc(size_t(C), 0.0);
        const S* ap = a.data_ptr<S>();
        const S* bp = b.data_ptr<S>();
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t j = 0; j < C; ++j) acc[size_t(j)] += double(ap[t * C + j]) * double(bp[t * C + j]);
        }
        S* op = out.data_ptr<S>();
        for (int64_t j = 0; j < C; ++j) op[j] = S(acc[size_t(j)]);
      },
      [&](auto dtype, void* stream) {
        cuda::step_ops::column_sum_of_product(dtype, a.data_ptr(), b.data_ptr(), out.data_ptr(), T, C, stream);
      });
  return out;
}

at::Tensor mse_forward(const at::Tensor& h, const at::Tensor& y) {
  at::Tensor out = at::empty({}, h.options());
  on_device(
      h, "mse_forward",
      [&](auto tag) {
        using S = decltype(tag);
        const S* hp = h.data_ptr<S>();
        const S* yp = y.data_ptr<S>();
        double sum = 0;
        for (int64_t i = 0; i < h.numel(); ++i) {
          const double d = double(hp[i]) - double(yp[i]);
          sum += d * d;
        }
        out.data_ptr<S>()[0] = S(sum / double(h.numel()));
      },
      [&](auto dtype, void* stream) {
        cuda::step_ops::mean_squared_error(dtype, h.data_ptr(), y.data_ptr(), out.data_ptr(), h.numel(), stream);
      });
  return out;
}

at::Tensor mse_backward(const at::Tensor& h, const at::Tensor& y, const at::Tensor& grad_loss) {
  at::Tensor d = at::sub(h, y);
  d.mul_(grad_loss);  // a 0-dim tensor on d's device: no host round trip, no allocation
  d.mul_(2.0 / double(h.numel()));
  return d;
}
at::Tensor op_forward(const Graph& g, const Node& n, const std::vector<at::Tensor>& values,
                      const std::vector<at::Tensor>& params) {
  const at::Tensor& x = values[size_t(n.inputs[0])];
  switch (n.kind) {
    case OpKind::rms_normalize: return rms_normalize_forward(x);
    case OpKind::mul_weight: return at::mul(x, params[size_t(n.param)]);
    case OpKind::matmul: return at::mm(x, params[size_t(n.param)]);
    case OpKind::attention: return attention_forward(x, g.shape);
    case OpKind::dropout: return dropout_apply(x, n.seed);
    case OpKind::add: return at::add(x, values[size_t(n.inputs[1])]);
    case OpKind::silu: return at::silu(x);
    case OpKind::mul: return at::mul(x, values[size_t(n.inputs[1])]);
    case OpKind::mse_loss: return mse_forward(x, values[size_t(n.inputs[1])]);
  }
  return {};
}

std::vector<at::Tensor> op_backward(const Graph& g, const Node& n, const std::vector<at::Tensor>& values,
                                    const at::Tensor& grad_out, const std::vector<at::Tensor>& params,
                                    at::Tensor* param_grad) {
  std::vector<at::Tensor> grads(n.inputs.size());
  const auto wants = [&](size_t j) { return g.values[size_t(n.inputs[j])].requires_grad; };
  const at::Tensor& x = values[size_t(n.inputs[0])];
  switch (n.kind) {
    case OpKind::rms_normalize: grads[0] = rms_normalize_backward(x, grad_out); break;
    case OpKind::mul_weight: {
      const at::Tensor& w = params[size_t(n.param)];
      if (wants(0)) grads[0] = at::mul(grad_out, w);
      *param_grad = column_sum_of_product(grad_out, x);
      break;
    }
    case OpKind::matmul: {
      const at::Tensor& w = params[size_t(n.param)];
      if (wants(0)) grads[0] = at::mm(grad_out, w.t());
      *param_grad = at::mm(x.t(), grad_out);
      break;
    }
    case OpKind::attention: grads[0] = attention_backward(x, grad_out, g.shape); break;
    case OpKind::dropout: grads[0] = dropout_apply(grad_out, n.seed); break;
    case OpKind::add:
      for (size_t j = 0; j < 2; ++j) {
        if (wants(j)) grads[j] = grad_out;
      }
      break;
    case OpKind::silu: grads[0] = at::silu_backward(grad_out, x); break;
    case OpKind::mul: {
      const at::Tensor& y = values[size_t(n.inputs[1])];
      if (wants(0)) grads[0] = at::mul(grad_out, y);
      if (wants(1)) grads[1] = at::mul(grad_out, x);
      break;
    }
    case OpKind::mse_loss: grads[0] = mse_backward(x, values[size_t(n.inputs[1])], grad_out); break;
  }
  return grads;
}

}  // namespace talklab::experiments::checkpointing
