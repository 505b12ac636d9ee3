// The attention_backward experiment: the training half of masked attention, ours against LibTorch's autograd.
// Talks: "FlexAttention" (block-sparse masks in training), "Navigating the Architectural Timeline of LLMs" (what a
// sliding window saves per training step as sequences grow), "Hacks to Make LLM Training Faster".
//
// Axis pass: backward (the forward ran in setup; run() computes dQ, dK, dV) or step (forward + backward of one
// attention layer: the time and peak memory a training step pays for it). The other axes are attention's.
// Implementations:
//   flash_cpu    ours: flash_cpu then flash_cpu_backward (kernels/cpu/attention/flash_backward.h): block-sparse,
//                deterministic, P recomputed from the LSE, never S x S
//   torch_eager  LibTorch autograd through the materialized scores (backward_torch.cpp)
//   torch_sdpa   LibTorch autograd through at::scaled_dot_product_attention (its CPU flash backward)
//   torch_flex   torch.compile(flex_attention) forward + backward through autograd (backward_flex.cpp)
// Work: useful FLOPs = 2.5x the forward's useful FLOPs for the backward (10 * D per unmasked pair), 3.5x for a step;
// executed FLOPs (whole visited tiles: 10 * D per pair in the one-pass schedule, 14 * D with two passes, where P
// and dP are recomputed in both; counter one_pass says which ran) a counter.
// Bytes: Q, K, V, O, dO read and dQ, dK, dV written once (a step adds the forward's Q, K, V and O).
// Memory: the backward's per-thread tiles are not in the tracked peak; counter thread_scratch_bytes gives them.
// Cost of the default profile's 54 cases (expected on the 2-core machine, from ~150 GFLOP/s for ours, ~50-100 for
// torch_sdpa's flash backward, which computes every (q, k) pair under a dense mask, torch_eager bound by its S x S
// passes): ~10 min in all, mostly torch_sdpa at 8192 and 16384 (~25 s a backward at 16384) and torch_eager at 8192.
//   bench --filter attention_backward
#include <fmt/format.h>

#include "experiments/attention/backward_problem.h"
#include "experiments/attention/backward_torch.h"
#include "harness/registry.h"
#include "harness/sampler.h"
#include "kernels/cpu/attention/flash_backward.h"

namespace talklab::experiments::attention {
Presentation backward_presentation();  // backward_presentation.cpp
namespace {

class FlashBackwardCase final : public Case {
 public:
  explicit FlashBackwardCase(const CaseContext& ctx)
      : spec_(mask_spec_of(ctx.params)), seed_(ctx.seed), threads_(ctx.threads), step_(is_step(ctx.params)) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  void setup() override {
    in_.fill(seed_);
    d_o_ = make_grad_output(in_, seed_);
    const attn::AttnShape& s = in_.shape;
    const size_t e = element_bytes(in_.dtype), nq = size_t(s.B * s.H * s.S_q * s.D);
    const size_t nkv = size_t(s.B * s.H_kv * s.S_kv * s.D);
    out_ = memory::Buffer<std::byte>(nq * e);
    dq_ = memory::Buffer<std::byte>(nq * e);
    dk_ = memory::Buffer<std::byte>(nkv * e);
    dv_ = memory::Buffer<std::byte>(nkv * e);
    lse_ = memory::Buffer<float>(size_t(s.B * s.H * s.S_q));
    fwd_workspace_ = memory::Buffer<std::byte>(attn::flash_cpu_workspace_bytes(s, in_.dtype, cpu::best_isa()));
    bwd_workspace_ = memory::Buffer<std::byte>(attn::flash_cpu_backward_workspace_bytes(s));
    // Both block masks (the forward's and its transpose) built once per shape, as a training loop would.
    plan_build_s_ = wall_seconds([&] { plan_ = attn::make_flash_backward_plan(spec_, s); });
    options_.num_threads = threads_;
    if (!step_) forward();
  }
  void poison() override {
    for (memory::Buffer<std::byte>* b : {&dq_, &dk_, &dv_}) {
      if (in_.dtype == attn::DType::bf16) talklab::poison_bf16({reinterpret_cast<uint16_t*>(b->data()), b->size() / 2});
      else talklab::poison({reinterpret_cast<float*>(b->data()), b->size() / 4});
    }
  }
  void run() override {
    if (step_) forward();
    attn::AttnGradTensors g;
    g.dtype = in_.dtype;
    g.q = in_.q.data(), g.k = in_.k.data(), g.v = in_.v.data(), g.o = out_.data(), g.d_o = d_o_.data();
    g.lse = lse_.data();
    g.dq = dq_.data(), g.dk = dk_.data(), g.dv = dv_.data();
    stats_ = attn::flash_cpu_backward(plan_, g, options_, bwd_workspace_.data(), bwd_workspace_.size());
  }
  Accuracy check() override {
    return check_grads(in_, d_o_.data(), spec_, dq_.data(), dk_.data(), dv_.data(), seed_,
                       flash_grad_tolerance(in_.dtype));
  }
  void add_counters(Counters& out) override {
    // A step also executes the forward's 4 * D per visited pair.
    const double executed =
        stats_.executed_flops + (step_ ? attn::flash_stats(in_.shape, plan_.forward.block_mask).executed_flops : 0.0);
    add_block_counters(out, spec_, in_.shape, executed, stats_.full_blocks, stats_.partial_blocks, plan_build_s_);
    out.emplace_back("workspace_bytes", double(fwd_workspace_.size() + bwd_workspace_.size()));
    out.emplace_back("one_pass", attn::flash_backward_one_pass(in_.shape, options_) ? 1.0 : 0.0);
    // The backward's per-thread tiles live outside the tracking allocator (thread_local, reused across calls), so
    // peak memory does not include them: their bytes, for every thread of the call.
    // (The harness always resolves the thread count: threads_ >= 1.)
    out.emplace_back("thread_scratch_bytes",
                     double(attn::flash_cpu_backward_thread_bytes(in_.shape, in_.dtype, plan_.forward.block_mask,
                                                                  options_)) * threads_);
  }

