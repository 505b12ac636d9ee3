// Host side of flash_cuda (kernels/cuda/attention/flash_cuda.h), plain C++ so that the CPU tests cover it: argument
// checks, the block mask at the kernel's tile sizes, the launch order (heaviest query blocks first), the data the
// mods need (document starts, ALiBi slopes) and which kernel instantiation a problem runs.
// Shapes as in kernels/common/attention/shape.h: Q (B, H, S_q, D), K and V (B, H_kv, S_kv, D), O like Q.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/attention/block_mask.h"
#include "kernels/common/attention/flash_stats.h"
#include "kernels/common/attention/mask_spec.h"
#include "kernels/common/attention/shape.h"
#include "kernels/cuda/attention/flash_cuda_kernel.h"

namespace talklab::cuda::attention {

namespace common_attn = talklab::attention;

inline constexpr int kSupportedHeadDims[] = {64, 128};

const char* element_type_name(ElementType t);  // "f32", "bf16", "fp16"

// Everything a launch needs that does not depend on the tensors' addresses, in host memory.
struct FlashLaunchPlan {
  common_attn::AttnShape shape;
  ElementType dtype = ElementType::bf16;
  common_attn::MaskSpec spec;
  float scale = 0.f;  // resolved: 1/sqrt(D) when the caller passed 0
  RowMask mask = RowMask::full;
  ScoreMod score = ScoreMod::none;
  int warp_rows = kDefaultWarpRows;   // query rows a warp owns: 16 (8 warps a block) or 32 (4 warps)
  common_attn::BlockMask block_mask;     // q_block = kQTile, kv_block = kKvTile
  std::vector<int32_t> work;          // every (b, h, q block) once, as (b * H + h) * num_q_blocks + qb, heaviest first
  std::vector<int32_t> doc_start;     // document: (S_q) first position of each position's document; else empty
  std::vector<float> alibi_slopes;    // alibi: (H); else empty
};

// Validates and plans. Throws std::invalid_argument naming the offending value: dtype other than bf16 / fp16, head
// dim other than 64 / 128, H not a multiple of H_kv, a sequence length < 1 or >= 2^31, a rel_bias score mod, and
// whatever build_mods refuses (window < 1, document lengths not summing to S_q = S_kv, ...), and warp_rows other
// than 16 / 32.
FlashLaunchPlan make_flash_launch_plan(const common_attn::AttnShape& shape, const common_attn::MaskSpec& spec,
                                       ElementType dtype, float scale = 0.f, int warp_rows = kDefaultWarpRows);

// Work items ordered by descending tile count (partial + full blocks of the row), every (b, h, q block) exactly
// once; ties keep later query blocks first (they are the ones nearer the diagonal of causal masks).
std::vector<int32_t> heaviest_first_order(const common_attn::BlockMask& bm, int64_t B, int64_t H);

// Tiles a work item executes (partial + full blocks of its row).
int64_t work_item_tiles(const common_attn::BlockMask& bm, int64_t H, int32_t item);

// A run must present the shape its plan was made for; throws std::invalid_argument naming the first difference.
void check_same_shape(const FlashLaunchPlan& plan, const common_attn::AttnShape& shape);

// What a run computes: full / partial tile counts and executed FLOPs (whole tiles), as for flash_cpu (flash_stats).
common_attn::FlashStats flash_cuda_stats(const FlashLaunchPlan& plan);

}  // namespace talklab::cuda::attention
