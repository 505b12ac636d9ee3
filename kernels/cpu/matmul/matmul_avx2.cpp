// AVX2 + FMA low-precision matmuls (matmul.h) for CPUs without AVX512_BF16 / VNNI (Zen 2, Haswell .. Alder Lake).
// Reads the same packed B as the AVX-512 path ([panel of 32 columns][K group][32 dwords]); no new packing.
//   bf16: each packed dword holds a K pair; the low bf16 becomes an fp32 by << 16, the high one by masking the low
//         half away, so a B vector is widened by one ALU op per half and then FMAed against A (already fp32).
//   int8: no +128 shift here: maddubs(|a|, sign(b, a)) multiplies the signed codes exactly (|a|, |b| <= 127, so a
//         pair sum <= 2 * 127^2 fits int16 without saturating), then madd with ones widens pairs to int32. Exact.
// A is copied once per (M block, K block) into the micro-tiles' order, two 32-bit words per (K group, row):
// bf16 the pair as two fp32, int8 the quad and its bytewise |.|, so the kernels broadcast A from one sequential
// stream (vbroadcastss / vpbroadcastd are load-port ops, no ALU).
//
// Two drivers:
//  * stream (M <= kStreamMaxRows, decode): B is streamed once, whole panels (4 ymm = 32 columns) per micro-tile,
//    no K blocking, chunks of consecutive panels handed to the threads dynamically, so M = 1 uses every thread and
//    each thread reads one long sequential stream (what the hardware prefetchers follow). Software prefetch
//    kPrefetchBytes ahead covers the 4 KiB page crossings where the L2 streamer restarts. 1 KiB ahead (the read
//    ceiling's own distance, stream_read_core.h) beat 2 KiB by ~10% on the Zen 2 guest (bf16 M = 1, both shapes,
//    3 passes each, alternated: 1024 B 5.07-5.11 / 4.92-4.95 ms, 2048 B 5.78 / 5.47-5.49 ms, 512 B 5.10-5.17 ms;
//    int8 2.58-2.74 ms for all three). Why 2 KiB loses was not profiled.
//    Why memory-bound at M = 1 on Zen 2 (per 32 bytes of packed B, per core; 2 FMA pipes FP0/FP1, 4 FP pipes,
//    2 loads per cycle; DRAM read ~24-30 GB/s for the whole machine, so ~13-15 GB/s per core):
//      bf16: 1 load, 1 shift + 1 and (widen), 2 FMA (16 products), ~0.5 broadcast: 1 cycle on the FMA pipes
//            -> ~32 B/cycle = 48-64 GB/s per core at 1.5-2 GHz, 3-4x the DRAM share. Accumulators: 8 chains
//            (4 ymm x lo/hi), enough for 1.6 FMA/cycle against 5-cycle latency; 2x what the stream needs.
//      int8: 1 load, vpsignb, vpmaddubsw, vpmaddwd, vpaddd; the two multiplies run on FP0 only: 2 cycles
//            -> 16 B/cycle = 24-32 GB/s per core, 2x the DRAM share. Chains are vpaddd (1 cycle): 4 suffice.
//  * blocked (larger M): loops per thread K blocks (kKcGroups) > M blocks (kMcRows, A block 320 KiB in the 512 KiB
//    L2) > N panels > half panels (16 columns) > micro-tiles. Micro-tile bf16: 5 rows x 16 columns = 10 ymm
//    accumulators, exactly what Zen 2's two 5-cycle FMA pipes need in flight; each B dword vector is widened once
//    per half of the pair and used for all 5 rows: per K group 4 B loads, 2 shifts + 2 ands, 10 broadcasts,
//    20 FMA (FMA-bound, 10 cycles). 6 rows (12 accumulators) would leave no register for the widened B, the A
//    broadcast and the mask: GCC 12 spilled 3 accumulators per K group (objdump), a store-forwarding round trip
//    on those chains every group. The half-panel B slice (kKcGroups x 64 B = 16 KiB) stays in L1/L2 across the
//    block's tiles.
//    int8: 4 rows x 16 columns (8 int32 accumulators; 2 B, 2 per-row A registers, ones and temporaries fill the
//    16 ymm). C accumulates across K blocks (int8: int32 partial sums parked in C's storage until the last).
//    Threads: a grid of N-panel ranges x M ranges, N first (as the AVX-512 path).
// Measured (Zen 2 KVM guest, 2 threads, quiet, default profile, 3 passes, read ceiling 26.8 GB/s; results/
// cpu-default-matmul-avx2.json): M = 1, (K, N) = (4096, 14336) / (14336, 4096): bf16 4.92 / 4.70 ms = 23.9 / 25.0
// GB/s of weights (89 / 93% of read); int8 2.67 / 2.43 ms (82 / 90%; passes 2.44-2.87 ms on the first shape).
// LibTorch's eager bf16 mm takes 940 / 789 ms there, torch.compile's 8.80 / 8.34 ms, _weight_int8pack_mm 6.52 /
// 6.14 ms. bf16 4096^3: 2.155 s (63.8 GFLOP/s, ~80% of the fp32 ceiling) against Inductor's C++ GEMM template's
// 3.644 s.
// Bench: `bench --filter 'matmul/(bf16|int8_w8a8)/'`.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::matmul::avx2 {
namespace {

constexpr int kLanes = 8;               // fp32 / int32 per ymm
constexpr int kStreamMaxRows = 2;       // M up to this: stream driver
constexpr int kKcGroups = 256;          // blocked K block: bf16 512 k, int8 1024 k; B half slice 16 KiB
constexpr int kMcRows = 160;            // blocked M block: 32 bf16 tiles / 40 int8 tiles; A block 320 KiB
constexpr int kPrefetchBytes = 1024;    // stream driver: software prefetch distance along a panel (header)

// Stream driver: one prefetch per 64-byte line of the NV ymm of a panel row (NV = 4: 128 bytes), kPrefetchBytes
// ahead of b.
template <int NV>
inline void prefetch_panel_row(const uint32_t* b) {
#pragma GCC unroll 16
  for (int l = 0; l < NV * kLanes * 4; l += 64)
    _mm_prefetch(reinterpret_cast<const char*>(b) + kPrefetchBytes + l, _MM_HINT_T0);
}

// Where a micro-tile's results go.
struct Tile {
  float* c;        // row 0, column 0 of the tile in C
  int ldc;
  int cols;        // valid columns (<= 8 * NV)
  bool first, last;   // first / last K block
  const float* a_scale;  // int8: per row, from row 0 of the tile
  const float* b_scale;  // int8: per column, from column 0
};

__m256i lane_mask(int valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Adds v to (unless first) and stores it at c, the first `valid` lanes only (valid may be <= 0 or >= 8).
void store_f32(float* c, __m256 v, int valid, bool first) {
  if (valid >= kLanes) {
    if (!first) v = _mm256_add_ps(v, _mm256_loadu_ps(c));
    return _mm256_storeu_ps(c, v);
  }
  if (valid <= 0) return;
  const __m256i m = lane_mask(valid);
  if (!first) v = _mm256_add_ps(v, _mm256_maskload_ps(c, m));
  _mm256_maskstore_ps(c, m, v);
}

void store_i32(float* c, __m256i v, int valid, bool first) {
  int* ci = reinterpret_cast<int*>(c);  // int32 partial sums parked in C's storage
  if (valid >= kLanes) {
    if (!first) v = _mm256_add_epi32(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ci)));
    return _mm256_storeu_si256(reinterpret_cast<__m256i*>(ci), v);
  }
  if (valid <= 0) return;
  const __m256i m = lane_mask(valid);
  if (!first) v = _mm256_add_epi32(v, _mm256_maskload_epi32(ci, m));
  _mm256_maskstore_epi32(ci, m, v);
}

