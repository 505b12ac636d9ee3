// The backward's bridge to a score_mod's derivative, as tile_mods.h is the forward's to the mods themselves: one
// function pointer call per (key block, query block) tile, whose element loop is an instantiation with the mod's
// grad (kernels/common/attention/mask.h) inlined and compiled for the kernel's ISA by a target attribute.
// Null for additive mods (none, ALiBi, relative bias): their derivative is 1 and the backward skips the pass.
// Cost: one pass over two L1-resident tiles per visited tile (softcap: a tanh per element, ~20 vector ops per
// 16 elements, against the tile's ~14 * D flops per element of products).
#pragma once

#include <cstdint>

#include "kernels/cpu/attention/tile_mods.h"

namespace talklab::cpu::attention {

// x: the raw scaled scores of the tile (before the score mod), ds: dL/d(modded score) on entry, dL/d(raw score) on
// return. Both KEY-major as tile_mods.h's tiles: element [i * ld + j] is query q0 + j against key k0 + i; or both
// QUERY-major ([j * ld + i]) for the query_major function.
using TileScoreGradFn = void (*)(const void* score, const float* x, float* ds, int64_t ld, int b, int h, int q0,
                                 int nq, int k0, int nk);

// The derivative on either tile layout; both null for additive mods.
struct TileScoreGrad {
  TileScoreGradFn key_major = nullptr;
  TileScoreGradFn query_major = nullptr;
  explicit operator bool() const { return key_major != nullptr; }
};

namespace detail {

template <class Score, bool kQueryMajor>
inline void tile_score_grad_body(const void* ctx, const float* x, float* ds, int64_t ld, int b, int h, int q0, int nq,
                                 int k0, int nk) {
  const Score sc = *static_cast<const Score*>(ctx);  // a copy: its fields are known not to change in the loop
  if constexpr (kQueryMajor) {
    for (int j = 0; j < nq; ++j) {
      const float* __restrict xr = x + j * ld;
      float* __restrict dr = ds + j * ld;
      for (int i = 0; i < nk; ++i) dr[i] *= sc.grad(xr[i], b, h, q0 + j, k0 + i);
    }
  } else {
    for (int i = 0; i < nk; ++i) {
      const float* __restrict xr = x + i * ld;
      float* __restrict dr = ds + i * ld;
      for (int j = 0; j < nq; ++j) dr[j] *= sc.grad(xr[j], b, h, q0 + j, k0 + i);
    }
  }
}
template <class Score, bool kQueryMajor>
void tile_score_grad_scalar(const void* c, const float* x, float* ds, int64_t ld, int b, int h, int q0, int nq,
                            int k0, int nk) {
  tile_score_grad_body<Score, kQueryMajor>(c, x, ds, ld, b, h, q0, nq, k0, nk);
}
template <class Score, bool kQueryMajor>
TALKLAB_TARGET_AVX2 void tile_score_grad_avx2(const void* c, const float* x, float* ds, int64_t ld, int b, int h,
                                              int q0, int nq, int k0, int nk) {
  tile_score_grad_body<Score, kQueryMajor>(c, x, ds, ld, b, h, q0, nq, k0, nk);
}
template <class Score, bool kQueryMajor>
TALKLAB_TARGET_AVX512 void tile_score_grad_avx512(const void* c, const float* x, float* ds, int64_t ld, int b, int h,
                                                  int q0, int nq, int k0, int nk) {
  tile_score_grad_body<Score, kQueryMajor>(c, x, ds, ld, b, h, q0, nq, k0, nk);
}

}  // namespace detail

// score must outlive the call. Null functions when the mod is additive (is_additive_score_v).
template <class Score>
TileScoreGrad make_tile_score_grad(Isa isa) {
  if constexpr (is_additive_score_v<Score>) {
    (void)isa;
    return {};
  } else {
    switch (isa) {
      case Isa::avx512:
        return {&detail::tile_score_grad_avx512<Score, false>, &detail::tile_score_grad_avx512<Score, true>};
      case Isa::avx2: return {&detail::tile_score_grad_avx2<Score, false>, &detail::tile_score_grad_avx2<Score, true>};
      case Isa::scalar: break;
    }
    return {&detail::tile_score_grad_scalar<Score, false>, &detail::tile_score_grad_scalar<Score, true>};
  }
}

}  // namespace talklab::cpu::attention
