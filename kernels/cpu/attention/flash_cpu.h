// flash_cpu: FlashAttention-style forward on CPU with FlexAttention-style masks (kernels/common/attention/mask.h)
// and block-sparse skipping (kernels/common/attention/block_mask.h).
//   Q (B, H, S_q, D), K and V (B, H_kv, S_kv, D), O (B, H, S_q, D): contiguous row-major, float32 or bf16 (raw
//   uint16_t bits); LSE (B, H, S_q) float32, natural log of sum_kv exp(score_mod(scale * q.k)), -inf for a fully
//   masked row (whose output is 0). Query head h reads kv head h / (H / H_kv) (grouped-query attention).
//   D <= 256, any S. Scale defaults to 1/sqrt(D). Accumulation is float32; the output has the input dtype.
// Compute-bound: 4 * D flops per visited (q, kv) pair against S * D reads of K and V per query block.
// Kernel files: flash_core.h (tiles, online softmax, schedule), flash_f32_*.cpp (Q.K^T and P.V as register-blocked
// fp32 GEMMs per ISA), flash_bf16_avx512.cpp (vdpbf16ps for both products, P rounded to bf16 as FlashAttention does).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/attention/block_mask.h"
#include "kernels/common/attention/flash_stats.h"
#include "kernels/common/attention/mask_spec.h"
#include "kernels/common/attention/shape.h"
#include "kernels/cpu/attention/tile_mods.h"
#include "kernels/cpu/cpu_features.h"

namespace talklab::cpu::attention {

// The problem, masks, block mask and stats are both devices' (kernels/common/attention): this kernel's vocabulary,
// named here as its own (cpu::attention::AttnShape is attention::AttnShape).
using namespace talklab::attention;

struct FlashOptions {
  float scale = 0.0f;  // 0 means 1/sqrt(D)
  Isa isa = best_isa();
  int num_threads = 0;  // 0 means OpenMP's default
  // flash_cpu_backward only (flash_backward.h): -1 picks by shape, 0 two passes (dK/dV, then dQ), 1 one pass per
  // (batch, kv head). Either is deterministic; the choice never depends on the thread count.
  int backward_one_pass = -1;
};

// Block sizes the kernel takes from the BlockMask. make_flash_plan chooses them where the caller names none
// (choose_flash_blocks); kDefault* are the backward's and the sizes a forward falls back to.
inline constexpr int kDefaultQBlock = 64;
inline constexpr int kDefaultKvBlock = 64;
inline constexpr int kWideBlock = 96;  // the AVX2 forward's larger candidate, queries and keys (flash_cpu.cpp)
inline constexpr int kMaxQBlock = 128;   // kernel limits: q_block <= 128, kv_block <= 256 and even
inline constexpr int kMaxKvBlock = 256;
inline constexpr int64_t kMaxHeadDim = 256;

// Caller-provided scratch that scales with S (packed or converted K / V); 0 for float32 inputs.
size_t flash_cpu_workspace_bytes(const AttnShape& shape, DType dtype, Isa isa);

// The kernel with type-erased tile mods (tile_mods.h); the template below builds them.
FlashStats flash_cpu_erased(const AttnShape& shape, const AttnTensors& t, const BlockMask& bm, const TileMods& mods,
                            const FlashOptions& opt, void* workspace, size_t workspace_bytes);

// Any mask_mod / score_mod. The block mask must agree with `mask` (its FULL blocks are not masked).
template <class Mask, class Score = NoScore>
FlashStats flash_cpu(const AttnShape& shape, const AttnTensors& t, const BlockMask& bm, const Mask& mask,
                     const Score& score, const FlashOptions& opt, void* workspace, size_t workspace_bytes) {
  const Mods<Mask, Score> mods{mask, score};
  return flash_cpu_erased(shape, t, bm, make_tile_mods(mods, opt.isa, is_identity_score_v<Score>), opt, workspace,
                          workspace_bytes);
}

// Run-time choice of variant: build once (closed-form block mask, mods), run many times.
struct FlashPlan {
  AttnShape shape;
  BuiltMods mods;
  BlockMask block_mask;
};
// q_block = kv_block = 0: the sizes are chosen for the ISA the plan will run on (choose_flash_blocks); both or
// neither must be named.
FlashPlan make_flash_plan(const MaskSpec& spec, const AttnShape& shape, int q_block = 0, int kv_block = 0,
                          Isa isa = best_isa());
// The block mask make_flash_plan builds when it chooses: the one of the ISA's candidates (kWideBlock square blocks,
// then kDefaultQBlock x kDefaultKvBlock) that computes the least work, the first kept within 5% of the second.
BlockMask choose_flash_blocks(const MaskSpec& spec, const AttnShape& shape, Isa isa);
FlashStats flash_cpu(const FlashPlan& plan, const AttnTensors& t, const FlashOptions& opt, void* workspace,
                     size_t workspace_bytes);

}  // namespace talklab::cpu::attention
