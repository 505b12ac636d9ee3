// torch_eager: autograd through the materialized scores, as a model written in plain PyTorch trains: forward keeps
//   the (B, H, S, S) probabilities (and softcap's tanh), backward builds dP, dS and the masked_fill / softmax
//   gradients, each S x S. K and V repeated over the query heads (their gradients summed back by autograd).
// torch_sdpa: autograd through at::scaled_dot_product_attention: on the CPU LibTorch's flash kernel and its
//   backward (aten/src/ATen/native/cpu/FlashAttentionKernel.cpp): blocked, recomputes P from the logsumexp, skips
//   blocks only for is_causal; any other mask is a dense (S, S) tensor added to every block. Softcap cannot be
//   expressed (skipped). Label sdpa_backend: what at::_fused_sdp_choice picked for the case's own tensors.
// torch_flex: compiled FlexAttention's forward and backward through autograd, run by the embedded CPython
//   (backward_flex.cpp, torch_flex.py).
// Gradients by torch::autograd::grad(out, {q, k, v}, dO). pass=backward builds the graph once in setup and runs
// only its backward (retain_graph); pass=step runs forward and backward. Inputs wrapped without a copy; every
// tensor LibTorch allocates goes through the harness's tracking allocator, so peak memory includes the S x S.
#include "experiments/attention/backward_torch.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <limits>

#include "experiments/attention/attention_flex.h"
#include "experiments/attention/backward_problem.h"
#include "experiments/attention/torch_masks.h"

namespace talklab::experiments::attention {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// torch_eager runs where its estimated peak stays under this: S x S tensors beyond a few GiB take minutes per
// case on this machine and say nothing the smaller sequences do not.
constexpr double kEagerMaxBytes = 6.0 * double(1ull << 30);

// Peak of one torch_eager step: about five (B, H, S, S) tensors alive at once in backward (the kept probabilities,
// dP, dS, the softmax and masked_fill gradients) plus the (S, S) mask, ALiBi's (H, S, S) float bias.
double eager_peak_estimate(const Params& p) {
  const attn::AttnShape s = shape_of(p);
  const double ss = double(s.S_q) * double(s.S_kv);
  double bytes = 5.0 * double(s.B * s.H) * ss * double(element_bytes(dtype_of(p))) + ss;
  if (p.str("mask") == "causal+alibi") bytes += double(s.H) * ss * 4.0;
  return bytes;
}

std::string eager_skip(const Params& p) {
  const double need = eager_peak_estimate(p);
  if (need > kEagerMaxBytes)
    return fmt::format("its S x S scores and their gradients need about {:.1f} GiB ({:.0f} bytes), over the {:.0f} GiB "
                       "this experiment lets torch_eager use",
                       need / double(1ull << 30), need, kEagerMaxBytes / double(1ull << 30));
  const double available = double(memory::available_system_bytes());
  if (available > 0 && need > 0.9 * available)
    return fmt::format("needs about {:.1f} GiB, more than 90% of the {:.1f} GiB available", need / double(1ull << 30),
                       available / double(1ull << 30));
  return "";
}

class TorchBackwardCase : public Case {
 public:
  explicit TorchBackwardCase(const CaseContext& ctx)
      : spec_(mask_spec_of(ctx.params)), seed_(ctx.seed), step_(is_step(ctx.params)) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  void setup() override {
    in_.fill(seed_);
    d_o_ = make_grad_output(in_, seed_);
    const attn::AttnShape& s = in_.shape;
    const auto opts = at::TensorOptions().dtype(torch_dtype(in_.dtype));
    q_ = at::from_blob(in_.q.data(), {s.B, s.H, s.S_q, s.D}, opts).requires_grad_(true);
    k_ = at::from_blob(in_.k.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts).requires_grad_(true);
    v_ = at::from_blob(in_.v.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts).requires_grad_(true);
    grad_out_ = at::from_blob(d_o_.data(), {s.B, s.H, s.S_q, s.D}, opts);
    prepare();
    if (!step_) out_ = forward();
  }
  // LibTorch allocates fresh gradients every run: nothing to poison; the check reads the last run's.
  void poison() override { grads_.clear(); }
  void run() override {
    if (step_) {
      const at::Tensor out = forward();
      grads_ = torch::autograd::grad({out}, {q_, k_, v_}, {grad_out_});
    } else {
      grads_ = torch::autograd::grad({out_}, {q_, k_, v_}, {grad_out_}, /*retain_graph=*/true);
    }
  }
  Accuracy check() override {
    const at::Tensor dq = grads_.at(0).contiguous(), dk = grads_.at(1).contiguous(), dv = grads_.at(2).contiguous();
    return check_grads(in_, d_o_.data(), spec_, dq.data_ptr(), dk.data_ptr(), dv.data_ptr(), seed_,
                       torch_grad_tolerance(in_.dtype));
  }

