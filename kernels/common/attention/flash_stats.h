// What a block-sparse attention call computes, from its block mask alone: the same count for every kernel that
// walks the block mask tile by tile (flash_cpu, flash_cuda), and the useful FLOPs of the mask itself.
#pragma once

#include <cstdint>

#include "kernels/common/attention/block_mask.h"
#include "kernels/common/attention/mask_spec.h"
#include "kernels/common/attention/shape.h"

namespace talklab::attention {

struct FlashStats {
  int64_t full_blocks = 0;      // (b, h, q block, kv block) tiles computed without a mask
  int64_t partial_blocks = 0;   // tiles computed with the mask evaluated per element
  double executed_flops = 0.0;  // 4 * D per (q, kv) pair of every computed tile, whole tiles
};

// What a call with this block mask computes (block counts and executed FLOPs), without running it.
FlashStats flash_stats(const AttnShape& shape, const BlockMask& bm);

// Useful FLOPs: 4 * D * unmasked (q, kv) pairs, over all (b, h). Closed form for the built-in masks; for any
// mask_mod use count_visible_pairs(block_mask, mask, B, H) * 4 * D.
double useful_flops(const MaskSpec& spec, const AttnShape& shape);

}  // namespace talklab::attention
