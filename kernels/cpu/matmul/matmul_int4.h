// int4 weight-only matmul (w4a16): C (M x N, fp32, row-major) = A (M x K, bf16, row-major) x B (K x N), B stored
// as signed int4 codes with one bf16 scale per (group of g consecutive k, column), g in {32, 64, 128}.
// The decode recipe of GPTQ/AWQ-style checkpoints: at M = 1 the matmul is a GEMV that streams B once, so 4-bit
// weights read 4x fewer bytes than bf16 and the kernel should run at memory speed.
//
// Conventions (kernels/cpu/quant): codes and scales are those of quantize_groupwise (scaling.h, Operand::B,
// ElemType::int4): q = clamp(round_half_even(x / s), -8, 7), s = amax / 7 of the group (int_quant.h,
// symmetric_scale.h), B[k][n] ~ q[k][n] * s[k / g][n]. No zero point. The packing stores s rounded to bf16
// (nearest even), as GPTQ/AWQ checkpoints store their scales in 16 bits and PyTorch's int4 kernel takes them in
// bf16: 2 bytes per group and column instead of 4, 3% of B's bytes at g = 128 (the M = 1 product reads B once, so
// its time), for a relative change of at most 2^-8 (bf16's unit roundoff) in every dequantized weight, against
// int4's own step of s (an element's error grows from s / 2 to at most s / 2 + 7 s 2^-8). The weights the kernels
// multiply by, and the tests' float64 reference, are q * bf16(s).
//
// Packed layout (PackedBInt4), made for the AVX-512 kernel:
//   codes   [panel of 32 columns][K octet o (k = 8o .. 8o+7)][32 dwords], dword j of an octet = column 32p + j:
//             bits 4i .. 4i+3      = nibble of k = 8o + 2i       (i = 0..3, the low 16-bit word: even k)
//             bits 16+4i .. 16+4i+3 = nibble of k = 8o + 2i + 1   (the high word: odd k)
//           so (x >> 4i) holds K pair (8o+2i, 8o+2i+1) in the low 4 bits of its two words: one vpsrld and one
//           vpermw against a 32-entry table (nibble -> bf16 code; vpermw reads only the low 5 index bits of
//           each word) gives vdpbf16ps's operand for 16 columns. An octet of a panel is 128 bytes, two lines.
//   scales  [panel][group][32] bf16 (one 64-byte line). Columns past N have code 0 and scale 0.
// K must be a multiple of g, and g one of 32, 64, 128 (std::invalid_argument naming K and g otherwise): every
// group is whole octets, and the kernel applies one scale per group in its inner loop.
//
// Arithmetic: bf16(a) x int4 code products are exact in fp32; they accumulate in fp32 per group (vdpbf16ps),
// and the group's sum is multiplied by its scale and added to the fp32 output (one FMA per group). Against the
// float64 product of the same bf16 A and dequantized B (q * s), the only error is fp32 accumulation.
//
// Threads: omp_get_max_threads(); chunks of N panels handed out dynamically (M = 1 keeps every thread busy), M
// tiles split too when N has fewer chunks than threads.
// Measured (Zen 4, 2 threads, K = 4096, N = 14336, g = 128; details and the variants tried in
// matmul_int4_avx512.cpp): M = 1 0.76-0.93 ms median = 33-41 GB/s of weights, 78-97% of the copy bandwidth
// (42.7 GB/s), 25-40x LibTorch's bf16 and ~10x our bf16; M = 16 and 128 about as fast as our bf16 (1 thread: 9.0
// vs 11.0 ms, 69 vs 73 ms). AVX2 (matmul_int4_avx2.cpp): at M > 1 it sums a * (q + 8) per group and subtracts
// 8 * sum(a) (exact products, fp32 sums a few times noisier than summing a * q); at M = 1 it rounds A to int16 per
// group (round_a_int16) for exact int32 sums on vpmaddwd: 0.80-1.01 ms over four runs on a Zen 3 guest, about 2.2x
// its fp32 path, at the read bandwidth (see its header).
// Bench: `bench --filter matmul/int4_w4a16`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/matmul/matmul.h"

namespace talklab::cpu::matmul {

inline constexpr int kInt4KPerDword = 8;  // one K octet of one column per packed dword

struct PackedBInt4 {
  int K = 0, N = 0;
  int group = 0;   // g: 32, 64 or 128
  int groups = 0;  // K / g
  int panels = 0;  // ceil(N / 32)
  AlignedVector<uint32_t> codes;  // [panels][K / 8][32]
  AlignedVector<uint16_t> scales;  // [panels][groups][32], bf16 bits

  size_t bytes() const { return codes.size() * sizeof(uint32_t) + scales.size() * sizeof(uint16_t); }
  // The code (in [-8, 7]) and scale (bf16, as a float) of B[k][n].
  int8_t code(int k, int n) const;
  float scale(int k, int n) const;
};

// Throws std::invalid_argument unless group is 32, 64 or 128 and K a positive multiple of it.
void check_int4_group(int K, int group);

// codes: scaling.h's int4 layout of B, ceil(K / 2) x N bytes, (k, n) in the nibble k % 2 (low = even k) of byte
// (k / 2) * N + n; scales: (K / group) x N, row-major, fp32 (stored rounded to bf16). Offline, scalar.
PackedBInt4 pack_b_int4(const uint8_t* codes, const float* scales, int K, int N, int group);
// quantize_groupwise(B, Operand::B, K, N, group, int4) then pack_b_int4. B: K x N fp32, finite.
PackedBInt4 quantize_pack_b_int4(const float* B, int K, int N, int group);

// One row of A (K bf16) rounded to int16 per group of `group` k, for the AVX2 path at M = 1 (matmul_int4_avx2.cpp):
// scales[g] = symmetric_scale(amax_g, 32767) (amax_g: the group's largest magnitude; a group of zeros gets the
// smallest normal float, its codes 0) and codes[k] = quantize_int16(a_k, scales[g]) in [-32767, 32767]
// (int_quant.h: round half to even of a_k / scale, in fp32). Then a group's sum of
// code x int4 code is an exact int32 (|sum| <= 128 x 32767 x 8 < 2^25), and a_k = codes[k] scales[g] + e_k with
// |e_k| <= scales[g] / 2 (plus fp32's 2^-24 of a_k): amax_g 2^-16, ~-96 dB of the group's largest element, where
// bf16 has already rounded each element by up to 2^-9 of itself. Public so the tests can rebuild what the kernel
// multiplies. K must be a multiple of group, and A finite.
void round_a_int16(const uint16_t* A, int K, int group, int16_t* codes, float* scales);

// C: M x N fp32, fully overwritten. A: M x K bf16 (raw uint16_t). isa must be in supported_isas()
// (std::invalid_argument otherwise). AVX-512: matmul_int4_avx512.cpp (vpermw + vdpbf16ps); AVX2: matmul_int4_avx2.cpp
// (M = 1: A rounded to int16 per group, round_a_int16, and vpmaddwd on the sign-extended nibbles; M > 1: nibbles
// to fp32 with vpand + vcvtdq2ps, FMA); scalar: below, reading the packing through code().
void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M, Isa isa);

namespace scalar {
void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M);
}  // namespace scalar
namespace avx2 {
void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M);
}  // namespace avx2
namespace avx512 {
void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M);
}  // namespace avx512

}  // namespace talklab::cpu::matmul
