// Exact float32 -> small binary floating-point ("minifloat") rounding, shared by the fp16, fp8 and e2m1 codecs
// (bf16 keeps its own two-line version in bf16.h because it is the hot one and needs no subnormal shift).
//
// A format with M mantissa bits and exponent bias B stores a magnitude as code = (e << M) | m:
//   e > 0   normal     (1 + m / 2^M) * 2^(e - B)
//   e == 0  subnormal  (m / 2^M) * 2^(1 - B)
// Which codes are infinities or NaNs, and the largest finite code, differ per format: the callers decide that.
// Rounding is to nearest with ties to the even code (even m), done in integers on the float's bits, so the result
// does not depend on the FPU's rounding mode and nothing is rounded twice.
#pragma once

#include <bit>
#include <cstdint>

namespace talklab::cpu::quant::detail {

// sig / 2^shift rounded to nearest, ties to even. sig < 2^24 (a float significand with its implicit bit).
constexpr uint32_t shift_right_rne(uint32_t sig, int shift) {
  if (shift == 0) return sig;
  if (shift > 24) return 0;  // sig < 2^24 <= 2^(shift-1): less than half of one unit, so it rounds to 0
  const uint32_t q = sig >> shift;
  const uint32_t rem = sig & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  return q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
}

// The code magnitude nearest to |x|, ties to even. abs_bits is the bit pattern of a finite |x| (< 0x7F800000).
// Not range-checked: a result above the format's largest finite code means overflow, and the caller saturates or
// returns inf/NaN. Rounding up out of a binade carries into the exponent field by the plain addition below, and
// the largest subnormal rounds up into the smallest normal the same way.
constexpr uint32_t round_to_code(uint32_t abs_bits, int man_bits, int bias) {
  const int fexp = int(abs_bits >> 23);
  const uint32_t fman = abs_bits & 0x7FFFFFu;
  const int e = (fexp == 0 ? 1 : fexp) - 127;                 // binade of |x|: |x| = sig * 2^(e - 23)
  const uint32_t sig = fexp == 0 ? fman : (fman | 0x800000u);  // float subnormals have no implicit bit
  const int t = e > 1 - bias ? e : 1 - bias;                  // target binade; all subnormals share 1 - bias
  const uint32_t q = shift_right_rne(sig, 23 - man_bits + (t - e));  // |x| in units of 2^(t - man_bits)
  return (uint32_t(t + bias - 1) << man_bits) + q;            // q carries the implicit bit into e when normal
}

// The value of a finite code magnitude, exact (every such value is a normal float or a small integer times a
// normal power of two for the formats used here: bias <= 127 and 1 - bias - man_bits >= -126).
constexpr float code_to_float(uint32_t code, int man_bits, int bias) {
  const uint32_t e = code >> man_bits;
  const uint32_t m = code & ((1u << man_bits) - 1u);
  if (e == 0) return float(m) * std::bit_cast<float>(uint32_t(128 - bias - man_bits) << 23);  // m * 2^(1-B-M)
  return std::bit_cast<float>((uint32_t(int(e) - bias + 127) << 23) | (m << (23 - man_bits)));
}

}  // namespace talklab::cpu::quant::detail
