// Internal: AVX2 + FMA vector traits (8 lanes) for flash_core.h and flash_backward_core.h. Include ONLY from
// *_avx2.cpp files (anonymous namespace: each translation unit keeps its own copy, compiled with its own flags).
#pragma once

#include <immintrin.h>

#include <limits>

#include "kernels/common/attention/exp2_poly.h"
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::avx2 {
namespace {

struct V {
  using R = __m256;
  using Mask = __m256i;
  static constexpr int L = 8;
  // 16 ymm registers: Q.K^T 6 keys x 2 vectors and P.V 6 queries x 2 vectors (12 accumulators + 2 loads + 1
  // broadcast each), as the backward below.
  static constexpr int kQkMR = 6, kQkNV = 2;
  static constexpr int kPvMR = 6, kPvNV = 2;
  // The backward's one micro-kernel (flash_backward_core.h): 6 rows x 2 vectors = 12 accumulators (+ 2 loads + 1
  // broadcast), enough to hide Zen 2's 5-cycle FMA latency on its 2 FMA pipes (10 in flight), and 2 vectors divide
  // every N the backward has (64 queries, 128 head dims) with no narrow leftover tile.
  static constexpr int kBwdMR = 6, kBwdNV = 2;

  static R zero() { return _mm256_setzero_ps(); }
  static R set1(float x) { return _mm256_set1_ps(x); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static R load_masked(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, R x) { _mm256_storeu_ps(p, x); }
  static Mask mask_first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R zero_if_neginf(R x) {
    const R inf = _mm256_cmp_ps(x, set1(core::kNegInf), _CMP_EQ_OQ);
    return _mm256_andnot_ps(inf, x);
  }
  // 2^x for x <= 0: as the AVX-512 version, with 2^n built in the exponent bits; x <= -127 gives exactly 0.
  static R exp2(R x) {
    x = _mm256_max_ps(x, set1(-127.0f));
    const R n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R f = _mm256_sub_ps(x, n);
    const R p = exp2_poly(f, fma, set1);
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
};

}  // namespace
}  // namespace talklab::cpu::attention::avx2
