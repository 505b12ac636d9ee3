// flash_forward_kernel: block-sparse FlashAttention-2 forward on mma.sync tensor cores (sm_80+, tuned for sm_90).
//   O (B, H, S_q, D) = softmax(score_mod(scale * Q K^T) + mask) V,  LSE (B, H, S_q) = natural log of the row sums.
//   Q (B, H, S_q, D), K and V (B, H_kv, S_kv, D), bf16 or fp16; fp32 accumulation and softmax; D = 64 or 128.
// Compute-bound: 4 * D flops per visited (q, kv) pair against 4 * D bytes of K and V per 128 query rows (L2 hits
// after the first q block of a head), i.e. ~128 flop per byte from L2 at D = 128.
//
// Design (one CTA per (b, h, 128-query block); host API in flash_cuda.h, planning in flash_cuda_plan.cpp):
// - Tiles: 128 query rows per CTA, key/value tiles of 64. 128 rows (not 64) halve the K/V traffic per flop from L2,
//   which is what bounds FA2-style kernels on H100. Two tilings of the rows (template kWarpRows, chosen per plan):
//   - 16 rows a warp, 8 warps (flash_cuda, the default): O 64 + Q 32 + S 32 registers a thread at D = 128, plus the
//     K / V fragments ptxas hoists for overlap, 241-247 in all, so one 256-thread CTA per SM. Every warp reads the
//     whole K and V tile from shared memory for its 16 rows: 16 flop per byte of shared memory at D = 128.
//   - 32 rows a warp, 4 warps (flash_cuda_32rows): each K / V fragment read by ldmatrix serves two m16 tiles, so
//     shared-memory reads per flop drop to ~26 flop per byte (Q's fragments, no longer room for them in registers,
//     are re-read every tile). O alone is 128 registers at D = 128, so the 64-key tile is taken in two softmax
//     steps of 32 keys (S 32 registers), and the k loop is unrolled by 2 only; ptxas still spills 12-24 bytes
//     there. A 128-thread CTA at <= 255 registers lets two CTAs share an SM (2 x 96 KiB of shared memory fits).
//   Which is faster is the GPU's to say: the profile times both (bench --filter 'attention/flash_cuda').
// - Q is loaded once (cp.async, then ldmatrix) into registers as mma A fragments (16-row tiling). K and V tiles
//   are double buffered in shared memory with cp.async: tile i + 1 is in flight while tile i is computed, one CTA
//   barrier per tile (the prefetch is issued after it, into the stage every warp has finished). Rows are 16-byte
//   chunks XOR-swizzled by (row & 7), so ldmatrix's 8 row reads and cp.async's 16-byte writes hit distinct banks.
// - S = Q K^T by m16n8k16 (K rows read by ldmatrix as B fragments), then the score mod (softcap / ALiBi, a
//   template parameter), the mask, the online softmax in fp32 with exp2f on log2(e)-prescaled scores (running max
//   and sum per row, rows reduced across the 4 lanes that hold them); P is rounded to bf16 / fp16 in registers
//   and is directly the A operand of P V (V read by ldmatrix.trans), no shared-memory round trip.
// - Block sparsity: the CTA walks its row of the block mask (kernels/common/attention/block_mask.h, built with
//   q_block 128, kv_block 64): PARTIAL blocks first, masked per element, then FULL blocks with no mask at all;
//   empty blocks are never loaded. Every built-in mask is one interval of visible keys per query row
//   (row_interval in flash_cuda_kernel.h), computed once per row, so the mask is a run-time value and costs two
//   compares per element of a partial block: instantiations are (dtype, D, score mod, tiling) = 24, not 120. On a
//   partial tile, a warp whose rows see none of its keys skips it (a warp vote on the row intervals).
// - Bounds: rows past S_q are zero-filled, computed and never written; key rows past S_kv are zero-filled and
//   masked (the last, short key block always takes the masked path). A row with no visible key gets O = 0 and
//   LSE = -inf (its running max stays -inf; exp2 of it is taken against 0 so no NaN appears).
// - Epilogue: O / l rounded to 16 bits is staged in the warp's own rows of the Q buffer, then written with
//   coalesced 16-byte stores.
// - Order: blockIdx.x indexes the plan's work list, sorted by descending tile count (flash_cuda_plan.cpp), so the
//   long rows of causal and windowed masks start first and the short ones fill the tail across the SMs.
//   Hardware dispatches CTAs in blockIdx order in practice; a persistent grid with an atomic tile counter would
//   make that guaranteed (not done: the emulator could check it is correct, only a GPU can say whether it pays).
//
// Limits: FA2's published H100 forward is ~335 TFLOP/s causal and ~370 TFLOP/s full at D = 128 (bf16, 16k tokens),
// about 37% of the 989 TFLOP/s dense bf16 peak: mma.sync cannot reach Hopper's peak (wgmma can: FA3, ~600-750).
// The 16-row tiling should land below FA2: it reloads K / V from shared memory for each of 8 warps (16 flop per byte
// of shared memory at D = 128), and with one CTA per SM its barrier per tile stalls the whole SM. The 32-row tiling
// is FA2's own arrangement (4 warps, 128 x 64 tiles); its price is the Q re-reads and the spills above.
//
// ptxas (nvcc 13.0, sm_90, --ptxas-options=-v in this file's build output; bf16 and fp16 are identical):
//   16 rows a warp, D = 128: none 242 registers, softcap 247, alibi 241; 96 KiB dynamic shared memory; 0 spills
//   16 rows a warp, D =  64: none 167 registers, softcap 214, alibi 167; 48 KiB dynamic shared memory; 0 spills
//     So one 256-thread CTA per SM at both head dims (registers, not shared memory, are the limit).
//   32 rows a warp, D = 128: 255 registers, spills none 12 / 12 bytes (stores / loads), softcap 16 / 20, alibi 12 / 24
//   32 rows a warp, D =  64: none 246 registers, softcap 254, alibi 247; 0 spills
//     So two 128-thread CTAs per SM at both head dims.
//   The file compiles in 10.4 s on one core (24 instantiations).
//
// Correctness without a GPU: the SIMT emulator (docs/simt.md) runs this file's kernel on the CPU against the
// float64 reference, every mask, score mod, head dim and dtype of tests/kernels/cuda/test_flash_cuda.cpp
// (ctest -R '^Simt\.FlashCuda'), both tilings, under three thread schedules, and counts ldmatrix bank conflicts
// (none, Simt.FlashCudaLdmatrixIsBankConflictFree). It passes; speed is not yet measured.
// Measured by: bench run --profile gpu --device cuda --filter 'attention/flash_cuda'
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/attention/flash_cuda_kernel.h"
#include "kernels/cuda/attention/flash_cuda_mma.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace talklab::cuda::attention {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// CTAs per SM the register bound asks for. 16 rows a warp (256 threads): one; asking for two at D = 64 (128
// registers a thread) made ptxas spill 4-84 bytes per thread. 32 rows a warp (128 threads): two, which caps
// nothing (65536 / 256 = 256 registers >= the 255 a thread can have) but lets two CTAs share an SM when the
// registers ptxas picks and the shared memory (2 x 96 KiB at D = 128) fit.
constexpr int min_blocks_per_sm(int warp_rows) { return warp_rows == 16 ? 1 : 2; }