// Accumulator chains per (row, vector): split so that MR * NV * S <= 8..12 keeps >= 8 FMA chains in flight.
template <int MR, int NV>
constexpr int splits() {
  return MR * NV * 2 <= 12 ? 2 : 1;
}

struct Bf16Op {
  static constexpr int kMr = 5;  // 10 accumulators (see the header: 6 rows spill)
  using Word = float;
  // A rows [row0, row0 + rows), K pairs [g0, g0 + kc): word 2 (g * rows + r) + h = element 2 (g0 + g) + h of row
  // r as fp32, zero past K.
  static void pack_a(float* dst, const void* A, int row0, int rows, int K, int g0, int kc) {
    for (int r = 0; r < rows; ++r) {
      const uint16_t* a = static_cast<const uint16_t*>(A) + size_t(row0 + r) * K;
      for (int g = 0; g < kc; ++g) {
        const int k = 2 * (g0 + g);
        dst[2 * (size_t(g) * rows + r)] = quant::bf16_to_float(a[k]);
        dst[2 * (size_t(g) * rows + r) + 1] = k + 1 < K ? quant::bf16_to_float(a[k + 1]) : 0.0f;
      }
    }
  }

  // b: the tile's first column in the panel at K group 0 of the block (groups kPanelN dwords apart).
  template <int MR, int NV, bool kPrefetch>
  static void tile(const float* a, const uint32_t* b, int kc, const Tile& t) {
    constexpr int S = splits<MR, NV>();
    const __m256i hi_mask = _mm256_set1_epi32(int(0xFFFF0000u));
    __m256 acc[MR][NV][S];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j)
#pragma GCC unroll 16
        for (int s = 0; s < S; ++s) acc[r][j][s] = _mm256_setzero_ps();
    for (int g = 0; g < kc; ++g, b += kPanelN, a += 2 * MR) {
      if constexpr (kPrefetch) prefetch_panel_row<NV>(b);
      // Low halves (even k) then high halves (odd k): each B vector is widened once and used for all rows.
#pragma GCC unroll 16
      for (int h = 0; h < 2; ++h) {
        __m256 w[NV];
#pragma GCC unroll 16
        for (int j = 0; j < NV; ++j) {
          const __m256i raw = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + kLanes * j));
          w[j] = _mm256_castsi256_ps(h == 0 ? _mm256_slli_epi32(raw, 16) : _mm256_and_si256(raw, hi_mask));
        }
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          const __m256 av = _mm256_broadcast_ss(a + 2 * r + h);
#pragma GCC unroll 16
          for (int j = 0; j < NV; ++j) acc[r][j][h % S] = _mm256_fmadd_ps(av, w[j], acc[r][j][h % S]);
        }
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) {
        __m256 v = acc[r][j][0];
        if constexpr (S == 2) v = _mm256_add_ps(v, acc[r][j][1]);
        store_f32(t.c + size_t(r) * t.ldc + kLanes * j, v, t.cols - kLanes * j, t.first);
      }
  }
};

