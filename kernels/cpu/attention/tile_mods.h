// The bridge between user mods (templates) and the ISA kernels (compiled once, no templates over mods): one
// function pointer call per (query block, key block) tile, whose element loop is an instantiation with the mods
// inlined. The loop is compiled for the kernel's ISA through a target attribute on the template, so a mask written
// in a plain translation unit still runs 16 lanes wide next to the AVX-512 kernel (GCC inlines a baseline callee
// into a wider-target caller). The instantiations per ISA are distinct templates, so the linker never swaps them.
// Cost: one pass over a tile already in L1 (memory-bound on L1, small next to the tile's Q.K^T).
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/common/attention/mask.h"
#include "kernels/cpu/cpu_features.h"

#define TALKLAB_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,bmi2,prefer-vector-width=512")))
#define TALKLAB_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi2")))

namespace talklab::cpu::attention {

using namespace talklab::attention;  // the mods (mask.h) are both devices'

// s is one score tile, KEY-major (the kernels keep S transposed): s[i * ld + j] is the scaled score of query
// q0 + j against key k0 + i, for i < nk, j < nq. The *_qmajor functions take a QUERY-major tile instead,
// s[j * ld + i] (the backward's dK / dV pass: flash_backward_core.h).
using TileModFn = void (*)(const void* ctx, float* s, int64_t ld, int b, int h, int q0, int nq, int k0, int nk);

struct TileMods {
  const void* ctx = nullptr;
  TileModFn partial = nullptr;  // mask (masked -> -inf) and score mod: blocks the block mask calls PARTIAL
  TileModFn full = nullptr;     // score mod only, for FULL blocks; null when the score mod is the identity
  TileModFn partial_qmajor = nullptr;  // the same two on query-major tiles
  TileModFn full_qmajor = nullptr;
};

namespace detail {

// Score then mask as two passes over each row (in L1): fused, GCC sinks the score into the visible branch, and a
// conditional table load (ALiBi slopes, bias table) stops the loop from vectorizing. Rows are keys (key-major) or
// queries (kQueryMajor); the inner loop runs along a row either way.
template <class Mods, bool kQueryMajor = false>
inline void tile_partial_body(const void* ctx, float* s, int64_t ld, int b, int h, int q0, int nq, int k0, int nk) {
  const Mods m = *static_cast<const Mods*>(ctx);  // local copy: its fields are known not to change in the loop
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if constexpr (kQueryMajor) {
    for (int j = 0; j < nq; ++j) {
      float* __restrict row = s + j * ld;
      const int q = q0 + j;
      if constexpr (!std::is_same_v<decltype(m.score), const NoScore>)
        for (int i = 0; i < nk; ++i) row[i] = m.score(row[i], b, h, q, k0 + i);
      for (int i = 0; i < nk; ++i) row[i] = m.mask(b, h, q, k0 + i) ? row[i] : kNegInf;
    }
  } else {
    for (int i = 0; i < nk; ++i) {
      float* __restrict row = s + i * ld;  // tables the mods read (slopes, biases) never alias the tile
      const int kv = k0 + i;
      if constexpr (!std::is_same_v<decltype(m.score), const NoScore>)
        for (int j = 0; j < nq; ++j) row[j] = m.score(row[j], b, h, q0 + j, kv);
      for (int j = 0; j < nq; ++j) row[j] = m.mask(b, h, q0 + j, kv) ? row[j] : kNegInf;
    }
  }
}
template <class Mods, bool kQueryMajor = false>
inline void tile_full_body(const void* ctx, float* s, int64_t ld, int b, int h, int q0, int nq, int k0, int nk) {
  const Mods m = *static_cast<const Mods*>(ctx);  // local copy: its fields are known not to change in the loop
  if constexpr (kQueryMajor) {
    for (int j = 0; j < nq; ++j) {
      float* __restrict row = s + j * ld;
      const int q = q0 + j;
      for (int i = 0; i < nk; ++i) row[i] = m.score(row[i], b, h, q, k0 + i);
    }
  } else {
    for (int i = 0; i < nk; ++i) {
      float* __restrict row = s + i * ld;
      const int kv = k0 + i;
      for (int j = 0; j < nq; ++j) row[j] = m.score(row[j], b, h, q0 + j, kv);
    }
  }
}

template <class Mods, bool kQueryMajor = false>
void tile_partial_scalar(const void* c, float* s, int64_t ld, int b, int h, int q0, int nq, int k0, int nk) {
  tile_partial_body<Mods, kQueryMajor>(c, s, ld, b, h, q0, nq, k0, nk);
}
template <class Mods, bool kQueryMajor = false>
void tile_full_scalar(const void* c, float* s, int64_t ld, int b, int h, int q0, int nq, int k0, int nk) {
  tile_full_body<Mods, kQueryMajor>(c, s, ld, b, h, q0, nq, k0, nk);
}
template <class Mods, bool kQueryMajor = false>
TALKLAB_TARGET_AVX2 void tile_partial_avx2(const void* c, float* s, int64_t ld, int b, int h, int q0, int nq, int k0,
                                           int nk) {
  tile_partial_body<Mods, kQueryMajor>(c, s, ld, b, h, q0, nq, k0, nk);
}
template <class Mods, bool kQueryMajor = false>
TALKLAB_TARGET_AVX2 void tile_full_avx2(const void* c, float* s, int64_t ld, int b, int h, int q0, int nq, int k0,
                                        int nk) {
  tile_full_body<Mods, kQueryMajor>(c, s, ld, b, h, q0, nq, k0, nk);
}
template <class Mods, bool kQueryMajor = false>
TALKLAB_TARGET_AVX512 void tile_partial_avx512(const void* c, float* s, int64_t ld, int b, int h, int q0, int nq,
                                               int k0, int nk) {
  tile_partial_body<Mods, kQueryMajor>(c, s, ld, b, h, q0, nq, k0, nk);
}
template <class Mods, bool kQueryMajor = false>
TALKLAB_TARGET_AVX512 void tile_full_avx512(const void* c, float* s, int64_t ld, int b, int h, int q0, int nq, int k0,
                                            int nk) {
  tile_full_body<Mods, kQueryMajor>(c, s, ld, b, h, q0, nq, k0, nk);
}

}  // namespace detail

// The pair of mods a kernel call uses; must outlive the call (TileMods points at it).
template <class Mask, class Score>
struct Mods {
  Mask mask;
  Score score;
};

template <class Mask, class Score>
TileMods make_tile_mods(const Mods<Mask, Score>& mods, Isa isa, bool identity_score) {
  using M = Mods<Mask, Score>;
  TileMods t;
  t.ctx = &mods;
  switch (isa) {
    case Isa::avx512:
      t.partial = &detail::tile_partial_avx512<M>;
      t.full = &detail::tile_full_avx512<M>;
      t.partial_qmajor = &detail::tile_partial_avx512<M, true>;
      t.full_qmajor = &detail::tile_full_avx512<M, true>;
      break;
    case Isa::avx2:
      t.partial = &detail::tile_partial_avx2<M>;
      t.full = &detail::tile_full_avx2<M>;
      t.partial_qmajor = &detail::tile_partial_avx2<M, true>;
      t.full_qmajor = &detail::tile_full_avx2<M, true>;
      break;
    case Isa::scalar:
      t.partial = &detail::tile_partial_scalar<M>;
      t.full = &detail::tile_full_scalar<M>;
      t.partial_qmajor = &detail::tile_partial_scalar<M, true>;
      t.full_qmajor = &detail::tile_full_scalar<M, true>;
      break;
  }
  if (identity_score) t.full = t.full_qmajor = nullptr;
  return t;
}

}  // namespace talklab::cpu::attention
