// 2^f for |f| <= 1/2: the degree-6 Taylor series of exp(f ln 2), 1.2e-7 relative error, the one polynomial
// every exp in the attention kernels uses (scalar, AVX2, AVX-512, and mask.h's vectorizable exp). Each caller
// splits x = n + f, evaluates this, and scales by 2^n its own way.
#pragma once

namespace talklab::attention {
// Internal linkage: this header is compiled into AVX-512, AVX2 and baseline files alike, and each must keep
// its own copy (an inline function with external linkage could be merged into the AVX-512 one).
namespace {

// (ln 2)^k / k!, highest power first, for Horner's rule.
inline constexpr float kExp2Poly[7] = {1.5403530393381606e-4f, 1.3333558146428443e-3f, 9.6181291076284772e-3f,
                                       5.5504108664821580e-2f, 2.4022650695910071e-1f, 6.9314718055994531e-1f,
                                       1.0f};

// Horner's rule with the caller's multiply-add and broadcast, so one definition serves floats and every
// vector width; the constant trip count unrolls completely.
template <class T, class MulAdd, class Broadcast>
inline T exp2_poly(T f, MulAdd mul_add, Broadcast broadcast) {
  T p = broadcast(kExp2Poly[0]);
  for (int i = 1; i < 7; ++i) p = mul_add(p, f, broadcast(kExp2Poly[i]));
  return p;
}

inline float exp2_poly(float f) {
  return exp2_poly(f, [](float a, float b, float c) { return a * b + c; }, [](float c) { return c; });
}

}  // namespace
}  // namespace talklab::attention