// Element offset of 16-byte chunk `chunk` of row `row` in a swizzled [rows][kD] tile.
template <int kD>
__device__ __forceinline__ int swizzle(int row, int chunk) {
  return row * kD + ((chunk ^ (row & 7)) << 3);
}

// The score mod on a scaled score in natural units (as mask.h's mods), returned in log2 units.
template <ScoreMod kScore>
__device__ __forceinline__ float score_log2(float acc, float scale, float inv_cap, float cap, float slope, int q,
                                            int kv) {
  if constexpr (kScore == ScoreMod::softcap) return cap * tanhf(acc * scale * inv_cap) * kLog2e;
  if constexpr (kScore == ScoreMod::alibi) return (acc * scale - slope * float(q - kv)) * kLog2e;
  return acc * scale;  // none: `scale` is already scale * log2(e)
}

template <class T, int kD, ScoreMod kScore, int kWarpRows>
__global__ void __launch_bounds__(flash_threads(kWarpRows), min_blocks_per_sm(kWarpRows))
    flash_forward_kernel(const FlashKernelParams p) {
  constexpr int kThreads = flash_threads(kWarpRows);
  constexpr int kMt = kWarpRows / 16;   // m16 tiles per warp
  constexpr int kRows = 2 * kMt;        // rows per thread: g and g + 8 of each m16 tile
  constexpr bool kQInRegisters = kMt == 1;
  constexpr int kChunks = kD / 8;       // 16-byte chunks per row
  constexpr int kDSteps = kD / 16;      // k steps of Q K^T
  // Keys per softmax step: the whole 64-key tile, or halves of it where two m16 tiles of S and O at D = 128 would
  // not fit in registers otherwise (O alone is 128 of them); each half updates the running max and sum.
  constexpr int kSubKeys = kMt == 2 && kD == 128 ? 32 : kKvTile;
  // Q K^T's k steps, unrolled whole where Q's fragments are registers indexed by the step; with two m16 tiles, by
  // two at a time, so that ptxas does not keep every step's fragment loads in flight at once (it spilled).
  [[maybe_unused]] constexpr int kKsUnroll = kQInRegisters ? kDSteps : 2;
  constexpr int kSTiles = kSubKeys / 8;  // 8-key accumulator tiles of S
  constexpr int kOTiles = kD / 8;        // 8-column accumulator tiles of O
  constexpr int kKvSteps = kSubKeys / 16;
  static_assert(kD % 16 == 0 && (kQTile * kChunks) % kThreads == 0 && (kKvTile * kChunks) % kThreads == 0 &&
                    (kWarpRows * kChunks) % 32 == 0,
                "the copy loops assume whole trips for every thread");
  uint16_t* sQ = ptx::dynamic_shared<uint16_t>();  // [kQTile][kD], later the output staging area
  uint16_t* sK = sQ + kQTile * kD;                  // [2][kKvTile][kD]
  uint16_t* sV = sK + 2 * kKvTile * kD;             // [2][kKvTile][kD]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;

  const int item = p.work[blockIdx.x];
  const int qb = item % p.num_q_blocks;
  const int bh = item / p.num_q_blocks;
  const int h = bh % p.H, b = bh / p.H;
  const int q0 = qb * kQTile;
  const int64_t row = (int64_t(p.bm_B == 1 ? 0 : b) * p.bm_H + (p.bm_H == 1 ? 0 : h)) * p.num_q_blocks + qb;
  const int n_partial = p.partial_count[row];
  const int n_full = p.full_count[row];
  const int n_tiles = n_partial + n_full;
  const int32_t* partial = p.partial_index + p.partial_offset[row];
  const int32_t* full = p.full_index + p.full_offset[row];

  const uint16_t* Q = static_cast<const uint16_t*>(p.q) + ((int64_t(b) * p.H + h) * p.S_q + q0) * kD;
  const int64_t kv_head = (int64_t(b) * p.H_kv + h / p.group) * p.S_kv * kD;
  const uint16_t* K = static_cast<const uint16_t*>(p.k) + kv_head;
  const uint16_t* V = static_cast<const uint16_t*>(p.v) + kv_head;

  // ---- loads: Q once, then K and V tiles into the stage the tile's parity selects ----------------------------
  const int q_rows = min(kQTile, p.S_q - q0);
#pragma unroll
  for (int it = 0; it < kQTile * kChunks / kThreads; ++it) {
    const int i = tid + it * kThreads;
    const int r = i / kChunks, c = i % kChunks;
    const bool valid = r < q_rows;
    ptx::cp_async_16(ptx::shared_address(sQ + swizzle<kD>(r, c)), Q + (valid ? r * kD + c * 8 : 0), valid);
  }
  ptx::cp_async_commit();
  auto block_of = [&](int i) { return i < n_partial ? partial[i] : full[i - n_partial]; };
  auto load_kv = [&](int i, int stage) {
    const int k0 = block_of(i) * kKvTile;
    const int rows = min(kKvTile, p.S_kv - k0);
    uint16_t* dk = sK + stage * kKvTile * kD;
    uint16_t* dv = sV + stage * kKvTile * kD;
#pragma unroll
    for (int it = 0; it < kKvTile * kChunks / kThreads; ++it) {
      const int i2 = tid + it * kThreads;
      const int r = i2 / kChunks, c = i2 % kChunks;
      const bool valid = r < rows;
      const int64_t src = valid ? int64_t(k0 + r) * kD + c * 8 : 0;
      ptx::cp_async_16(ptx::shared_address(dk + swizzle<kD>(r, c)), K + src, valid);
      ptx::cp_async_16(ptx::shared_address(dv + swizzle<kD>(r, c)), V + src, valid);
    }
  };
  if (n_tiles > 0) load_kv(0, 0);
  ptx::cp_async_commit();
  ptx::cp_async_wait<1>();  // Q has landed (K / V tile 0 may still be in flight)
  __syncthreads();

  // Q fragments of m16 tile mt at k step ks: matrices (rows 0-7 | 8-15) x (chunk 2ks | 2ks+1) -> a0, a1, a2, a3.
  // With one m16 tile per warp they stay in registers for the whole row; with two, the registers go to the second
  // tile's accumulators and the fragments are re-read from shared memory on every key tile.
  auto q_fragment = [&](int mt, int ks, uint32_t (&f)[4]) {
    const int r = warp * kWarpRows + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
    ptx::ldmatrix_x4(f, ptx::shared_address(sQ + swizzle<kD>(r, 2 * ks + (lane >> 4))));
  };
  uint32_t qf[kQInRegisters ? kDSteps : 1][4];
  if constexpr (kQInRegisters) {
#pragma unroll
    for (int ks = 0; ks < kDSteps; ++ks) q_fragment(0, ks, qf[ks]);
  }

  // This thread's rows: g and g + 8 of each of the warp's m16 tiles (row r = 2 mt + ri). Their visible-key
  // intervals, for partial tiles.
  // Query positions are recomputed where needed (an add), not kept: registers are what bounds this kernel.
  const int q_base = q0 + warp * kWarpRows + g;
  auto q_of = [&](int r) { return q_base + (r / 2) * 16 + 8 * (r % 2); };
  int lo[kRows], hi[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int qc = min(q_of(r), p.S_q - 1);  // rows past S_q are never written: any interval will do
    const KeyInterval iv = row_interval(p.mask, qc, p.S_kv, p.window, p.prefix, p.doc_start);
    lo[r] = iv.lo;
    hi[r] = iv.hi;
  }
  const float scale = kScore == ScoreMod::none ? p.scale * kLog2e : p.scale;
  const float cap = p.softcap, inv_cap = kScore == ScoreMod::softcap ? 1.0f / p.softcap : 0.f;
  const float slope = kScore == ScoreMod::alibi ? p.alibi_slopes[h] : 0.f;

  float o[kMt][kOTiles][4];
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
    for (int j = 0; j < kOTiles; ++j) o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.f;
  float m[kRows], l[kRows];  // running max (log2 units); this lane's part of the running sum (quad summed at the end)
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
  }

  for (int i = 0; i < n_tiles; ++i) {
    const int stage = i & 1;
    ptx::cp_async_wait<0>();  // this thread's copies of tile i have landed (its only group in flight)
    // One barrier per tile: after it, every thread's copies of tile i are visible and every warp is done with
    // tile i - 1, whose stage the prefetch of tile i + 1 below overwrites while tile i is computed.
    __syncthreads();
    if (i + 1 < n_tiles) load_kv(i + 1, stage ^ 1);
    ptx::cp_async_commit();
    const uint16_t* tk = sK + stage * kKvTile * kD;
    const uint16_t* tv = sV + stage * kKvTile * kD;
    const int k0 = block_of(i) * kKvTile;
    const bool masked = i < n_partial || k0 + kKvTile > p.S_kv;
    // A warp whose rows see no key of a partial tile skips it (its state would not change): half the warps on
    // the diagonal tiles of causal masks and on both edges of a sliding window (fewer with 32 rows a warp).
    bool rows_see_tile = false;
#pragma unroll
    for (int r = 0; r < kRows; ++r) rows_see_tile |= lo[r] < k0 + kKvTile && hi[r] >= k0;
    if (masked && !__any_sync(0xffffffffu, rows_see_tile)) continue;  // (masked is the same in every thread)
#pragma unroll 1
    for (int sub = 0; sub < kKvTile / kSubKeys; ++sub) {
      const int kb = k0 + sub * kSubKeys;  // first key of this softmax step
      // S = Q K^T: per k step, ldmatrix gives B fragments of two 8-key tiles (keys 16n.. and 16n+8..), used by
      // every m16 tile of the warp.
      float s[kMt][kSTiles][4];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int j = 0; j < kSTiles; ++j) s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.f;
#pragma unroll kKsUnroll
      for (int ks = 0; ks < kDSteps; ++ks) {
        uint32_t qa[kMt][4];
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
          if constexpr (kQInRegisters) {
#pragma unroll
            for (int x = 0; x < 4; ++x) qa[mt][x] = qf[ks][x];
          } else {
            q_fragment(mt, ks, qa[mt]);
          }
        }
#pragma unroll
        for (int n = 0; n < kSTiles / 2; ++n) {
          uint32_t kf[4];
          const int r = sub * kSubKeys + n * 16 + (lane & 7) + ((lane >> 4) << 3);
          ptx::ldmatrix_x4(kf, ptx::shared_address(tk + swizzle<kD>(r, 2 * ks + ((lane >> 3) & 1))));
#pragma unroll
          for (int mt = 0; mt < kMt; ++mt) {
            T::mma(s[mt][2 * n], qa[mt], kf[0], kf[1]);
            T::mma(s[mt][2 * n + 1], qa[mt], kf[2], kf[3]);
          }
        }
      }

      // Score mod and mask; element e of tile j of m16 tile mt is row r = 2 mt + e / 2, key kb + 8 j + 2 t + e % 2.
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int j = 0; j < kSTiles; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int kv = kb + 8 * j + 2 * t + (e & 1);
            s[mt][j][e] = score_log2<kScore>(s[mt][j][e], scale, inv_cap, cap, slope, q_of(2 * mt + (e >> 1)), kv);
          }
      if (masked) {
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
          for (int j = 0; j < kSTiles; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int kv = kb + 8 * j + 2 * t + (e & 1), r = 2 * mt + (e >> 1);
              if (kv < lo[r] || kv > hi[r]) s[mt][j][e] = -INFINITY;
            }
      }
      float row_max[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) row_max[r] = m[r];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int j = 0; j < kSTiles; ++j) {
          row_max[2 * mt] = fmaxf(row_max[2 * mt], fmaxf(s[mt][j][0], s[mt][j][1]));
          row_max[2 * mt + 1] = fmaxf(row_max[2 * mt + 1], fmaxf(s[mt][j][2], s[mt][j][3]));
        }

      // Online softmax: rescale what was accumulated by 2^(m_old - m_new); a row still fully masked keeps max -inf
      // and is exponentiated against 0 instead (exp2(-inf) = 0, never -inf - -inf).
      float base[kRows], alpha[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float m_new = device::quad_max(row_max[r]);
        base[r] = m_new == -INFINITY ? 0.f : m_new;
        alpha[r] = exp2f(m[r] - base[r]);
        m[r] = m_new;
        l[r] *= alpha[r];
      }
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int j = 0; j < kOTiles; ++j) {
          o[mt][j][0] *= alpha[2 * mt];
          o[mt][j][1] *= alpha[2 * mt];
          o[mt][j][2] *= alpha[2 * mt + 1];
          o[mt][j][3] *= alpha[2 * mt + 1];
        }
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int j = 0; j < kSTiles; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int r = 2 * mt + (e >> 1);
            s[mt][j][e] = exp2f(s[mt][j][e] - base[r]);
            l[r] += s[mt][j][e];
          }

      // O += P V: the accumulators of key tiles 2kk and 2kk+1 are the A fragment of k step kk; ldmatrix.trans of V
      // gives B fragments of two 8-column tiles of O per call, used by every m16 tile of the warp.