struct Int8Op {
  static constexpr int kMr = 4;
  using Word = uint32_t;
  // dword 2 (g * rows + r) = K quad g0 + g of row r (zero past K), dword + 1 = its bytewise absolute value.
  static void pack_a(uint32_t* dst, const void* A, int row0, int rows, int K, int g0, int kc) {
    for (int r = 0; r < rows; ++r) {
      const int8_t* a = static_cast<const int8_t*>(A) + size_t(row0 + r) * K;
      for (int g = 0; g < kc; ++g) {
        const int k0 = 4 * (g0 + g);
        uint32_t q = 0, q_abs = 0;
        for (int b = 0; b < 4 && k0 + b < K; ++b) {
          q |= uint32_t(uint8_t(a[k0 + b])) << (8 * b);
          q_abs |= uint32_t(uint8_t(a[k0 + b] < 0 ? -a[k0 + b] : a[k0 + b])) << (8 * b);
        }
        dst[2 * (size_t(g) * rows + r)] = q;
        dst[2 * (size_t(g) * rows + r) + 1] = q_abs;
      }
    }
  }

  template <int MR, int NV, bool kPrefetch>
  static void tile(const uint32_t* a, const uint32_t* b, int kc, const Tile& t) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm256_setzero_si256();
    for (int g = 0; g < kc; ++g, b += kPanelN, a += 2 * MR) {
      if constexpr (kPrefetch) prefetch_panel_row<NV>(b);
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) {
        const __m256i bv = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + kLanes * j));
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          const __m256i av = _mm256_set1_epi32(int(a[2 * r]));
          const __m256i av_abs = _mm256_set1_epi32(int(a[2 * r + 1]));
          const __m256i pairs = _mm256_maddubs_epi16(av_abs, _mm256_sign_epi8(bv, av));
          acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(pairs, ones));
        }
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) {
        float* c = t.c + size_t(r) * t.ldc + kLanes * j;
        const int valid = t.cols - kLanes * j;
        if (!t.last) {
          store_i32(c, acc[r][j], valid, t.first);
          continue;
        }
        __m256i v = acc[r][j];
        if (!t.first && valid > 0) {
          const __m256i m = lane_mask(valid);
          v = _mm256_add_epi32(v, _mm256_maskload_epi32(reinterpret_cast<const int*>(c), m));
        }
        // The scalar path's order: (acc * a_scale) * b_scale.
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(t.a_scale[r]));
        f = _mm256_mul_ps(f, _mm256_loadu_ps(t.b_scale + kLanes * j));
        store_f32(c, f, valid, true);
      }
  }
};

