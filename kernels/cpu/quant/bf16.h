// bfloat16: the top 16 bits of an IEEE float32 (1 sign, 8 exponent bits with bias 127, 7 mantissa bits). It keeps
// float's exponent range, so subnormals, infinities and overflow all carry over from the float encoding.
//   float -> bf16: round to nearest, ties to even, on the 16 dropped bits. Finite values above the largest bf16
//                  (0x7F7F = (2 - 2^-7) * 2^127) by half an ulp or more become inf, as in IEEE.
//                  NaN stays NaN: sign and the float's top 7 mantissa bits are kept and the quiet bit (0x0040) is
//                  forced, so a NaN whose payload lives only in the dropped bits cannot turn into inf. (c10 returns
//                  0x7FC0 for every NaN; both are quiet NaNs.)
//   bf16 -> float: exact (append 16 zero bits).
// Header-only: a packing loop calls these per element.
#pragma once

#include <bit>
#include <cstdint>

namespace talklab::cpu::quant {

inline constexpr uint16_t kBf16QuietBit = 0x0040;

inline uint16_t float_to_bf16(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | kBf16QuietBit);
  // Adding 0x7FFF (just under half) plus the kept LSB rounds half to even; a carry walks into the exponent,
  // which is exactly the next binade (or inf from the largest finite binade).
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float bf16_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

}  // namespace talklab::cpu::quant