#pragma unroll
      for (int kk = 0; kk < kKvSteps; ++kk) {
        uint32_t pa[kMt][4];
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
          pa[mt][0] = T::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          pa[mt][1] = T::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          pa[mt][2] = T::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          pa[mt][3] = T::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < kOTiles / 2; ++dp) {
          uint32_t vf[4];
          const int r = sub * kSubKeys + kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
          ptx::ldmatrix_x4_trans(vf, ptx::shared_address(tv + swizzle<kD>(r, 2 * dp + (lane >> 4))));
#pragma unroll
          for (int mt = 0; mt < kMt; ++mt) {
            T::mma(o[mt][2 * dp], pa[mt], vf[0], vf[1]);
            T::mma(o[mt][2 * dp + 1], pa[mt], vf[2], vf[3]);
          }
        }
      }
    }
  }

  // ---- epilogue: O / l and LSE; rows with nothing visible give 0 and -inf ------------------------------------
  float inv_l[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const float sum = device::quad_sum(l[r]);
    inv_l[r] = sum > 0.f ? 1.0f / sum : 0.f;
    if (p.lse != nullptr && t == 0 && q_of(r) < p.S_q) {
      p.lse[(int64_t(b) * p.H + h) * p.S_q + q_of(r)] = sum > 0.f ? (m[r] + log2f(sum)) * kLn2 : -INFINITY;
    }
  }
  // Stage the warp's rows in its own rows of the Q buffer (only this warp ever reads them, and it has finished),
  // then store rows < S_q with 16-byte writes, consecutive lanes on consecutive chunks.
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt) {
    const int r0 = warp * kWarpRows + mt * 16 + g;
#pragma unroll
    for (int j = 0; j < kOTiles; ++j) {
      *reinterpret_cast<uint32_t*>(sQ + swizzle<kD>(r0, j) + 2 * t) =
          T::pack(o[mt][j][0] * inv_l[2 * mt], o[mt][j][1] * inv_l[2 * mt]);
      *reinterpret_cast<uint32_t*>(sQ + swizzle<kD>(r0 + 8, j) + 2 * t) =
          T::pack(o[mt][j][2] * inv_l[2 * mt + 1], o[mt][j][3] * inv_l[2 * mt + 1]);
    }
  }
  __syncwarp();
  uint16_t* O = static_cast<uint16_t*>(p.o) + ((int64_t(b) * p.H + h) * p.S_q + q0) * kD;
