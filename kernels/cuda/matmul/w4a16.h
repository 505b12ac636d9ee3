// W4A16 for decode on CUDA: C (M, N) fp32 = A (M, K) bf16 x W (K, N), W stored as signed int4 codes with one
// fp32 scale per group of 128 consecutive k of a column (no zero point): W[k][n] ~ q[k][n] * s[k / 128][n].
// Codes and scales are kernels/cpu/quant/scaling.h's quantize_groupwise(Operand::B, group 128, int4), the
// CPU int4_w4a16 recipe's, so both devices compute the same quantized product.
//
// Letters: M tokens (1..16, decode), N output features, K input features (a multiple of 128, the group).
// Layouts (host side, no CUDA types):
//   A       bf16 bits, row-major (M, K), 16-byte aligned (every row is, since K % 128 == 0)
//   scales  fp32, row-major (K / 128, N): scaling.h's groupwise grid, unchanged. fp32 rather than bf16: it is
//           the codec's own value (bf16 would round every scale by up to 2^-9 and the CPU and GPU recipes
//           would no longer share one definition), and it costs 4 / 128 bytes per weight against 2 / 128,
//           a 3% larger weight stream (0.531 against 0.516 bytes per weight).
//   W       packed by w4a16_pack (the CPU kernel's AVX-512 panel layout does not suit a warp), see
//           w4a16.cu for why it is this one:
//             [n16 tile T = n / 16][k64 chunk c = k / 64][lane l = 4g + t][4 words j], 512 bytes per (T, c),
//           word j of lane (g, t) holds 8 nibbles u = q + 8 (offset binary, 0..15): at bits 4r + 16e,
//             n = 16T + g + 8 (r & 1),  k = 64c + 16t + 4j + 2 (r >> 1) + e     (r = 0..3, e = 0..1).
//           Columns past N get q = 0. Size: ceil(N / 16) * (K / 64) * 512 bytes = ceil(N/16)*16 * K / 2.
//   C       fp32, row-major (M, N), every element written.
// Arguments are checked before anything touches the device (std::invalid_argument naming the value): M in
// 1..16, K a positive multiple of 128, N >= 1 (any N: the packing pads to 16), pointers non-null, A and W
// 16-byte aligned.
//   bench --filter 'matmul/(w4a16_cuda|cublaslt_bf16)/' --device cuda --profile gpu
#pragma once

#include <cstddef>
#include <cstdint>

namespace talklab::cuda {

inline constexpr int kW4a16Group = 128;  // k per scale
inline constexpr int kW4a16MaxM = 16;    // two 8-token MMA tiles
inline constexpr int kW4a16TileN = 16;   // n per packed tile (the MMA's 16 rows)
inline constexpr int kW4a16ChunkK = 64;  // k per 16-byte load of one lane

// Throws std::invalid_argument unless M in 1..kW4a16MaxM, N >= 1, K a positive multiple of kW4a16Group.
void w4a16_check_shape(int M, int N, int K);

// Bytes of the packed W: ceil(N / 16) * (K / 64) * 512. Checks N and K as above.
size_t w4a16_packed_bytes(int N, int K);

// packed (w4a16_packed_bytes) <- codes in scaling.h's int4 layout: ceil(K / 2) x N bytes, (k, n) in byte
// (k / 2) * N + n, low nibble = even k, two's complement. Host only.
void w4a16_pack(uint8_t* packed, const uint8_t* codes, int N, int K);

// The code in [-8, 7] of W[k][n] as stored in `packed`: the inverse of w4a16_pack, for tests and checks.
int w4a16_packed_code(const uint8_t* packed, int N, int K, int k, int n);

// C = A x dequantize(W) on `stream` (a cudaStream_t, nullptr = default); asynchronous. Device pointers.
// Throws std::invalid_argument for bad arguments (before any CUDA call) and std::runtime_error if the launch
// fails.
void launch_w4a16(float* C, const uint16_t* A, const void* packed_w, const float* scales, int M, int N, int K,
                  void* stream);

}  // namespace talklab::cuda
