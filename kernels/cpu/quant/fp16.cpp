// IEEE binary16 codec; format and conventions in fp16.h, the rounding itself in minifloat.h.
#include "kernels/cpu/quant/fp16.h"

#include <bit>

#include "kernels/cpu/quant/minifloat.h"

namespace talklab::cpu::quant {

namespace {
constexpr int kManBits = 10;
constexpr int kBias = 15;
}  // namespace

uint16_t float_to_fp16(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  const uint32_t a = bits & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return uint16_t(sign | kFp16Inf | kFp16QuietBit | ((a >> 13) & 0x3FFu));
  if (a == 0x7F800000u) return uint16_t(sign | kFp16Inf);
  const uint32_t c = detail::round_to_code(a, kManBits, kBias);
  // Codes past the largest finite one start with the inf code itself (rounding 65520 up lands exactly on it).
  return uint16_t(sign | (c >= kFp16Inf ? kFp16Inf : c));
}

float fp16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t a = h & 0x7FFFu;
  if (a >= kFp16Inf) return std::bit_cast<float>(sign | 0x7F800000u | ((a & 0x3FFu) << 13));  // inf, NaN
  return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(detail::code_to_float(a, kManBits, kBias)));
}

}  // namespace talklab::cpu::quant
