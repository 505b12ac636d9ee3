#include "experiments/checkpointing/ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace talklab::experiments::checkpointing {
namespace {

// Elements a thread should get before a loop goes parallel (ATen's own grain): small shapes stay serial,
// where waking a second thread costs more than the loop.
constexpr int64_t kGrainElements = 32768;
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, cols)); }

// P = softmax(scale * scores) over j <= i (causal), in place; entries above the diagonal become 0.
void causal_softmax_(at::Tensor& scores, float scale) {
  const int64_t S = scores.size(0);
  float* p = scores.data_ptr<float>();
  at::parallel_for(0, S, row_grain(S), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float* row = p + i * S;
      float mx = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, row[j] * scale);
      float sum = 0;
      for (int64_t j = 0; j <= i; ++j) {
        row[j] = std::exp(row[j] * scale - mx);
        sum += row[j];
      }
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j <= i; ++j) row[j] *= inv;
      for (int64_t j = i + 1; j < S; ++j) row[j] = 0;
    }
  });
}

// dP := scale * P * (dP - rowsum(P * dP)), in place (rows of the causal triangle only; zeros above).
void softmax_backward_(const at::Tensor& prob, at::Tensor& dprob, float scale) {
  const int64_t S = prob.size(0);
  const float* p = prob.data_ptr<float>();
  float* d = dprob.data_ptr<float>();
  at::parallel_for(0, S, row_grain(S), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* pr = p + i * S;
      float* dr = d + i * S;
      float dot = 0;
      for (int64_t j = 0; j <= i; ++j) dot += pr[j] * dr[j];
      for (int64_t j = 0; j <= i; ++j) dr[j] = scale * pr[j] * (dr[j] - dot);
      for (int64_t j = i + 1; j < S; ++j) dr[j] = 0;
    }
  });
}

// Head h of batch element b of a (T, k * D) matrix: rows b*S.., columns offset + h*dh.. (a strided view).
at::Tensor head(const at::Tensor& m, const ModelShape& s, int64_t b, int64_t h, int64_t offset) {
  return m.narrow(0, b * s.seq, s.seq).narrow(1, offset + h * s.head_dim(), s.head_dim());
}

}  // namespace

at::Tensor rms_normalize_forward(const at::Tensor& x) {
  at::Tensor out = at::empty_like(x);
  const int64_t T = x.size(0), D = x.size(1);
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, T, row_grain(D), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* xr = xp + t * D;
      float ss = 0;
      for (int64_t j = 0; j < D; ++j) ss += xr[j] * xr[j];
      const float r = 1.0f / std::sqrt(ss / float(D) + float(kRmsEps));
      for (int64_t j = 0; j < D; ++j) op[t * D + j] = xr[j] * r;
    }
  });
  return out;
}

at::Tensor rms_normalize_backward(const at::Tensor& x, const at::Tensor& grad_y) {
  at::Tensor dx = at::empty_like(x);
  const int64_t T = x.size(0), D = x.size(1);
  const float* xp = x.data_ptr<float>();
  const float* gp = grad_y.data_ptr<float>();
  float* dp = dx.data_ptr<float>();
  at::parallel_for(0, T, row_grain(D), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* xr = xp + t * D;
      const float* gr = gp + t * D;
      float ss = 0, dot = 0;
      for (int64_t j = 0; j < D; ++j) {
        ss += xr[j] * xr[j];
        dot += gr[j] * xr[j];
      }
      const float r = 1.0f / std::sqrt(ss / float(D) + float(kRmsEps));
      const float c = r * r * r * dot / float(D);
      for (int64_t j = 0; j < D; ++j) dp[t * D + j] = r * gr[j] - xr[j] * c;
    }
  });
  return dx;
}

