// FP8 e4m3fn / e5m2 encoders; format, rounding and overflow conventions in fp8.h.
#include "kernels/cpu/quant/fp8.h"

namespace talklab::cpu::quant {

namespace {
constexpr uint32_t kFloatInfBits = 0x7F800000u;
}  // namespace

uint8_t float_to_e4m3fn(float x, Fp8Cast cast) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint8_t sign = uint8_t((bits >> 24) & 0x80u);
  const uint32_t a = bits & 0x7FFFFFFFu;
  const uint8_t overflow = cast == Fp8Cast::saturating ? kE4m3fnMaxCode : kE4m3fnNan;
  if (a > kFloatInfBits) return sign | kE4m3fnNan;
  if (a == kFloatInfBits) return sign | overflow;
  const uint32_t c = detail::round_to_code(a, 3, 7);
  return sign | (c > kE4m3fnMaxCode ? overflow : uint8_t(c));
}

uint8_t float_to_e5m2(float x, Fp8Cast cast) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint8_t sign = uint8_t((bits >> 24) & 0x80u);
  const uint32_t a = bits & 0x7FFFFFFFu;
  const uint8_t overflow = cast == Fp8Cast::saturating ? kE5m2MaxCode : kE5m2Inf;
  if (a > kFloatInfBits) return sign | kE5m2Nan;
  if (a == kFloatInfBits) return sign | overflow;
  const uint32_t c = detail::round_to_code(a, 2, 15);
  return sign | (c > kE5m2MaxCode ? overflow : uint8_t(c));
}

}  // namespace talklab::cpu::quant
