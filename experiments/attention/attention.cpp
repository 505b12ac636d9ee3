// The attention experiment: masked and windowed attention, ours against LibTorch's.
// Talks: "FlexAttention" (mask_mod / score_mod, block-sparse skipping), "Navigating the Architectural Timeline
// of LLMs" (sliding windows, grouped-query attention), "Understanding the LLM Inference Workload".
//
// Implementations:
//   flash_cpu          ours (kernels/cpu/attention/): tiled online softmax, never S x S, skips empty blocks
//   torch_eager        LibTorch: scores materialized, mask, softmax, product with V (attention_torch.cpp)
//   torch_sdpa         LibTorch's scaled-dot-product attention with a boolean mask (attention_torch.cpp)
//   torch_flex         torch.compile(flex_attention), run by the embedded CPython (attention_flex.cpp, torch_flex.py)
//   torch_eager_cuda, torch_sdpa_cuda   the same on CUDA tensors; SDPA's backend forced (attention_torch_cuda.cpp)
//   flash_cuda         ours on the GPU (kernels/cuda/attention/): block-sparse FlashAttention-2, bf16
//   flash_cuda_32rows  the same kernel tiled as 4 warps of 32 query rows instead of 8 of 16 (both attention_cuda.cpp)
//   blockmask_closed   building the closed-form block mask, O(blocks)
//   blockmask_generic  building it by evaluating the mask everywhere, O(S^2)
//   torch_create_block_mask, torch_create_block_mask_compiled   FlexAttention's builder, eager and compiled
// Work: useful FLOPs = 4 * D * unmasked (q, k) pairs per (b, h); bytes = Q, K, V read once and O written once.
//   bench --filter attention
#include <fmt/format.h>


#include "experiments/attention/attention_cuda.h"
#include "experiments/attention/attention_flex.h"
#include "experiments/attention/attention_torch.h"
#include "experiments/attention/problem.h"
#include "harness/registry.h"
#include "kernels/cpu/attention/block_mask_from_mask_mod.h"
#include "harness/sampler.h"

namespace talklab::experiments::attention {
Presentation presentation();  // presentation.cpp
namespace {

class FlashCase final : public Case {
 public:
  explicit FlashCase(const CaseContext& ctx)
      : spec_(mask_spec_of(ctx.params)), seed_(ctx.seed), threads_(ctx.threads) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  void setup() override {
    in_.fill(seed_);
    const attn::AttnShape& s = in_.shape;
    out_ = memory::Buffer<std::byte>(size_t(s.B * s.H * s.S_q * s.D) * element_bytes(in_.dtype));
    lse_ = memory::Buffer<float>(size_t(s.B * s.H * s.S_q));
    workspace_ = memory::Buffer<std::byte>(attn::flash_cpu_workspace_bytes(s, in_.dtype, cpu::best_isa()));
    // The closed-form block mask is built once per shape, as a user would; its cost is its own case.
    plan_build_s_ = wall_seconds([&] { plan_ = attn::make_flash_plan(spec_, s); });
    options_.num_threads = threads_;
  }
  void poison() override {
    if (in_.dtype == attn::DType::bf16) {
      talklab::poison_bf16({reinterpret_cast<uint16_t*>(out_.data()), out_.size() / 2});
    } else {
      talklab::poison({reinterpret_cast<float*>(out_.data()), out_.size() / 4});
    }
    talklab::poison(lse_.span());
  }
  void run() override {
    stats_ = attn::flash_cpu(plan_, in_.tensors(out_.data(), lse_.data()), options_, workspace_.data(), workspace_.size());
  }
  Accuracy check() override { return check_output(in_, spec_, out_.data(), seed_, flash_tolerance(in_.dtype)); }
  void add_counters(Counters& out) override {
    add_block_counters(out, spec_, in_.shape, stats_.executed_flops, stats_.full_blocks, stats_.partial_blocks,
                       plan_build_s_);
    out.emplace_back("workspace_bytes", double(workspace_.size()));
    out.emplace_back("q_block", double(plan_.block_mask.q_block));  // chosen by make_flash_plan per mask and ISA
    out.emplace_back("kv_block", double(plan_.block_mask.kv_block));
  }

