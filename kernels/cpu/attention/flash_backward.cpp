// flash_cpu_backward dispatcher (flash_backward.h): validates, picks the ISA path, counts what a call computes. No
// arithmetic of its own; compiled for baseline x86-64.
#include "kernels/cpu/attention/flash_backward.h"

#include <omp.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/attention/flash_backward_kernel.h"

namespace talklab::cpu::attention {
namespace {

void check(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("flash_cpu_backward: " + what);
}

void validate(const AttnShape& s, const AttnGradTensors& g, const BlockMask& bm, const BlockMask& bt) {
  check(s.B >= 1 && s.H >= 1 && s.H_kv >= 1 && s.S_q >= 0 && s.S_kv >= 0, "bad shape");
  check(s.H % s.H_kv == 0, "H_kv (" + std::to_string(s.H_kv) + ") must divide H (" + std::to_string(s.H) + ")");
  check(s.D >= 1 && s.D <= kMaxHeadDim, "head dim " + std::to_string(s.D) + " must be in [1, 256]");
  check(bm.S_q == s.S_q && bm.S_kv == s.S_kv, "block mask was built for other sequence lengths");
  check(bm.B == 1 || bm.B == s.B, "block mask batch must be 1 or B");
  check(bm.H == 1 || bm.H == s.H, "block mask heads must be 1 or H");
  check(bm.q_block >= 1 && bm.q_block <= kMaxQBlock, "q_block " + std::to_string(bm.q_block) + " not in [1, 128]");
  check(bm.kv_block >= 1 && bm.kv_block <= kMaxKvBlock,
        "kv_block " + std::to_string(bm.kv_block) + " not in [1, 256]");
  check(bt.S_q == bm.S_kv && bt.S_kv == bm.S_q && bt.q_block == bm.kv_block && bt.kv_block == bm.q_block &&
            bt.B == bm.B && bt.H == bm.H,
        "the transposed block mask does not match the block mask (use transpose_block_mask)");
  const bool need_q = s.S_q > 0, need_kv = s.S_kv > 0;
  check((!need_q || (g.q && g.o && g.d_o && g.lse && g.dq)) && (!need_kv || (g.k && g.v && g.dk && g.dv)),
        "null tensor");
}

}  // namespace

size_t flash_cpu_backward_workspace_bytes(const AttnShape& s) { return size_t(s.B * s.H * s.S_q) * sizeof(float); }

bool flash_backward_one_pass(const AttnShape& shape, const FlashOptions& opt) {
  if (opt.backward_one_pass >= 0) return opt.backward_one_pass > 0;
  return shape.B * shape.H_kv >= kOnePassMinKvHeads;
}

size_t flash_cpu_backward_thread_bytes(const AttnShape& shape, DType dtype, const BlockMask& bm,
                                       const FlashOptions& opt) {
  const bool one_pass = flash_backward_one_pass(shape, opt);
  switch (opt.isa) {
    case Isa::avx512: return avx512::backward_thread_bytes(shape, dtype, bm.q_block, bm.kv_block, one_pass);
    case Isa::avx2: return avx2::backward_thread_bytes(shape, dtype, bm.q_block, bm.kv_block, one_pass);
    case Isa::scalar: break;
  }
  return scalar::backward_thread_bytes(shape, dtype, bm.q_block, bm.kv_block, one_pass);
}

FlashStats flash_backward_stats(const AttnShape& shape, const BlockMask& bm, bool one_pass) {
  FlashStats st = flash_stats(shape, bm);
  st.executed_flops *= (one_pass ? 10.0 : 14.0) / 4.0;  // the forward counts 4 * D per pair of a visited tile
  return st;
}

double useful_backward_flops(const MaskSpec& spec, const AttnShape& shape) { return 2.5 * useful_flops(spec, shape); }

FlashStats flash_cpu_backward_erased(const AttnShape& shape, const AttnGradTensors& g, const BlockMask& bm,
                                     const BlockMask& bm_t, const TileMods& mods, const TileScoreGrad& score_grad,
                                     const void* score_ctx, const FlashOptions& opt, void* workspace,
                                     size_t workspace_bytes) {
  validate(shape, g, bm, bm_t);
  check(isa_available(opt.isa), std::string("this CPU lacks the requested ISA ") + isa_name(opt.isa));
  check(mods.partial != nullptr, "tile mods without a partial-block function");
  check(!score_grad || mods.full != nullptr, "a score gradient needs a non-identity score mod");
  const size_t need = flash_cpu_backward_workspace_bytes(shape);
  check(workspace_bytes >= need && (need == 0 || workspace != nullptr),
        "workspace of " + std::to_string(workspace_bytes) + " bytes, needs " + std::to_string(need));
  BackwardArgs a;
  a.shape = shape;
  a.g = g;
  a.bm = block_mask_view(bm);
  a.bm_t = block_mask_view(bm_t);
  a.mods = mods;
  a.score_grad = score_grad;
  a.score_ctx = score_ctx;
  a.scale = opt.scale != 0.0f ? opt.scale : float(1.0 / std::sqrt(double(shape.D)));
  a.num_threads = opt.num_threads > 0 ? opt.num_threads : omp_get_max_threads();
  a.delta = static_cast<float*>(workspace);
  a.one_pass = flash_backward_one_pass(shape, opt);
  switch (opt.isa) {
    case Isa::avx512: avx512::flash_backward(a); break;
    case Isa::avx2: avx2::flash_backward(a); break;
    case Isa::scalar: scalar::flash_backward(a); break;
  }
  return flash_backward_stats(shape, bm, a.one_pass);
}

FlashBackwardPlan make_flash_backward_plan(const MaskSpec& spec, const AttnShape& shape, int q_block, int kv_block) {
  FlashBackwardPlan p;
  p.forward = make_flash_plan(spec, shape, q_block, kv_block);
  p.transposed = transpose_block_mask(p.forward.block_mask);
  return p;
}

FlashStats flash_cpu_backward(const FlashBackwardPlan& plan, const AttnGradTensors& g, const FlashOptions& opt,
                              void* workspace, size_t workspace_bytes) {
  return visit_mods(plan.forward.mods, [&](const auto& mask, const auto& score) {
    return flash_cpu_backward(plan.forward.shape, g, plan.forward.block_mask, plan.transposed, mask, score, opt,
                              workspace, workspace_bytes);
  });
}

}  // namespace talklab::cpu::attention