template <class Op>
using TileFn = void (*)(const typename Op::Word*, const uint32_t*, int, const Tile&);

template <class Op, int NV, bool kPrefetch, size_t... I>
constexpr auto tile_table(std::index_sequence<I...>) {
  return std::array<TileFn<Op>, sizeof...(I)>{&Op::template tile<int(I) + 1, NV, kPrefetch>...};
}

// Rows of tile it of `tiles` spread evenly over `rows` (16 rows in 5-row tiles: 4 + 4 + 4 + 4).
int tile_row(int rows, int tiles, int it) { return int(int64_t(rows) * it / tiles); }

// Packs rows [row0, row0 + rows) as `tiles` tiles, each at its first row's offset (2 kc words per row).
template <class Op>
void pack_tiles(typename Op::Word* dst, const void* A, int row0, int rows, int tiles, int K, int g0, int kc) {
  for (int it = 0; it < tiles; ++it) {
    const int r0 = tile_row(rows, tiles, it), r1 = tile_row(rows, tiles, it + 1);
    Op::pack_a(dst + size_t(r0) * 2 * kc, A, row0 + r0, r1 - r0, K, g0, kc);
  }
}

struct Problem {
  float* C;
  const void* A;
  int M, K, N, groups, panels;
  const uint32_t* B;
  const float* a_scale;
  const float* b_scale;
};

// M <= kStreamMaxRows: one tile of all M rows per whole panel, full K, panel chunks over threads.
template <class Op>
void run_stream(const Problem& P) {
  static constexpr auto tiles = tile_table<Op, 4, true>(std::make_index_sequence<kStreamMaxRows>{});
  AlignedVector<typename Op::Word> apack(size_t(P.M) * 2 * P.groups);
  Op::pack_a(apack.data(), P.A, 0, P.M, P.K, 0, P.groups);
#pragma omp parallel
  {
    const PanelChunks work(P.panels, 1, omp_get_num_threads());  // one tile: all M rows
#pragma omp for schedule(dynamic)
    for (int item = 0; item < work.items(); ++item)
      for (int p = work.range(item).p0; p < work.range(item).p1; ++p) {
        Tile t;
        t.c = P.C + size_t(p) * kPanelN;
        t.ldc = P.N;
        t.cols = std::min(kPanelN, P.N - p * kPanelN);
        t.first = t.last = true;
        t.a_scale = P.a_scale;
        t.b_scale = P.b_scale ? P.b_scale + size_t(p) * kPanelN : nullptr;
        tiles[P.M - 1](apack.data(), P.B + size_t(p) * P.groups * kPanelN, P.groups, t);
      }
  }
}

