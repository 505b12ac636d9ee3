// Internal: one-float "vector" traits (portable x86-64 baseline) for flash_core.h and flash_backward_core.h.
// Include ONLY from *_scalar.cpp files (anonymous namespace: each translation unit keeps its own copy).
#pragma once

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/common/attention/exp2_poly.h"
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::scalar {
namespace {

struct V {
  using R = float;
  using Mask = bool;
  static constexpr int L = 1;
  static constexpr int kQkMR = 4, kQkNV = 4;
  static constexpr int kPvMR = 4, kPvNV = 4;
  static constexpr int kBwdMR = 4, kBwdNV = 4;  // the backward's micro-kernel (flash_backward_core.h)

  static R zero() { return 0.0f; }
  static R set1(float x) { return x; }
  static R load(const float* p) { return *p; }
  static R load_masked(const float* p, Mask m) { return m ? *p : 0.0f; }
  static void store(float* p, R x) { *p = x; }
  static Mask mask_first(int n) { return n > 0; }
  static R fma(R a, R b, R c) { return a * b + c; }
  static R mul(R a, R b) { return a * b; }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R max(R a, R b) { return a > b ? a : b; }
  static R zero_if_neginf(R x) { return x == core::kNegInf ? 0.0f : x; }
  static R exp2(R x) {
    x = x > -127.0f ? x : -127.0f;  // also maps NaN to -127
    const float n = std::nearbyint(x);
    const float f = x - n;
    const float p = exp2_poly(f);
    const uint32_t e = uint32_t(int32_t(n) + 127) << 23;
    float s;
    std::memcpy(&s, &e, 4);
    return p * s;
  }
};

}  // namespace
}  // namespace talklab::cpu::attention::scalar
