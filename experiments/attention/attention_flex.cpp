// torch_flex: torch.compile(flex_attention) on the CPU, a BlockMask from create_block_mask (128 x 128 tiles, built
//   in prepare: counter block_mask_build_s), the mask_mod / score_mod from the case's MaskSpec (flex_args.h),
//   enable_gqa where heads != kv_heads. compile_s is the first call (Inductor compiling flex's CPU template for
//   this mask, score mod, shape and dtype); first_result_s = prepare_s + compile_s is what a user waits before
//   the first output. Expected against flash_cpu: the same block-sparse skipping at a coarser tile (128 x 128
//   against 64 x 64, so a window of 512 visits up to 5 instead of 9 blocks of a row but each twice the size; on AVX2
//   flash_cpu takes 96 x 96 where that adds at most 5% work, counters q_block / kv_block), so the difference is the
//   kernels' inner loops, not the sparsity.
// torch_create_block_mask (eager) / torch_create_block_mask_compiled (torch.compile(create_block_mask)): the
//   block mask alone, for the (mask, seq, window) points of blockmask_closed. Eager create_block_mask evaluates the
//   mask on the whole S x S grid with int64 index temporaries, so its memory grows as S^2 (skipped, with the
//   estimate, where that cannot fit); the compiled one fuses the evaluation into the block reduction. The check
//   compares every query block's partial and full key blocks with our closed form (block_mask_for) at FlexAttention's
//   128 x 128 tile, block for block (a short last block is partial for FlexAttention, see check()).
//   blockmask_closed times our own 64 x 64 tiling (4x the blocks).
#include "experiments/attention/attention_flex.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "experiments/attention/flex_args.h"
#include "experiments/attention/problem.h"
#include "experiments/attention/torch_masks.h"
#include "harness/python.h"

namespace talklab::experiments::attention {
namespace {

constexpr const char* kAnchor = "experiments/attention/torch_flex.py";

double counter_of(const Counters& c, const std::string& name) {
  for (const auto& [key, value] : c)
    if (key == name) return value;
  return 0.0;
}

class FlexCase final : public python::AnchorCase {
 public:
  explicit FlexCase(const CaseContext& ctx)
      : AnchorCase(kAnchor, "attention"), spec_(mask_spec_of(ctx.params)), seed_(ctx.seed) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  Accuracy check() override {
    if (outputs().size() != 1) throw std::runtime_error("torch_flex: the anchor returned no single output");
    const at::Tensor out = outputs()[0].contiguous();
    return check_output(in_, spec_, out.data_ptr(), seed_, torch_tolerance(in_.dtype));
  }
  void add_counters(Counters& out) override {
    AnchorCase::add_counters(out);
    out.emplace_back("first_result_s", counter_of(out, "prepare_s") + counter_of(out, "compile_s"));
  }

 protected:
  python::Args anchor_args() override {
    in_.fill(seed_);
    const attn::AttnShape& s = in_.shape;
    const auto opts = at::TensorOptions().dtype(torch_dtype(in_.dtype));
    python::Args a = flex_mask_args(spec_, s.H);
    a.set("q", at::from_blob(in_.q.data(), {s.B, s.H, s.S_q, s.D}, opts))
        .set("k", at::from_blob(in_.k.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts))
        .set("v", at::from_blob(in_.v.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts));
    return a;
  }

