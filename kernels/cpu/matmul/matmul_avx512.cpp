// AVX-512 low-precision matmuls (matmul.h): bf16 x bf16 -> fp32 with vdpbf16ps, u8 x s8 -> int32 with vpdpbusd.
// Compute-bound at large M: Zen 4 issues one zmm vdpbf16ps (64 flops) or vpdpbusd (128 ops) per cycle per core.
// Both instructions work on dwords (a K pair of bf16, a K quad of int8), so one driver serves both:
//   B packed [panel of 32 columns][K group][32 dwords] (pack_b_*), A copied per (M block, K block) into a
//   row-major buffer with a short row stride (the K block's dwords), because A's own stride (K elements, often a
//   multiple of 4 KiB) would put every row of a micro-tile in the same L1 set.
//   Micro-tile: kMr = 14 rows x 32 columns = 28 zmm accumulators + 2 B registers; each A dword is broadcast
//   from memory (vpbroadcastd: GCC does not fold it into the dot's {1to16} operand; the load ports keep up, and
//   the folded form, forced by inline asm, measured 2-5% slower on Zen 5).
//   Per K group: 2 B loads, 14 broadcasts, 28 dot instructions.
//   Loops per thread: K blocks (Blocking::kc_groups) > M blocks (mc_tiles micro-tiles) > N panels (B micro-panel
//   reused by every micro-tile of the M block) > micro-tiles. C accumulates across K blocks (int8: the int32 partial
//   sums are kept in C's storage until the last K block converts them).
// Threads: a grid of N-panel ranges x M ranges, N first, so M = 1 still splits over the threads.
// Measured (Zen 4, 2 threads, K = N = 4096, medians, shared machine so +-5%; peaks 466 GFLOP/s bf16, 929 GOP/s int8):
//   M = 4096: bf16 397-418 GFLOP/s (85-90%; oneDNN via LibTorch ~350), int8 754-827 GOP/s (1.87-1.98x bf16);
//             activation quantization 2.4-3.5 ms on top (~2% of the int8 matmul).
//   M = 128:  bf16 388-432, int8 765-882.   M = 16: bf16 298-405, int8 717-898.
//   M = 1:    bf16 0.30-0.67 ms, int8 0.12-0.15 ms (B streamed once; B partly L3-resident between repetitions).
// Variants tried: K block 256 / 1024 dwords (see blocking_for); M block 24 tiles (same as 12); software prefetch of B
// 16 or 64 groups ahead (no difference beyond noise, dropped); 14 + 2 row tiles at M = 16 -> balanced 8 + 8.
// Zen 5 (two 512-bit dot pipes: 8.1 vdpbf16ps per ns per core on 24 independent chains, so a peak of ~520 GFLOP/s
// bf16 per core, twice Zen 4's per clock) runs the same micro-tile at 94% of that peak when everything fits in L2
// (M = N = K = 896) but at 75-81% at 4096^3: the C tile's read-modify-write per K block and the B panels streamed
// again per M block weigh twice as much against compute twice as fast. See blocking_for.
// Bench: `bench --filter matmul`.
// GCC 12's AVX-512 intrinsics initialize their undefined pass-through operands from themselves, which trips
// -Wmaybe-uninitialized at every inlined call (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::matmul::avx512 {
namespace {

constexpr int kMr = 14;  // 28 accumulators + 2 B registers of the 32 zmm

// Cache blocking: K block in dwords (A's packed row stride) and M block in micro-tiles, per core, as measured.
struct Blocking {
  int kc_groups, mc_tiles;
  const char* name;  // the label matmul results carry (blocking_name)
};
// Zen 4 (the default; 2 threads, 4096^3, noisy shared machine, medians of 5), K block 256 groups 390-395 GFLOP/s bf16
// / 765 GOP/s int8, 512 groups 398-410 / 805-825, 1024 groups 306-336 / 660-690, all with 12-tile M blocks (24 tiles
// measured the same): the A micro-panel (14 x 2 KiB) fills L1, the B micro-panel (64 KiB) streams from L2.
// Zen 5 (CPUID family 0x1A; a standalone driver over matmul_bf16, 4096^3, builds alternated, best of 3): one thread
// 512 / 12 (the Zen 4 choice) 382-425 GFLOP/s, 256 / 12 348-349, 384 / 12 362-368, 1024 / 12 382-383, 1024 / 24
// 418-432, 2048 / 12 435-460, 2048 / 24 456-471, 2048 / 48 464-475, 2048 / 96 461-470, 4096 / 24 459-461; two
// threads 512 / 12 798-830 against 2048 / 24 862-906 (medians 784-809 against 799-881); M = 1000 807 -> 870,
// M = 128 within noise (best 890-912 -> 925-942, medians 863-884 -> 828-851). A K block of 2048 groups is all of
// K up to 4096 (bf16): C is written once instead of read and written per block, and the 336-row A block
// (2.6 MiB, streamed from L3 per micro-tile) keeps each B micro-panel (256 KiB, in L2) for 24 micro-tiles. With
// the padded A stride (kAStride) as well, against the Zen 4 choice, alternated: one thread 396-422 -> 486-503
// GFLOP/s; two threads bf16 4096^3 165-175 -> 141-144 ms, int8 79.5-84.3 -> 74.7-76.4 ms; K 4096, N 14336, two
// threads, best of 21: M = 16 3.8-4.6 -> 2.9-3.0 ms, M = 128 16.9-17.9 -> 15.4-16.1 ms, M = 1 within noise. The
// padding alone, under the Zen 4 choice, changed nothing measurable here.
// Not measured on any other core (Intel's Sapphire Rapids included): those keep Zen 4's choice.
// TALKLAB_MATMUL_BLOCKING=zen4|zen5 overrides the choice (the tests run both on any AVX-512 machine).
constexpr Blocking kZen4Blocking{512, 12, "zen4"}, kZen5Blocking{2048, 24, "zen5"};
Blocking blocking_for(const CpuFeatures& cpu) {
  if (const char* env = std::getenv("TALKLAB_MATMUL_BLOCKING"); env != nullptr && *env != '\0') {
    for (const Blocking& b : {kZen4Blocking, kZen5Blocking})
      if (std::strcmp(env, b.name) == 0) return b;
    throw std::invalid_argument(std::string("TALKLAB_MATMUL_BLOCKING=") + env + " is not a blocking (zen4, zen5)");
  }
  return cpu.vendor == "AuthenticAMD" && cpu.family == 0x1A ? kZen5Blocking : kZen4Blocking;
}
constexpr float kInt8MaxCode = 127.0f;

// Where a micro-tile's results go.
struct Tile {
  float* c;  // row 0, column 0 of the tile
  int ldc;
  __mmask16 mask[2];  // valid columns of the two 16-lane halves
  bool first, last;   // first / last K block
  const float* a_scale;    // int8: per row, from row 0 of the tile
  const float* b_scale;    // int8: per column, from column 0
  const int32_t* zero_comp;
};

struct Bf16Op {
  using Acc = __m512;
  static Acc zero() { return _mm512_setzero_ps(); }
  static Acc dot(Acc c, __m512i a, __m512i b) { return _mm512_dpbf16_ps(c, (__m512bh)a, (__m512bh)b); }
  static void store(Acc v, const Tile& t, int r, int h) {
    float* c = t.c + size_t(r) * t.ldc + 16 * h;
    if (!t.first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(t.mask[h], c));
    _mm512_mask_storeu_ps(c, t.mask[h], v);
  }
  // A row slice: elements [2 g0, 2 (g0 + kc)) as kc dwords, zero past K.
  static void pack_row(uint32_t* dst, const void* A, size_t row, int K, int g0, int kc) {
    const uint16_t* a = static_cast<const uint16_t*>(A) + row * K + 2 * g0;
    const int n = std::min(2 * kc, K - 2 * g0);
    std::memcpy(dst, a, size_t(n) * 2);
    std::memset(reinterpret_cast<uint16_t*>(dst) + n, 0, size_t(2 * kc - n) * 2);
  }
};

struct Int8Op {
  using Acc = __m512i;
  static Acc zero() { return _mm512_setzero_si512(); }
  static Acc dot(Acc c, __m512i a, __m512i b) { return _mm512_dpbusd_epi32(c, a, b); }
  static void store(Acc v, const Tile& t, int r, int h) {
    float* c = t.c + size_t(r) * t.ldc + 16 * h;
    if (!t.first) v = _mm512_add_epi32(v, _mm512_maskz_loadu_epi32(t.mask[h], c));
    if (!t.last) return _mm512_mask_storeu_epi32(c, t.mask[h], v);  // int32 partial sums parked in C
    v = _mm512_sub_epi32(v, _mm512_loadu_si512(t.zero_comp + 16 * h));
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(t.a_scale[r]));
    f = _mm512_mul_ps(f, _mm512_loadu_ps(t.b_scale + 16 * h));
    _mm512_mask_storeu_ps(c, t.mask[h], f);
  }
  // int8 -> uint8 is + 128, i.e. flipping the sign bit; zero past K (B is zero there).
  static void pack_row(uint32_t* dst, const void* A, size_t row, int K, int g0, int kc) {
    const uint8_t* a = static_cast<const uint8_t*>(A) + row * K + 4 * g0;
    uint8_t* d = reinterpret_cast<uint8_t*>(dst);
    const int n = std::min(4 * kc, K - 4 * g0);
    const __m512i flip = _mm512_set1_epi8(char(0x80));
    int i = 0;
    for (; i + 64 <= n; i += 64) _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(a + i), flip));
    if (i < n) {
      const __mmask64 m = _bzhi_u64(~0ull, unsigned(n - i));
      _mm512_mask_storeu_epi8(d + i, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), flip));
    }
    std::memset(d + n, 0, size_t(4 * kc - n));
  }
};

