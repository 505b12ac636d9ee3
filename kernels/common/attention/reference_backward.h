// Float64 reference backward of attention: what autograd through the materialized scores computes, in double, for
// the test sizes (every row of a problem; ~8 * S_q * S_kv * D flops per head, no S x S matrix kept: one score row
// at a time). Same conventions as reference.h: mods applied per element exactly as mask.h defines them (never
// through a block mask), score_mod and its grad called with double, scale 0 = 1/sqrt(D), a row with no visible key
// contributes nothing (its dQ is 0). dK and dV of a kv head sum over the query heads of its group.
// Per row q: x = scale * q.k, y = score_mod(x), P = softmax over visible keys, O = P.V, dP = dO.V^T,
// D = dO.O, dS = P * (dP - D) * score_mod'(x); dQ = scale * dS.K, dK += scale * dS^T q, dV += P^T dO.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/common/attention/mask_spec.h"
#include "kernels/common/attention/reference.h"
#include "kernels/common/attention/shape.h"

namespace talklab::attention {

struct ReferenceGrads {
  std::vector<double> dq;  // (B, H, S_q, D)
  std::vector<double> dk;  // (B, H_kv, S_kv, D)
  std::vector<double> dv;  // (B, H_kv, S_kv, D)
};

// t.q, t.k, t.v are read (t.o, t.lse are not: O is recomputed in double); d_o is (B, H, S_q, D) in t.dtype.
template <class Mask, class Score>
ReferenceGrads reference_attention_backward(const AttnShape& s, const AttnTensors& t, const void* d_o,
                                            const Mask& mask, const Score& score, double scale) {
  if (scale == 0.0) scale = 1.0 / std::sqrt(double(s.D));
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const int64_t D = s.D, group = s.H / s.H_kv;
  ReferenceGrads r;
  r.dq.assign(size_t(s.B * s.H * s.S_q * D), 0.0);
  r.dk.assign(size_t(s.B * s.H_kv * s.S_kv * D), 0.0);
  r.dv.assign(r.dk.size(), 0.0);
  // One (b, kv head) per iteration: its dK, dV are summed by one thread, in a fixed order.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bhk = 0; bhk < s.B * s.H_kv; ++bhk) {
    const int64_t b = bhk / s.H_kv, hk = bhk % s.H_kv;
    const int64_t kvoff = bhk * s.S_kv * D;
    const size_t nkv = size_t(s.S_kv * D), nd = size_t(D), ns = size_t(s.S_kv);
    std::vector<double> k(nkv), v(nkv), x(ns), p(ns), q(nd), go(nd), o(nd);
    for (int64_t i = 0; i < s.S_kv * D; ++i) {
      k[size_t(i)] = load_element(t.k, t.dtype, kvoff + i);
      v[size_t(i)] = load_element(t.v, t.dtype, kvoff + i);
    }
    double* dk = r.dk.data() + kvoff;
    double* dv = r.dv.data() + kvoff;
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h)
      for (int64_t qi = 0; qi < s.S_q; ++qi) {
        const int64_t qoff = ((b * s.H + h) * s.S_q + qi) * D;
        for (int64_t d = 0; d < D; ++d) {
          q[size_t(d)] = load_element(t.q, t.dtype, qoff + d);
          go[size_t(d)] = load_element(d_o, t.dtype, qoff + d);
        }
        double m = kNegInf;
        for (int64_t kv = 0; kv < s.S_kv; ++kv) {
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d) dot += q[size_t(d)] * k[size_t(kv * D + d)];
          x[size_t(kv)] = dot * scale;
          const bool visible = mask(int(b), int(h), int(qi), int(kv));
          p[size_t(kv)] = visible ? score(dot * scale, int(b), int(h), int(qi), int(kv)) : kNegInf;
          m = std::max(m, p[size_t(kv)]);
        }
        if (m == kNegInf) continue;  // nothing visible: no gradient flows through this row
        double l = 0.0;
        for (int64_t kv = 0; kv < s.S_kv; ++kv) {
          p[size_t(kv)] = p[size_t(kv)] == kNegInf ? 0.0 : std::exp(p[size_t(kv)] - m);
          l += p[size_t(kv)];
        }
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t kv = 0; kv < s.S_kv; ++kv) {
          p[size_t(kv)] /= l;
          if (p[size_t(kv)] == 0.0) continue;
          for (int64_t d = 0; d < D; ++d) o[size_t(d)] += p[size_t(kv)] * v[size_t(kv * D + d)];
        }
        double delta = 0.0;
        for (int64_t d = 0; d < D; ++d) delta += go[size_t(d)] * o[size_t(d)];
        double* dq = r.dq.data() + qoff;
        for (int64_t kv = 0; kv < s.S_kv; ++kv) {
          const double pk = p[size_t(kv)];
          if (pk == 0.0) continue;
          double dp = 0.0;
          for (int64_t d = 0; d < D; ++d) dp += go[size_t(d)] * v[size_t(kv * D + d)];
          const double ds =
              pk * (dp - delta) * score.grad(x[size_t(kv)], int(b), int(h), int(qi), int(kv)) * scale;
          for (int64_t d = 0; d < D; ++d) {
            dq[d] += ds * k[size_t(kv * D + d)];
            dk[kv * D + d] += ds * q[size_t(d)];
            dv[kv * D + d] += pk * go[size_t(d)];
          }
        }
      }
  }
  return r;
}

