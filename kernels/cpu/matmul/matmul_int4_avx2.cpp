// AVX2 + FMA int4 w4a16 matmul (matmul_int4.h) for CPUs without AVX512_BF16: reads the same packed codes and
// scales as the AVX-512 kernel (no new packing). M = 1 (a decode step's GEMV): A rounded to int16 per group
// (round_a_int16) and vpmaddwd on the sign-extended nibbles (gemv, panel_gemv below). M > 1: converts the nibbles
// to fp32 in registers and FMAs them against A in fp32 (bf16 A widened once per call), as follows.
//
// Decode with 2 ALU ops per 8 weights, exact:
//   * x ^ 0x88888888 turns every two's-complement nibble q into offset binary u = q + 8 in [0, 15] (one op per 8
//     columns x 8 k); x >> 16 brings the odd-k (high-word) nibbles down (one op).
//   * nibble i of a word (bits 4i .. 4i+3): vpand with 0xF << 4i leaves the int32 u * 2^(4i) (< 2^16), and vcvtdq2ps
//     makes it an exact fp32. The 2^(4i) is folded into A instead: A's element k is stored times 2^-4i (i = its
//     position (k % 8) / 2), exact for every bf16 (the lowest bit of a bf16 is >= 2^-133, so >= 2^-145 after the
//     scaling: subnormal at worst, never rounded; a CPU in flush-to-zero / denormals-are-zero mode would drop
//     activations below 2^-114).
//   * so per group the fp32 sums hold sum_k a_k u_k, and sum_k a_k q_k = that - 8 sum_k a_k; 8 sum_k a_k per (row,
//     group) is computed once per call with A. Then one FMA per group applies the scale.
//   Rounding: products are exact; the sums carry u = q + 8 instead of q (a bias of 8 sum a, subtracted per group),
//   so the fp32 accumulation error is a few times that of summing a * q directly; far inside the tests' normwise
//   bound (2 u sqrt(K)) and negligible against int4's own quantization error.
// Micro-tile: MR (1..6) rows x 8 columns (one ymm: an 8-column strip of a panel; the four strips in turn, the
// first prefetching both lines of each 128-byte octet row so the other three read L1/L2), 6 per-group partial
// chains in registers (M = 1: 6 chains over the 8 k of an octet), outputs in a small stack tile updated once per
// group. A is packed per call into the tiles' order: fp32 (k, row) at k * MR + row.
//
// Why M = 1 is (about) at the memory limit on Zen 2, per 32 bytes of packed codes (64 weights), per core:
//   1 load, 1 xor, 1 shift, 8 vpand, 8 vcvtdq2ps, 8 FMA, 8 broadcasts of A (load ports): 26 FP-pipe ops over 4
//   pipes = 6.5 cycles if the converts spread over two pipes, 8 cycles if they issue from one: 4-5 B/cycle/core,
//   i.e. 6-8 GB/s per core at 1.5 GHz, 8-10 GB/s at 2 GHz, against a ~13-15 GB/s per-core share of DRAM. Unlike
//   bf16 and int8 (2-4x compute headroom), int4 on AVX2 is compute-limited near the memory speed: 8-bit and
//   4-bit weights need a convert per 8 weights without AVX512_BF16's vdpbf16ps and vpermw (the AVX-512 kernel
//   decodes 32 weights per 2 ops). Expected 60-100% of the read roofline depending on the clock; the 8 weights per
//   FMA are the floor (fp32 FMA on 8 lanes), the decode is already the minimum of 2 ops per 8 weights found.
// Threads: chunks of consecutive panels handed out dynamically (M = 1 keeps every thread on one sequential
// stream); when there are fewer chunks than threads, M tile ranges too. Software prefetch kPrefetchBytes ahead
// along the panel (first strip), for the 4 KiB page crossings where the L2 streamer restarts (not measured).
// Measured (Zen 2 KVM guest, 2 threads, quiet, default profile, 3 passes; results/cpu-default-matmul-avx2.json):
// M = 1, (K, N) = (4096, 14336) / (14336, 4096): 4.91 / 4.86 ms = 6.4 GB/s of codes and scales, 24% of the 26.8 GB/s
// read ceiling; 1.39x PyTorch's _weight_int4pack_mm_for_cpu (6.82 / 6.74 ms) and about our bf16's time. The
// estimate above assumed two physical cores; the guest's two vCPUs deliver one Zen 2 core's FMA rate (its fp32
// ceiling, ~80 GFLOP/s, is 2 FMA pipes x 8 lanes x 2 at ~2.5 GHz), so the convert-bound floor is ~8 cycles per
// 64 weights for both threads together: ~2.4 ms here. perf (cycles, M = 1) puts the loop at ~13 cycles per 64
// weights, most samples on the A broadcasts and converts. 85% of read (~1.3 ms) is out of reach on this CPU
// whatever the decode: the 58.7 M products alone, 8 per FMA and 2 FMAs a cycle on one core at ~2.5 GHz, take
// ~1.5 ms. Next: int16 activations through vpmaddwd (16 products per instruction, no convert).
// Prefetching 1 KiB instead of 2 KiB ahead changed nothing here (4.85-4.90 vs 4.94-4.96 ms): compute-bound.
// That next step (2026-12-05, Zen 3 guest, 2 cores, AVX2; the M = 1 part of docs/anchors.md's anchors command, 3
// passes, one run before and one after, minutes apart): M = 1 (4096, 14336) / (14336, 4096) 2.007 / 2.112 ms ->
// 0.888 / 0.915 ms, 0.39 / 0.43 -> 0.74 / 0.92 of a read of the same bytes alternated with the step, 4.6x / 4.5x
// PyTorch's _weight_int4pack_mm_for_cpu (4.12 / 4.09 ms); our bf16 3.2-3.7 ms and int8 1.7 ms in the same runs. The
// whole command afterwards (results/cpu-default-matmul-avx2-zen3.json): 858 / 795 us, 0.97 / 0.91 of the read
// (31-35 GB/s of weights, at the roofline's read ceiling), 4.9x / 5.1x PyTorch's. The cost: A is rounded to int16 per
// group (matmul_int4.h, round_a_int16: amax_g 2^-16, ~-96 dB), where the fp32 path multiplies the bf16 A exactly;
// int4's own rounding of the weights is ~-20 dB.
// Bench: `bench run --filter 'matmul/(int4_w4a16|torch_int4_weight)/M=1/'`.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "kernels/cpu/matmul/matmul_int4.h"
#include "kernels/cpu/quant/bf16.h"

