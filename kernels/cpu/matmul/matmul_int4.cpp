// int4 w4a16 (matmul_int4.h): weight packing (offline, scalar), run-time dispatch, and the scalar path. The
// scalar path reads the same packed codes through PackedBInt4::code, so every ISA tests the packing; it keeps the
// AVX-512 path's arithmetic (fp32 sum per group, times the group's scale). Correct, not fast.
// Bench: `bench --filter matmul/int4_w4a16`.
#include "kernels/cpu/matmul/matmul_int4.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/scaling.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::matmul {
namespace {

// Bit offset of k's nibble inside its packed dword: even k in the low word, odd k in the high word.
int nibble_shift(int k) { return 16 * (k % 2) + 4 * (k % kInt4KPerDword / 2); }
// The dword holding (k, n) in codes, and the scale of (group gi, n) in scales.
size_t code_index(int K, int k, int n) {
  return (size_t(n / kPanelN) * (K / kInt4KPerDword) + k / kInt4KPerDword) * kPanelN + n % kPanelN;
}
size_t scale_index(int groups, int gi, int n) { return (size_t(n / kPanelN) * groups + gi) * kPanelN + n % kPanelN; }

}  // namespace

int8_t PackedBInt4::code(int k, int n) const {
  return quant::int4_from_nibble(uint8_t(codes[code_index(K, k, n)] >> nibble_shift(k)));
}
float PackedBInt4::scale(int k, int n) const {
  return quant::bf16_to_float(scales[scale_index(groups, k / group, n)]);
}

void round_a_int16(const uint16_t* A, int K, int group, int16_t* codes, float* scales) {
  for (int g = 0; g < K / group; ++g) {
    const uint16_t* a = A + size_t(g) * group;
    float amax = 0.0f;
    for (int k = 0; k < group; ++k) amax = std::max(amax, std::abs(quant::bf16_to_float(a[k])));
    scales[g] = quant::symmetric_scale(amax, float(quant::kInt16Max));
    for (int k = 0; k < group; ++k) codes[size_t(g) * group + k] = quant::quantize_int16(quant::bf16_to_float(a[k]), scales[g]);
  }
}

void check_int4_group(int K, int group) {
  if (group != 32 && group != 64 && group != 128) {
    throw std::invalid_argument("int4_w4a16: group = " + std::to_string(group) + " (K = " + std::to_string(K) +
                                ") is not one of 32, 64, 128");
  }
  if (K < 1 || K % group != 0) {
    throw std::invalid_argument("int4_w4a16: K = " + std::to_string(K) + " is not a positive multiple of the group " +
                                std::to_string(group));
  }
}

PackedBInt4 pack_b_int4(const uint8_t* codes, const float* scales, int K, int N, int group) {
  check_int4_group(K, group);
  PackedBInt4 p;
  p.K = K, p.N = N, p.group = group, p.groups = K / group, p.panels = (N + kPanelN - 1) / kPanelN;
  p.codes.assign(size_t(p.panels) * (K / kInt4KPerDword) * kPanelN, 0u);
  p.scales.assign(size_t(p.panels) * p.groups * kPanelN, uint16_t(0));
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) {
      const uint32_t nibble = (codes[size_t(k / 2) * N + n] >> (4 * (k % 2))) & 0xFu;
      p.codes[code_index(K, k, n)] |= nibble << nibble_shift(k);
    }
  for (int gi = 0; gi < p.groups; ++gi)
    for (int n = 0; n < N; ++n)
      p.scales[scale_index(p.groups, gi, n)] = quant::float_to_bf16(scales[size_t(gi) * N + n]);
  return p;
}

PackedBInt4 quantize_pack_b_int4(const float* B, int K, int N, int group) {
  check_int4_group(K, group);
  const quant::Quantized q = quant::quantize_groupwise(B, quant::Operand::B, K, N, group, quant::ElemType::int4);
  return pack_b_int4(q.codes.data(), q.scales.data(), K, N, group);
}

void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M, Isa isa) {
  const std::vector<Isa> isas = supported_isas();
  if (std::find(isas.begin(), isas.end(), isa) == isas.end()) {
    throw std::invalid_argument(std::string("matmul_int4_w4a16: ISA not supported by this CPU: ") + isa_name(isa));
  }
  if (isa == Isa::avx512) return avx512::matmul_int4_w4a16(C, A, B, M);
  if (isa == Isa::avx2) return avx2::matmul_int4_w4a16(C, A, B, M);
  scalar::matmul_int4_w4a16(C, A, B, M);
}

namespace scalar {

void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M) {
  const int K = B.K, N = B.N;
#pragma omp parallel for collapse(2) schedule(static)
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      const uint16_t* a = A + size_t(m) * K;
      float out = 0.0f;
      for (int k0 = 0; k0 < K; k0 += B.group) {
        float partial = 0.0f;
        for (int k = k0; k < k0 + B.group; ++k) partial += quant::bf16_to_float(a[k]) * float(B.code(k, n));
        out += partial * B.scale(k0, n);
      }
      C[size_t(m) * N + n] = out;
    }
}

}  // namespace scalar
}  // namespace talklab::cpu::matmul