// The run-time variant: the mods of a MaskSpec, built for this shape (build_mods).
ReferenceGrads reference_attention_backward(const BuiltMods& mods, const AttnShape& s, const AttnTensors& t,
                                            const void* d_o, double scale);

// Sampled rows, for problems too large for the full reference (the experiment's run-time gate): for one (b, kv
// head), dQ of chosen (query head, query) rows of its group and dK, dV of chosen key rows. LSE and D = dO.O of every
// row of the group are computed first, over visible pairs only (4 * D flops each), then each chosen row walks its
// row or column (~6 * D flops per visible pair). Same conventions as reference_attention_backward.
struct ReferenceGradRows {
  std::vector<double> dq;      // (q_rows, D)
  std::vector<double> dk, dv;  // (kv_rows, D)
};
struct QueryRow {
  int64_t h = 0, q = 0;
};

template <class Mask, class Score>
ReferenceGradRows reference_attention_backward_rows(const AttnShape& s, const AttnTensors& t, const void* d_o,
                                                    const Mask& mask, const Score& score, double scale, int64_t b,
                                                    int64_t hk, const std::vector<QueryRow>& q_rows,
                                                    const std::vector<int64_t>& kv_rows) {
  if (scale == 0.0) scale = 1.0 / std::sqrt(double(s.D));
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const int64_t D = s.D, group = s.H / s.H_kv, h0 = hk * group, Sq = s.S_q, Skv = s.S_kv;
  // The group's Q, dO (group, S_q, D) and the head's K, V (S_kv, D), widened once.
  std::vector<double> q(size_t(group * Sq * D)), go(q.size()), k(size_t(Skv * D)), v(k.size());
  const int64_t qoff = (b * s.H + h0) * Sq * D, kvoff = (b * s.H_kv + hk) * Skv * D;
  for (int64_t i = 0; i < group * Sq * D; ++i) {
    q[size_t(i)] = load_element(t.q, t.dtype, qoff + i);
    go[size_t(i)] = load_element(d_o, t.dtype, qoff + i);
  }
  for (int64_t i = 0; i < Skv * D; ++i) {
    k[size_t(i)] = load_element(t.k, t.dtype, kvoff + i);
    v[size_t(i)] = load_element(t.v, t.dtype, kvoff + i);
  }
  auto dot = [D](const double* a, const double* c) {
    double r = 0.0;
    for (int64_t d = 0; d < D; ++d) r += a[d] * c[d];
    return r;
  };
  // y(g, qi, kv): the modded score, -inf where masked; x: the raw scaled score.
  auto scores = [&](int64_t g, int64_t qi, int64_t kv, double& x) {
    x = scale * dot(&q[size_t((g * Sq + qi) * D)], &k[size_t(kv * D)]);
    return mask(int(b), int(h0 + g), int(qi), int(kv)) ? score(x, int(b), int(h0 + g), int(qi), int(kv)) : kNegInf;
  };
  std::vector<double> lse(size_t(group * Sq), kNegInf), delta(size_t(group * Sq), 0.0);
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t r = 0; r < group * Sq; ++r) {
    const int64_t g = r / Sq, qi = r % Sq;
    std::vector<double> y(static_cast<size_t>(Skv)), o(static_cast<size_t>(D), 0.0);
    double m = kNegInf, x = 0.0;
    for (int64_t kv = 0; kv < Skv; ++kv) {
      y[size_t(kv)] = mask(int(b), int(h0 + g), int(qi), int(kv)) ? scores(g, qi, kv, x) : kNegInf;
      m = std::max(m, y[size_t(kv)]);
    }
    if (m == kNegInf) continue;
    double l = 0.0;
    for (int64_t kv = 0; kv < Skv; ++kv) {
      if (y[size_t(kv)] == kNegInf) continue;
      const double p = std::exp(y[size_t(kv)] - m);
      l += p;
      for (int64_t d = 0; d < D; ++d) o[size_t(d)] += p * v[size_t(kv * D + d)];
    }
    lse[size_t(r)] = m + std::log(l);
    delta[size_t(r)] = dot(&go[size_t(r * D)], o.data()) / l;
  }
  // dS of (g, qi, kv) for the raw scaled score (0 where masked or the row is empty), and P.
  auto ds_of = [&](int64_t g, int64_t qi, int64_t kv, double& p) {
    p = 0.0;
    const int64_t r = g * Sq + qi;
    if (lse[size_t(r)] == kNegInf || !mask(int(b), int(h0 + g), int(qi), int(kv))) return 0.0;
    double x = 0.0;
    p = std::exp(scores(g, qi, kv, x) - lse[size_t(r)]);
    const double dp = dot(&go[size_t(r * D)], &v[size_t(kv * D)]);
    return p * (dp - delta[size_t(r)]) * score.grad(x, int(b), int(h0 + g), int(qi), int(kv)) * scale;
  };
  ReferenceGradRows out;
  out.dq.assign(q_rows.size() * size_t(D), 0.0);
  out.dk.assign(kv_rows.size() * size_t(D), 0.0);
  out.dv.assign(out.dk.size(), 0.0);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < int64_t(q_rows.size()); ++i) {
    const int64_t g = q_rows[size_t(i)].h - h0, qi = q_rows[size_t(i)].q;
    double p = 0.0;
    for (int64_t kv = 0; kv < Skv; ++kv) {
      const double ds = ds_of(g, qi, kv, p);
      if (ds != 0.0)
        for (int64_t d = 0; d < D; ++d) out.dq[size_t(i * D + d)] += ds * k[size_t(kv * D + d)];
    }
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < int64_t(kv_rows.size()); ++i) {
    const int64_t kv = kv_rows[size_t(i)];
    double p = 0.0;
    for (int64_t g = 0; g < group; ++g)
      for (int64_t qi = 0; qi < Sq; ++qi) {
        const double ds = ds_of(g, qi, kv, p);
        if (p == 0.0) continue;
        const double* qr = &q[size_t((g * Sq + qi) * D)];
        const double* gr = &go[size_t((g * Sq + qi) * D)];
        for (int64_t d = 0; d < D; ++d) {
          out.dk[size_t(i * D + d)] += ds * qr[d];
          out.dv[size_t(i * D + d)] += p * gr[d];
        }
      }
  }
  return out;
}

ReferenceGradRows reference_attention_backward_rows(const BuiltMods& mods, const AttnShape& s, const AttnTensors& t,
                                                    const void* d_o, double scale, int64_t b, int64_t hk,
                                                    const std::vector<QueryRow>& q_rows,
                                                    const std::vector<int64_t>& kv_rows);

}  // namespace talklab::attention