// One thread's share of the blocked driver: rows [m0, m1), panels [p0, p1).
template <class Op>
void run_share(const Problem& P, int m0, int m1, int p0, int p1, typename Op::Word* abuf) {
  static constexpr auto tiles_fn = tile_table<Op, 2, false>(std::make_index_sequence<Op::kMr>{});
  constexpr int kHalf = kPanelN / 2;
  for (int g0 = 0; g0 < P.groups; g0 += kKcGroups) {
    const int kc = std::min(kKcGroups, P.groups - g0);
    for (int i0 = m0; i0 < m1; i0 += kMcRows) {
      const int mc = std::min(kMcRows, m1 - i0);
      const int tiles = (mc + Op::kMr - 1) / Op::kMr;
      pack_tiles<Op>(abuf, P.A, i0, mc, tiles, P.K, g0, kc);
      for (int p = p0; p < p1; ++p)
        for (int h = 0; h < 2; ++h) {
          Tile t;
          t.cols = std::min(kHalf, P.N - p * kPanelN - h * kHalf);
          if (t.cols <= 0) continue;
          t.ldc = P.N;
          t.first = g0 == 0, t.last = g0 + kc == P.groups;
          t.b_scale = P.b_scale ? P.b_scale + size_t(p) * kPanelN + h * kHalf : nullptr;
          const uint32_t* b = P.B + (size_t(p) * P.groups + g0) * kPanelN + h * kHalf;
          for (int it = 0; it < tiles; ++it) {
            const int r0 = tile_row(mc, tiles, it), rows = tile_row(mc, tiles, it + 1) - r0;
            t.c = P.C + size_t(i0 + r0) * P.N + size_t(p) * kPanelN + h * kHalf;
            t.a_scale = P.a_scale ? P.a_scale + i0 + r0 : nullptr;
            tiles_fn[rows - 1](abuf + size_t(r0) * 2 * kc, b, kc, t);
          }
        }
    }
  }
}

template <class Op>
void run(const Problem& P) {
  if (P.M <= 0 || P.N <= 0) return;
  if (P.K == 0) return (void)std::fill(P.C, P.C + size_t(P.M) * P.N, 0.0f);
  if (P.M <= kStreamMaxRows) return run_stream<Op>(P);
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int all_tiles = (P.M + Op::kMr - 1) / Op::kMr;
    // N panels first; threads left over split M (in whole micro-tiles).
    const int tn = std::min(nt, P.panels), tm = std::max(1, std::min(nt / tn, all_tiles));
    const int in = t % tn, im = t / tn;
    if (im < tm) {
      const int p0 = P.panels * in / tn, p1 = P.panels * (in + 1) / tn;
      const int m0 = std::min(P.M, all_tiles * im / tm * Op::kMr);
      const int m1 = std::min(P.M, all_tiles * (im + 1) / tm * Op::kMr);
      AlignedVector<typename Op::Word> abuf(size_t(std::min(kMcRows, std::max(m1 - m0, 0))) * 2 * kKcGroups);
      if (m0 < m1 && p0 < p1) run_share<Op>(P, m0, m1, p0, p1, abuf.data());
    }
  }
}

}  // namespace

void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M) {
  run<Bf16Op>(Problem{C, A, M, B.K, B.N, B.groups, B.panels, B.data.data(), nullptr, nullptr});
}

void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M) {
  run<Int8Op>(Problem{C, Aq, M, B.K, B.N, B.groups, B.panels, B.data.data(), a_scale, B.scale.data()});
}

// Two passes over each row (amax, then codes); the row stays in L1/L2 between them. Memory-bound; at M = 1, K =
// 14336 the scalar loop would add ~5% to the int8 GEMV. Codes as quant::quantize_int8 exactly: true division,
// clamp to +-127, round half to even (vroundps nearest); the tail (K % 8) goes through quantize_int8 itself.
void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K) {
  constexpr float kMaxCode = 127.0f;
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    const float* a = A + size_t(m) * K;
    int8_t* q = Aq + size_t(m) * K;
    const int body = K / kLanes * kLanes;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 vmax = _mm256_setzero_ps();
    for (int k = 0; k < body; k += kLanes) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(a + k), abs_mask));
    alignas(32) float lanes[kLanes];
    _mm256_store_ps(lanes, vmax);
    float amax = 0.0f;
    for (float v : lanes) amax = std::max(amax, v);
    for (int k = body; k < K; ++k) amax = std::max(amax, std::fabs(a[k]));
    const float scale = quant::symmetric_scale(amax, kMaxCode);
    a_scale[m] = scale;
    const __m256 vs = _mm256_set1_ps(scale), lo = _mm256_set1_ps(-kMaxCode), hi = _mm256_set1_ps(kMaxCode);
    for (int k = 0; k < body; k += kLanes) {
      __m256 x = _mm256_div_ps(_mm256_loadu_ps(a + k), vs);
      x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
      const __m256i c = _mm256_cvtps_epi32(_mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), _mm_packs_epi16(w, w));
    }
    for (int k = body; k < K; ++k) q[k] = quant::quantize_int8(a[k], scale);
  }
}

}  // namespace talklab::cpu::matmul::avx2