 private:
  void forward() {
    attn::flash_cpu(plan_.forward, in_.tensors(out_.data(), lse_.data()), options_, fwd_workspace_.data(),
                    fwd_workspace_.size());
  }
  attn::MaskSpec spec_;
  uint64_t seed_;
  int threads_;
  bool step_;
  Inputs in_;
  memory::Buffer<std::byte> d_o_, out_, dq_, dk_, dv_, fwd_workspace_, bwd_workspace_;
  memory::Buffer<float> lse_;
  attn::FlashBackwardPlan plan_;
  attn::FlashOptions options_;
  attn::FlashStats stats_;
  double plan_build_s_ = 0;
};

Work declare_work(const CaseContext& ctx) {
  const attn::AttnShape s = shape_of(ctx.params);
  const attn::DType dtype = dtype_of(ctx.params);
  const double e = double(element_bytes(dtype));
  const double q_sized = double(s.B * s.H * s.S_q * s.D), kv_sized = double(s.B * s.H_kv * s.S_kv * s.D);
  const double forward_bytes = e * (2 * q_sized + 2 * kv_sized);
  const double backward_bytes = e * (4 * q_sized + 4 * kv_sized);
  const double useful = attn::useful_backward_flops(mask_spec_of(ctx.params), s);
  const bool step = is_step(ctx.params);
  return Work{step ? useful * 3.5 / 2.5 : useful, step ? forward_bytes + backward_bytes : backward_bytes,
              dtype == attn::DType::bf16 ? "bf16" : "fp32"};
}

Experiment declare() {
  Experiment e;
  e.name = "attention_backward";
  e.description = "the backward and the training step of masked attention: ours (block-sparse, deterministic) "
                  "against LibTorch's autograd";
  e.talks = {"flexattention", "llm-architecture-timeline", "llm-training-hacks"};
  e.axes = {string_axis("pass", {"backward", "step"}, "backward alone, or forward + backward (a training step)")};
  for (Axis& a : problem_axes()) e.axes.push_back(std::move(a));
  e.work = declare_work;
  e.skip = problem_skip;
  e.presentation = backward_presentation();

  Implementation flash;
  flash.name = "flash_cpu";
  flash.description = "ours: flash_cpu_backward, block-sparse and deterministic, AVX-512 / AVX2 / scalar";
  flash.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<FlashBackwardCase>(ctx); };
  e.implementations.push_back(flash);
  for (Implementation& impl : torch_backward_implementations()) e.implementations.push_back(std::move(impl));
  return e;
}

TALKLAB_REGISTER_EXPERIMENT(declare);

}  // namespace
}  // namespace talklab::experiments::attention
