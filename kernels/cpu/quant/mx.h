// OCP Microscaling (MX) formats, v1.0: a block of k = 32 elements shares one scale X; element i is X * P_i.
//   Scale X: E8M0, an 8-bit biased exponent with no sign and no mantissa: code e in 0..254 means 2^(e - 127)
//            (2^-127 .. 2^127; code 0 is a subnormal float, still exact), 0xFF is NaN.
//   Elements: MXFP8 e4m3 / e5m2 (fp8.h bit layouts) and MXFP4 e2m1: 4 bits S.EE.M, bias 1, one subnormal
//            (S.00.1 = 0.5), magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}, no inf, no NaN.
// Scale rule (spec section 6.3): shared_exp = floor(log2(amax)) - emax_elem, where emax_elem is the exponent of the
// element type's largest normal (e4m3: 8, 448 = 1.75 * 2^8; e5m2: 15, 57344 = 1.75 * 2^15; e2m1: 2, 6 = 1.5 * 2^2),
// clamped to the e8m0 range [-127, 127]. Then P_i = x_i / 2^shared_exp rounded to nearest even in the element type
// with SATURATION: amax / 2^shared_exp lies in [2^emax, 2^(emax+1)), which can exceed the element max (e.g. up to
// 511.99 > 448 for e4m3, 7.99 > 6 for e2m1), and the spec clamps those to +-max (fp8's Fp8Cast::saturating).
// Conventions where the spec leaves a choice:
//   - a block of zeros (amax = 0, log2 undefined) gets the smallest scale, code 0 (2^-127), and zero elements;
//   - a NaN in the block makes the scale NaN (0xFF), per spec, so every element of the block decodes to NaN;
//     an inf in the block does the same (the element types have no inf and no finite scale represents it);
//     the element codes of such a block are 0;
//   - a block may hold fewer than 32 elements (the tail of a row when K % 32 != 0): the same rule over the
//     elements it has. So any K works; see scaling.h.
// x / 2^shared_exp is exact: a power-of-two multiply, and the only values it can push below float's normal range
// are far below half the element type's smallest subnormal, so they round to 0 either way.
#pragma once

#include <bit>
#include <cstdint>

#include "kernels/cpu/quant/minifloat.h"

namespace talklab::cpu::quant {

enum class MxElem { e4m3, e5m2, e2m1 };  // MXFP8 (e4m3 or e5m2), MXFP4 (e2m1)

inline constexpr int kMxBlock = 32;
inline constexpr int kE8m0Bias = 127;
inline constexpr uint8_t kE8m0Nan = 0xFF;
inline constexpr float kE2m1Max = 6.0f;
inline constexpr uint8_t kE2m1MaxCode = 0x7;

const char* mx_elem_name(MxElem elem);
int mx_elem_emax(MxElem elem);     // 8, 15, 2
float mx_elem_max(MxElem elem);    // 448, 57344, 6
int mx_elem_bits(MxElem elem);     // 8, 8, 4

constexpr float e8m0_to_float(uint8_t e) {
  if (e == kE8m0Nan) return std::bit_cast<float>(0x7FC00000u);
  if (e == 0) return std::bit_cast<float>(0x00400000u);  // 2^-127: float's exponent field cannot hold it
  return std::bit_cast<float>(uint32_t(e) << 23);
}

// e2m1 code (low 4 bits: S.EE.M) <-> float. The encoder rounds to nearest even and saturates (|x| > 5, and +-inf,
// become +-6); NaN, which e2m1 cannot hold, becomes +0. -0 stays -0 (code 0x8).
uint8_t float_to_e2m1(float x);
constexpr float e2m1_to_float(uint8_t c) {
  const float mag = detail::code_to_float(c & 0x7u, 1, 1);
  return (c & 0x8) ? -mag : mag;
}

// One element of the given type: saturating round-to-nearest-even encode, exact decode (4-bit codes in the low
// nibble).
uint8_t mx_elem_encode(MxElem elem, float v);
float mx_elem_decode(MxElem elem, uint8_t code);

// The e8m0 scale code of a block of n values x[0], x[stride], ..., x[(n-1) * stride].
uint8_t mx_block_scale(const float* x, int64_t n, int64_t stride, MxElem elem);

// Quantizes one block: codes[i] gets element i's code (one per byte, 4-bit codes unpacked); returns the scale code.
uint8_t quantize_mx_block(uint8_t* codes, const float* x, int64_t n, int64_t stride, MxElem elem);

}  // namespace talklab::cpu::quant
