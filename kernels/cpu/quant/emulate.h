// Emulating a low-precision activation on a bf16 kernel, fused: A (M x K fp32, row-major, Operand::A of
// scaling.h) -> scale per the scheme -> element codes -> decoded * scale -> bf16, in one pass over A, no allocation.
// The result is bit-identical to the unfused scalar chain
//   float_to_bf16(dequantize(quantize_<scheme>(A, Operand::A, M, K, elem))[i])
// for every finite A (tests/kernels/cpu/quant/test_emulate.cpp); MX also matches on non-finite blocks (NaN).
//   float-scaled  Scheme::tensorwise (one amax over A), rowwise (per row), blockwise (per 1 x 128 along K, K % 128
//                 == 0); elements fp8_e4m3fn or fp8_e5m2; scale = symmetric_scale(amax, elem_max), y = x / scale
//                 (a true division, as scaling.cpp does), saturating RNE cast, decoded * scale.
//   MX            e8m0 scale per 32 along K by mx_block_scale (mx.h), any K; elements e4m3, e5m2 or e2m1.
// Why it is fast (emulate_avx512.cpp): "round y to the element type" is one float add and subtract of a magic
// power of two (the element grid's ulp at y's binade), then a min for saturation; bf16 rounding is integer ops.
// Memory-bound: reads 4 bytes and writes 2 per element. Threads: up to omp_get_max_threads() over rows, one
// parallel region per call, at least 64K elements per thread.
// Bench: `bench --filter 'matmul/(fp8|mx)'` reports it as the counter act_quant_s.
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/quant/mx.h"
#include "kernels/cpu/quant/scaling.h"

namespace talklab::cpu::quant {

// out: rows x cols bf16 (raw uint16_t), fully overwritten. Float-scaled schemes throw std::invalid_argument on
// non-finite input (as quantize_* does; out is then partly written), on scheme groupwise / mx, elem int8 / int4,
// and on blockwise with cols % 128 != 0. isa must be in supported_isas(); the AVX2 level runs the scalar path.
void quantize_decode_bf16(uint16_t* out, const float* x, int64_t rows, int64_t cols, Scheme scheme, ElemType elem,
                          Isa isa);
void quantize_decode_bf16(uint16_t* out, const float* x, int64_t rows, int64_t cols, MxElem elem, Isa isa);

namespace detail {
// A small float element type as minifloat.h describes it.
struct ElemFormat {
  int man_bits;
  int bias;
  float max;  // largest finite magnitude; rounded magnitudes above it saturate to it
};
ElemFormat elem_format(ElemType elem);  // fp8 only
ElemFormat elem_format(MxElem elem);
}  // namespace detail

// The per-ISA pieces, driven by the functions above (call those instead), which own the row / block loops, the
// threads and the checks.
namespace scalar {
uint32_t abs_max_bits(const float* x, int64_t n);  // max of |x[i]|'s bits: NaN sorts above inf
// out[i] = bf16(decode(saturating cast of x[i] / scale) * scale), i < n: one block of a float-scaled scheme.
void fp8_block(uint16_t* out, const float* x, int64_t n, float scale, ElemType elem);
void mx_row(uint16_t* out, const float* x, int64_t n, MxElem elem);  // one row: its MX blocks of 32
}  // namespace scalar
namespace avx512 {
uint32_t abs_max_bits(const float* x, int64_t n);
void fp8_block(uint16_t* out, const float* x, int64_t n, float scale, ElemType elem);
void mx_row(uint16_t* out, const float* x, int64_t n, MxElem elem);
}  // namespace avx512

}  // namespace talklab::cpu::quant
