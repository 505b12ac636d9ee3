// AVX-512 int4 w4a16 matmul (matmul_int4.h): unpack int4 -> bf16 in registers, vdpbf16ps against A's K pairs.
// Memory-bound at M = 1 (B streamed once: K * N / 2 bytes of codes + K * N / g * 2 bytes of bf16 scales); the unpack
// is a fixed cost per B element that more rows (M) amortize.
//   Per K octet of a 32-column panel: 2 zmm loads (128 B); for each of its 4 K pairs i: vpsrld by 4i, vpermw
//   against the nibble -> bf16 table (exact codes, no bias to subtract), so 2 B operands; then per row one
//   vpbroadcastd of A's pair and 2 vdpbf16ps. Per group, the fp32 partial sums are scaled (the group's 32 bf16
//   scales widened by a zero extension and a shift, then one FMA per 16 columns and row) into the output
//   accumulators, which stay in registers for the whole K.
//   At M = 1 the per-group partials are split 4 ways by pair (8 dot chains; vdpbf16ps latency ~6 cycles would
//   otherwise stall 2 chains), 2 ways at M = 2. Micro-tile: up to kMr = 6 rows (2 * 6 partials + 2 * 6 outputs).
//   A is copied once per call into the micro-tiles' order (dword (pair g, row r) of a tile at g * rows + r), so a
//   tile's broadcasts read one sequential stream instead of rows at a stride of 2K bytes (often 4 KiB-aliasing).
// Threads: chunks of consecutive panels (a contiguous stretch of B each) handed out dynamically; when there are
// fewer chunks than threads, M tile ranges too.
// Measured (Zen 4, 2 vCPUs shared with other builds and benches, so minima and the quietest medians; copy roofline
// 42.7 GB/s), K = 4096, N = 14336, g = 128 (31.2 MB of codes + scales):
//   M = 1, 2 threads: bench median 0.76-0.93 ms = 33-41 GB/s of weights (78-97% of copy), minimum 0.43 ms (B
//     partly L3-resident: 31 MB against a 32 MB L3). Rotating 4 weight copies (DRAM-cold): 0.65-0.88 ms,
//     35-48 GB/s. torch_bf16 24-36 ms, our bf16 8-12 ms (medians, same runs).
//   M = 1, 1 thread, B in L2 (N = 2048): 37 GB/s = 139 GFLOP/s, 60% of the core's vdpbf16ps peak: the unpack
//     (vpsrld + vpermw per B operand, 1.75 shuffle-pipe ops per dot) is the limit, so 2 cores give ~70 GB/s of
//     unpack against ~45 GB/s of DRAM: memory-bound with 1.5x to spare.
//   1 thread (2-thread runs were dominated by other processes): M = 16: 9.0 ms (205 GFLOP/s, 88% of the core's
//     peak) vs bf16 11.0 ms; M = 128: 69 ms (217 GFLOP/s) vs bf16 73 ms. 6 rows amortize the unpack.
// Variants tried (1 thread, same K, N unless said):
//   pre-scaling the weights by the group scale (vpermw, to fp32, times scale, vcvtne2ps2bf16, vpermw to re-pair):
//     M = 1 2.94 ms vs 0.93 ms, and it rounds q * s to bf16 (1.6e-3 normwise against the exact kernel). Lost.
//   biased codes without a table (vpsrld / vpslld + vpternlogd to the bf16 12 + q / 2, minus 12 * sum(a) per group):
//     101 vs 129 GFLOP/s at M = 1, N = 256, and sums biased ~6x above the signal (fp32 cancellation). Lost.
//   a static split of the panels in two halves: same speed on a quiet machine; a descheduled thread then holds
//     up the call with half of B, so dynamic chunks stayed. Software prefetch 4 KiB ahead: no difference (Zen 4).
// Software prefetch 8 KiB ahead into L2 (Zen 5, 2026-12-05): this guest's memory moves between a slow state (a
//   plain 2-thread read at 41-50 GB/s) and a fast one (62-82 GB/s). In the slow one the kernel already streams at
//   the read's rate and the prefetch changes nothing (0.99-1.02x); in the fast one the kernel alone stalled at
//   55-60 GB/s (2 cores, each ~60% busy decoding: 70-75 GB/s per core in L2), and the prefetch keeps L2's misses in
//   flight: 1.06-1.20x (4 fast-state pairs; 4 KiB ahead 1.05x, 16 KiB none, T1 and T2 alike). Standalone driver,
//   K = 4096, N = 14336, 6 cold weight copies, 60 calls of each kernel alternated with a stream_read of as many
//   bytes. One thread in L2 (N = 256) it costs ~1%. In bench (both M = 1 shapes, three runs of each binary
//   alternated): before 612-667 us, all in slow rounds (paired read 42-52 GB/s); after 560-609 us in slow rounds
//   and 443-571 us in fast ones (paired read 80-87 GB/s), where the kernel still reads at only 0.72-0.84 of it.
// Bench: `bench run --filter 'matmul/(int4_w4a16|bf16)/' --set M=1,16,128 --set K=4096 --set N=14336`.
// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized at every inlined call (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/cpu/matmul/matmul_int4.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/int_quant.h"