namespace talklab::cpu::matmul::avx2 {
namespace {

constexpr int kLanes = 8;
constexpr int kMr = 6;
constexpr int kPrefetchBytes = 2048;
constexpr int kNibbleBits = 4;
constexpr int kOffset = 8;  // u = q + 8
constexpr int kPairsPerOctet = kInt4KPerDword / 2;

// Both 64-byte lines of the octet row kPrefetchBytes ahead of `codes` (a panel's 32 columns of one K octet).
inline void prefetch_octet_row(const uint32_t* codes) {
  _mm_prefetch(reinterpret_cast<const char*>(codes) + kPrefetchBytes, _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(codes) + kPrefetchBytes + 64, _MM_HINT_T0);
}

// 8 bf16 group scales as fp32 (a bf16 is the high half of its fp32).
inline __m256 load_scales(const uint16_t* p) {
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p))), 16));
}

// Where a micro-tile reads and writes. a: fp32 (k, r) at k * MR + r (k-th element already times 2^-4i);
// bias: 8 * sum of the group's a, (group, r) at group * MR + r; codes / scales: the tile's first column in its
// panel, octets / groups kPanelN apart.
struct Tile {
  const float* a;
  const float* bias;
  const uint32_t* codes;
  const uint16_t* scales;  // bf16
  float* c;
  int ldc, cols, groups, octets_per_group;
  bool prefetch;
};

// Partial-sum chains per (row, vector): 6 chains in all where rows allow (1 row: 6, 2: 3 each, 3: 2 each). Six
// partials, the flip constant, four nibble masks and four temporaries fill the 16 ymm; 8 partials spilled
// (GCC 12, objdump): a store per FMA.
template <int MR, int NV>
constexpr int splits() {
  return std::max(1, 6 / (MR * NV));
}

