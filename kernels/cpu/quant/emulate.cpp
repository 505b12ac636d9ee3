// Fused activation emulation (emulate.h): argument checks, dispatch, and the scalar path, which is the unfused
// chain's own codec calls per element (float_to_e4m3fn, quantize_mx_block, ...) without its buffers.
#include "kernels/cpu/quant/emulate.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/fp8.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::quant {

namespace detail {

ElemFormat elem_format(ElemType elem) {
  switch (elem) {
    case ElemType::fp8_e4m3fn: return {3, 7, kE4m3fnMax};
    case ElemType::fp8_e5m2: return {2, 15, kE5m2Max};
    default: break;
  }
  throw std::invalid_argument(std::string("quantize_decode_bf16: element type ") + elem_name(elem) +
                              " is not a float format");
}

ElemFormat elem_format(MxElem elem) {
  switch (elem) {
    case MxElem::e4m3: return elem_format(ElemType::fp8_e4m3fn);
    case MxElem::e5m2: return elem_format(ElemType::fp8_e5m2);
    case MxElem::e2m1: return {1, 1, kE2m1Max};
  }
  return {};
}

}  // namespace detail

namespace {

constexpr uint32_t kAbsMask = 0x7FFFFFFFu;
constexpr uint32_t kFloatInfBits = 0x7F800000u;
// Elements per thread at the least (~25 us of AVX-512 work): a fork / join costs a few us on an idle machine.
constexpr int64_t kGrain = int64_t(1) << 16;

void check_shape(int64_t rows, int64_t cols) {
  if (rows < 1 || cols < 1) {
    throw std::invalid_argument("quantize_decode_bf16: rows and cols must be >= 1, got " + std::to_string(rows) +
                                " x " + std::to_string(cols));
  }
}

struct Kernels {
  decltype(&scalar::abs_max_bits) abs_max_bits;
  decltype(&scalar::fp8_block) fp8_block;
  decltype(&scalar::mx_row) mx_row;
};

Kernels kernels_for(Isa isa) {
  const std::vector<Isa> ok = supported_isas();
  if (std::find(ok.begin(), ok.end(), isa) == ok.end()) {
    throw std::invalid_argument(std::string("quantize_decode_bf16: this CPU cannot run ISA ") + isa_name(isa));
  }
  if (isa == Isa::avx512) return {avx512::abs_max_bits, avx512::fp8_block, avx512::mx_row};
  return {scalar::abs_max_bits, scalar::fp8_block, scalar::mx_row};  // also the AVX2 level
}

int threads_for(int64_t rows, int64_t cols) {
  return int(std::clamp<int64_t>(rows * cols / kGrain, 1, std::min<int64_t>(rows, omp_get_max_threads())));
}

}  // namespace

namespace scalar {

uint32_t abs_max_bits(const float* x, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::bit_cast<uint32_t>(x[i]) & kAbsMask);
  return m;
}

void fp8_block(uint16_t* out, const float* x, int64_t n, float scale, ElemType elem) {
  for (int64_t i = 0; i < n; ++i) {
    const float y = x[i] / scale;  // scaling.cpp's encode and decode
    const float d = elem == ElemType::fp8_e4m3fn ? e4m3fn_to_float(float_to_e4m3fn(y, Fp8Cast::saturating))
                                                 : e5m2_to_float(float_to_e5m2(y, Fp8Cast::saturating));
    out[i] = float_to_bf16(d * scale);
  }
}

void mx_row(uint16_t* out, const float* x, int64_t n, MxElem elem) {
  uint8_t codes[kMxBlock];
  for (int64_t k0 = 0; k0 < n; k0 += kMxBlock) {
    const int64_t nb = std::min<int64_t>(kMxBlock, n - k0);
    const float scale = e8m0_to_float(quantize_mx_block(codes, x + k0, nb, 1, elem));
    for (int64_t i = 0; i < nb; ++i) out[k0 + i] = float_to_bf16(mx_elem_decode(elem, codes[i]) * scale);
  }
}

}  // namespace scalar

void quantize_decode_bf16(uint16_t* out, const float* x, int64_t rows, int64_t cols, Scheme scheme, ElemType elem,
                          Isa isa) {
  check_shape(rows, cols);
  const Kernels kern = kernels_for(isa);
  detail::elem_format(elem);  // throws for int8 / int4
  int64_t block_k = cols;
  switch (scheme) {
    case Scheme::tensorwise:
    case Scheme::rowwise: break;
    case Scheme::blockwise:
      if (cols % kBlockwiseK != 0) {
        throw std::invalid_argument("quantize_decode_bf16: K = " + std::to_string(cols) +
                                    " is not a multiple of the block size " + std::to_string(kBlockwiseK) +
                                    " (blockwise scaling needs whole blocks along K)");
      }
      block_k = kBlockwiseK;
      break;
    default:
      throw std::invalid_argument(std::string("quantize_decode_bf16: scheme ") + scheme_name(scheme) +
                                  " is not a float-scaled fp8 scheme");
  }
  const bool tensorwise = scheme == Scheme::tensorwise;
  const int nt = threads_for(rows, cols);
  const float max_code = elem_max(elem);
  uint32_t tensor_amax = 0;
  int64_t bad_row = -1;  // a row with non-finite input: its blocks are skipped, then the call throws
  // One parallel region per call, even for tensorwise's two passes: on a loaded machine each fork can wait a
  // scheduler tick for a sleeping worker (measured: 8 ms per region with other jobs on both cores).
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    if (tensorwise) {
#pragma omp for schedule(static) reduction(max : tensor_amax)
      for (int64_t r = 0; r < rows; ++r) tensor_amax = std::max(tensor_amax, kern.abs_max_bits(x + r * cols, cols));
    }  // the loop's barrier publishes tensor_amax to every thread
#pragma omp for schedule(static) reduction(max : bad_row)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k0 = 0; k0 < cols; k0 += block_k) {
        const float* xb = x + r * cols + k0;
        const uint32_t amax = tensorwise ? tensor_amax : kern.abs_max_bits(xb, block_k);
        if (amax >= kFloatInfBits) {
          bad_row = std::max(bad_row, r);
          continue;
        }
        kern.fp8_block(out + r * cols + k0, xb, block_k, symmetric_scale(std::bit_cast<float>(amax), max_code),
                       elem);
      }
    }
  }
  if (bad_row >= 0) {
    throw std::invalid_argument(std::string("quantize_decode_bf16: non-finite input") +
                                (tensorwise ? "" : " in row " + std::to_string(bad_row)) +
                                "; a float scale cannot represent it");
  }
}

void quantize_decode_bf16(uint16_t* out, const float* x, int64_t rows, int64_t cols, MxElem elem, Isa isa) {
  check_shape(rows, cols);
  const Kernels kern = kernels_for(isa);
  const int nt = threads_for(rows, cols);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r) kern.mx_row(out + r * cols, x + r * cols, cols, elem);
}

}  // namespace talklab::cpu::quant
