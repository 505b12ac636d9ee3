// torch_sdpa: at::scaled_dot_product_attention(q, k, v, mask, 0, is_causal = false, scale, enable_gqa = true) on a
//   contiguous bf16 cache (B, H_kv, context, D), as a PyTorch 2.x model's decode step calls it (LibTorch 2.13's C++
//   signature has enable_gqa as its last argument). On the CPU it runs LibTorch's flash kernel, parallel over
//   batch x heads x query blocks: at q_len 1 that is B x H tasks and nothing along the sequence. q_len > 1: the new
//   tokens are causal among themselves, bottom-right aligned (query i sees keys <= context - q_len + i), which
//   is_causal (top-left) does not express, so a boolean (q_len, context) mask.
// torch_eager: K and V repeated to the query heads (repeat_interleave, as plain PyTorch GQA does), matmul, the
//   same mask, softmax, matmul; every intermediate allocated per step.
// torch_flex: torch.compile(flex_attention) run by bench's embedded CPython (experiments/decode/torch_flex.py) on
//   the same contiguous bf16 cache, enable_gqa; q_len > 1 with a bottom-right causal BlockMask from
//   create_block_mask. Compiled in the first call (counter compile_s). Paged caches: FlexAttention pages through
//   its experimental PagedAttention (a page table rewriting the BlockMask), not wired here, so like the other
//   LibTorch cases it runs only on contiguous caches.
// Only on bf16 contiguous caches (what LibTorch has; no paged or quantized KV), split=auto.
// Inputs wrapped without copies (at::from_blob over the case's tracked buffers).
#include "experiments/decode/decode_torch.h"

#include <ATen/ATen.h>

#include <cmath>

#include "experiments/decode/problem.h"
#include "harness/python.h"
#include "kernels/cpu/quant/bf16.h"

namespace talklab::experiments::decode {
namespace {

// The case's inputs as LibTorch tensors: Q, and K and V rounded to a contiguous bf16 cache (B, H_kv, context, D),
// wrapped without a copy over tracked buffers.
struct TorchInputs {
  Inputs in;
  memory::Buffer<uint16_t> k16, v16;
  at::Tensor q, k, v;
  void fill(const Problem& p, uint64_t seed) {
    in.fill(p, seed);
    const dec::DecodeShape& s = p.shape;
    k16 = memory::Buffer<uint16_t>(in.k.size());
    v16 = memory::Buffer<uint16_t>(in.v.size());
    for (size_t i = 0; i < in.k.size(); ++i) {
      k16[i] = cpu::quant::float_to_bf16(in.k[i]);
      v16[i] = cpu::quant::float_to_bf16(in.v[i]);
    }
    const auto bf16 = at::TensorOptions().dtype(at::kBFloat16);
    q = at::from_blob(in.q.data(), {s.B, s.H, s.q_len, s.D}, bf16);
    k = at::from_blob(k16.data(), {s.B, s.H_kv, p.context, s.D}, bf16);
    v = at::from_blob(v16.data(), {s.B, s.H_kv, p.context, s.D}, bf16);
  }
  Accuracy check(const Problem& p, const at::Tensor& out, uint64_t seed) const {
    const at::Tensor o = out.contiguous();
    return check_output(p, in, static_cast<const uint16_t*>(o.data_ptr()), seed, torch_tolerance());
  }
};

class TorchCase : public Case {
 public:
  explicit TorchCase(const CaseContext& ctx) : p_(problem_of(ctx.params)), seed_(ctx.seed) {}
  void setup() override {
    t_.fill(p_, seed_);
    const dec::DecodeShape& s = p_.shape;
    q_ = t_.q;
    k_ = t_.k;
    v_ = t_.v;
    if (s.q_len > 1) {
      const at::TensorOptions index = at::TensorOptions().dtype(at::kLong);
      const at::Tensor i = at::arange(s.q_len, index).unsqueeze(1);
      const at::Tensor j = at::arange(p_.context, index).unsqueeze(0);
      visible_ = j.le(i + (p_.context - s.q_len));
    }
  }
  // LibTorch allocates a fresh output every run; the check reads the last one.
  void poison() override { out_ = at::Tensor(); }
  Accuracy check() override { return t_.check(p_, out_, seed_); }

