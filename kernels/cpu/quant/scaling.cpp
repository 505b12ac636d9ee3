// Scaling schemes over row-major matrices; layouts, block shapes and K rules in scaling.h. One generic engine:
// every scheme is a block grid (block_k x block_mn), each block gets amax -> scale -> codes.
#include "kernels/cpu/quant/scaling.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/quant/fp8.h"
#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::quant {

namespace {

std::string fn_name(Scheme scheme) { return std::string("quantize_") + scheme_name(scheme); }

ScaleGrid make_grid(Scheme scheme, Operand op, int64_t rows, int64_t cols, int64_t block_k, int64_t block_mn) {
  if (rows < 1 || cols < 1) {
    throw std::invalid_argument(fn_name(scheme) + ": rows and cols must be >= 1, got " + std::to_string(rows) +
                                " x " + std::to_string(cols));
  }
  ScaleGrid g;
  g.operand = op;
  g.rows = rows;
  g.cols = cols;
  g.block_k = block_k;
  g.block_mn = block_mn;
  return g;
}

void require_k_multiple(Scheme scheme, const ScaleGrid& g, const char* what) {
  if (g.K() % g.block_k != 0) {
    throw std::invalid_argument(fn_name(scheme) + ": K = " + std::to_string(g.K()) + " is not a multiple of the " +
                                what + " " + std::to_string(g.block_k) + " (" + scheme_name(scheme) +
                                " scaling needs whole blocks along K)");
  }
}

uint8_t encode(ElemType elem, float x, float scale) {
  switch (elem) {
    case ElemType::fp8_e4m3fn: return float_to_e4m3fn(x / scale, Fp8Cast::saturating);
    case ElemType::fp8_e5m2: return float_to_e5m2(x / scale, Fp8Cast::saturating);
    case ElemType::int8: return uint8_t(quantize_int8(x, scale));
    case ElemType::int4: return uint8_t(quantize_int4(x, scale) & 0xF);
  }
  return 0;
}

float decode(ElemType elem, uint8_t code) {
  switch (elem) {
    case ElemType::fp8_e4m3fn: return e4m3fn_to_float(code);
    case ElemType::fp8_e5m2: return e5m2_to_float(code);
    case ElemType::int8: return float(int8_t(code));
    case ElemType::int4: return float(int4_from_nibble(code));
  }
  return 0.0f;
}

// codes must start zeroed when bits == 4 (nibbles are OR-ed in).
void store_code(std::vector<uint8_t>& codes, const ScaleGrid& g, int bits, int64_t r, int64_t c, uint8_t code) {
  const int64_t i = g.code_index(r, c, bits);
  if (bits == 8) {
    codes[i] = code;
  } else {
    codes[i] = uint8_t(codes[i] | ((code & 0xF) << (4 * g.nibble(r, c))));
  }
}

uint8_t load_code(const std::vector<uint8_t>& codes, const ScaleGrid& g, int bits, int64_t r, int64_t c) {
  const uint8_t byte = codes[g.code_index(r, c, bits)];
  return bits == 8 ? byte : uint8_t((byte >> (4 * g.nibble(r, c))) & 0xF);
}

// Element (k, j) of the operand, j along M (A) or N (B), as (row, col) of the float matrix.
struct Rc {
  int64_t r, c;
};
Rc rc_of(const ScaleGrid& g, int64_t k, int64_t j) { return g.operand == Operand::A ? Rc{j, k} : Rc{k, j}; }

// Calls f(r, c) for every element of block (kb, jb).
template <class F>
void for_block(const ScaleGrid& g, int64_t kb, int64_t jb, F&& f) {
  const int64_t k0 = kb * g.block_k, k1 = std::min(g.K(), k0 + g.block_k);
  const int64_t j0 = jb * g.block_mn, j1 = std::min(g.MN(), j0 + g.block_mn);
  if (g.operand == Operand::A) {  // walk row-major: j (= m) outer, k inner
    for (int64_t j = j0; j < j1; ++j)
      for (int64_t k = k0; k < k1; ++k) f(j, k);
  } else {
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t j = j0; j < j1; ++j) f(k, j);
  }
}

Quantized quantize_blocks(Scheme scheme, const float* x, const ScaleGrid& g, ElemType elem) {
  Quantized q;
  q.scheme = scheme;
  q.elem = elem;
  q.grid = g;
  const int bits = elem_bits(elem);
  q.codes.assign(size_t(g.code_bytes(bits)), 0);
  q.scales.assign(size_t(g.num_scales()), 0.0f);
  const float max_code = elem_max(elem);
  for (int64_t jb = 0; jb < g.mn_blocks(); ++jb) {
    for (int64_t kb = 0; kb < g.k_blocks(); ++kb) {
      float amax = 0.0f;
      for_block(g, kb, jb, [&](int64_t r, int64_t c) {
        const float v = x[r * g.cols + c];
        if (!std::isfinite(v)) {
          throw std::invalid_argument(fn_name(scheme) + ": non-finite input at (" + std::to_string(r) + ", " +
                                      std::to_string(c) + "); a float scale cannot represent it");
        }
        amax = std::max(amax, std::fabs(v));
      });
      const float scale = symmetric_scale(amax, max_code);
      const Rc first = rc_of(g, kb * g.block_k, jb * g.block_mn);
      q.scales[g.scale_index(first.r, first.c)] = scale;
      for_block(g, kb, jb, [&](int64_t r, int64_t c) {
        store_code(q.codes, g, bits, r, c, encode(elem, x[r * g.cols + c], scale));
      });
    }
  }
  return q;
}

}  // namespace

const char* elem_name(ElemType elem) {
  switch (elem) {
    case ElemType::fp8_e4m3fn: return "fp8_e4m3fn";
    case ElemType::fp8_e5m2: return "fp8_e5m2";
    case ElemType::int8: return "int8";
    case ElemType::int4: return "int4";
  }
  return "?";
}