template <int MR, int NV>
void micro_tile(const Tile& t) {
  constexpr int S = splits<MR, NV>();
  const __m256i flip = _mm256_set1_epi32(int(0x88888888u));
  const float* a = t.a;
  const uint32_t* codes = t.codes;
  alignas(32) float out[MR][NV * kLanes] = {};
  for (int gi = 0; gi < t.groups; ++gi) {
    __m256 part[MR][NV][S];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j)
#pragma GCC unroll 16
        for (int s = 0; s < S; ++s) part[r][j][s] = _mm256_setzero_ps();
    for (int o = 0; o < t.octets_per_group; ++o, codes += kPanelN, a += kInt4KPerDword * MR) {
      if (t.prefetch) prefetch_octet_row(codes);  // the first strip of a panel, for the other strips too
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) {
        const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(codes + kLanes * j));
        const __m256i lo = _mm256_xor_si256(x, flip);
        const __m256i hi = _mm256_srli_epi32(lo, 16);
#pragma GCC unroll 16
        for (int e = 0; e < kInt4KPerDword; ++e) {  // k = 8o + e: even e in the low word, odd in the high
          const int i = e / 2;
          const __m256i mask = _mm256_set1_epi32(0xF << (kNibbleBits * i));
          const __m256 w = _mm256_cvtepi32_ps(_mm256_and_si256(e % 2 == 0 ? lo : hi, mask));
#pragma GCC unroll 16
          for (int r = 0; r < MR; ++r)
            part[r][j][e % S] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + e * MR + r), w, part[r][j][e % S]);
        }
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m256 bias = _mm256_broadcast_ss(t.bias + size_t(gi) * MR + r);
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) {
        __m256 p = part[r][j][0];
#pragma GCC unroll 16
        for (int s = 1; s < S; ++s) p = _mm256_add_ps(p, part[r][j][s]);
        const __m256 scale = load_scales(t.scales + size_t(gi) * kPanelN + kLanes * j);
        float* o = out[r] + kLanes * j;
        _mm256_store_ps(o, _mm256_fmadd_ps(_mm256_sub_ps(p, bias), scale, _mm256_load_ps(o)));
      }
    }
  }
  for (int r = 0; r < MR; ++r) std::copy(out[r], out[r] + t.cols, t.c + size_t(r) * t.ldc);
}

using MicroFn = void (*)(const Tile&);

template <size_t... I>
constexpr std::array<MicroFn, kMr> micro_table(std::index_sequence<I...>) {
  return {&micro_tile<int(I) + 1, 1>...};
}

// M = 1 (a decode step's GEMV) on int16 products: A rounded to int16 per group (round_a_int16), and per 32-bit lane
// of a packed dword the int4 pair (k = 8o + 2i in the low word, 8o + 2i + 1 in the high one) at position i
// sign-extended into two int16 by two shifts (one for i = 3), then vpmaddwd against A's int16 pair broadcast (16
// products an instruction, summed in pairs into int32) and vpaddd: per 64 weights 7 shifts, 4 vpmaddwd and 4 vpaddd
// (15 ops, no convert) where the fp32 path takes 26 (8 converts). A group's int32 sums are exact; per group and
// column one convert and one FMA by the two scales. A panel's four 8-column strips side by side, so each octet row
// (128 bytes, the panel's 32 columns) is read once, in address order along the panel.
void panel_gemv(float* c, int cols, const uint32_t* codes, const uint16_t* scales, const int32_t* pairs,
                const float* a_scale, int groups, int octets_per_group) {
  constexpr int kStrips = kPanelN / kLanes;
  __m256 out[kStrips];
#pragma GCC unroll 4
  for (int s = 0; s < kStrips; ++s) out[s] = _mm256_setzero_ps();
  for (int gi = 0; gi < groups; ++gi) {
    __m256i acc[kStrips];
#pragma GCC unroll 4
    for (int s = 0; s < kStrips; ++s) acc[s] = _mm256_setzero_si256();
    for (int o = 0; o < octets_per_group; ++o, codes += kPanelN, pairs += kPairsPerOctet) {
      prefetch_octet_row(codes);
      __m256i x[kStrips];
#pragma GCC unroll 4
      for (int s = 0; s < kStrips; ++s) x[s] = _mm256_load_si256(reinterpret_cast<const __m256i*>(codes + kLanes * s));
#pragma GCC unroll 4
      for (int i = 0; i < kPairsPerOctet; ++i) {
        const __m256i a = _mm256_set1_epi32(pairs[i]);
#pragma GCC unroll 4
        for (int s = 0; s < kStrips; ++s) {
          const __m256i top = i == kPairsPerOctet - 1 ? x[s] : _mm256_slli_epi16(x[s], 12 - kNibbleBits * i);
          acc[s] = _mm256_add_epi32(acc[s], _mm256_madd_epi16(_mm256_srai_epi16(top, 12), a));
        }
      }
    }
    const __m256 sa = _mm256_set1_ps(a_scale[gi]);
#pragma GCC unroll 4
    for (int s = 0; s < kStrips; ++s) {
      const __m256 sw = load_scales(scales + size_t(gi) * kPanelN + kLanes * s);
      out[s] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[s]), _mm256_mul_ps(sw, sa), out[s]);
    }
  }
  alignas(32) float tile[kPanelN];
#pragma GCC unroll 4
  for (int s = 0; s < kStrips; ++s) _mm256_store_ps(tile + kLanes * s, out[s]);
  std::copy(tile, tile + cols, c);
}