 private:
  attn::MaskSpec spec_;
  uint64_t seed_;
  Inputs in_;
};

// Peak bytes of eager create_block_mask: per (q, kv) point an int64 index temporary (q - kv, or a gathered
// document id pair as int32) and two bool tensors (the mask and a comparison), all S x S at once.
double eager_block_mask_bytes(const Params& p) {
  const double s = double(p.integer("seq"));
  return 11.0 * s * s;
}

class CreateBlockMaskCase : public python::AnchorCase {
 public:
  CreateBlockMaskCase(const CaseContext& ctx, bool compiled)
      : AnchorCase(kAnchor, "block_mask"), spec_(mask_spec_of(ctx.params)), seq_(ctx.params.integer("seq")),
        heads_(ctx.params.integer("heads")), compiled_(compiled) {}
  // FlexAttention pads a short last block (seq not a multiple of 128) with hidden positions, so it never calls a
  // block on that edge full; our closed form calls it full when every real position in it is visible. The check
  // moves such blocks of ours to the partial list and then requires both lists equal, row for row.
  Accuracy check() override {
    if (outputs().size() != 4) throw std::runtime_error("torch_create_block_mask: expected 4 tensors");
    const attn::BlockMask ours = attn::block_mask_for(spec_, seq_, seq_, int(kFlexBlock), int(kFlexBlock));
    const at::Tensor n = outputs()[0].reshape({-1}).to(at::kInt).contiguous();
    const at::Tensor idx = outputs()[1].reshape({n.size(0), -1}).to(at::kInt).contiguous();
    const at::Tensor full_n = outputs()[2].reshape({-1}).to(at::kInt).contiguous();
    const at::Tensor full_idx = outputs()[3].reshape({n.size(0), -1}).to(at::kInt).contiguous();
    const bool short_edge = seq_ % kFlexBlock != 0;
    const int32_t last = int32_t(ours.num_kv_blocks - 1);
    const auto theirs = [](const at::Tensor& counts, const at::Tensor& indices, int64_t r) {
      const int32_t* row = indices.data_ptr<int32_t>() + r * indices.size(1);
      return std::vector<int32_t>(row, row + counts.data_ptr<int32_t>()[r]);
    };
    AccuracyAccumulator acc;
    std::string first_difference;
    if (n.size(0) != ours.rows()) {
      first_difference = fmt::format("{} query blocks from create_block_mask, {} in closed form", n.size(0), ours.rows());
    }
    for (int64_t r = 0; first_difference.empty() && r < ours.rows(); ++r) {
      std::vector<int32_t> partial(ours.partial(r).begin(), ours.partial(r).end()), full;
      const bool edge_row = short_edge && r == ours.num_q_blocks - 1;
      for (const int32_t kb : ours.full(r)) (edge_row || (short_edge && kb == last) ? partial : full).push_back(kb);
      std::sort(partial.begin(), partial.end());
      const bool same = partial == theirs(n, idx, r) && full == theirs(full_n, full_idx, r);
      acc.add(same ? 0.0 : 1.0, 0.0, "block rows differ");
      if (!same)
        first_difference = fmt::format("query block {}: {} partial / {} full blocks from create_block_mask, {} / {} in "
                                       "closed form (or other blocks)",
                                       r, n.data_ptr<int32_t>()[r], full_n.data_ptr<int32_t>()[r], partial.size(),
                                       full.size());
    }
    Accuracy a = acc.finish(Tolerance{0.0});
    if (!first_difference.empty()) {
      a.passed = false;
      a.error = first_difference;
    }
    partial_ = double(n.sum().item<int64_t>());
    full_ = double(full_n.sum().item<int64_t>());
    return a;
  }
  void add_counters(Counters& out) override {
    AnchorCase::add_counters(out);
    out.emplace_back("partial_blocks", partial_);
    out.emplace_back("full_blocks", full_);
  }

 protected:
  python::Args anchor_args() override {
    python::Args a = flex_mask_args(spec_, heads_);
    a.set("seq", seq_).set("compiled", compiled_);
    return a;
  }

 private:
  attn::MaskSpec spec_;
  int64_t seq_, heads_;
  bool compiled_;
  double partial_ = 0, full_ = 0;
};

struct EagerBlockMaskCase final : CreateBlockMaskCase {
  explicit EagerBlockMaskCase(const CaseContext& ctx) : CreateBlockMaskCase(ctx, false) {}
};
struct CompiledBlockMaskCase final : CreateBlockMaskCase {
  explicit CompiledBlockMaskCase(const CaseContext& ctx) : CreateBlockMaskCase(ctx, true) {}
};

}  // namespace

std::vector<Implementation> flex_implementations() {
  Implementation flex;
  flex.name = "torch_flex";
  flex.provider = Provider::pytorch_compiled;
  flex.description = "torch.compile(flex_attention) on the CPU: mask_mod / score_mod, BlockMask from "
                     "create_block_mask (128 x 128), enable_gqa; counters compile_s, block_mask_build_s, "
                     "first_result_s";
  python::make_anchor<FlexCase>(flex);

  Implementation eager_bm;
  eager_bm.name = "torch_create_block_mask";
  eager_bm.provider = Provider::pytorch_eager;
  eager_bm.description = "FlexAttention's create_block_mask (128 x 128 blocks, the S x S mask evaluated eagerly)";
  eager_bm.role = Role::helper;
  eager_bm.applies = is_block_mask_point;
  eager_bm.work = [](const CaseContext&) { return Work{}; };  // no arithmetic: its time is the figure
  eager_bm.skip = [](const Params& p) -> std::string {
    const double need = eager_block_mask_bytes(p);
    const double available = double(memory::available_system_bytes());
    if (available > 0 && need > 0.9 * available)
      return fmt::format("evaluates the mask on all S x S points at once: about {:.1f} GiB, more than 90% of the "
                         "{:.1f} GiB available",
                         need / double(1ull << 30), available / double(1ull << 30));
    return "";
  };
  python::make_anchor<EagerBlockMaskCase>(eager_bm);

  Implementation compiled_bm = eager_bm;
  compiled_bm.name = "torch_create_block_mask_compiled";
  compiled_bm.provider = Provider::pytorch_compiled;
  compiled_bm.description = "torch.compile(create_block_mask) (128 x 128 blocks): mask evaluation fused into the "
                            "block reduction";
  compiled_bm.skip = nullptr;
  python::make_anchor<CompiledBlockMaskCase>(compiled_bm);
  return {flex, eager_bm, compiled_bm};
}

}  // namespace talklab::experiments::attention
