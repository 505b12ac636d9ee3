// Symmetric integer codes with a float scale and no zero point: x ~ q * scale.
//   int16 q = clamp(round_half_even(x / scale), -32767, 32767), scale = amax / 32767: as int8, one step finer
//         (the AVX2 int4 matmul's activations at M = 1, matmul_int4.h's round_a_int16).
//   int8  q = clamp(round_half_even(x / scale), -127, 127), scale = amax / 127 (symmetric_scale.h).
//         -128 is never produced. The grid stays symmetric (q and -q both exist, so negating a tensor is exact),
//         and the AVX2 int8 x int8 dot, maddubs(|a|, sign(b, a)), negates b where a < 0: -(-128) wraps to -128
//         in int8, a silently wrong product. Since amax / scale is 127, -128 could only hold values below
//         -amax, which do not exist, so excluding it loses nothing.
//   int4  q in [-8, 7], q = clamp(round_half_even(x / scale), -8, 7) with the symmetric scale amax / 7. Our choice:
//         the largest |x| maps exactly to +-7 and zero is exact, with no zero point to carry into the matmul.
//         The price is that x / scale lies in [-7, 7], so -8 is never produced and 15 of 16 codes are used;
//         amax / 8 would use -8 but clip +amax to 7/8 of itself, an error of amax / 8 on the largest weight.
//         unpack accepts -8, so codes made elsewhere decode.
//   Packing: two int4 per byte, two's complement nibbles, LOW nibble first: byte i = q[2i] & 0xF | q[2i+1] << 4.
//   An odd count leaves the last high nibble 0. (scaling.h pairs along K; see there.)
// round_half_even does not depend on the FPU rounding mode. x / scale is a true division, as in the definition.
// NaN has no integer code: quantize_* map it to 0; the scaling schemes reject non-finite input before this.
#pragma once

#include <cstdint>

namespace talklab::cpu::quant {

inline constexpr int kInt16Max = 32767;
inline constexpr int kInt8Max = 127;
inline constexpr int kInt4Max = 7;
inline constexpr int kInt4Min = -8;

float round_half_even(float v);

int16_t quantize_int16(float x, float scale);
int8_t quantize_int8(float x, float scale);
int8_t quantize_int4(float x, float scale);  // in [-8, 7], unpacked

// dst: (n + 1) / 2 bytes; q: n values in [-8, 7] (higher bits are masked off).
void pack_int4(uint8_t* dst, const int8_t* q, int64_t n);
// dst: n values in [-8, 7]; packed: (n + 1) / 2 bytes.
void unpack_int4(int8_t* dst, const uint8_t* packed, int64_t n);

// A nibble (low 4 bits of `nibble`) as a signed int4.
constexpr int8_t int4_from_nibble(uint8_t nibble) { return int8_t((nibble & 0x7) - (nibble & 0x8)); }

}  // namespace talklab::cpu::quant
