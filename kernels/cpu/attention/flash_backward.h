// flash_cpu_backward: the gradients of flash_cpu (flash_cpu.h) with respect to Q, K and V, block-sparse and
// deterministic, for every mask_mod / score_mod the forward takes (score mods need a grad member: mask.h).
//   Inputs: Q, K, V, the forward's O and LSE (flash_cpu writes both), dO = dL/dO (B, H, S_q, D).
//   Outputs: dQ (B, H, S_q, D), dK and dV (B, H_kv, S_kv, D), every element written, in the input dtype
//   (float32 or bf16 raw bits); accumulation is float32. Grouped-query attention: dK, dV summed over the query
//   heads of each kv head. A row the mask hides entirely (LSE -inf) gets dQ = 0 and adds nothing to dK, dV.
// Never materializes S x S: P is recomputed per tile from the LSE, D = rowsum(dO * O) once per row, and
// dS = P * (dP - D) * score_mod'(score). Each output tile is owned by one task (no atomics, no reductions across
// tasks) and the schedule is picked from the shape alone, so the bits never depend on the thread count:
//   one pass (B * H_kv >= kOnePassMinKvHeads): one task per (b, kv head), as LibTorch's CPU flash backward owns
//     heads: key blocks in ascending order, for each the query blocks of the TRANSPOSED block mask over the
//     group's query heads; dK, dV per key block in the task's tiles, dQ accumulated in the task's own rows (the
//     output itself for float32, else a per-thread float32 buffer of the group's rows). 10 * D flops per pair.
//   two passes (fewer heads than that: parallel over blocks too): dK, dV per (b, kv head, key block) walking the
//     transposed block mask; then dQ per (b, head, query block) walking the forward's. P and dP are computed in
//     both passes (FlashAttention-2's dQ without atomics): 14 * D flops per pair.
// FlashOptions::backward_one_pass forces either. Empty blocks are never touched; full blocks skip the mask.
// Memory beyond inputs and outputs: D (B * H * S_q floats, the workspace) and per-thread tiles (~400 KB at blocks
// 64 x 64, D 128; one pass with bf16 adds a float32 dQ of one head group). Kernel: flash_backward_core.h.
#pragma once

#include <cstddef>

#include "kernels/cpu/attention/flash_cpu.h"
#include "kernels/cpu/attention/tile_score_grad.h"

namespace talklab::cpu::attention {

struct AttnGradTensors {
  DType dtype = DType::f32;
  const void* q = nullptr;     // (B, H, S_q, D)
  const void* k = nullptr;     // (B, H_kv, S_kv, D)
  const void* v = nullptr;     // (B, H_kv, S_kv, D)
  const void* o = nullptr;     // (B, H, S_q, D), the forward's output
  const void* d_o = nullptr;   // (B, H, S_q, D), dL/dO
  const float* lse = nullptr;  // (B, H, S_q), the forward's logsumexp (natural log, -inf for an empty row)
  void* dq = nullptr;          // (B, H, S_q, D)
  void* dk = nullptr;          // (B, H_kv, S_kv, D)
  void* dv = nullptr;          // (B, H_kv, S_kv, D)
};

// Caller-provided scratch: D = rowsum(dO * O), one float per query row.
size_t flash_cpu_backward_workspace_bytes(const AttnShape& shape);

// Bytes each thread that runs a call keeps as scratch (tiles, and the one-pass schedule's float32 dQ of a head group
// for bf16 or a head dim not a multiple of the lanes), allocated on a thread's first call and reused by later ones:
// what a caller's tracking allocator does not see (the experiment reports it as a counter).
size_t flash_cpu_backward_thread_bytes(const AttnShape& shape, DType dtype, const BlockMask& bm,
                                       const FlashOptions& opt);

// B * H_kv from which the one-pass schedule is picked (two threads' worth of balanced tasks, twice over).
inline constexpr int64_t kOnePassMinKvHeads = 4;
// Whether a call with these options runs the one-pass schedule.
bool flash_backward_one_pass(const AttnShape& shape, const FlashOptions& opt);

// What a backward call computes: the forward's block counts, executed FLOPs = 14 * D per pair of every visited
// tile with two passes (P and dP in both, dV, dK, dQ), 10 * D with one.
FlashStats flash_backward_stats(const AttnShape& shape, const BlockMask& bm, bool one_pass);
// Useful backward FLOPs: 2.5x the forward's useful FLOPs (dP, dV, dK, dQ and the recompute of S: 10 * D per
// unmasked pair), as FlashAttention counts them.
double useful_backward_flops(const MaskSpec& spec, const AttnShape& shape);

// The kernel with type-erased mods: bm the forward's block mask, bm_t = transpose_block_mask(bm) (or the generic
// block mask of the transposed mask_mod: the two are equal). score_grad null for additive score mods.
FlashStats flash_cpu_backward_erased(const AttnShape& shape, const AttnGradTensors& g, const BlockMask& bm,
                                     const BlockMask& bm_t, const TileMods& mods, const TileScoreGrad& score_grad,
                                     const void* score_ctx, const FlashOptions& opt, void* workspace,
                                     size_t workspace_bytes);

// Any mask_mod / score_mod (the score mod must have grad, mask.h).
template <class Mask, class Score = NoScore>
FlashStats flash_cpu_backward(const AttnShape& shape, const AttnGradTensors& g, const BlockMask& bm,
                              const BlockMask& bm_t, const Mask& mask, const Score& score, const FlashOptions& opt,
                              void* workspace, size_t workspace_bytes) {
  const Mods<Mask, Score> mods{mask, score};
  return flash_cpu_backward_erased(shape, g, bm, bm_t, make_tile_mods(mods, opt.isa, is_identity_score_v<Score>),
                                   make_tile_score_grad<Score>(opt.isa), &mods.score, opt, workspace,
                                   workspace_bytes);
}

// Run-time variant: the forward's plan plus the transposed block mask, built once.
struct FlashBackwardPlan {
  FlashPlan forward;
  BlockMask transposed;
};
FlashBackwardPlan make_flash_backward_plan(const MaskSpec& spec, const AttnShape& shape, int q_block = kDefaultQBlock,
                                           int kv_block = kDefaultKvBlock);
FlashStats flash_cpu_backward(const FlashBackwardPlan& plan, const AttnGradTensors& g, const FlashOptions& opt,
                              void* workspace, size_t workspace_bytes);

}  // namespace talklab::cpu::attention
