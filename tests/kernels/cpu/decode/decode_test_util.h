// Test helpers for decode_attention: a random logical cache and queries (N(0, 1), never zeros), the cache built in
// any format and layout, a poisoned run, and the normwise / SQNR comparison with the float64 reference.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/decode/decode_attention.h"
#include "kernels/cpu/decode/decode_reference.h"

namespace talklab::cpu::decode::testing {

struct Problem {
  DecodeShape s;
  int64_t S_max = 0;
  std::vector<int32_t> lengths;
  std::vector<float> q, k, v;  // q (B, H, q_len, D); k, v (B, H_kv, S_max, D)
};

inline Problem make_problem(const DecodeShape& s, std::vector<int32_t> lengths, uint64_t seed) {
  Problem p;
  p.s = s;
  p.lengths = std::move(lengths);
  for (int32_t l : p.lengths) p.S_max = std::max<int64_t>(p.S_max, l);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto fill = [&](std::vector<float>& x, int64_t n) {
    x.resize(size_t(n));
    for (float& e : x) {
      e = nd(rng);
      if (std::fabs(e) < 1e-3f) e = 1e-3f;
    }
  };
  fill(p.q, s.B * s.H * s.q_len * s.D);
  fill(p.k, s.B * s.H_kv * p.S_max * s.D);
  fill(p.v, s.B * s.H_kv * p.S_max * s.D);
  return p;
}

// The cache of a problem in a format and layout (page_size 0: contiguous).
struct Built {
  PageTable table;
  KvCache cache;
  Built(const Problem& p, const KvFormat& f, int64_t page_size, uint64_t shuffle_seed)
      : table(make_page_table(p.s.B, p.S_max, page_size, shuffle_seed,
                              f.dtype == KvDtype::int4_kivi ? f.group : 16)),
        cache(f, table.num_pages, table.page_size, p.s.H_kv, p.s.D) {
    cache.fill(table.seqs(p.lengths), p.k.data(), p.v.data(), p.S_max);
  }
};

struct RunResult {
  std::vector<float> o;
  DecodeStats stats;
};

inline RunResult run(const Problem& p, const Built& c, DecodeOptions opt) {
  RunResult r;
  r.o.assign(size_t(p.s.B * p.s.H * p.s.q_len * p.s.D), std::numeric_limits<float>::quiet_NaN());
  const SeqTable seqs = c.table.seqs(p.lengths);
  std::vector<char> ws(decode_workspace_bytes(p.s, resolve_splits(p.s, seqs, opt)));
  r.stats = decode_attention(p.s, DType::f32, p.q.data(), c.cache.view(), seqs, r.o.data(), opt, ws.data(),
                             ws.size());
  return r;
}

struct Error {
  double max_rel = 0, sqnr_db = std::numeric_limits<double>::infinity();
  bool finite = true;
};

inline Error compare(const std::vector<float>& o, const std::vector<double>& ref) {
  double max_abs = 0, max_ref = 0, se = 0, sr = 0;
  Error e;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(o[i])) e.finite = false;
    const double d = double(o[i]) - ref[i];
    max_abs = std::max(max_abs, std::fabs(d));
    max_ref = std::max(max_ref, std::fabs(ref[i]));
    se += d * d;
    sr += ref[i] * ref[i];
  }
  e.max_rel = max_ref > 0 ? max_abs / max_ref : max_abs;
  e.sqnr_db = se > 0 ? 10.0 * std::log10(sr / se) : std::numeric_limits<double>::infinity();
  return e;
}

inline std::vector<double> reference(const Problem& p, const DecodeOptions& opt) {
  return decode_reference(p.s, DType::f32, p.q.data(), p.k.data(), p.v.data(), p.S_max, p.lengths.data(), opt);
}

}  // namespace talklab::cpu::decode::testing