namespace talklab::cpu::matmul::avx512 {
namespace {

constexpr int kMr = 6;
constexpr int kPairsPerOctet = kInt4KPerDword / 2;
constexpr int kNibbleBits = 4;
// Software prefetch into L2 this far ahead of the octet being read (within a panel's codes, or the next panel's).
constexpr size_t kPrefetchBytes = 8192;

// vpermw table: entry i = bf16 of the int4 whose nibble is i % 16 (vpermw reads index bits 0..4 of each word,
// so the bit above the nibble, left there by the shift, picks the same value).
struct alignas(64) NibbleTable {
  uint16_t bf16[32];
};
NibbleTable nibble_to_bf16_table() {
  NibbleTable t;
  for (int i = 0; i < 32; ++i) t.bf16[i] = quant::float_to_bf16(float(quant::int4_from_nibble(uint8_t(i))));
  return t;
}

// 16 bf16 as float32: each zero-extended into the high half of its 32-bit lane (exact).
inline __m512 bf16_to_ps(__m256i x) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x), 16)); }

// Where a micro-tile reads and writes. a: the tile's packed A (dword (g, r) at g * MR + r); codes / scales: the
// panel's; c: row 0, column 0 of the tile in C.
struct Tile {
  const uint32_t* a;
  const uint32_t* codes;
  const uint16_t* scales;  // bf16
  float* c;
  int ldc, groups, octets_per_group;
  __mmask16 mask[2];  // valid columns of the two 16-lane halves
};

template <int MR>
void micro_tile(const Tile& t, const NibbleTable& nibbles) {
  const __m512i table = _mm512_load_si512(nibbles.bf16);
  constexpr int S = MR == 1 ? 4 : MR == 2 ? 2 : 1;  // dot chains per (row, half)
  // Octets per loop step: two at M = 1 (from DRAM in this guest's slow memory state, 1.01-1.05x over one, 12
  // alternated driver pairs; no change in L2), one otherwise. Every group is a whole number of octet pairs (g >= 32).
  constexpr int kOctetsPerStep = MR == 1 ? 2 : 1;
  const uint32_t* a = t.a;
  const uint32_t* codes = t.codes;
  __m512 out[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) out[r][0] = out[r][1] = _mm512_setzero_ps();
  for (int gi = 0; gi < t.groups; ++gi) {
    __m512 part[MR][S][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int s = 0; s < S; ++s) part[r][s][0] = part[r][s][1] = _mm512_setzero_ps();
    for (int o = 0; o < t.octets_per_group; o += kOctetsPerStep) {
#pragma GCC unroll 2
      for (int h = 0; h < kOctetsPerStep; ++h, codes += kPanelN, a += kPairsPerOctet * MR) {
        // Both lines of the octet kPrefetchBytes on (integer arithmetic: past B's end a prefetch does not fault).
        const uintptr_t ahead = reinterpret_cast<uintptr_t>(codes) + kPrefetchBytes;
        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T1);
        const __m512i x0 = _mm512_load_si512(codes), x1 = _mm512_load_si512(codes + 16);
#pragma GCC unroll 4
        for (int i = 0; i < kPairsPerOctet; ++i) {
          const __m512bh b0 = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi32(x0, kNibbleBits * i), table);
          const __m512bh b1 = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi32(x1, kNibbleBits * i), table);
#pragma GCC unroll 6
          for (int r = 0; r < MR; ++r) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32(int(a[i * MR + r]));
            part[r][i % S][0] = _mm512_dpbf16_ps(part[r][i % S][0], av, b0);
            part[r][i % S][1] = _mm512_dpbf16_ps(part[r][i % S][1], av, b1);
          }
        }
      }
    }
    const __m512i s16 = _mm512_load_si512(t.scales + size_t(gi) * kPanelN);  // 32 bf16: one line
    const __m512 s0 = bf16_to_ps(_mm512_castsi512_si256(s16)), s1 = bf16_to_ps(_mm512_extracti64x4_epi64(s16, 1));
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      __m512 p0 = part[r][0][0], p1 = part[r][0][1];
#pragma GCC unroll 4
      for (int s = 1; s < S; ++s) p0 = _mm512_add_ps(p0, part[r][s][0]), p1 = _mm512_add_ps(p1, part[r][s][1]);
      out[r][0] = _mm512_fmadd_ps(p0, s0, out[r][0]);
      out[r][1] = _mm512_fmadd_ps(p1, s1, out[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(t.c + size_t(r) * t.ldc, t.mask[0], out[r][0]);
    _mm512_mask_storeu_ps(t.c + size_t(r) * t.ldc + 16, t.mask[1], out[r][1]);
  }
}