 private:
  attn::MaskSpec spec_;
  uint64_t seed_;
  int threads_;
  Inputs in_;
  memory::Buffer<std::byte> out_, workspace_;
  memory::Buffer<float> lse_;
  attn::FlashPlan plan_;
  attn::FlashOptions options_;
  attn::FlashStats stats_;
  double plan_build_s_ = 0;
};

// Builds the block mask (closed form or generic) as the timed run; the check is that the two builders agree
// exactly, block for block.
class BlockMaskCase final : public Case {
 public:
  BlockMaskCase(const CaseContext& ctx, bool generic) : generic_(generic), spec_(mask_spec_of(ctx.params)) {
    s_ = shape_of(ctx.params);
  }
  void setup() override { mods_ = attn::build_mods(spec_, s_.H, s_.S_q, s_.S_kv); }
  void poison() override { built_ = attn::BlockMask{}; }
  void run() override { built_ = generic_ ? build_generic() : build_closed(); }
  Accuracy check() override {
    const attn::BlockMask other = generic_ ? build_closed() : build_generic();
    AccuracyAccumulator acc;
    acc.add(built_ == other ? 0.0 : 1.0, 0.0, "block masks differ");
    Accuracy a = acc.finish(Tolerance{0.0});
    if (!(built_ == other)) {
      a.passed = false;
      a.error = fmt::format("closed-form and generic block masks differ ({} vs {} partial, {} vs {} full blocks)",
                            built_.num_partial(), other.num_partial(), built_.num_full(), other.num_full());
    }
    return a;
  }
  void add_counters(Counters& out) override {
    out.emplace_back("partial_blocks", double(built_.num_partial()));
    out.emplace_back("full_blocks", double(built_.num_full()));
    out.emplace_back("block_rows", double(built_.rows()));
    // Its vectors are not allocated through the tracking allocator (peak memory reads 0): their size instead.
    const auto bytes = [](const auto& v) { return double(v.size() * sizeof(v[0])); };
    out.emplace_back("block_mask_bytes", bytes(built_.kv_num_blocks) + bytes(built_.kv_offsets) +
                                             bytes(built_.kv_indices) + bytes(built_.full_kv_num_blocks) +
                                             bytes(built_.full_kv_offsets) + bytes(built_.full_kv_indices) +
                                             bytes(built_.work_order));
  }

 private:
  attn::BlockMask build_closed() const {
    return attn::block_mask_for(spec_, s_.S_q, s_.S_kv, attn::kDefaultQBlock, attn::kDefaultKvBlock);
  }
  attn::BlockMask build_generic() const {
    return attn::visit_mods(mods_, [&](const auto& mask, const auto&) {
      return attn::block_mask_from_mask_mod(mask, 1, 1, s_.S_q, s_.S_kv, attn::kDefaultQBlock, attn::kDefaultKvBlock);
    });
  }
  bool generic_;
  attn::MaskSpec spec_;
  attn::AttnShape s_;
  attn::BuiltMods mods_;
  attn::BlockMask built_;
};

Work declare_work(const CaseContext& ctx) {
  const attn::AttnShape s = shape_of(ctx.params);
  const attn::DType dtype = dtype_of(ctx.params);
  const double e = double(element_bytes(dtype));
  const double bytes = e * double(2 * s.B * s.H * s.S_q * s.D + 2 * s.B * s.H_kv * s.S_kv * s.D);
  return Work{attn::useful_flops(mask_spec_of(ctx.params), s), bytes, dtype == attn::DType::bf16 ? "bf16" : "fp32"};
}

Experiment declare() {
  Experiment e;
  e.name = "attention";
  e.description = "masked, windowed and grouped-query attention: ours (block-sparse flash) against LibTorch";
  e.talks = {"flexattention", "llm-architecture-timeline", "llm-inference-workload"};
  e.axes = problem_axes();
  e.work = declare_work;
  e.skip = problem_skip;
  e.presentation = presentation();

  Implementation flash;
  flash.name = "flash_cpu";
  flash.description = "ours: block-sparse flash attention, AVX-512 / AVX2 / scalar";
  flash.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<FlashCase>(ctx); };
  e.implementations.push_back(flash);

  for (Implementation& impl : torch_implementations()) e.implementations.push_back(std::move(impl));
  for (Implementation& impl : flex_implementations()) e.implementations.push_back(std::move(impl));
  for (Implementation& impl : torch_cuda_implementations()) e.implementations.push_back(std::move(impl));
  for (Implementation& impl : cuda_implementations()) e.implementations.push_back(std::move(impl));

  for (const bool generic : {false, true}) {
    Implementation bm;
    bm.name = generic ? "blockmask_generic" : "blockmask_closed";
    bm.description = generic ? "block mask from evaluating the mask everywhere" : "block mask in closed form";
    bm.role = Role::helper;
    // The block mask depends on the mask and the sequence only: one case per (mask, seq, window).
    bm.applies = is_block_mask_point;
    bm.work = [](const CaseContext&) { return Work{}; };  // no arithmetic: its time is the figure
    bm.make = [generic](const CaseContext& ctx) -> std::unique_ptr<Case> {
      return std::make_unique<BlockMaskCase>(ctx, generic);
    };
    e.implementations.push_back(bm);
  }
  return e;
}

TALKLAB_REGISTER_EXPERIMENT(declare);

}  // namespace
}  // namespace talklab::experiments::attention