 protected:
  std::optional<at::Tensor> mask() const {
    return visible_.defined() ? std::optional<at::Tensor>(visible_) : std::nullopt;
  }
  Problem p_;
  uint64_t seed_;
  TorchInputs t_;
  at::Tensor q_, k_, v_, visible_, out_;
};

// torch.compile(flex_attention) (experiments/decode/torch_flex.py) on the same tensors.
class FlexCase final : public python::AnchorCase {
 public:
  explicit FlexCase(const CaseContext& ctx)
      : AnchorCase("experiments/decode/torch_flex.py", "decode"), p_(problem_of(ctx.params)), seed_(ctx.seed) {}
  Accuracy check() override {
    if (outputs().size() != 1) throw std::runtime_error("torch_flex: the anchor returned no single output");
    return t_.check(p_, outputs()[0], seed_);
  }

 protected:
  python::Args anchor_args() override {
    t_.fill(p_, seed_);
    return python::Args().set("q", t_.q).set("k", t_.k).set("v", t_.v);
  }

 private:
  Problem p_;
  uint64_t seed_;
  TorchInputs t_;
};

class SdpaCase final : public TorchCase {
 public:
  using TorchCase::TorchCase;
  void run() override {
    out_ = at::scaled_dot_product_attention(q_, k_, v_, mask(), /*dropout_p=*/0.0, /*is_causal=*/false,
                                            /*scale=*/std::nullopt, /*enable_gqa=*/p_.shape.H != p_.shape.H_kv);
  }
};

class EagerCase final : public TorchCase {
 public:
  using TorchCase::TorchCase;
  void run() override {
    const int64_t group = p_.shape.H / p_.shape.H_kv;
    const at::Tensor k = group > 1 ? k_.repeat_interleave(group, 1) : k_;
    const at::Tensor v = group > 1 ? v_.repeat_interleave(group, 1) : v_;
    at::Tensor s = at::matmul(q_, k.transpose(-2, -1)).mul_(1.0 / std::sqrt(double(p_.shape.D)));
    if (visible_.defined()) s.masked_fill_(visible_.logical_not(), -INFINITY);
    out_ = at::matmul(at::softmax(s, -1), v);
  }
};

bool torch_applies(const Params& p) {
  return p.str("kv_dtype") == "bf16" && p.integer("page_size") == 0 && p.str("split") == "auto";
}

}  // namespace

std::vector<Implementation> torch_implementations() {
  Implementation sdpa;
  sdpa.name = "torch_sdpa";
  sdpa.provider = Provider::pytorch_eager;
  sdpa.description = "LibTorch: scaled_dot_product_attention, enable_gqa, contiguous bf16 cache";
  sdpa.applies = torch_applies;
  sdpa.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<SdpaCase>(ctx); };

  Implementation eager;
  eager.name = "torch_eager";
  eager.provider = Provider::pytorch_eager;
  eager.description = "LibTorch: K, V repeated to the query heads, matmul, softmax, matmul (bf16)";
  eager.applies = torch_applies;
  eager.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<EagerCase>(ctx); };

  Implementation flex;
  flex.name = "torch_flex";
  flex.provider = Provider::pytorch_compiled;
  flex.description = "torch.compile(flex_attention), enable_gqa, contiguous bf16 cache (q_len > 1: a bottom-right "
                     "causal BlockMask)";
  flex.applies = torch_applies;
  python::make_anchor<FlexCase>(flex);
  return {sdpa, eager, flex};
}

}  // namespace talklab::experiments::decode