at::Tensor attention_forward(const at::Tensor& qkv, const ModelShape& s) {
  const int64_t D = s.d_model;
  const float scale = 1.0f / std::sqrt(float(s.head_dim()));
  at::Tensor o = at::empty({s.tokens(), D}, qkv.options());
  at::Tensor p = at::empty({s.seq, s.seq}, qkv.options());  // scratch: one head's scores
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      at::mm_out(p, head(qkv, s, b, h, 0), head(qkv, s, b, h, D).t());
      causal_softmax_(p, scale);
      at::Tensor ob = head(o, s, b, h, 0);
      at::mm_out(ob, p, head(qkv, s, b, h, 2 * D));
    }
  }
  return o;
}

at::Tensor attention_backward(const at::Tensor& qkv, const at::Tensor& grad_o, const ModelShape& s) {
  const int64_t D = s.d_model;
  const float scale = 1.0f / std::sqrt(float(s.head_dim()));
  at::Tensor dqkv = at::empty_like(qkv);
  at::Tensor p = at::empty({s.seq, s.seq}, qkv.options());   // scratch: probabilities
  at::Tensor dp = at::empty({s.seq, s.seq}, qkv.options());  // scratch: their gradient, then dS
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      const at::Tensor q = head(qkv, s, b, h, 0), k = head(qkv, s, b, h, D), v = head(qkv, s, b, h, 2 * D);
      const at::Tensor go = head(grad_o, s, b, h, 0);
      at::mm_out(p, q, k.t());
      causal_softmax_(p, scale);
      at::mm_out(dp, go, v.t());
      softmax_backward_(p, dp, scale);
      at::Tensor dq = head(dqkv, s, b, h, 0), dk = head(dqkv, s, b, h, D), dv = head(dqkv, s, b, h, 2 * D);
      at::mm_out(dv, p.t(), go);
      at::mm_out(dq, dp, k);
      at::mm_out(dk, dp.t(), q);
    }
  }
  return dqkv;
}

at::Tensor dropout_apply(const at::Tensor& x, uint64_t seed) {
  at::Tensor out = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float scale = float(1.0 / (1.0 - kDropoutP));
  at::parallel_for(0, x.numel(), kGrainElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) op[i] = dropout_keep(seed, uint64_t(i)) ? xp[i] * scale : 0.0f;
  });
  return out;
}

at::Tensor dropout_mask(const at::Tensor& like, uint64_t seed) {
  at::Tensor mask = at::empty(like.sizes(), at::kDouble);
  double* mp = mask.data_ptr<double>();
  for (int64_t i = 0; i < like.numel(); ++i) mp[i] = dropout_keep(seed, uint64_t(i)) ? 1.0 / (1.0 - kDropoutP) : 0.0;
  return mask.to(like.scalar_type());
}

at::Tensor column_sum_of_product(const at::Tensor& a, const at::Tensor& b) {
  const int64_t T = a.size(0), C = a.size(1);
  std::vector<double> acc(size_t(C), 0.0);
  const float* ap = a.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < C; ++j) acc[size_t(j)] += double(ap[t * C + j]) * double(bp[t * C + j]);
  }
  at::Tensor out = at::empty({1, C}, a.options());
  float* op = out.data_ptr<float>();
  for (int64_t j = 0; j < C; ++j) op[j] = float(acc[size_t(j)]);
  return out;
}

at::Tensor mse_forward(const at::Tensor& h, const at::Tensor& y) {
  const float* hp = h.data_ptr<float>();
  const float* yp = y.data_ptr<float>();
  double sum = 0;
  for (int64_t i = 0; i < h.numel(); ++i) sum += double(hp[i] - yp[i]) * double(hp[i] - yp[i]);
  at::Tensor out = at::empty({}, h.options());
  out.data_ptr<float>()[0] = float(sum / double(h.numel()));
  return out;
}

at::Tensor mse_backward(const at::Tensor& h, const at::Tensor& y, const at::Tensor& grad_loss) {
  at::Tensor d = at::sub(h, y);
  d.mul_(2.0 * grad_loss.item<double>() / double(h.numel()));
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