// The packed A block's row stride for a K block of KC dwords: one cache line more, so the rows of a micro-tile
// spread over L1 sets (at KC = 2048, 8 KiB apart, all 14 fell in one set: 449 -> 471-487 GFLOP/s on Zen 5, one
// thread, 4096^3).
template <int KC>
constexpr int kAStride = KC + 16;

// a: MR rows at stride kAStride<KC> dwords; b: kg groups x 32 dwords.
template <class Op, int KC, int MR>
void micro_tile(const uint32_t* a, const uint32_t* b, int kg, const Tile& t) {
  typename Op::Acc acc[MR][2];
#pragma GCC unroll 14
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = Op::zero();
  for (int g = 0; g < kg; ++g, b += kPanelN) {
    const __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 16);
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(int(a[r * kAStride<KC> + g]));
      acc[r][0] = Op::dot(acc[r][0], av, b0);
      acc[r][1] = Op::dot(acc[r][1], av, b1);
    }
  }
#pragma GCC unroll 14
  for (int r = 0; r < MR; ++r) Op::store(acc[r][0], t, r, 0), Op::store(acc[r][1], t, r, 1);
}

template <class Op>
using MicroFn = void (*)(const uint32_t*, const uint32_t*, int, const Tile&);

template <class Op, int KC, size_t... I>
constexpr std::array<MicroFn<Op>, kMr> micro_table(std::index_sequence<I...>) {
  return {&micro_tile<Op, KC, int(I) + 1>...};
}

