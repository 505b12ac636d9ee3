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
// return. Both KEY-major as tile_mods.h's tiles: element [i * ld + j] is query q0 + j against key k0 + i.
using TileScoreGradFn = void (*)(const void* score, const float* x, float* ds, int64_t ld, int b, int h, int q0,
                                 int nq, int k0, int nk);

namespace detail {

template <class Score>
inline void tile_score_grad_body(const void* ctx, const float* x, float* ds, int64_t ld, int b, int h, int q0, int nq,
                                 int k0, int nk) {
  const Score sc = *static_cast<const Score*>(ctx);  // a copy: its fields are known not to change in the loop
  for (int i = 0; i < nk; ++i) {
    const float* __restrict xr = x + i * ld;
    float* __restrict dr = ds + i * ld;
    for (int j = 0; j < nq; ++j) dr[j] *= sc.grad(xr[j], b, h, q0 + j, k0 + i);
  }
}
template <class Score>
void tile_score_grad_scalar(const void* c, const float* x, float* ds, int64_t ld, int b, int h, int q0, int nq,
                            int k0, int nk) {
  tile_score_grad_body<Score>(c, x, ds, ld, b, h, q0, nq, k0, nk);
}
template <class Score>
TALKLAB_TARGET_AVX2 void tile_score_grad_avx2(const void* c, const float* x, float* ds, int64_t ld, int b, int h,
                                              int q0, int nq, int k0, int nk) {
  tile_score_grad_body<Score>(c, x, ds, ld, b, h, q0, nq, k0, nk);
}
template <class Score>
TALKLAB_TARGET_AVX512 void tile_score_grad_avx512(const void* c, const float* x, float* ds, int64_t ld, int b, int h,
                                                  int q0, int nq, int k0, int nk) {
  tile_score_grad_body<Score>(c, x, ds, ld, b, h, q0, nq, k0, nk);
}

}  // namespace detail

// score must outlive the call. Null when the mod is additive (is_additive_score_v).
template <class Score>
TileScoreGradFn make_tile_score_grad(Isa isa) {
  if constexpr (is_additive_score_v<Score>) {
    (void)isa;
    return nullptr;
  } else {
    switch (isa) {
      case Isa::avx512: return &detail::tile_score_grad_avx512<Score>;
      case Isa::avx2: return &detail::tile_score_grad_avx2<Score>;
      case Isa::scalar: break;
    }
    return &detail::tile_score_grad_scalar<Score>;
  }
}

}  // namespace talklab::cpu::attention