 protected:
  virtual void prepare() = 0;
  virtual at::Tensor forward() = 0;
  attn::MaskSpec spec_;
  uint64_t seed_;
  bool step_;
  Inputs in_;
  memory::Buffer<std::byte> d_o_;
  at::Tensor q_, k_, v_, grad_out_, out_;
  std::vector<at::Tensor> grads_;
};

class EagerBackwardCase final : public TorchBackwardCase {
 public:
  using TorchBackwardCase::TorchBackwardCase;
  void prepare() override {
    const int64_t S = in_.shape.S_q;
    if (spec_.mask != attn::MaskKind::full) hidden_ = visible_mask(spec_, S).logical_not();
    if (spec_.score == attn::ScoreKind::alibi) bias_ = alibi_bias(spec_, in_.shape.H, S).to(torch_dtype(in_.dtype));
  }
  // Out of place throughout: autograd keeps what each op saved (tanh its output), which in-place ops would clobber.
  at::Tensor forward() override {
    const auto [k, v] = repeat_kv(k_, v_, in_.shape.H / in_.shape.H_kv);
    at::Tensor s = at::matmul(q_, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(in_.shape.D)));
    if (spec_.score == attn::ScoreKind::softcap) s = at::tanh(s / spec_.softcap) * spec_.softcap;
    if (spec_.score == attn::ScoreKind::alibi) s = s + bias_;
    if (hidden_.defined()) s = s.masked_fill(hidden_, -kInf);
    return at::matmul(at::softmax(s, -1), v);
  }

 private:
  at::Tensor hidden_, bias_;
};

class SdpaBackwardCase final : public TorchBackwardCase {
 public:
  using TorchBackwardCase::TorchBackwardCase;
  void prepare() override { mask_ = sdpa_mask(spec_, in_.shape.H, in_.shape.S_q, torch_dtype(in_.dtype)); }
  at::Tensor forward() override { return sdpa(q_, k_, v_, mask_.get(), mask_.is_causal); }
  // Asked with the tensors that require grad, as the autograd call sees them.
  void add_labels(Labels& out) override {
    out.emplace_back("sdpa_backend", sdpa_backend_name(sdpa_backend(q_, k_, v_, mask_.get(), mask_.is_causal)));
  }

 private:
  SdpaMask mask_;
};

}  // namespace

std::vector<Implementation> torch_backward_implementations() {
  Implementation eager;
  eager.name = "torch_eager";
  eager.provider = Provider::pytorch_eager;
  eager.description = "LibTorch autograd through S x S scores, mask, softmax, matmul";
  eager.skip = eager_skip;
  eager.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<EagerBackwardCase>(ctx); };

  Implementation sdpa;
  sdpa.name = "torch_sdpa";
  sdpa.provider = Provider::pytorch_eager;
  sdpa.description = "LibTorch autograd through scaled_dot_product_attention (is_causal, or a dense mask; "
                     "enable_gqa); label sdpa_backend: the kernel LibTorch chose";
  sdpa.skip = [](const Params& p) -> std::string {
    if (p.str("mask") == "causal+softcap") return "SDPA takes no score_mod: a tanh softcap cannot be expressed";
    return "";
  };
  sdpa.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<SdpaBackwardCase>(ctx); };

  return {eager, sdpa, flex_backward_implementation()};
}

}  // namespace talklab::experiments::attention
