// block_mask_from_mask_mod: the block mask of any mask_mod, by evaluating it at every point with the element loop
// compiled for this CPU's ISA (tile_mods.h's target attributes) and handing the column counts to
// block_mask_from_column_counts (kernels/common/attention/block_mask.h, where its cost is measured). CPU code: the
// closed forms there serve both devices; this builder serves masks that have none (and the tests that check the
// closed forms against it).
#pragma once

#include <cstdint>

#include "kernels/common/attention/block_mask.h"
#include "kernels/cpu/attention/tile_mods.h"
#include "kernels/cpu/cpu_features.h"

namespace talklab::cpu::attention {

namespace detail {
template <class Mask>
inline void count_columns_body(const void* ctx, int b, int h, int q0, int q1, int S_kv, int32_t* __restrict colcount) {
  const Mask m = *static_cast<const Mask*>(ctx);  // a copy: its fields cannot alias colcount, so no runtime check
  for (int kv = 0; kv < S_kv; ++kv) colcount[kv] = 0;
  int q = q0;
  // 8 rows per pass: one load and store of the counts per 8 evaluations. Each row is a conditional increment
  // (c = visible ? c + 1 : c), which GCC turns into one merge-masked add after the compare; summing the eight
  // (visible ? 1 : 0) terms instead costs a zero-masked move and a subtract per row (4 vector ops, not 3).
  for (; q + 8 <= q1; q += 8)
    for (int kv = 0; kv < S_kv; ++kv) {
      int32_t c = colcount[kv];
      for (int j = 0; j < 8; ++j) c = m(b, h, q + j, kv) ? c + 1 : c;
      colcount[kv] = c;
    }
  for (; q < q1; ++q)
    for (int kv = 0; kv < S_kv; ++kv) colcount[kv] += m(b, h, q, kv) ? 1 : 0;
}
template <class Mask>
void count_columns_scalar(const void* c, int b, int h, int q0, int q1, int S_kv, int32_t* cc) {
  count_columns_body<Mask>(c, b, h, q0, q1, S_kv, cc);
}
template <class Mask>
TALKLAB_TARGET_AVX2 void count_columns_avx2(const void* c, int b, int h, int q0, int q1, int S_kv, int32_t* cc) {
  count_columns_body<Mask>(c, b, h, q0, q1, S_kv, cc);
}
template <class Mask>
TALKLAB_TARGET_AVX512 void count_columns_avx512(const void* c, int b, int h, int q0, int q1, int S_kv, int32_t* cc) {
  count_columns_body<Mask>(c, b, h, q0, q1, S_kv, cc);
}
}  // namespace detail

// Evaluates mask(b, h, q, kv) everywhere. B / H: pass 1 when the mask does not depend on b / h (it is then called
// with b = 0 / h = 0 and the result broadcast), else the full extent.
template <class Mask>
BlockMask block_mask_from_mask_mod(const Mask& mask, int B, int H, int64_t S_q, int64_t S_kv, int q_block,
                                   int kv_block, Isa isa = best_isa()) {
  CountColumnsFn fn = isa == Isa::avx512 ? &detail::count_columns_avx512<Mask>
                      : isa == Isa::avx2 ? &detail::count_columns_avx2<Mask>
                                         : &detail::count_columns_scalar<Mask>;
  return block_mask_from_column_counts(fn, &mask, B, H, S_q, S_kv, q_block, kv_block);
}

}  // namespace talklab::cpu::attention