// One thread's share: rows [m0, m1), panels [p0, p1).
template <class Op, int KC>
void run_share(float* C, const void* A, int K, int N, int groups, const uint32_t* Bdata, int m0, int m1, int p0,
               int p1, int mc_rows, const float* a_scale, const float* b_scale, const int32_t* zero_comp,
               uint32_t* abuf) {
  static constexpr auto micro = micro_table<Op, KC>(std::make_index_sequence<kMr>{});
  for (int g0 = 0; g0 < groups; g0 += KC) {
    const int kc = std::min(KC, groups - g0);
    for (int i0 = m0; i0 < m1; i0 += mc_rows) {
      const int mc = std::min(mc_rows, m1 - i0);
      for (int r = 0; r < mc; ++r) Op::pack_row(abuf + size_t(r) * kAStride<KC>, A, size_t(i0 + r), K, g0, kc);
      for (int p = p0; p < p1; ++p) {
        const uint32_t* b = Bdata + (size_t(p) * groups + g0) * kPanelN;
        const int cols = std::min(kPanelN, N - p * kPanelN);
        Tile t;
        t.ldc = N;
        t.mask[0] = __mmask16(_bzhi_u32(0xFFFFu, unsigned(std::min(cols, 16))));
        t.mask[1] = __mmask16(_bzhi_u32(0xFFFFu, unsigned(std::max(cols - 16, 0))));
        t.first = g0 == 0, t.last = g0 + kc == groups;
        t.b_scale = b_scale ? b_scale + p * kPanelN : nullptr;
        t.zero_comp = zero_comp ? zero_comp + p * kPanelN : nullptr;
        // Rows spread evenly over the block's tiles (16 rows: 8 + 8, not 14 + 2), so no tile is a thin one
        // that reloads the B micro-panel for a couple of rows.
        const int tiles = (mc + kMr - 1) / kMr;
        for (int it = 0, ir = 0; it < tiles; ++it) {
          const int rows = mc * (it + 1) / tiles - ir;
          t.c = C + size_t(i0 + ir) * N + size_t(p) * kPanelN;
          t.a_scale = a_scale ? a_scale + i0 + ir : nullptr;
          micro[rows - 1](abuf + size_t(ir) * kAStride<KC>, b, kc, t);
          ir += rows;
        }
      }
    }
  }
}

