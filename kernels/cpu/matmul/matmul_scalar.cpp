// Portable fallback of the low-precision matmuls (matmul.h), for CPUs without AVX2 (the lowest Isa level). Reads
// the same packed B as the AVX-512 path, so packing is tested by every ISA. Correct, not fast: compute-bound at
// scalar speed. Rows are split over OpenMP threads. Bench: `bench --filter matmul`.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::matmul::scalar {
namespace {
constexpr float kInt8MaxCode = 127.0f;
constexpr int32_t kActivationShift = 128;
}  // namespace

void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    const float* a = A + size_t(m) * K;
    float amax = 0.0f;
    for (int k = 0; k < K; ++k) amax = std::max(amax, std::fabs(a[k]));
    a_scale[m] = quant::symmetric_scale(amax, kInt8MaxCode);
    for (int k = 0; k < K; ++k) Aq[size_t(m) * K + k] = quant::quantize_int8(a[k], a_scale[m]);
  }
}

void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M) {
  const int K = B.K, N = B.N;
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      const uint32_t* b = B.data.data() + size_t(n / kPanelN) * B.groups * kPanelN + n % kPanelN;
      const uint16_t* a = A + size_t(m) * K;
      float acc = 0.0f;
      for (int g = 0; g < B.groups; ++g) {
        const uint32_t d = b[size_t(g) * kPanelN];
        // Same pair order as vdpbf16ps; the rounding of the pair sum differs, within the tolerance.
        acc += quant::bf16_to_float(a[2 * g]) * quant::bf16_to_float(uint16_t(d));
        if (2 * g + 1 < K) acc += quant::bf16_to_float(a[2 * g + 1]) * quant::bf16_to_float(uint16_t(d >> 16));
      }
      C[size_t(m) * N + n] = acc;
    }
}

void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M) {
  const int K = B.K, N = B.N;
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      const uint32_t* b = B.data.data() + size_t(n / kPanelN) * B.groups * kPanelN + n % kPanelN;
      const int8_t* a = Aq + size_t(m) * K;
      int32_t acc = 0;  // the AVX-512 path's arithmetic: (a + 128) * b, then minus 128 * colsum(b)
      for (int k = 0; k < K; ++k)
        acc += (a[k] + kActivationShift) * int8_t(uint8_t(b[size_t(k / 4) * kPanelN] >> (8 * (k % 4))));
      acc -= B.zero_comp[n];
      C[size_t(m) * N + n] = float(acc) * a_scale[m] * B.scale[n];
    }
}

}  // namespace talklab::cpu::matmul::scalar
