// 8-bit floats: OCP FP8 e4m3fn and e5m2 (the formats of torch.float8_e4m3fn / torch.float8_e5m2), bit layout
// S.EEEE.MMM and S.EEEEE.MM, sign first.
//   e4m3fn  bias 7, subnormals (m * 2^-9), NO infinities; the only NaNs are S.1111.111 (0x7F, 0xFF), so
//           S.1111.110 = 448 is the largest finite value. "fn" = finite, NaN only.
//   e5m2    bias 15, IEEE-like: subnormals (m * 2^-16), S.11111.00 = inf, S.11111.{01,10,11} = NaN, largest
//           finite S.11110.11 = 57344.
// float -> fp8: round to nearest, ties to even (exactly once, from the float bits; see minifloat.h). -0 stays -0.
// NaN in -> NaN out with the input's sign, code S.1111.111 / S.11111.11 (the codes PyTorch emits). What happens
// when the rounded magnitude exceeds the largest finite code is the caller's choice (Fp8Cast):
//   saturating     finite overflow and +-inf clamp to +-max (448 / 57344). This is what torchao's scaled casts
//                  get by clamping to +-max before casting, and what PTX cvt.satfinite / __NV_SATFINITE do.
//   nonsaturating  overflow to the "no value" code: NaN for e4m3fn (it has no inf; |x| > 464, the midpoint
//                  between 448 and the would-be 480, and +-inf become S.1111.111), inf for e5m2 (|x| >= 61440,
//                  the midpoint between 57344 and 2^16). This is exactly c10's scalar conversion, i.e. what
//                  PyTorch's x.to(torch.float8_e4m3fn) / .to(torch.float8_e5m2) does on CPU: it never clamps.
//                  464 itself is a tie and goes to 448 (even mantissa 110), 61440 goes to inf (57344 is odd).
// fp8 -> float: exact for all 256 codes; NaN codes give a quiet float NaN with the code's sign.
#pragma once

#include <bit>
#include <cstdint>

#include "kernels/cpu/quant/minifloat.h"

namespace talklab::cpu::quant {

enum class Fp8Cast { saturating, nonsaturating };

inline constexpr float kE4m3fnMax = 448.0f;
inline constexpr float kE5m2Max = 57344.0f;
inline constexpr uint8_t kE4m3fnMaxCode = 0x7E;
inline constexpr uint8_t kE4m3fnNan = 0x7F;  // also 0xFF
inline constexpr uint8_t kE5m2MaxCode = 0x7B;
inline constexpr uint8_t kE5m2Inf = 0x7C;
inline constexpr uint8_t kE5m2Nan = 0x7F;    // the one we emit; 0x7D, 0x7E and their negatives are NaN too

uint8_t float_to_e4m3fn(float x, Fp8Cast cast);
uint8_t float_to_e5m2(float x, Fp8Cast cast);

constexpr bool e4m3fn_is_nan(uint8_t c) { return (c & 0x7F) == 0x7F; }
constexpr bool e5m2_is_nan(uint8_t c) { return (c & 0x7F) > kE5m2Inf; }

// Inline: packing loops decode per element.
constexpr float e4m3fn_to_float(uint8_t c) {
  const uint32_t sign = uint32_t(c & 0x80) << 24;
  if (e4m3fn_is_nan(c)) return std::bit_cast<float>(sign | 0x7FC00000u);
  return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(detail::code_to_float(c & 0x7Fu, 3, 7)));
}

constexpr float e5m2_to_float(uint8_t c) {
  const uint32_t sign = uint32_t(c & 0x80) << 24;
  if ((c & 0x7F) == kE5m2Inf) return std::bit_cast<float>(sign | 0x7F800000u);
  if (e5m2_is_nan(c)) return std::bit_cast<float>(sign | 0x7FC00000u);
  return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(detail::code_to_float(c & 0x7Fu, 2, 15)));
}

}  // namespace talklab::cpu::quant