template <class Op>
void run(float* C, const void* A, int M, int K, int N, int groups, int panels, const uint32_t* Bdata,
         const float* a_scale, const float* b_scale, const int32_t* zero_comp) {
  if (M <= 0 || N <= 0) return;
  const Blocking blk = blocking_for(cpu_features());
  const int mc_rows = kMr * blk.mc_tiles;
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    // N panels first; threads left over split M (in whole micro-tiles).
    const int tn = std::min(nt, panels), tm = std::max(1, std::min(nt / tn, (M + kMr - 1) / kMr));
    const int in = t % tn, im = t / tn;
    if (im < tm) {
      const int p0 = panels * in / tn, p1 = panels * (in + 1) / tn;
      const int tiles = (M + kMr - 1) / kMr;
      const int m0 = std::min(M, tiles * im / tm * kMr), m1 = std::min(M, tiles * (im + 1) / tm * kMr);
      // Sized to the share: a GEMV (M = 1) call should not allocate and fault in a whole A block per thread.
      const bool zen5 = blk.kc_groups == kZen5Blocking.kc_groups;
      const int stride = zen5 ? kAStride<kZen5Blocking.kc_groups> : kAStride<kZen4Blocking.kc_groups>;
      AlignedVector<uint32_t> abuf(size_t(std::min(mc_rows, std::max(m1 - m0, 0))) * stride);
      if (m0 < m1 && p0 < p1) {
        auto share = zen5 ? &run_share<Op, kZen5Blocking.kc_groups> : &run_share<Op, kZen4Blocking.kc_groups>;
        share(C, A, K, N, groups, Bdata, m0, m1, p0, p1, mc_rows, a_scale, b_scale, zero_comp, abuf.data());
      }
    }
  }
}

}  // namespace

const char* blocking_name() { return blocking_for(cpu_features()).name; }

void matmul_bf16(float* C, const uint16_t* A, const PackedBBf16& B, int M) {
  if (B.K == 0) return (void)std::fill(C, C + size_t(M) * B.N, 0.0f);
  run<Bf16Op>(C, A, M, B.K, B.N, B.groups, B.panels, B.data.data(), nullptr, nullptr, nullptr);
}

void matmul_int8(float* C, const int8_t* Aq, const float* a_scale, const PackedBInt8& B, int M) {
  if (B.K == 0) return (void)std::fill(C, C + size_t(M) * B.N, 0.0f);
  run<Int8Op>(C, Aq, M, B.K, B.N, B.groups, B.panels, B.data.data(), a_scale, B.scale.data(), B.zero_comp.data());
}

// Two passes over each row (amax, then codes); the row stays in L1/L2 between them. Memory-bound.
// Codes as quant::quantize_int8: round half to even (roundscale, nearest) of a true division, clamped to +-127.
void quantize_rows_int8(int8_t* Aq, float* a_scale, const float* A, int M, int K) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    const float* a = A + size_t(m) * K;
    int8_t* q = Aq + size_t(m) * K;
    __m512 vmax = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
      const __mmask16 mk = __mmask16(_bzhi_u32(0xFFFFu, unsigned(std::min(16, K - k))));
      vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_maskz_loadu_ps(mk, a + k)));
    }
    const float scale = quant::symmetric_scale(_mm512_reduce_max_ps(vmax), kInt8MaxCode);
    a_scale[m] = scale;
    const __m512 vs = _mm512_set1_ps(scale), lo = _mm512_set1_ps(-kInt8MaxCode), hi = _mm512_set1_ps(kInt8MaxCode);
    for (int k = 0; k < K; k += 16) {
      const __mmask16 mk = __mmask16(_bzhi_u32(0xFFFFu, unsigned(std::min(16, K - k))));
      __m512 x = _mm512_div_ps(_mm512_maskz_loadu_ps(mk, a + k), vs);
      x = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
      _mm512_mask_cvtepi32_storeu_epi8(q + k, mk, _mm512_cvtps_epi32(x));
    }
  }
}

}  // namespace talklab::cpu::matmul::avx512
