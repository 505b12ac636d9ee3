// IEEE 754 binary16 ("half", fp16): 1 sign, 5 exponent bits with bias 15, 10 mantissa bits.
//   codes: exponent 0 = zero/subnormal (m * 2^-24, smallest 2^-24), 1..30 normal, 31 = inf (m == 0) or NaN.
//   largest finite 0x7BFF = 65504.
//   float -> fp16: round to nearest, ties to even, with gradual underflow into subnormals; finite values at or above
//                  65520 (half an ulp over 65504) become inf, as IEEE and F16C's vcvtps2ph do.
//                  NaN stays NaN: sign and the float's top 10 mantissa bits kept, quiet bit (0x0200) forced
//                  (what F16C does; the tests check it).
//   fp16 -> float: exact for all 65536 codes (NaN payloads kept in the top mantissa bits).
#pragma once

#include <cstdint>

namespace talklab::cpu::quant {

inline constexpr uint16_t kFp16MaxCode = 0x7BFF;  // 65504
inline constexpr uint16_t kFp16Inf = 0x7C00;
inline constexpr uint16_t kFp16QuietBit = 0x0200;
inline constexpr float kFp16Max = 65504.0f;

uint16_t float_to_fp16(float x);
float fp16_to_float(uint16_t h);

}  // namespace talklab::cpu::quant