#pragma unroll
  for (int it = 0; it < kWarpRows * kChunks / 32; ++it) {
    const int i = lane + it * 32;
    const int r = warp * kWarpRows + i / kChunks, c = i % kChunks;
    if (r < q_rows) {
      *reinterpret_cast<uint4*>(O + int64_t(r) * kD + c * 8) =
          *reinterpret_cast<const uint4*>(sQ + swizzle<kD>(r, c));
    }
  }
  if (p.executed_tiles != nullptr && tid == 0) {
    atomicAdd(&p.executed_tiles[0], static_cast<unsigned long long>(n_full));
    atomicAdd(&p.executed_tiles[1], static_cast<unsigned long long>(n_partial));
  }
}

template <class T, int kD, ScoreMod kScore, int kWarpRows>
void launch(const FlashKernelParams& p, cudaStream_t stream) {
  constexpr int kSmem = flash_smem_bytes(kD);
  const auto kernel = &flash_forward_kernel<T, kD, kScore, kWarpRows>;
  // Above 48 KiB a kernel must opt in; once per instantiation (thread-safe static initialization).
  static const cudaError_t raised =
      cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  detail::check_cuda(raised, "cudaFuncSetAttribute(flash_forward_kernel, MaxDynamicSharedMemorySize)");
  TALKLAB_LAUNCH(p.num_work, flash_threads(kWarpRows), kSmem, stream,
                 flash_forward_kernel<T, kD, kScore, kWarpRows>)(p);
  detail::check_launch("flash_forward_kernel");
}

