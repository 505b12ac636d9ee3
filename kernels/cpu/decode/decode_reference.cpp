// decode_reference (decode_reference.h): the textbook softmax(q K^T * scale + mods) V per row, in double.
#include "kernels/cpu/decode/decode_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common/attention/mask.h"
#include "kernels/common/attention/reference.h"

namespace talklab::cpu::decode {

std::vector<double> decode_reference(const DecodeShape& s, DType dtype, const void* q, const float* k, const float* v,
                                     int64_t S_max, const int32_t* lengths, const DecodeOptions& opt,
                                     const std::vector<ReferenceRow>& wanted) {
  std::vector<ReferenceRow> rows = wanted;
  if (rows.empty())
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t i = 0; i < s.q_len; ++i) rows.push_back({b, h, i});
  const int64_t D = s.D, n = int64_t(rows.size());
  const double scale = opt.scale != 0.0f ? double(opt.scale) : 1.0 / std::sqrt(double(D));
  const attention::SoftcapScore softcap{opt.softcap};
  attention::AlibiScore alibi;
  alibi.slopes = opt.alibi_slopes;
  const double neg_inf = -std::numeric_limits<double>::infinity();
  std::vector<double> out(size_t(n * D), 0.0);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) {
    const ReferenceRow r = rows[size_t(i)];
    const int64_t len = lengths[r.b], pos = len - s.q_len + r.qi, hk = r.h / (s.H / s.H_kv);
    const float* kb = k + (r.b * s.H_kv + hk) * S_max * D;
    const float* vb = v + (r.b * s.H_kv + hk) * S_max * D;
    std::vector<double> qd(static_cast<size_t>(D)), sc(static_cast<size_t>(len), neg_inf);
    for (int64_t d = 0; d < D; ++d)
      qd[size_t(d)] = attention::load_element(q, dtype, ((r.b * s.H + r.h) * s.q_len + r.qi) * D + d);
    double m = neg_inf;
    for (int64_t t = 0; t <= pos; ++t) {
      if (opt.window > 0 && pos - t >= opt.window) continue;
      double dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += qd[size_t(d)] * double(kb[t * D + d]);
      double x = dot * scale;
      if (opt.softcap != 0.0f) x = softcap(x, int(r.b), int(r.h), int(pos), int(t));
      if (opt.alibi_slopes) x = alibi(x, int(r.b), int(r.h), int(pos), int(t));
      sc[size_t(t)] = x;
      m = std::max(m, x);
    }
    if (m == neg_inf) continue;
    double l = 0;
    double* o = out.data() + i * D;
    for (int64_t t = 0; t <= pos; ++t) {
      if (sc[size_t(t)] == neg_inf) continue;
      const double p = std::exp(sc[size_t(t)] - m);
      l += p;
      for (int64_t d = 0; d < D; ++d) o[d] += p * double(vb[t * D + d]);
    }
    for (int64_t d = 0; d < D; ++d) o[d] /= l;
  }
  return out;
}

}  // namespace talklab::cpu::decode
