// The float scale of a symmetric (zero-point-free) scheme: x ~ code * scale, scale = amax / max_code, so the
// largest |x| of the group lands exactly on the largest code. Used by every float-scaled scheme in scaling.h
// (fp8: max_code 448 / 57344, int8: 127, int4: 7); MX uses power-of-two e8m0 scales instead (mx.h).
#pragma once

#include <limits>

namespace talklab::cpu::quant {

// Floor on the scale: the smallest normal float, 2^-126. A group of zeros (amax 0) gets this scale, and so does a
// group so tiny that amax / max_code would underflow to 0 or a subnormal. Without it x / scale would be 0/0 = NaN
// or inf. Zeros still quantize to code 0 and dequantize to exactly 0; a tiny nonzero group saturates, losing at
// most amax < 2^-126 * max_code. (torchao clamps amax at an epsilon for the same reason.)
inline constexpr float kMinScale = std::numeric_limits<float>::min();

// amax: the largest |x| of the group, finite and >= 0.
inline float symmetric_scale(float amax, float max_code) {
  const float s = amax / max_code;
  return s < kMinScale ? kMinScale : s;
}

}  // namespace talklab::cpu::quant
