// AVX2 fallback of the low-precision matmuls (matmul.h) for CPUs without AVX512_BF16 / VNNI. Reads the same packed
// B as the AVX-512 path. Correct, modestly fast: one row x one 32-column panel at a time (4 ymm accumulators), no
// cache blocking; compute-bound. Rows are split over OpenMP threads. Bench: `bench --filter matmul`.
//   bf16: each packed dword holds a K pair; the low bf16 becomes a float by << 16, the high by masking, then two FMAs.
//   int8: no +128 shift here: maddubs(|a|, sign(b, a)) multiplies the signed codes exactly (|a|, |b| <= 127, so
//         a pair sum <= 2 * 127^2 fits int16 without saturating), then madd with ones widens pairs to int32.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/matmul/matmul.h"

namespace talklab::cpu::matmul::avx2 {
namespace {

// Dword g of a row of n elements of `bytes` bytes each, zero past the end (K not a multiple of the group).
uint32_t row_group(const void* row, int g, int per_group, int n, int bytes) {
  uint32_t d = 0;
  const int avail = std::min(per_group, n - g * per_group);
  std::memcpy(&d, static_cast<const char*>(row) + size_t(g) * per_group * bytes, size_t(avail) * bytes);
  return d;
}

}  // namespace

void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M) {
  const int K = B.K, N = B.N;
  const __m256i hi_mask = _mm256_set1_epi32(int(0xFFFF0000u));
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    const uint16_t* a = A + size_t(m) * K;
    for (int p = 0; p < B.panels; ++p) {
      const uint32_t* b = B.data.data() + size_t(p) * B.groups * kPanelN;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int g = 0; g < B.groups; ++g, b += kPanelN) {
        const __m256i av = _mm256_set1_epi32(int(row_group(a, g, 2, K, 2)));
        const __m256 a_lo = _mm256_castsi256_ps(_mm256_slli_epi32(av, 16));
        const __m256 a_hi = _mm256_castsi256_ps(_mm256_and_si256(av, hi_mask));
        for (int j = 0; j < 4; ++j) {
          const __m256i bv = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 8 * j));
          acc[j] = _mm256_fmadd_ps(a_lo, _mm256_castsi256_ps(_mm256_slli_epi32(bv, 16)), acc[j]);
          acc[j] = _mm256_fmadd_ps(a_hi, _mm256_castsi256_ps(_mm256_and_si256(bv, hi_mask)), acc[j]);
        }
      }
      float out[kPanelN];
      for (int j = 0; j < 4; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
      const int cols = std::min(kPanelN, N - p * kPanelN);
      std::memcpy(C + size_t(m) * N + size_t(p) * kPanelN, out, size_t(cols) * sizeof(float));
    }
  }
}

void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M) {
  const int K = B.K, N = B.N;
  const __m256i ones = _mm256_set1_epi16(1);
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    const int8_t* a = Aq + size_t(m) * K;
    for (int p = 0; p < B.panels; ++p) {
      const uint32_t* b = B.data.data() + size_t(p) * B.groups * kPanelN;
      __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()};
      for (int g = 0; g < B.groups; ++g, b += kPanelN) {
        const __m256i av = _mm256_set1_epi32(int(row_group(a, g, 4, K, 1)));
        const __m256i a_abs = _mm256_abs_epi8(av);
        for (int j = 0; j < 4; ++j) {
          const __m256i bv = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 8 * j));
          const __m256i pairs = _mm256_maddubs_epi16(a_abs, _mm256_sign_epi8(bv, av));
          acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(pairs, ones));
        }
      }
      int32_t out[kPanelN];
      for (int j = 0; j < 4; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * j), acc[j]);
      const int cols = std::min(kPanelN, N - p * kPanelN);
      for (int j = 0; j < cols; ++j) {
        const int n = p * kPanelN + j;
        C[size_t(m) * N + n] = float(out[j]) * a_scale[m] * B.scale[n];
      }
    }
  }
}

}  // namespace talklab::cpu::matmul::avx2
