// Baseline x86-64 fp32 peak (see peak.h), the ceiling for Isa::scalar code. That code is built without
// any -m flag, yet -O3 still packs simple loops into 4-wide SSE2, so the honest ceiling is SSE2's, not
// one lane's: mulps + addps (no FMA instruction in baseline x86-64), 2 FLOPs per lane. A loop the
// compiler leaves unvectorized peaks at a quarter of this. Compute-bound: kAccumulators independent xmm
// chains. Measured on Zen 4: ~3.5 of the nominal 4 ops per cycle (2 mulps + 2 addps) with 12 or 14
// chains alike, and a hand-written asm mix of the two reaches only 3.2, so the core, not latency, limits.
#include <emmintrin.h>

#include "kernels/cpu/roofline/detail/peak_kernels.h"

namespace talklab::cpu::roofline::scalar {

float fp32_fma(int64_t iterations) {
  const __m128 m = _mm_setr_ps(0.75f, 0.77f, 0.79f, 0.81f);  // |m| < 1: chains settle at c/(1-m)
  const __m128 c = _mm_setr_ps(0.5f, 0.55f, 0.6f, 0.65f);
  __m128 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm_add_ps(c, _mm_set1_ps(1.0f + float(k)));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm_add_ps(_mm_mul_ps(acc[k], m), c);
  }
  __m128 total = acc[0];
  for (int k = 1; k < kAccumulators; ++k) total = _mm_add_ps(total, acc[k]);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, total);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace talklab::cpu::roofline::scalar
