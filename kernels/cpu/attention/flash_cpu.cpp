// flash_cpu dispatcher (kernels/cpu/attention/flash_cpu.h): validates, picks the ISA path and the dtype path, and
// counts what a call computes. No arithmetic of its own; compiled for baseline x86-64.
#include "kernels/cpu/attention/flash_cpu.h"

#include <omp.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/attention/flash_kernel.h"

namespace talklab::cpu::attention {
namespace {

void check(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("flash_cpu: ") + what);
}

void validate(const AttnShape& s, const BlockMask& bm) {
  check(s.B >= 1 && s.H >= 1 && s.H_kv >= 1 && s.S_q >= 0 && s.S_kv >= 0, "bad shape");
  check(s.H % s.H_kv == 0, "H_kv must divide H");
  check(s.D >= 1 && s.D <= kMaxHeadDim, "head dim must be in [1, 256]");
  check(bm.S_q == s.S_q && bm.S_kv == s.S_kv, "block mask was built for other sequence lengths");
  check(bm.B == 1 || bm.B == s.B, "block mask batch must be 1 or B");
  check(bm.H == 1 || bm.H == s.H, "block mask heads must be 1 or H");
  check(bm.q_block >= 1 && bm.q_block <= kMaxQBlock, "q_block must be in [1, 128]");
  check(bm.kv_block >= 2 && bm.kv_block <= kMaxKvBlock && bm.kv_block % 2 == 0,
        "kv_block must be even and in [2, 256]");
}

}  // namespace

bool isa_available(Isa isa) {
  const CpuFeatures& f = cpu_features();
  return isa == Isa::scalar || (isa == Isa::avx2 && f.has_avx2_kernels()) ||
         (isa == Isa::avx512 && f.has_avx512_kernels());
}

BlockMaskView block_mask_view(const BlockMask& bm) {
  return {bm.B,
          bm.H,
          bm.q_block,
          bm.kv_block,
          bm.num_q_blocks,
          bm.kv_num_blocks.data(),
          bm.kv_offsets.data(),
          bm.kv_indices.data(),
          bm.full_kv_num_blocks.data(),
          bm.full_kv_offsets.data(),
          bm.full_kv_indices.data(),
          bm.work_order.data()};
}

size_t flash_cpu_workspace_bytes(const AttnShape& s, DType dtype, Isa isa) {
  if (dtype == DType::f32) return 0;
  if (isa == Isa::avx512) return avx512::workspace_bytes_bf16(s);
  return size_t(2 * s.B * s.H_kv * s.S_kv * s.D) * sizeof(float);  // K and V widened to float32
}

FlashStats flash_cpu_erased(const AttnShape& shape, const AttnTensors& t, const BlockMask& bm, const TileMods& mods,
                            const FlashOptions& opt, void* workspace, size_t workspace_bytes) {
  validate(shape, bm);
  check(isa_available(opt.isa), "this CPU lacks the requested ISA");
  check((shape.S_q == 0 || (t.q && t.o)) && (shape.S_kv == 0 || (t.k && t.v)), "null tensor");
  check(mods.partial != nullptr, "tile mods without a partial-block function");
  const size_t need = flash_cpu_workspace_bytes(shape, t.dtype, opt.isa);
  check(workspace_bytes >= need && (need == 0 || workspace != nullptr), "workspace too small");
  KernelArgs a;
  a.shape = shape;
  a.t = t;
  a.bm = block_mask_view(bm);
  a.mods = mods;
  a.scale = opt.scale != 0.0f ? opt.scale : float(1.0 / std::sqrt(double(shape.D)));
  a.num_threads = opt.num_threads > 0 ? opt.num_threads : omp_get_max_threads();
  a.workspace = workspace;
  a.workspace_bytes = workspace_bytes;
  if (shape.S_q > 0) {
    switch (opt.isa) {
      case Isa::avx512:
        if (t.dtype == DType::f32) avx512::flash_forward_f32(a);
        else avx512::flash_forward_bf16(a);
        break;
      case Isa::avx2: avx2::flash_forward(a); break;
      case Isa::scalar: scalar::flash_forward(a); break;
    }
  }
  return flash_stats(shape, bm);
}

// Blocks of 96 x 96 against 64 x 64 on AVX2 (6-row register tiles in both products, flash_core.h), measured on a
// Zen 3 guest (2026-12-06, seq 4096, 4 heads, D 128, f32; a driver alternating the block sizes call by call in one
// process, medians of 5-9 calls per run): full mask 441-476 against 488-528 ms on one thread, 222-223 against
// 249-253 on two; causal 229-248 against 249-270 on one, 107-110 against 113-121 on two; prefix_lm 241 against 258
// (one thread); the document mask of the experiment 31 against 34 ms on two threads, the same on one (it computes
// 4.8% more at 96). The queries per block are what matters: 96 x 48 and 96 x 192 ran as 96 x 96, 48 x 96 slower
// than 64 x 64, 112 x 112 as 96 x 96, 128 x 96 little better than 64 x 96. Two guesses at why did not explain it:
// Q^T's row stride taken off a power of two (to spread its lines over L1's sets) changed nothing at 64 or 128, nor
// did a prefetch of the next key block's K and V spread through Q.K^T. Larger blocks also widen a sparse mask's
// edges: a sliding window of 512 computes 16% more at 96 and ran 34.3-34.8 against 29.7-31.1 ms (two threads), so
// 96 is taken only where it computes at most 5% more than 64. AVX-512 and scalar keep 64 x 64: not measured against
// 96, there was no AVX-512 machine that day.
BlockMask choose_flash_blocks(const MaskSpec& spec, const AttnShape& shape, Isa isa) {
  BlockMask narrow = block_mask_for(spec, shape.S_q, shape.S_kv, kDefaultQBlock, kDefaultKvBlock);
  if (isa != Isa::avx2) return narrow;
  BlockMask wide = block_mask_for(spec, shape.S_q, shape.S_kv, kWideBlock, kWideBlock);
  const double w = flash_stats(shape, wide).executed_flops, n = flash_stats(shape, narrow).executed_flops;
  return w <= 1.05 * n ? wide : narrow;
}

FlashPlan make_flash_plan(const MaskSpec& spec, const AttnShape& shape, int q_block, int kv_block, Isa isa) {
  check((q_block == 0) == (kv_block == 0), "name both block sizes or neither");
  FlashPlan p;
  p.shape = shape;
  p.mods = build_mods(spec, shape.H, shape.S_q, shape.S_kv);
  p.block_mask = q_block == 0 ? choose_flash_blocks(spec, shape, isa)
                              : block_mask_for(spec, shape.S_q, shape.S_kv, q_block, kv_block);
  return p;
}

FlashStats flash_cpu(const FlashPlan& plan, const AttnTensors& t, const FlashOptions& opt, void* workspace,
                     size_t workspace_bytes) {
  return visit_mods(plan.mods, [&](const auto& mask, const auto& score) {
    return flash_cpu(plan.shape, t, plan.block_mask, mask, score, opt, workspace, workspace_bytes);
  });
}

}  // namespace talklab::cpu::attention
