// Low-precision matmuls on CPU: C (M x N, fp32, row-major) = A (M x K, row-major) x B (K x N, row-major).
// Per ISA (best_isa()): AVX-512 (BF16 + VNNI) matmul_avx512.cpp; AVX2 + FMA matmul_avx2.cpp (bf16 widened to fp32
// and FMA, int8 by vpmaddubsw / vpmaddwd, both exact products); scalar matmul_scalar.cpp.
//   bf16:  A bf16 (raw uint16_t), B bf16 packed once by pack_b_bf16; fp32 accumulation (vdpbf16ps on AVX-512).
//   int8:  w8a8. A quantized per row (per token) by quantize_rows_int8, B per column (per channel) by
//          quantize_cols_int8 and packed once by pack_b_int8; exact int32 accumulation (vpdpbusd, u8 x s8: A is
//          shifted by +128 and 128 * colsum(B) is subtracted), C = acc * a_scale[row] * b_scale[col].
// Compute-bound at large M (2 * M * N * K flops against M*K + K*N + M*N elements); at M = 1 it is a GEMV that
// streams B once, memory-bound. Packing and activation quantization are separate calls so their cost is timed
// separately. Bench: `bench --filter matmul`.
// Threads: the calls use omp_get_max_threads(); work is split over N panels first (so M = 1 keeps every thread
// busy), then over M.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "kernels/cpu/cpu_features.h"

namespace talklab::cpu::matmul {

// Columns per packed B panel: two 16-lane zmm of fp32 / int32 accumulators.
inline constexpr int kPanelN = 32;

// 64-byte aligned storage, so a panel row (32 dwords = two cache lines) never straddles a line boundary.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const AlignedAllocator&) const { return true; }
};
template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

// B (K x N bf16) in vdpbf16ps layout: for each panel of 32 columns, for each K pair g, 32 dwords, the dword of
// column n holding B[2g][n] (low half) and B[2g+1][n] (high half). K is padded to even and N to a multiple of
// 32 with zeros. data: [panels][groups][32].
struct PackedBBf16 {
  int K = 0, N = 0;
  int groups = 0;  // (K + 1) / 2
  int panels = 0;  // ceil(N / 32)
  AlignedVector<uint32_t> data;
};

// B (K x N int8) in vpdpbusd layout: as bf16 but groups of 4 along K (byte j of a dword = B[4g+j][n]), K padded
// to a multiple of 4. zero_comp[n] = 128 * sum_k B[k][n], the correction for A's +128 shift; scale[n] the
// per-column dequantization scale. Both padded to panels * 32 (with 0).
struct PackedBInt8 {
  int K = 0, N = 0;
  int groups = 0;  // (K + 3) / 4
  int panels = 0;
  AlignedVector<uint32_t> data;
  std::vector<int32_t> zero_comp;
  std::vector<float> scale;
};

// Work items of the decode-shaped (panel-streaming) drivers: chunks of consecutive panels, each a contiguous
// stretch of B, about kChunksPerThread per thread and at most kMaxChunkPanels panels each; times ranges of M tiles
// when there are fewer chunks than threads. Handed out dynamically (omp schedule(dynamic)): on a shared machine a
// thread that loses its core for a while does not hold up the call with a fixed half of B. Defined in matmul.cpp
// (baseline ISA, so every ISA's translation unit calls the same code).
struct PanelChunks {
  static constexpr int kChunksPerThread = 4;
  static constexpr int kMaxChunkPanels = 16;  // K = 4096 int4: 1 MiB of codes
  PanelChunks(int panels, int tiles, int threads);
  int items() const { return chunks * tile_ranges; }
  // Item `item` (< items()): panels [p0, p1) and M tiles [t0, t1).
  struct Range {
    int p0, p1, t0, t1;
  };
  Range range(int item) const;

  int panels, tiles, chunk, chunks, tile_ranges;
};

PackedBBf16 pack_b_bf16(const uint16_t* B, int K, int N);
// B's codes must lie in [-127, 127], as quantize_int8 makes them (the AVX2 path's sign trick cannot negate -128).
PackedBInt8 pack_b_int8(const int8_t* B, const float* b_scale, int K, int N);

// Per-column symmetric int8 weights: b_scale[n] = max_k |B[k][n]| / 127 (symmetric_scale), Bq = quantize_int8.
// Bq: K x N, b_scale: N. Offline (weight preparation), scalar.
void quantize_cols_int8(int8_t* Bq, float* b_scale, const float* B, int K, int N);

// Per-row (per-token) dynamic symmetric int8 activations: a_scale[m] = max_k |A[m][k]| / 127, Aq = quantize_int8
// (codes in [-127, 127], round half to even of x / scale). Aq: M x K, a_scale: M. Memory-bound. A must be finite
// (the ISA paths may disagree on NaN / inf, which have no int8 code).
void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K, Isa isa);

// C: M x N fp32, fully overwritten. Aq: codes in [-127, 127] (quantize_rows_int8). isa must be in
// supported_isas() (std::invalid_argument otherwise).
void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M, Isa isa);
void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M, Isa isa);
// The cache blocking the blocked driver runs at `isa` on this CPU, for result files: "zen4" or "zen5" at AVX-512
// (matmul_avx512.cpp's blocking_for, TALKLAB_MATMUL_BLOCKING=zen4|zen5 forcing one), "" at the others (one each).
const char* blocking_name(Isa isa);

// The per-ISA translation units, dispatched by the functions above (call those instead).
namespace scalar {
void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M);
void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M);
void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K);
}  // namespace scalar
namespace avx2 {
void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M);
void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M);
void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K);
}  // namespace avx2
namespace avx512 {
void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M);
void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M);
void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K);
const char* blocking_name();
}  // namespace avx512

}  // namespace talklab::cpu::matmul
