// AVX2 compute peaks (see peak.h): 12 independent ymm accumulator chains, operands loop-invariant in
// registers. Compute-bound. Inner loops, checked with objdump: 12 x vfmadd*ps ymm / {vex} vpdpbusd ymm.
// int8_dot needs AVX-VNNI (Alder Lake, Zen 5), which the *_avx2.cpp flags do not include, so that one
// function opts in with a target attribute and must only run where cpu_features().avx_vnni is set.
#include <immintrin.h>

#include "kernels/cpu/roofline/detail/peak_kernels.h"

namespace talklab::cpu::roofline::avx2 {
namespace {

__m256 ramp(float base, float step) {
  return _mm256_fmadd_ps(_mm256_set_ps(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_ps(step), _mm256_set1_ps(base));
}

template <typename T, typename V>
T sum_lanes(V v) {
  alignas(32) T lanes[32 / sizeof(T)];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), __m256i(v));
  T total = 0;
  for (T x : lanes) total += x;
  return total;
}

}  // namespace

float fp32_fma(int64_t iterations) {
  const __m256 m = ramp(0.75f, 0.02f);  // |m| < 1: each chain settles at c/(1-m), never inf or denormal
  const __m256 c = ramp(0.5f, 0.05f);
  __m256 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = ramp(1.0f + k, 0.1f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
  }
  __m256 total = acc[0];
  for (int k = 1; k < kAccumulators; ++k) total = _mm256_add_ps(total, acc[k]);
  return sum_lanes<float>(total);
}

__attribute__((target("avxvnni"))) int32_t int8_dot(int64_t iterations) {
  // u8 (3, 5, 7, 9) . s8 (1, -1, 2, -1) = 3 per lane per step; int32 wrap-around is harmless.
  const __m256i a = _mm256_set1_epi32(0x09070503);
  const __m256i b = _mm256_set1_epi32(int32_t(0xff02ff01u));
  // 8 x int32 rather than __m256i (4 x int64): see the note in peak_avx512.cpp.
  using I32x8 = int32_t __attribute__((vector_size(32)));
  I32x8 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = I32x8(_mm256_set1_epi32(k + 1));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = I32x8(_mm256_dpbusd_avx_epi32(__m256i(acc[k]), a, b));
  }
  __m256i total = __m256i(acc[0]);
  for (int k = 1; k < kAccumulators; ++k) total = _mm256_add_epi32(total, __m256i(acc[k]));
  return int32_t(sum_lanes<uint32_t>(total));
}

}  // namespace talklab::cpu::roofline::avx2
