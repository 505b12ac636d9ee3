// AVX-512 fused activation emulation (emulate.h): fp32 -> scale -> element type -> decoded * scale -> bf16, 32
// elements per step, bit-identical to the scalar codecs.
//   Element rounding: with E = max(binade of |y|, the type's smallest normal binade), C = 2^(E + 23 - man_bits) has
//     a float ulp equal to the element grid's spacing at |y|, and |y| << C, so the float sum |y| + C rounds |y| to
//     that grid with ties to even (the hardware's RNE; an even sum significand is an even element mantissa), and
//     (|y| + C) - C is exact. That is minifloat.h's round_to_code, subnormals and the carry into the next binade
//     included, in 2 float ops; a min against the largest value saturates (480 or 512 -> 448, 8 -> 6). E is capped
//     at the binade past the largest value, so huge |y| (and inf) still land above it and saturate (defensive: the
//     callers' |y| stays below 2^(emax + 1): amax / scale <= max (1 + 2^-23) for fp8, by the e8m0 rule for MX).
//   bf16: bf16.h's integer RNE (VCVTNEPS2BF16 would flush the float subnormals that small scales produce), then
//     one vpermt2w takes the high halves of 32 lanes.
// Per 16 elements ~16 vector ops (one vdivps for fp8: the reference divides), 64 bytes in, 32 out.
// Measured (Zen 4, A = 1024 x 4096 randn, best of 30, shared machine): 0.34-0.42 ns per element on one thread for
// every recipe (~15-18 GB/s of A in + bf16 out), 0.15-0.2 on two when the second core is free; the scalar fused
// path (emulate.cpp) 11-21 ns, the unfused quantize_* + dequantize + float_to_bf16 chain 22-31 ns.
// GCC 12's AVX-512 intrinsics initialize their undefined pass-through operands from themselves (as in
// matmul_avx512.cpp), which _mm512_reduce_max_epu32 turns into a definite -Wuninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <bit>

#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/emulate.h"

namespace talklab::cpu::quant::avx512 {
namespace {

constexpr uint32_t kAbsMask = 0x7FFFFFFFu;
constexpr uint32_t kExpMask = 0x7F800000u;
constexpr uint32_t kFloatInfBits = 0x7F800000u;
constexpr int kFloatManBits = 23;
constexpr int kFloatBias = 127;
constexpr int64_t kStep = 32;  // elements per step: two zmm, one 64-byte bf16 store

// The element type's constants, broadcast.
struct Grid {
  __m512i emin_bits;  // exponent field of the smallest normal binade, 1 - bias
  __m512i ecap_bits;  // exponent field of the binade just above max
  __m512i ulp_shift;  // (23 - man_bits) << 23: exponent of C = E + 23 - man_bits
  __m512 max;
};

Grid make_grid(const detail::ElemFormat& f) {
  const int emax = int(std::bit_cast<uint32_t>(f.max) >> kFloatManBits) - kFloatBias;
  return Grid{_mm512_set1_epi32((1 - f.bias + kFloatBias) << kFloatManBits),
              _mm512_set1_epi32((emax + 1 + kFloatBias) << kFloatManBits),
              _mm512_set1_epi32((kFloatManBits - f.man_bits) << kFloatManBits), _mm512_set1_ps(f.max)};
}

// y rounded to the element type (nearest, ties to even, saturating), sign kept (-0 too).
inline __m512 round_to_elem(__m512 y, const Grid& g) {
  const __m512i bits = _mm512_castps_si512(y);
  const __m512i abs_bits = _mm512_and_si512(bits, _mm512_set1_epi32(int(kAbsMask)));
  __m512i e = _mm512_and_si512(bits, _mm512_set1_epi32(int(kExpMask)));
  e = _mm512_min_epi32(_mm512_max_epi32(e, g.emin_bits), g.ecap_bits);
  const __m512 c = _mm512_castsi512_ps(_mm512_add_epi32(e, g.ulp_shift));
  const __m512 r = _mm512_min_ps(_mm512_sub_ps(_mm512_add_ps(_mm512_castsi512_ps(abs_bits), c), c), g.max);
  // r | (bits & ~abs_mask): ternary logic A | (B & ~C) = 0xF0 | (0xCC & ~0xAA) = 0xF4.
  return _mm512_castsi512_ps(
      _mm512_ternarylogic_epi32(_mm512_castps_si512(r), bits, _mm512_set1_epi32(int(kAbsMask)), 0xF4));
}

// float_to_bf16 of a finite or infinite v, left in the high half of each lane.
inline __m512i round_to_bf16_high(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  return _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb);
}

inline __mmask16 lanes(int64_t n) { return __mmask16(_bzhi_u32(0xFFFFu, unsigned(std::clamp<int64_t>(n, 0, 16)))); }

// Writes n <= 32 bf16 of round_to_elem(x * inv or x / scale) * scale; x0, x1 hold the n floats (zeros past n).
template <bool kDivide>
inline void emulate_step(uint16_t* out, __m512 x0, __m512 x1, int64_t n, __m512 inv, __m512 scale, const Grid& g) {
  const __m512 y0 = kDivide ? _mm512_div_ps(x0, scale) : _mm512_mul_ps(x0, inv);
  const __m512 y1 = kDivide ? _mm512_div_ps(x1, scale) : _mm512_mul_ps(x1, inv);
  const __m512i h0 = round_to_bf16_high(_mm512_mul_ps(round_to_elem(y0, g), scale));
  const __m512i h1 = round_to_bf16_high(_mm512_mul_ps(round_to_elem(y1, g), scale));
  const __m512i odd_words = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29,
                                             27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  const __mmask32 m = __mmask32(_bzhi_u32(0xFFFFFFFFu, unsigned(n)));
  _mm512_mask_storeu_epi16(out, m, _mm512_permutex2var_epi16(h0, odd_words, h1));
}

}  // namespace

