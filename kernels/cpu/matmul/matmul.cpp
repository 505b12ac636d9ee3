// Weight packing (offline, scalar) and run-time dispatch of the low-precision matmuls (matmul.h). Packing is
// memory-bound, done once per weight; its cost is outside matmul_*. Bench: `bench --filter matmul`.
#include "kernels/cpu/matmul/matmul.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::matmul {
namespace {

constexpr float kInt8MaxCode = 127.0f;
constexpr int32_t kActivationShift = 128;  // int8 -> uint8 for vpdpbusd's unsigned operand

int ceil_div(int a, int b) { return (a + b - 1) / b; }

void check_isa(Isa isa) {
  for (Isa s : supported_isas())
    if (s == isa) return;
  throw std::invalid_argument(std::string("matmul: ISA not supported by this CPU: ") + isa_name(isa));
}

// Panels of kPanelN columns; in each, dword j of group g holds kPer consecutive k of column j (the lowest k in
// the lowest bits): the operand layout of vdpbf16ps (kPer 2) and vpdpbusd (kPer 4). K and N tails stay zero.
template <int kPer, class T>
void pack_dwords(AlignedVector<uint32_t>& data, const T* B, int K, int N, int groups, int panels) {
  constexpr int kBits = 32 / kPer;
  data.assign(size_t(panels) * groups * kPanelN, 0u);
  for (int pn = 0; pn < panels; ++pn)
    for (int g = 0; g < groups; ++g) {
      uint32_t* dst = data.data() + (size_t(pn) * groups + g) * kPanelN;
      for (int j = 0; j < kPanelN && pn * kPanelN + j < N; ++j) {
        const int n = pn * kPanelN + j;
        uint32_t d = 0;
        for (int b = 0; b < kPer && kPer * g + b < K; ++b) {
          d |= uint32_t(std::make_unsigned_t<T>(B[size_t(kPer * g + b) * N + n])) << (kBits * b);
        }
        dst[j] = d;
      }
    }
}

}  // namespace

PanelChunks::PanelChunks(int panels_, int tiles_, int threads)
    : panels(panels_),
      tiles(tiles_),
      chunk(std::clamp(panels_ / (kChunksPerThread * threads), 1, kMaxChunkPanels)),
      chunks((panels_ + chunk - 1) / chunk),
      tile_ranges(chunks >= threads ? 1 : std::min(tiles_, (threads + chunks - 1) / chunks)) {}

PanelChunks::Range PanelChunks::range(int item) const {
  const int ic = item / tile_ranges, ir = item % tile_ranges;
  return Range{ic * chunk, std::min(panels, (ic + 1) * chunk), int(int64_t(tiles) * ir / tile_ranges),
               int(int64_t(tiles) * (ir + 1) / tile_ranges)};
}

PackedBBf16 pack_b_bf16(const uint16_t* B, int K, int N) {
  PackedBBf16 p;
  p.K = K, p.N = N, p.groups = ceil_div(K, 2), p.panels = ceil_div(N, kPanelN);
  pack_dwords<2>(p.data, B, K, N, p.groups, p.panels);
  return p;
}

PackedBInt8 pack_b_int8(const int8_t* B, const float* b_scale, int K, int N) {
  PackedBInt8 p;
  p.K = K, p.N = N, p.groups = ceil_div(K, 4), p.panels = ceil_div(N, kPanelN);
  p.zero_comp.assign(size_t(p.panels) * kPanelN, 0);
  p.scale.assign(size_t(p.panels) * kPanelN, 0.0f);
  for (int n = 0; n < N; ++n) {
    int32_t colsum = 0;
    for (int k = 0; k < K; ++k) colsum += B[size_t(k) * N + n];
    p.zero_comp[n] = kActivationShift * colsum;
    p.scale[n] = b_scale[n];
  }
  pack_dwords<4>(p.data, B, K, N, p.groups, p.panels);
  return p;
}

void quantize_cols_int8(int8_t* Bq, float* b_scale, const float* B, int K, int N) {
  for (int n = 0; n < N; ++n) {
    float amax = 0.0f;
    for (int k = 0; k < K; ++k) amax = std::max(amax, std::fabs(B[size_t(k) * N + n]));
    b_scale[n] = quant::symmetric_scale(amax, kInt8MaxCode);
  }
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) Bq[size_t(k) * N + n] = quant::quantize_int8(B[size_t(k) * N + n], b_scale[n]);
}

void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K, Isa isa) {
  check_isa(isa);
  if (isa == Isa::avx512) return avx512::quantize_rows_int8(Aq, a_scale, A, M, K);
  if (isa == Isa::avx2) return avx2::quantize_rows_int8(Aq, a_scale, A, M, K);
  scalar::quantize_rows_int8(Aq, a_scale, A, M, K);
}

void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M, Isa isa) {
  check_isa(isa);
  if (isa == Isa::avx512) return avx512::matmul_bf16(C, A, B, M);
  if (isa == Isa::avx2) return avx2::matmul_bf16(C, A, B, M);
  scalar::matmul_bf16(C, A, B, M);
}

void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M, Isa isa) {
  check_isa(isa);
  if (isa == Isa::avx512) return avx512::matmul_int8(C, Aq, a_scale, B, M);
  if (isa == Isa::avx2) return avx2::matmul_int8(C, Aq, a_scale, B, M);
  scalar::matmul_int8(C, Aq, a_scale, B, M);
}

const char* blocking_name(Isa isa) {
  check_isa(isa);
  return isa == Isa::avx512 ? avx512::blocking_name() : "";
}

}  // namespace talklab::cpu::matmul
