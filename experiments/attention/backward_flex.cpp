// torch_flex in attention_backward: torch.compile(flex_attention) (experiments/attention/torch_flex.py,
// attention_backward) with q, k, v requiring grad, gradients by torch.autograd.grad against the case's dO. The
// mask_mod / score_mod come from the case's MaskSpec exactly as the forward's (flex_args.h). pass=backward: the
// forward (and its compilation) runs in prepare, run() is the backward alone (retain_graph); pass=step: forward
// and backward. The first call compiles the backward (counter compile_s). Where PyTorch refuses FlexAttention's
// backward on the CPU, the case is skipped with PyTorch's own message. Checked like torch_sdpa's backward: dQ, dK,
// dV against the float64 reference at torch_grad_tolerance.
#include <ATen/ATen.h>

#include "experiments/attention/attention_flex.h"
#include "experiments/attention/backward_problem.h"
#include "experiments/attention/flex_args.h"
#include "experiments/attention/torch_masks.h"
#include "harness/python.h"

namespace talklab::experiments::attention {
namespace {

class FlexBackwardCase final : public python::AnchorCase {
 public:
  explicit FlexBackwardCase(const CaseContext& ctx)
      : AnchorCase("experiments/attention/torch_flex.py", "attention_backward"), spec_(mask_spec_of(ctx.params)),
        seed_(ctx.seed), step_(is_step(ctx.params)) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  Accuracy check() override {
    if (outputs().size() != 3) throw std::runtime_error("torch_flex: the anchor returned no (dq, dk, dv)");
    const at::Tensor dq = outputs()[0].contiguous(), dk = outputs()[1].contiguous(), dv = outputs()[2].contiguous();
    return check_grads(in_, d_o_.data(), spec_, dq.data_ptr(), dk.data_ptr(), dv.data_ptr(), seed_,
                       torch_grad_tolerance(in_.dtype));
  }

 protected:
  python::Args anchor_args() override {
    in_.fill(seed_);
    d_o_ = make_grad_output(in_, seed_);
    const attn::AttnShape& s = in_.shape;
    const auto opts = at::TensorOptions().dtype(torch_dtype(in_.dtype));
    python::Args a = flex_mask_args(spec_, s.H);
    a.set("q", at::from_blob(in_.q.data(), {s.B, s.H, s.S_q, s.D}, opts))
        .set("k", at::from_blob(in_.k.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts))
        .set("v", at::from_blob(in_.v.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts))
        .set("d_out", at::from_blob(d_o_.data(), {s.B, s.H, s.S_q, s.D}, opts))
        .set("step", step_);
    return a;
  }

 private:
  attn::MaskSpec spec_;
  uint64_t seed_;
  bool step_;
  Inputs in_;
  memory::Buffer<std::byte> d_o_;
};

}  // namespace

Implementation flex_backward_implementation() {
  Implementation flex;
  flex.name = "torch_flex";
  flex.provider = Provider::pytorch_compiled;
  flex.description = "torch.compile(flex_attention) forward and backward through autograd on the CPU "
                     "(mask_mod / score_mod, BlockMask from create_block_mask)";
  python::make_anchor<FlexBackwardCase>(flex);
  return flex;
}

}  // namespace talklab::experiments::attention