const char* scheme_name(Scheme scheme) {
  switch (scheme) {
    case Scheme::tensorwise: return "tensorwise";
    case Scheme::rowwise: return "rowwise";
    case Scheme::blockwise: return "blockwise";
    case Scheme::groupwise: return "groupwise";
    case Scheme::mx: return "mx";
  }
  return "?";
}

float elem_max(ElemType elem) {
  switch (elem) {
    case ElemType::fp8_e4m3fn: return kE4m3fnMax;
    case ElemType::fp8_e5m2: return kE5m2Max;
    case ElemType::int8: return float(kInt8Max);
    case ElemType::int4: return float(kInt4Max);
  }
  return 0.0f;
}

int elem_bits(ElemType elem) { return elem == ElemType::int4 ? 4 : 8; }

int64_t ScaleGrid::scale_index(int64_t r, int64_t c) const {
  if (operand == Operand::A) return (r / block_mn) * k_blocks() + c / block_k;
  return (r / block_k) * mn_blocks() + c / block_mn;
}

int64_t ScaleGrid::code_index(int64_t r, int64_t c, int bits) const {
  if (bits == 8) return r * cols + c;
  if (operand == Operand::A) return r * ((cols + 1) / 2) + c / 2;
  return (r / 2) * cols + c;
}

int64_t ScaleGrid::code_bytes(int bits) const {
  if (bits == 8) return rows * cols;
  return operand == Operand::A ? rows * ((cols + 1) / 2) : ((rows + 1) / 2) * cols;
}

Quantized quantize_tensorwise(const float* x, Operand op, int64_t rows, int64_t cols, ElemType elem) {
  const Scheme s = Scheme::tensorwise;
  const ScaleGrid g0 = make_grid(s, op, rows, cols, 1, 1);
  return quantize_blocks(s, x, make_grid(s, op, rows, cols, g0.K(), g0.MN()), elem);
}

Quantized quantize_rowwise(const float* x, Operand op, int64_t rows, int64_t cols, ElemType elem) {
  const Scheme s = Scheme::rowwise;
  const ScaleGrid g0 = make_grid(s, op, rows, cols, 1, 1);
  return quantize_blocks(s, x, make_grid(s, op, rows, cols, g0.K(), 1), elem);
}

Quantized quantize_blockwise(const float* x, Operand op, int64_t rows, int64_t cols, ElemType elem) {
  const Scheme s = Scheme::blockwise;
  const ScaleGrid g = make_grid(s, op, rows, cols, kBlockwiseK, op == Operand::A ? 1 : kBlockwiseMN);
  require_k_multiple(s, g, "block size");
  return quantize_blocks(s, x, g, elem);
}

Quantized quantize_groupwise(const float* x, Operand op, int64_t rows, int64_t cols, int64_t group,
                             ElemType elem) {
  const Scheme s = Scheme::groupwise;
  if (group < 1) throw std::invalid_argument(fn_name(s) + ": group size must be >= 1, got " + std::to_string(group));
  const ScaleGrid g = make_grid(s, op, rows, cols, group, 1);
  require_k_multiple(s, g, "group size");
  return quantize_blocks(s, x, g, elem);
}

MxQuantized quantize_mx(const float* x, Operand op, int64_t rows, int64_t cols, MxElem elem) {
  MxQuantized q;
  q.elem = elem;
  q.grid = make_grid(Scheme::mx, op, rows, cols, kMxBlock, 1);
  const ScaleGrid& g = q.grid;
  const int bits = mx_elem_bits(elem);
  q.codes.assign(size_t(g.code_bytes(bits)), 0);
  q.scales.assign(size_t(g.num_scales()), 0);
  const int64_t k_stride = op == Operand::A ? 1 : cols;
  uint8_t block_codes[kMxBlock];
  for (int64_t j = 0; j < g.MN(); ++j) {
    for (int64_t kb = 0; kb < g.k_blocks(); ++kb) {
      const int64_t k0 = kb * kMxBlock;
      const int64_t n = std::min<int64_t>(kMxBlock, g.K() - k0);
      const Rc first = rc_of(g, k0, j);
      q.scales[g.scale_index(first.r, first.c)] =
          quantize_mx_block(block_codes, x + first.r * cols + first.c, n, k_stride, elem);
      for (int64_t i = 0; i < n; ++i) {
        const Rc e = rc_of(g, k0 + i, j);
        store_code(q.codes, g, bits, e.r, e.c, block_codes[i]);
      }
    }
  }
  return q;
}

std::vector<float> dequantize(const Quantized& q) {
  const ScaleGrid& g = q.grid;
  const int bits = elem_bits(q.elem);
  std::vector<float> out(size_t(g.rows * g.cols));
  for (int64_t r = 0; r < g.rows; ++r) {
    for (int64_t c = 0; c < g.cols; ++c) {
      out[r * g.cols + c] = decode(q.elem, load_code(q.codes, g, bits, r, c)) * q.scales[g.scale_index(r, c)];
    }
  }
  return out;
}

std::vector<float> dequantize(const MxQuantized& q) {
  const ScaleGrid& g = q.grid;
  const int bits = mx_elem_bits(q.elem);
  std::vector<float> out(size_t(g.rows * g.cols));
  for (int64_t r = 0; r < g.rows; ++r) {
    for (int64_t c = 0; c < g.cols; ++c) {
      const float scale = e8m0_to_float(q.scales[g.scale_index(r, c)]);
      out[r * g.cols + c] = mx_elem_decode(q.elem, load_code(q.codes, g, bits, r, c)) * scale;
    }
  }
  return out;
}

}  // namespace talklab::cpu::quant