template <class T, int kD, ScoreMod kScore>
void launch_rows(const FlashKernelParams& p, cudaStream_t stream) {
  switch (p.warp_rows) {
    case 16: return launch<T, kD, kScore, 16>(p, stream);
    case 32: return launch<T, kD, kScore, 32>(p, stream);
    default: break;
  }
  throw std::invalid_argument("flash_cuda: " + std::to_string(p.warp_rows) + " rows a warp (supported: 16, 32)");
}

template <class T, int kD>
void launch_score(const FlashKernelParams& p, ScoreMod score, cudaStream_t stream) {
  switch (score) {
    case ScoreMod::none: return launch_rows<T, kD, ScoreMod::none>(p, stream);
    case ScoreMod::softcap: return launch_rows<T, kD, ScoreMod::softcap>(p, stream);
    case ScoreMod::alibi: return launch_rows<T, kD, ScoreMod::alibi>(p, stream);
  }
  throw std::invalid_argument("flash_cuda: unknown score mod " + std::to_string(int(score)));
}

template <class T>
void launch_dim(const FlashKernelParams& p, ScoreMod score, cudaStream_t stream) {
  switch (p.D) {
    case 64: return launch_score<T, 64>(p, score, stream);
    case 128: return launch_score<T, 128>(p, score, stream);
    default: break;
  }
  throw std::invalid_argument("flash_cuda: head_dim " + std::to_string(p.D) + " is not supported (supported: 64, 128)");
}

}  // namespace

void launch_flash_kernel(const FlashKernelParams& p, ElementType dtype, ScoreMod score, void* stream) {
  if (p.num_work < 1) throw std::invalid_argument("flash_cuda: empty launch plan");
  auto st = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case ElementType::bf16: return launch_dim<device::Bf16>(p, score, st);
    case ElementType::fp16: return launch_dim<device::Fp16>(p, score, st);
    case ElementType::f32: break;
  }
  throw std::invalid_argument("flash_cuda: dtype f32 is not supported (supported: bf16, fp16)");
}

}  // namespace talklab::cuda::attention
