// Symmetric int16 / int8 / int4 quantization and int4 packing; definitions and conventions in int_quant.h.
#include "kernels/cpu/quant/int_quant.h"

#include <cmath>

namespace talklab::cpu::quant {

namespace {

// Clamping before rounding equals rounding then clamping (the bounds are integers and rounding is monotone), and
// it keeps +-inf (x / tiny scale) out of the rounding.
int quantize_clamped(float x, float scale, int lo, int hi) {
  const float v = x / scale;
  if (std::isnan(v)) return 0;
  const float c = v < float(lo) ? float(lo) : (v > float(hi) ? float(hi) : v);
  return int(round_half_even(c));
}

}  // namespace

float round_half_even(float v) {
  const float r = std::floor(v);
  const float d = v - r;  // exact: |v| < 2^23 leaves room for the fraction, larger floats are integers (d = 0)
  if (d > 0.5f) return r + 1.0f;
  if (d < 0.5f) return r;
  return std::fmod(r, 2.0f) == 0.0f ? r : r + 1.0f;
}

int16_t quantize_int16(float x, float scale) { return int16_t(quantize_clamped(x, scale, -kInt16Max, kInt16Max)); }

int8_t quantize_int8(float x, float scale) { return int8_t(quantize_clamped(x, scale, -kInt8Max, kInt8Max)); }

int8_t quantize_int4(float x, float scale) { return int8_t(quantize_clamped(x, scale, kInt4Min, kInt4Max)); }

void pack_int4(uint8_t* dst, const int8_t* q, int64_t n) {
  for (int64_t i = 0; i + 1 < n; i += 2) dst[i / 2] = uint8_t((q[i] & 0xF) | ((q[i + 1] & 0xF) << 4));
  if (n % 2) dst[n / 2] = uint8_t(q[n - 1] & 0xF);
}

void unpack_int4(int8_t* dst, const uint8_t* packed, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = int4_from_nibble(uint8_t(packed[i / 2] >> (4 * (i % 2))));
}

}  // namespace talklab::cpu::quant
