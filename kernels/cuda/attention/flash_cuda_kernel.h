// What the host hands the flash_cuda kernel (kernels/cuda/attention/flash_cuda.cu): plain integers and device
// pointers, no CUDA types and no CPU-kernel headers, so that nvcc and the host compiler both include it.
// Letters: B batch, H query heads, H_kv key/value heads, S_q queries, S_kv keys, D head dim.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace talklab::cuda::attention {

// Tiles: 128 query rows per block, 64 keys per K/V tile; 16 rows a warp (8 warps) or 32 (4 warps, each K / V
// fragment read from shared memory serves two m16 tiles): see flash_cuda.cu for why.
inline constexpr int kQTile = 128;
inline constexpr int kKvTile = 64;
inline constexpr int kDefaultWarpRows = 16;
TALKLAB_HOST_DEVICE constexpr int flash_threads(int warp_rows) { return 32 * (kQTile / warp_rows); }

// Element types of Q, K, V and O; f32 exists only to be refused by name.
enum class ElementType : int { f32 = 0, bf16 = 1, fp16 = 2 };
// The mask as the kernel sees it: every built-in mask is, per query row, one interval of visible keys (row_interval).
enum class RowMask : int { full = 0, causal = 1, sliding_window = 2, prefix_lm = 3, document = 4 };
// Score mods, a template parameter of the kernel. rel_bias is refused by the planner.
enum class ScoreMod : int { none = 0, softcap = 1, alibi = 2 };

struct KeyInterval {
  int lo, hi;  // visible keys lo <= kv <= hi; empty when hi < lo
};

// Visible keys of query q, clipped to [0, S_kv): exactly the mask mods of kernels/common/attention/mask.h.
//   full: all; causal: kv <= q; sliding_window: q - window < kv <= q; prefix_lm: kv < prefix or kv <= q;
//   document: start(q) <= kv <= q, start(q) = first position of q's document (doc_start[q], q < S_q).
// A FULL block of the block mask is one where every (q, kv) lies inside its row's interval, so the kernel needs
// the interval only on PARTIAL blocks (and on the last, short key block, where it also cuts kv >= S_kv).
TALKLAB_HOST_DEVICE inline KeyInterval row_interval(RowMask mask, int q, int S_kv, int window, int prefix,
                                                    const int32_t* doc_start) {
  int lo = 0, hi = S_kv - 1;
  switch (mask) {
    case RowMask::full: break;
    case RowMask::causal: hi = q < hi ? q : hi; break;
    case RowMask::sliding_window:
      lo = q - window + 1;
      hi = q < hi ? q : hi;
      break;
    case RowMask::prefix_lm: {
      const int last = q > prefix - 1 ? q : prefix - 1;
      hi = last < hi ? last : hi;
      break;
    }
    case RowMask::document:
      lo = doc_start[q];
      hi = q < hi ? q : hi;
      break;
  }
  return {lo < 0 ? 0 : lo, hi};
}

// Everything one launch reads. Pointers are device pointers; the block-mask arrays are the BlockMask's
// (kernels/common/attention/block_mask.h) CSR lists, uploaded once by the plan.
struct FlashKernelParams {
  const void* q = nullptr;  // (B, H, S_q, D)
  const void* k = nullptr;  // (B, H_kv, S_kv, D)
  const void* v = nullptr;  // (B, H_kv, S_kv, D)
  void* o = nullptr;        // (B, H, S_q, D)
  float* lse = nullptr;     // (B, H, S_q), natural log; may be null
  int B = 0, H = 0, H_kv = 0, S_q = 0, S_kv = 0, D = 0;
  int group = 1;            // H / H_kv: query head h reads kv head h / group
  int warp_rows = kDefaultWarpRows;  // query rows a warp owns: 16 or 32 (selects the instantiation, like D)
  float scale = 0.f;        // on q.k, natural units (score mods see scale * q.k)
  float softcap = 0.f;
  const float* alibi_slopes = nullptr;  // (H)
  RowMask mask = RowMask::full;
  int window = 0, prefix = 0;
  const int32_t* doc_start = nullptr;   // (S_q)
  // Block mask: stored extents bm_B, bm_H (1 = broadcast), rows (bm_B, bm_H, num_q_blocks).
  int bm_B = 1, bm_H = 1, num_q_blocks = 0;
  const int32_t* partial_count = nullptr;  // (rows)
  const int64_t* partial_offset = nullptr; // (rows + 1)
  const int32_t* partial_index = nullptr;
  const int32_t* full_count = nullptr;
  const int64_t* full_offset = nullptr;
  const int32_t* full_index = nullptr;
  // Launch order: blockIdx.x -> work item (b * H + h) * num_q_blocks + qb, heaviest rows first.
  const int32_t* work = nullptr;
  int num_work = 0;
  // Optional (2): tiles executed, [0] full, [1] partial, summed with atomics; null in timed runs.
  unsigned long long* executed_tiles = nullptr;
};

// Bytes of dynamic shared memory a launch at head dim D uses: Q tile plus two stages of K and V tiles.
inline constexpr int flash_smem_bytes(int D) { return (kQTile + 2 * 2 * kKvTile) * D * 2; }

// Enqueues one launch on `stream` (a cudaStream_t) with the instantiation for (dtype, D, score); throws
// std::invalid_argument for a combination with no instantiation and std::runtime_error when CUDA fails.
void launch_flash_kernel(const FlashKernelParams& p, ElementType dtype, ScoreMod score, void* stream);

}  // namespace talklab::cuda::attention
