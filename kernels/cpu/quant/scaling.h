// Scaling schemes: quantize a row-major float matrix into codes plus scales, and dequantize back.
//
// Operands. The matmul is C (M x N) = A (M x K) . B (K x N), both row-major, K the reduction dimension:
//   Operand::A  x is rows x cols = M x K, element (m, k) at x[m * K + k]
//   Operand::B  x is rows x cols = K x N, element (k, n) at x[k * N + n]
// Every scheme is "one scale per block of block_k elements along K times block_mn along M (A) or N (B)":
//   scheme       block_k x block_mn         scales                   K % block_k != 0
//   tensorwise   K x M (A) / K x N (B)       1                        any K (the block is the whole matrix)
//   rowwise      K x 1                       M (A, per row), N (B, per column)     any K
//   blockwise    128 x 1 (A), 128 x 128 (B)  DeepSeek-V3's fp8 recipe  std::invalid_argument
//   groupwise    g x 1 (g = 32, 64, 128...)  int4 weights (GPTQ/AWQ-style)        std::invalid_argument
//   mx           32 x 1                      e8m0 codes (mx.h)        handled: a partial last block
// Blockwise and groupwise reject a K that their blocks do not tile: the matmul applies one scale pair per K block
// in its inner loop, and A's and B's K blocks must line up, so a ragged last block would need its own path there.
// A partial block along M or N (B's 128-wide blocks) is harmless, since it never meets the other operand's
// blocks, and is allowed. MX takes any K with a shorter last block, as the MX rule is defined per block anyway.
//
// Layouts (ScaleGrid says which block an element belongs to):
//   scales  the block grid in the operand's own orientation, row-major: A: ceil(M / block_mn) x ceil(K / block_k),
//           scale of (m, k) at [(m / block_mn) * k_blocks + k / block_k]; B: ceil(K / block_k) x ceil(N / block_mn),
//           scale of (k, n) at [(k / block_k) * mn_blocks + n / block_mn].
//   codes   8-bit elements (fp8, int8 as two's complement): one byte each, same layout as x.
//           4-bit elements (int4, MX e2m1): two per byte, PAIRED ALONG K, low nibble = even k, so a K-reduction
//           reads both nibbles of a byte: A: M x ceil(K / 2) bytes, (m, k) in byte [m * ceil(K/2) + k / 2];
//           B: ceil(K / 2) x N bytes, (k, n) in byte [(k / 2) * N + n]. An odd K leaves the last high nibbles 0.
// Values: float-scaled schemes use scale = amax / max_code (symmetric_scale.h; zero blocks get 2^-126), codes
// fp8 = saturating RNE cast of x / scale (fp8.h), int8 / int4 = int_quant.h; dequantize is decode(code) * scale.
// MX follows mx.h exactly; dequantize is decode(code) * 2^(e - 127) (NaN where the scale is NaN).
// Non-finite input: float-scaled schemes throw std::invalid_argument (no finite scale exists and int codes
// cannot hold NaN); MX encodes it per spec (the block's scale becomes NaN).
// Shapes: rows, cols >= 1, else std::invalid_argument.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/quant/mx.h"

namespace talklab::cpu::quant {

enum class Operand { A, B };
enum class ElemType { fp8_e4m3fn, fp8_e5m2, int8, int4 };
enum class Scheme { tensorwise, rowwise, blockwise, groupwise, mx };

inline constexpr int64_t kBlockwiseK = 128;   // DeepSeek-V3: 1 x 128 activation tiles, 128 x 128 weight blocks
inline constexpr int64_t kBlockwiseMN = 128;

const char* elem_name(ElemType elem);
const char* scheme_name(Scheme scheme);
float elem_max(ElemType elem);  // largest code magnitude: 448, 57344, 127, 7
int elem_bits(ElemType elem);   // 8 or 4

// Block geometry of a quantized operand; see the layout table above.
struct ScaleGrid {
  Operand operand = Operand::A;
  int64_t rows = 0, cols = 0;        // the float matrix: M x K (A) or K x N (B)
  int64_t block_k = 1, block_mn = 1;

  int64_t K() const { return operand == Operand::A ? cols : rows; }
  int64_t MN() const { return operand == Operand::A ? rows : cols; }
  int64_t k_blocks() const { return (K() + block_k - 1) / block_k; }
  int64_t mn_blocks() const { return (MN() + block_mn - 1) / block_mn; }
  int64_t num_scales() const { return k_blocks() * mn_blocks(); }
  // Index into scales of the block holding element (r, c) of the float matrix.
  int64_t scale_index(int64_t r, int64_t c) const;
  // Byte holding element (r, c) in codes, and the nibble (0 low, 1 high) when elements are 4 bits.
  int64_t code_index(int64_t r, int64_t c, int bits) const;
  int nibble(int64_t r, int64_t c) const { return int((operand == Operand::A ? c : r) & 1); }
  int64_t code_bytes(int bits) const;
};

struct Quantized {
  Scheme scheme = Scheme::tensorwise;
  ElemType elem = ElemType::fp8_e4m3fn;
  ScaleGrid grid;
  std::vector<uint8_t> codes;
  std::vector<float> scales;
};

struct MxQuantized {
  MxElem elem = MxElem::e4m3;
  ScaleGrid grid;               // block_k = 32, block_mn = 1
  std::vector<uint8_t> codes;
  std::vector<uint8_t> scales;  // e8m0 codes
};

Quantized quantize_tensorwise(const float* x, Operand op, int64_t rows, int64_t cols, ElemType elem);
Quantized quantize_rowwise(const float* x, Operand op, int64_t rows, int64_t cols, ElemType elem);
Quantized quantize_blockwise(const float* x, Operand op, int64_t rows, int64_t cols,
                             ElemType elem = ElemType::fp8_e4m3fn);
Quantized quantize_groupwise(const float* x, Operand op, int64_t rows, int64_t cols, int64_t group,
                             ElemType elem = ElemType::int4);
MxQuantized quantize_mx(const float* x, Operand op, int64_t rows, int64_t cols, MxElem elem);

// Back to a rows x cols row-major float matrix.
std::vector<float> dequantize(const Quantized& q);
std::vector<float> dequantize(const MxQuantized& q);

}  // namespace talklab::cpu::quant