void gemv(float* C, const uint16_t* A, const PackedBInt4& B) {
  const int K = B.K, N = B.N, octets = K / kInt4KPerDword;
  AlignedVector<int16_t> a16(static_cast<size_t>(K));
  std::vector<float> a_scale(size_t(B.groups));
  round_a_int16(A, K, B.group, a16.data(), a_scale.data());
  const int32_t* pairs = reinterpret_cast<const int32_t*>(a16.data());  // (a[2j], a[2j + 1]) at j
#pragma omp parallel
  {
    const PanelChunks work(B.panels, 1, omp_get_num_threads());
#pragma omp for schedule(dynamic)
    for (int item = 0; item < work.items(); ++item) {
      const PanelChunks::Range w = work.range(item);
      for (int p = w.p0; p < w.p1; ++p) {
        panel_gemv(C + size_t(p) * kPanelN, std::min(kPanelN, N - p * kPanelN),
                   B.codes.data() + size_t(p) * octets * kPanelN, B.scales.data() + size_t(p) * B.groups * kPanelN,
                   pairs, a_scale.data(), B.groups, B.group / kInt4KPerDword);
      }
    }
  }
}

// Rows of tile it of `tiles` over M rows, spread evenly (17 rows: 4 + 4 + 4 + 5 -> 3, 3, 4, 3, 4 in 5 tiles).
int tile_row(int M, int tiles, int it) { return int(int64_t(M) * it / tiles); }

}  // namespace

void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M) {
  if (M <= 0 || B.N <= 0) return;
  if (M == 1) return gemv(C, A, B);
  static constexpr auto micro = micro_table(std::make_index_sequence<kMr>{});
  const int K = B.K, N = B.N, panels = B.panels, octets = K / kInt4KPerDword;
  const int tiles = (M + kMr - 1) / kMr;
  // A in the tiles' order, fp32 with the nibble position's 2^-4i folded in, and the per-group bias 8 * sum(a).
  // Serial: K elements per row against the row's N * K products, and one barrier fewer.
  AlignedVector<float> apack(size_t(M) * K), bias(size_t(M) * B.groups);
  float position_scale[kPairsPerOctet];
  for (int i = 0; i < kPairsPerOctet; ++i) position_scale[i] = 1.0f / float(1 << (kNibbleBits * i));
  for (int it = 0; it < tiles; ++it) {
    const int r0 = tile_row(M, tiles, it), mr = tile_row(M, tiles, it + 1) - r0;
    float* dst = apack.data() + size_t(r0) * K;
    float* bdst = bias.data() + size_t(r0) * B.groups;
    for (int r = 0; r < mr; ++r) {
      const uint16_t* src = A + size_t(r0 + r) * K;
      for (int gi = 0; gi < B.groups; ++gi) {
        float sum = 0.0f;
        for (int k = gi * B.group; k < (gi + 1) * B.group; ++k) {
          const float x = quant::bf16_to_float(src[k]);
          sum += x;
          dst[size_t(k) * mr + r] = x * position_scale[k % kInt4KPerDword / 2];
        }
        bdst[size_t(gi) * mr + r] = float(kOffset) * sum;
      }
    }
  }
#pragma omp parallel
  {
    const PanelChunks work(panels, tiles, omp_get_num_threads());
    Tile t;
    t.ldc = N, t.groups = B.groups, t.octets_per_group = B.group / kInt4KPerDword;
#pragma omp for schedule(dynamic)
    for (int item = 0; item < work.items(); ++item) {
      const PanelChunks::Range w = work.range(item);
      for (int p = w.p0; p < w.p1; ++p)
        for (int it = w.t0; it < w.t1; ++it) {
          const int r0 = tile_row(M, tiles, it), mr = tile_row(M, tiles, it + 1) - r0;
          // The panel's four 8-column strips in turn (one ymm of columns per tile: registers, see splits()).
          const int width = kLanes;
          t.a = apack.data() + size_t(r0) * K;
          t.bias = bias.data() + size_t(r0) * B.groups;
          for (int c0 = 0; c0 < kPanelN; c0 += width) {
            t.cols = std::min(width, N - p * kPanelN - c0);
            if (t.cols <= 0) break;
            t.prefetch = c0 == 0 && it == w.t0;
            t.codes = B.codes.data() + size_t(p) * octets * kPanelN + c0;
            t.scales = B.scales.data() + size_t(p) * B.groups * kPanelN + c0;
            t.c = C + size_t(r0) * N + size_t(p) * kPanelN + c0;
            micro[mr - 1](t);
          }
        }
    }
  }
}

}  // namespace talklab::cpu::matmul::avx2
