// BlockMask: which (query block, key block) tiles an attention call computes, and which of them need the mask.
// For each (b, h, query block), the key blocks are split into FULL (every element visible: the kernel evaluates no
// mask there) and PARTIAL (mask evaluated per element); empty blocks are absent and skipped. Storage is compressed
// like FlexAttention's kv_num_blocks / kv_indices and full_kv_num_blocks / full_kv_indices, as CSR rows (counts plus
// offsets into one flat index list). A mask that does not depend on b or h is stored once (B = 1 / H = 1) and
// broadcast: nothing is materialized B * H times.
// Two builders that must agree exactly (tests/kernels/common/attention/test_block_mask.cpp):
//   block_mask_from_mask_mod (kernels/cpu/attention/block_mask_from_mask_mod.h, CPU code over
//     block_mask_from_column_counts below): evaluates the mask at every point (S_q * S_kv evaluations per stored
//     (b, h)), query blocks in parallel, counting visible rows per key column 8 rows at a time with the element
//     loop compiled for the ISA's target (no reductions in it): compute-bound. S 16384, window 512, blocks 64,
//     2 threads: 4.9 ms, 4.7% of flash_cpu's 105 ms on that mask (f32, 4 heads, head_dim 128).
//     Variants that lost: per-block classification with a count per row and early exit on partial blocks, 19 ms
//     (empty blocks must be scanned whole anyway, and each 64-wide row ends in a horizontal sum); column counts one
//     row per pass, 10 ms; two compares instead of one unsigned compare in the window mask, 7.7 ms; the eight
//     rows summed as (visible ? 1 : 0) terms rather than conditional increments (a zero-masked move and a
//     subtract per row where one merge-masked add does), 6.1 ms.
//   block_mask_causal / _sliding_window / _prefix_lm / _document / _full: closed form, O(number of nonempty blocks).
// Shapes: S_q queries, S_kv keys; blocks of q_block x kv_block; the last block of each side may be short.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/attention/mask.h"

namespace talklab::attention {

enum class BlockKind : uint8_t { empty = 0, partial = 1, full = 2 };

struct BlockList {
  const int32_t* data = nullptr;
  int32_t size = 0;
  const int32_t* begin() const { return data; }
  const int32_t* end() const { return data + size; }
};

struct BlockMask {
  int B = 1, H = 1;  // stored extents: 1 means broadcast over that dimension
  int64_t S_q = 0, S_kv = 0;
  int q_block = 64, kv_block = 64;
  int num_q_blocks = 0, num_kv_blocks = 0;
  // Row r = (b * H + h) * num_q_blocks + qb, with b, h the stored indices.
  std::vector<int32_t> kv_num_blocks;       // (rows) partial block counts
  std::vector<int64_t> kv_offsets;          // (rows + 1) start of each row in kv_indices
  std::vector<int32_t> kv_indices;          // key block indices, ascending within a row
  std::vector<int32_t> full_kv_num_blocks;  // same three for the full blocks
  std::vector<int64_t> full_kv_offsets;
  std::vector<int32_t> full_kv_indices;
  // (B, H, num_q_blocks): query blocks by descending visited-block count, so a dynamic schedule hands out the long
  // rows of causal / sliding-window masks first and the threads finish together.
  std::vector<int32_t> work_order;

  int64_t rows() const { return int64_t(B) * H * num_q_blocks; }
  // b, h are the caller's (full-extent) indices; broadcast dimensions ignore them.
  int64_t row(int b, int h, int qb) const {
    return (int64_t(B == 1 ? 0 : b) * H + (H == 1 ? 0 : h)) * num_q_blocks + qb;
  }
  BlockList partial(int64_t r) const { return {kv_indices.data() + kv_offsets[r], kv_num_blocks[r]}; }
  BlockList full(int64_t r) const { return {full_kv_indices.data() + full_kv_offsets[r], full_kv_num_blocks[r]}; }
  // Elements of block (qb, kb): short at the sequence ends.
  int64_t block_area(int qb, int kb) const;
  int64_t num_partial() const { return int64_t(kv_indices.size()); }
  int64_t num_full() const { return int64_t(full_kv_indices.size()); }

  bool operator==(const BlockMask&) const = default;
};

// ---- closed form: O(nonempty blocks), stored once (B = H = 1) ------------------------------------------------
BlockMask block_mask_full(int64_t S_q, int64_t S_kv, int q_block, int kv_block);
BlockMask block_mask_causal(int64_t S_q, int64_t S_kv, int q_block, int kv_block);
BlockMask block_mask_sliding_window(int64_t S_q, int64_t S_kv, int window, int q_block, int kv_block);
BlockMask block_mask_prefix_lm(int64_t S_q, int64_t S_kv, int prefix, int q_block, int kv_block);
// doc_lengths sum to S (= S_q = S_kv).
BlockMask block_mask_document(const std::vector<int64_t>& doc_lengths, int q_block, int kv_block);

// ---- generic ---------------------------------------------------------------------------------------------------
// For rows [q0, q1) of (b, h): colcount[kv] = number of rows that see key kv, for every kv < S_kv. Counting down
// columns keeps the element loop free of reductions (one vector compare and add per 16 elements); the builder then
// sums each key block's columns once per query block: all rows visible = full, none = empty.
using CountColumnsFn = void (*)(const void* ctx, int b, int h, int q0, int q1, int S_kv, int32_t* colcount);
BlockMask block_mask_from_column_counts(CountColumnsFn fn, const void* ctx, int B, int H, int64_t S_q, int64_t S_kv,
                                        int q_block, int kv_block);

// ---- transposed: for the backward's dK / dV pass -----------------------------------------------------------------
// The block mask of the transposed problem (rows are key blocks, the listed blocks are query blocks; S_q / S_kv and
// the block sizes swapped): block (kb, qb) of the result has the kind of block (qb, kb) of bm. O(rows * blocks per
// row) over the dense block grid, microseconds for S 16384. It equals exactly block_mask_from_mask_mod of the
// mask with q and kv swapped (tests/kernels/common/attention/test_block_mask.cpp), work order included.
BlockMask transpose_block_mask(const BlockMask& bm);

// Unmasked (q, kv) pairs over all (b, h) of a (B, H) problem: full blocks by area, partial blocks counted per
// element with the mask. Times 4 * D it is the useful FLOP count.
template <class Mask>
int64_t count_visible_pairs(const BlockMask& bm, const Mask& mask, int B, int H) {
  int64_t total = 0;
  for (int b = 0; b < bm.B; ++b)
    for (int h = 0; h < bm.H; ++h)
      for (int qb = 0; qb < bm.num_q_blocks; ++qb) {
        const int64_t r = bm.row(b, h, qb);
        for (int kb : bm.full(r)) total += bm.block_area(qb, kb);
        const int q0 = qb * bm.q_block, q1 = int(std::min<int64_t>(q0 + bm.q_block, bm.S_q));
        for (int kb : bm.partial(r)) {
          const int k0 = kb * bm.kv_block, k1 = int(std::min<int64_t>(k0 + bm.kv_block, bm.S_kv));
          for (int q = q0; q < q1; ++q)
            for (int kv = k0; kv < k1; ++kv) total += mask(b, h, q, kv) ? 1 : 0;
        }
      }
  return total * (bm.B == 1 ? B : 1) * (bm.H == 1 ? H : 1);
}

}  // namespace talklab::attention