using MicroFn = void (*)(const Tile&, const NibbleTable&);

template <size_t... I>
constexpr std::array<MicroFn, kMr> micro_table(std::index_sequence<I...>) {
  return {&micro_tile<int(I) + 1>...};
}

// Rows of tile it of `tiles` over M rows, spread evenly (16 rows: 6 + 5 + 5).
int tile_row(int M, int tiles, int it) { return int(int64_t(M) * it / tiles); }

}  // namespace

void matmul_int4_w4a16(float* C, const uint16_t* A, const PackedBInt4& B, int M) {
  if (M <= 0 || B.N <= 0) return;
  static constexpr auto micro = micro_table(std::make_index_sequence<kMr>{});
  const int K = B.K, N = B.N, pairs = K / 2, panels = B.panels, octets = K / kInt4KPerDword;
  const int tiles = (M + kMr - 1) / kMr;
  static const NibbleTable table = nibble_to_bf16_table();
  // A in the tiles' order, serially: K / 2 dwords per row against the row's N * K products (K = 4096: ~1 us of
  // the ~0.8 ms GEMV at N = 14336), and one barrier fewer: on a shared machine each barrier can wait a scheduler
  // tick (4 ms) for a descheduled thread.
  AlignedVector<uint32_t> apack(size_t(M) * pairs);
  for (int it = 0; it < tiles; ++it) {
    const int r0 = tile_row(M, tiles, it), mr = tile_row(M, tiles, it + 1) - r0;
    uint32_t* dst = apack.data() + size_t(r0) * pairs;
    for (int r = 0; r < mr; ++r) {
      const uint16_t* src = A + size_t(r0 + r) * K;
      for (int g = 0; g < pairs; ++g) dst[size_t(g) * mr + r] = src[2 * g] | uint32_t(src[2 * g + 1]) << 16;
    }
  }
#pragma omp parallel
  {
    // Work items (PanelChunks, matmul.h): chunks of consecutive panels x ranges of M tiles, handed out dynamically.
    const PanelChunks work(panels, tiles, omp_get_num_threads());
    Tile t;
    t.ldc = N, t.groups = B.groups, t.octets_per_group = B.group / kInt4KPerDword;
#pragma omp for schedule(dynamic)
    for (int item = 0; item < work.items(); ++item) {
      const PanelChunks::Range w = work.range(item);
      const int t0 = w.t0, t1 = w.t1;
      for (int p = w.p0; p < w.p1; ++p) {
        const int cols = std::min(kPanelN, N - p * kPanelN);
        t.mask[0] = __mmask16(_bzhi_u32(0xFFFFu, unsigned(std::min(cols, 16))));
        t.mask[1] = __mmask16(_bzhi_u32(0xFFFFu, unsigned(std::max(cols - 16, 0))));
        t.codes = B.codes.data() + size_t(p) * octets * kPanelN;
        t.scales = B.scales.data() + size_t(p) * B.groups * kPanelN;
        for (int it = t0; it < t1; ++it) {
          const int r0 = tile_row(M, tiles, it), mr = tile_row(M, tiles, it + 1) - r0;
          t.a = apack.data() + size_t(r0) * pairs;
          t.c = C + size_t(r0) * N + size_t(p) * kPanelN;
          micro[mr - 1](t, table);
        }
      }
    }
  }
}

}  // namespace talklab::cpu::matmul::avx512
