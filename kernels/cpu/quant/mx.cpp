// OCP MX block scaling: e8m0 scale rule, e2m1 codec, per-block quantization. Conventions in mx.h.
#include "kernels/cpu/quant/mx.h"

#include <cmath>

#include "kernels/cpu/quant/fp8.h"

namespace talklab::cpu::quant {

namespace {

constexpr uint32_t kFloatInfBits = 0x7F800000u;

// floor(log2(a)) of a positive finite float, read off its bits (exact, also for subnormals).
int floor_log2(float a) {
  const uint32_t bits = std::bit_cast<uint32_t>(a);
  const int fexp = int(bits >> 23);
  if (fexp != 0) return fexp - 127;
  return int(std::bit_width(bits & 0x7FFFFFu)) - 1 - 149;  // subnormal: mantissa * 2^-149
}

}  // namespace

const char* mx_elem_name(MxElem elem) {
  switch (elem) {
    case MxElem::e4m3: return "mxfp8_e4m3";
    case MxElem::e5m2: return "mxfp8_e5m2";
    case MxElem::e2m1: return "mxfp4_e2m1";
  }
  return "?";
}

int mx_elem_emax(MxElem elem) {
  switch (elem) {
    case MxElem::e4m3: return 8;
    case MxElem::e5m2: return 15;
    case MxElem::e2m1: return 2;
  }
  return 0;
}

float mx_elem_max(MxElem elem) {
  switch (elem) {
    case MxElem::e4m3: return kE4m3fnMax;
    case MxElem::e5m2: return kE5m2Max;
    case MxElem::e2m1: return kE2m1Max;
  }
  return 0.0f;
}

int mx_elem_bits(MxElem elem) { return elem == MxElem::e2m1 ? 4 : 8; }

uint8_t float_to_e2m1(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint8_t sign = uint8_t((bits >> 28) & 0x8u);
  const uint32_t a = bits & 0x7FFFFFFFu;
  if (a > kFloatInfBits) return 0;
  if (a == kFloatInfBits) return sign | kE2m1MaxCode;
  const uint32_t c = detail::round_to_code(a, 1, 1);
  return sign | (c > kE2m1MaxCode ? kE2m1MaxCode : uint8_t(c));
}

uint8_t mx_elem_encode(MxElem elem, float v) {
  switch (elem) {
    case MxElem::e4m3: return float_to_e4m3fn(v, Fp8Cast::saturating);
    case MxElem::e5m2: return float_to_e5m2(v, Fp8Cast::saturating);
    case MxElem::e2m1: return float_to_e2m1(v);
  }
  return 0;
}

float mx_elem_decode(MxElem elem, uint8_t code) {
  switch (elem) {
    case MxElem::e4m3: return e4m3fn_to_float(code);
    case MxElem::e5m2: return e5m2_to_float(code);
    case MxElem::e2m1: return e2m1_to_float(code);
  }
  return 0.0f;
}

uint8_t mx_block_scale(const float* x, int64_t n, int64_t stride, MxElem elem) {
  uint32_t amax_bits = 0;  // |x| compared as integers: monotone for non-negative floats, and NaN sorts above inf
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t a = std::bit_cast<uint32_t>(x[i * stride]) & 0x7FFFFFFFu;
    if (a > amax_bits) amax_bits = a;
  }
  if (amax_bits >= kFloatInfBits) return kE8m0Nan;
  if (amax_bits == 0) return 0;
  int shared = floor_log2(std::bit_cast<float>(amax_bits)) - mx_elem_emax(elem);
  if (shared < -kE8m0Bias) shared = -kE8m0Bias;
  if (shared > kE8m0Bias) shared = kE8m0Bias;  // unreachable from floats (floor_log2 <= 127), kept for clarity
  return uint8_t(shared + kE8m0Bias);
}

uint8_t quantize_mx_block(uint8_t* codes, const float* x, int64_t n, int64_t stride, MxElem elem) {
  const uint8_t scale = mx_block_scale(x, n, stride, elem);
  if (scale == kE8m0Nan) {
    for (int64_t i = 0; i < n; ++i) codes[i] = 0;
    return scale;
  }
  const int shared = int(scale) - kE8m0Bias;
  for (int64_t i = 0; i < n; ++i) codes[i] = mx_elem_encode(elem, std::ldexp(x[i * stride], -shared));
  return scale;
}

}  // namespace talklab::cpu::quant
