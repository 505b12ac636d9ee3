// Test helpers for the attention kernels: random problems (never zeros; a seed per shape), NaN-poisoned outputs,
// the normwise comparison against the float64 reference (kernels/common/attention/reference.h), the masks and the
// (ISA, dtype) parameters the forward and backward suites share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/attention/reference.h"
#include "kernels/common/attention/tolerances.h"
#include "kernels/cpu/attention/flash_cpu.h"

namespace talklab::cpu::attention::testing {

inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline const char* dtype_name(DType d) { return d == DType::f32 ? "f32" : "bf16"; }

// Inputs, outputs and workspace of one attention call.
struct Problem {
  AttnShape s;
  DType dtype = DType::f32;
  std::vector<float> q, k, v, o;              // float32 tensors (f32 problems)
  std::vector<uint16_t> q16, k16, v16, o16;   // bf16 tensors (bf16 problems)
  std::vector<float> lse;
  std::vector<char> workspace;

  AttnTensors tensors() {
    AttnTensors t;
    t.dtype = dtype;
    if (dtype == DType::f32) {
      t.q = q.data(), t.k = k.data(), t.v = v.data(), t.o = o.data();
    } else {
      t.q = q16.data(), t.k = k16.data(), t.v = v16.data(), t.o = o16.data();
    }
    t.lse = lse.data();
    return t;
  }
  // NaN in every output element, so an element the kernel does not write shows up.
  void poison() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::fill(o.begin(), o.end(), nan);
    std::fill(o16.begin(), o16.end(), uint16_t(0x7fc0));
    std::fill(lse.begin(), lse.end(), nan);
  }
  double out(int64_t i) const { return dtype == DType::f32 ? double(o[size_t(i)]) : load_element(o16.data(), dtype, i); }
};

// Normal(0, 1) entries (a zero has probability 0; |x| < 1e-3 entries are nudged away so none is ~0).
inline Problem make_problem(const AttnShape& s, DType dtype, uint64_t seed, Isa isa) {
  Problem p;
  p.s = s;
  p.dtype = dtype;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto fill = [&](std::vector<float>& x, int64_t n) {
    x.resize(size_t(n));
    for (float& e : x) {
      e = nd(rng);
      if (std::fabs(e) < 1e-3f) e = 1e-3f;
    }
  };
  const int64_t nq = s.B * s.H * s.S_q * s.D, nkv = s.B * s.H_kv * s.S_kv * s.D;
  fill(p.q, nq);
  fill(p.k, nkv);
  fill(p.v, nkv);
  if (dtype == DType::bf16) {
    auto conv = [](const std::vector<float>& x, std::vector<uint16_t>& y) {
      y.resize(x.size());
      for (size_t i = 0; i < x.size(); ++i) y[i] = to_bf16(x[i]);
    };
    conv(p.q, p.q16);
    conv(p.k, p.k16);
    conv(p.v, p.v16);
    p.o16.resize(size_t(nq));
  } else {
    p.o.resize(size_t(nq));
  }
  p.lse.resize(size_t(s.B * s.H * s.S_q));
  p.workspace.resize(flash_cpu_workspace_bytes(s, dtype, isa));
  return p;
}

inline std::vector<RowId> all_rows(const AttnShape& s) {
  std::vector<RowId> r;
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < s.S_q; ++q) r.push_back({b, h, q});
  return r;
}

// First and last rows of every head plus n random ones.
inline std::vector<RowId> sample_rows(const AttnShape& s, int n, uint64_t seed) {
  std::vector<RowId> r;
  std::mt19937_64 rng(seed);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      r.push_back({b, h, 0});
      r.push_back({b, h, s.S_q - 1});
    }
  for (int i = 0; i < n; ++i)
    r.push_back({int64_t(rng() % uint64_t(s.B)), int64_t(rng() % uint64_t(s.H)), int64_t(rng() % uint64_t(s.S_q))});
  return r;
}

struct Errors {
  double out = 0.0;   // normwise: max |out - ref| / max |ref| over the rows
  double lse = 0.0;   // max |lse - ref| over rows with a finite reference
  int64_t nan_out = 0, nan_lse = 0, lse_inf_mismatch = 0;
};

inline Errors compare(const Problem& p, const ReferenceRows& ref, const std::vector<RowId>& rows) {
  Errors e;
  double max_diff = 0.0, max_ref = 0.0;
  const int64_t D = p.s.D;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t row = (rows[i].b * p.s.H + rows[i].h) * p.s.S_q + rows[i].q;
    for (int64_t d = 0; d < D; ++d) {
      const double got = p.out(row * D + d), want = ref.out[i * size_t(D) + size_t(d)];
      if (std::isnan(got)) ++e.nan_out;
      max_diff = std::max(max_diff, std::fabs(got - want));
      max_ref = std::max(max_ref, std::fabs(want));
    }
    const double l = p.lse[size_t(row)], lw = ref.lse[i];
    if (std::isnan(l)) ++e.nan_lse;
    if (std::isinf(lw) || std::isinf(l)) e.lse_inf_mismatch += (l != lw);
    else e.lse = std::max(e.lse, std::fabs(l - lw));
  }
  e.out = max_ref > 0.0 ? max_diff / max_ref : max_diff;
  return e;
}

// NaN anywhere in the outputs (every element, not only the checked rows).
inline int64_t count_nan(const Problem& p) {
  int64_t n = 0;
  const int64_t total = p.s.B * p.s.H * p.s.S_q * p.s.D;
  for (int64_t i = 0; i < total; ++i) n += std::isnan(p.out(i));
  for (float l : p.lse) n += std::isnan(l);
  return n;
}

inline double out_tol(DType d) { return d == DType::f32 ? kOutTolF32 : kOutTolBf16; }
inline double lse_tol(DType d) { return d == DType::f32 ? kLseTolF32 : kLseTolBf16; }

// Masks by name, a document mask of random lengths (always one one-token document, lengths 1..2 often, up to ~S/4
// sometimes) and a relative-bias table of normal values.
inline MaskSpec spec(const std::string& name) { return MaskSpec::parse(name); }

inline MaskSpec document_spec(int64_t S, uint64_t seed) {
  MaskSpec m = spec("document");
  std::mt19937_64 rng(seed);
  m.doc_lengths.push_back(1);
  int64_t left = S - 1;
  while (left > 0) {
    const int64_t len = std::min<int64_t>(left, rng() % 3 == 0 ? 1 + int64_t(rng() % 2) : 1 + int64_t(rng() % (S / 4 + 1)));
    m.doc_lengths.push_back(len);
    left -= len;
  }
  return m;
}

inline MaskSpec rel_bias_spec(int64_t H, int max_distance, uint64_t seed) {
  MaskSpec m = spec("full+rel_bias:" + std::to_string(max_distance));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  m.rel_bias.resize(size_t(H * (2 * max_distance + 1)));
  for (float& x : m.rel_bias) x = nd(rng);
  return m;
}

// Every ISA this CPU supports times both dtypes: the parameters of the kernel test suites.
struct Config {
  Isa isa;
  DType dtype;
};

inline std::vector<Config> configs() {
  std::vector<Config> c;
  for (Isa isa : supported_isas())
    for (DType d : {DType::f32, DType::bf16}) c.push_back({isa, d});
  return c;
}

inline std::string config_name(const ::testing::TestParamInfo<Config>& info) {
  return std::string(isa_name(info.param.isa)) + "_" + dtype_name(info.param.dtype);
}

}  // namespace talklab::cpu::attention::testing
