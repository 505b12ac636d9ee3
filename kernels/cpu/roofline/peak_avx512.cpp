// AVX-512 compute peaks (see peak.h): 16 independent zmm accumulator chains, one instruction per chain
// per iteration, operands loop-invariant in registers. Compute-bound. Inner loops, checked with objdump:
// 16 x vfmadd*ps zmm / vdpbf16ps zmm / vpdpbusd zmm, then the loop counter.
// Values stay finite and normal: fp32 chains converge to c/(1-m), dot chains grow by a small step.
#include <immintrin.h>

#include "kernels/cpu/roofline/detail/peak_kernels.h"

namespace talklab::cpu::roofline::avx512 {
namespace {

// Lane i of the result is i-dependent so no two lanes (or accumulators) hold the same value.
__m512 ramp(float base, float step) {
  return _mm512_fmadd_ps(_mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_ps(step), _mm512_set1_ps(base));
}

// Through memory rather than _mm512_reduce_add_*, which trips a false -Wuninitialized in GCC 12.
template <typename T, typename V>
T sum_lanes(V v) {
  alignas(64) T lanes[64 / sizeof(T)];
  _mm512_store_si512(lanes, __m512i(v));
  T total = 0;
  for (T x : lanes) total += x;
  return total;
}

float sum(const __m512 (&acc)[kAccumulators]) {
  __m512 total = acc[0];
  for (int k = 1; k < kAccumulators; ++k) total = _mm512_add_ps(total, acc[k]);
  return sum_lanes<float>(total);
}

}  // namespace

float fp32_fma(int64_t iterations) {
  const __m512 m = ramp(0.75f, 0.01f);  // |m| < 1: each chain settles at c/(1-m), never inf or denormal
  const __m512 c = ramp(0.5f, 0.03f);
  __m512 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = ramp(1.0f + k, 0.1f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
  }
  return sum(acc);
}

float bf16_dot(int64_t iterations) {
  // Pairs (1.5, 1.25) . (0.5, -0.5) add 0.125 per step: the chains grow slowly and stall, never overflow.
  const __m512 a_lo = _mm512_set_ps(1.25f, 1.5f, 1.25f, 1.5f, 1.25f, 1.5f, 1.25f, 1.5f, 1.25f, 1.5f, 1.25f,
                                    1.5f, 1.25f, 1.5f, 1.25f, 1.5f);
  const __m512 b_lo = _mm512_set_ps(-0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f,
                                    0.5f, -0.5f, 0.5f, -0.5f, 0.5f);
  const __m512bh a = _mm512_cvtne2ps_pbh(a_lo, a_lo);
  const __m512bh b = _mm512_cvtne2ps_pbh(b_lo, b_lo);
  __m512 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = ramp(1.0f + k, 0.1f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  }
  return sum(acc);
}

int32_t int8_dot(int64_t iterations) {
  // u8 (3, 5, 7, 9) . s8 (1, -1, 2, -1) = 3 per lane per step: int32 wraps only after ~7e8 steps, and
  // wrapping costs nothing anyway.
  const __m512i a = _mm512_set1_epi32(0x09070503);
  const __m512i b = _mm512_set1_epi32(int32_t(0xff02ff01u));
  // Accumulators typed as 16 x int32: held as __m512i (8 x int64), GCC 12 copies every chain through a
  // second register and spills one per iteration. Zen 4 renames the copies away (only ~2% slower), but a
  // ceiling loop should be nothing but the instruction it measures.
  using I32x16 = int32_t __attribute__((vector_size(64)));
  I32x16 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = I32x16(_mm512_set1_epi32(k + 1));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = I32x16(_mm512_dpbusd_epi32(__m512i(acc[k]), a, b));
  }
  __m512i total = __m512i(acc[0]);
  for (int k = 1; k < kAccumulators; ++k) total = _mm512_add_epi32(total, __m512i(acc[k]));
  // Unsigned: the lanes may have wrapped, and signed overflow in the sum would be undefined.
  return int32_t(sum_lanes<uint32_t>(total));
}

}  // namespace talklab::cpu::roofline::avx512
