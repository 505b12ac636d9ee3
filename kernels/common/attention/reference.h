// Float64 reference attention for chosen (b, h, q) rows only: the tests check every row of small problems with it,
// and the harness's run-time gate checks a random sample of rows of large ones (a row costs 4 * S_kv * D flops).
// The mods are applied per element, exactly as mask.h defines them (never through a block mask); the score mod gets
// the double score. Same conventions as the kernels (kernels/common/attention/shape.h): scale 0 means 1/sqrt(D),
// a row with no visible key gives output 0 and LSE -inf. Inputs read as float32 or bf16, computed in double.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/common/attention/mask_spec.h"
#include "kernels/common/attention/shape.h"

namespace talklab::attention {

struct RowId {
  int64_t b = 0, h = 0, q = 0;
};

struct ReferenceRows {
  std::vector<double> out;  // (rows, D)
  std::vector<double> lse;  // (rows)
};

// Element i of a float32 or bf16 tensor, widened exactly.
double load_element(const void* x, DType dtype, int64_t i);

template <class Mask, class Score>
ReferenceRows reference_attention_rows(const AttnShape& s, const AttnTensors& t, const Mask& mask, const Score& score,
                                       double scale, const std::vector<RowId>& rows) {
  if (scale == 0.0) scale = 1.0 / std::sqrt(double(s.D));
  ReferenceRows r;
  const int64_t n = int64_t(rows.size()), D = s.D;
  r.out.assign(size_t(n * D), 0.0);
  r.lse.assign(size_t(n), -std::numeric_limits<double>::infinity());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) {
    const RowId id = rows[size_t(i)];
    const int64_t hk = id.h / (s.H / s.H_kv);
    const int64_t qoff = ((id.b * s.H + id.h) * s.S_q + id.q) * D;
    const int64_t kvoff = (id.b * s.H_kv + hk) * s.S_kv * D;
    std::vector<double> q(static_cast<size_t>(D)), sc(static_cast<size_t>(s.S_kv));
    for (int64_t d = 0; d < D; ++d) q[size_t(d)] = load_element(t.q, t.dtype, qoff + d);
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t kv = 0; kv < s.S_kv; ++kv) {
      double x = -std::numeric_limits<double>::infinity();
      if (mask(int(id.b), int(id.h), int(id.q), int(kv))) {
        double dot = 0.0;
        for (int64_t d = 0; d < D; ++d) dot += q[size_t(d)] * load_element(t.k, t.dtype, kvoff + kv * D + d);
        x = score(dot * scale, int(id.b), int(id.h), int(id.q), int(kv));
      }
      sc[size_t(kv)] = x;
      m = std::max(m, x);
    }
    if (m == -std::numeric_limits<double>::infinity()) continue;  // nothing visible: 0 and -inf
    double l = 0.0;
    double* out = r.out.data() + i * D;
    for (int64_t kv = 0; kv < s.S_kv; ++kv) {
      if (sc[size_t(kv)] == -std::numeric_limits<double>::infinity()) continue;
      const double p = std::exp(sc[size_t(kv)] - m);
      l += p;
      for (int64_t d = 0; d < D; ++d) out[d] += p * load_element(t.v, t.dtype, kvoff + kv * D + d);
    }
    for (int64_t d = 0; d < D; ++d) out[d] /= l;
    r.lse[size_t(i)] = m + std::log(l);
  }
  return r;
}

// The run-time variant: the mods of a MaskSpec, built for this shape (build_mods).
ReferenceRows reference_attention_rows(const BuiltMods& mods, const AttnShape& s, const AttnTensors& t, double scale,
                                       const std::vector<RowId>& rows);

}  // namespace talklab::attention