// Integer max is float max for non-negative floats.
uint32_t abs_max_bits(const float* x, int64_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(int(kAbsMask));
  __m512i m = _mm512_setzero_si512();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(lanes(n - i), x + i));
    m = _mm512_max_epu32(m, _mm512_and_si512(v, abs_mask));
  }
  return _mm512_reduce_max_epu32(m);
}

void fp8_block(uint16_t* out, const float* x, int64_t n, float scale, ElemType elem) {
  const Grid g = make_grid(detail::elem_format(elem));
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < n; i += kStep) {
    const __m512 x0 = _mm512_maskz_loadu_ps(lanes(n - i), x + i);
    const __m512 x1 = _mm512_maskz_loadu_ps(lanes(n - i - 16), x + i + 16);
    emulate_step<true>(out + i, x0, x1, std::min(kStep, n - i), vs, vs, g);
  }
}

void mx_row(uint16_t* out, const float* x, int64_t n, MxElem elem) {
  static_assert(kMxBlock == kStep, "one MX block per step");
  const Grid g = make_grid(detail::elem_format(elem));
  // A block with NaN or inf has a NaN scale and zero codes: every element decodes to 0 * NaN.
  const uint16_t nan_block = float_to_bf16(mx_elem_decode(elem, 0) * e8m0_to_float(kE8m0Nan));
  const __m512i abs_mask = _mm512_set1_epi32(int(kAbsMask));
  for (int64_t k0 = 0; k0 < n; k0 += kMxBlock) {
    const int64_t nb = std::min<int64_t>(kMxBlock, n - k0);
    const __m512 x0 = _mm512_maskz_loadu_ps(lanes(nb), x + k0);
    const __m512 x1 = _mm512_maskz_loadu_ps(lanes(nb - 16), x + k0 + 16);
    const uint32_t amax_bits = _mm512_reduce_max_epu32(_mm512_max_epu32(
        _mm512_and_si512(_mm512_castps_si512(x0), abs_mask), _mm512_and_si512(_mm512_castps_si512(x1), abs_mask)));
    if (amax_bits >= kFloatInfBits) {
      std::fill(out + k0, out + k0 + nb, nan_block);
      continue;
    }
    // The block's scale depends on its amax alone, so the rule (mx.h) runs on that one value.
    const float amax = std::bit_cast<float>(amax_bits);
    const uint8_t s = mx_block_scale(&amax, 1, 1, elem);
    // 2^-shared, shared = s - 127 in [-127, 125]: a normal float, so x * inv is ldexp(x, -shared) exactly (an
    // underflowing product rounds once either way, far below the element type's smallest subnormal).
    const __m512 inv = _mm512_castsi512_ps(_mm512_set1_epi32((2 * kE8m0Bias - int(s)) << kFloatManBits));
    emulate_step<false>(out + k0, x0, x1, nb, inv, _mm512_set1_ps(e8m0_to_float(s)), g);
  }
}

}  // namespace talklab::cpu::quant::avx512
