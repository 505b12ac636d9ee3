// Internal: AVX-512 vector traits for flash_core.h. Include ONLY from *_avx512.cpp files (anonymous namespace: each
// translation unit keeps its own copy, compiled with its own flags).
#pragma once

// GCC 12 warns that _mm512_undefined_ps() inside its own intrinsics may be uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <limits>

#include "kernels/common/attention/exp2_poly.h"

namespace talklab::cpu::attention::avx512 {
namespace {

struct V {
  using R = __m512;
  using Mask = __mmask16;
  static constexpr int L = 16;
  // Q.K^T: 6 keys x 4 vectors of queries = 24 zmm accumulators + 4 Q^T loads + 1 broadcast.
  static constexpr int kQkMR = 6, kQkNV = 4;
  // P.V: 8 queries x 3 vectors of head dim = 24 accumulators; 3 V loads feed 24 FMAs.
  static constexpr int kPvMR = 8, kPvNV = 3;
  // The backward's one micro-kernel (flash_backward_core.h): as Q.K^T, 24 accumulators.
  static constexpr int kBwdMR = 6, kBwdNV = 4;

  static R zero() { return _mm512_setzero_ps(); }
  static R set1(float x) { return _mm512_set1_ps(x); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static R load_masked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, R x) { _mm512_storeu_ps(p, x); }
  static Mask mask_first(int n) { return Mask((1u << n) - 1u); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R zero_if_neginf(R x) {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    const Mask inf = _mm512_cmp_ps_mask(x, set1(kNegInf), _CMP_EQ_OQ);
    return _mm512_mask_mov_ps(x, inf, zero());
  }
  // 2^x for x <= 0 (or -inf, or NaN from a user mod: both give 0): round to nearest, 2^f on |f| <= 1/2 by its
  // degree-6 Taylor series (1.2e-7 relative), times 2^n by vscalefps, which flushes n <= -150 to exactly 0.
  static R exp2(R x) {
    x = _mm512_max_ps(x, set1(-200.0f));  // max returns the second operand for NaN
    const R n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R f = _mm512_sub_ps(x, n);
    const R p = ::talklab::attention::exp2_poly(f, fma, set1);
    return _mm512_scalef_ps(p, n);
  }
};

}  // namespace
}  // namespace talklab::cpu::attention::avx512
