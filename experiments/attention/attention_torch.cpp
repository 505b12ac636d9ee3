// torch_eager: scores materialized (B, H, S, S), score mod, mask, softmax, product with V: four passes over
//   S x S per head, as a model written in plain PyTorch does.
// torch_sdpa: at::scaled_dot_product_attention as a PyTorch 2.x user calls it. On the CPU LibTorch picks its
//   flash kernel (aten/src/ATen/native/cpu/FlashAttentionKernel.cpp: blocked over queries and keys, online
//   softmax, parallel over batch x heads x query blocks) whenever it qualifies, which for these inputs is always:
//   the label sdpa_backend records what at::_fused_sdp_choice said for the case's own tensors. Causal goes
//   through is_causal (the only mask whose fully hidden blocks it skips); other masks are a dense boolean
//   mask, read for every (q, k) pair; ALiBi a dense float bias; softcap cannot be expressed and is skipped.
//   Grouped-query attention through enable_gqa: LibTorch reads each K/V head for its whole group.
// torch_eager repeats K and V over the query heads, as a model written in plain PyTorch does. Inputs are
// wrapped without a copy (at::from_blob over the case's tracked buffers); every tensor LibTorch allocates
// goes through the harness's tracking allocator, so peak memory includes the S x S scores.
#include "experiments/attention/attention_torch.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "experiments/attention/problem.h"
#include "experiments/attention/torch_masks.h"

namespace talklab::experiments::attention {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Bytes LibTorch needs at the peak of one run: three (B, H, S, S) tensors in the input dtype (scores, the
// softmax output, one temporary of the score mod or of SDPA's scaling) plus the (S, S) mask. Used to skip,
// with the reason, a case that would be killed for memory rather than fail cleanly.
double torch_peak_estimate(const Params& p) {
  const attn::AttnShape s = shape_of(p);
  const double e = double(element_bytes(dtype_of(p)));
  const double ss = double(s.S_q) * double(s.S_kv);
  double bytes = 3.0 * double(s.B * s.H) * ss * e + ss * 5.0;
  if (p.str("mask") == "causal+alibi") bytes += double(s.H) * ss * 4.0;
  return bytes;
}

std::string memory_skip(const Params& p) {
  const double need = torch_peak_estimate(p);
  const double available = double(memory::available_system_bytes());
  if (available > 0 && need > 0.9 * available) {
    return fmt::format("needs about {:.1f} GiB for its S x S scores, more than 90% of the {:.1f} GiB available",
                       need / double(1 << 30), available / double(1 << 30));
  }
  return "";
}

}  // namespace

at::ScalarType torch_dtype(attn::DType d) { return d == attn::DType::bf16 ? at::kBFloat16 : at::kFloat; }

at::Tensor document_ids(const attn::MaskSpec& spec, const at::TensorOptions& on) {
  const at::TensorOptions index = on.dtype(at::kInt);
  if (spec.mask != attn::MaskKind::document) return at::empty({0}, index);
  const std::vector<int64_t> host(spec.doc_lengths.begin(), spec.doc_lengths.end());
  const at::Tensor lengths = at::tensor(host).to(on.device());
  return at::repeat_interleave(at::arange(lengths.size(0), index), lengths).contiguous();
}

std::vector<float> alibi_slopes_of(const attn::MaskSpec& spec, int64_t H) {
  return spec.alibi_slopes.empty() ? attn::alibi_slopes(int(H)) : spec.alibi_slopes;
}

at::Tensor visible_mask(const attn::MaskSpec& spec, int64_t S, const at::TensorOptions& on) {
  const at::TensorOptions index = on.dtype(at::kLong);
  const at::Tensor i = at::arange(S, index).unsqueeze(1);
  const at::Tensor j = at::arange(S, index).unsqueeze(0);
  const at::Tensor causal = j.le(i);
  switch (spec.mask) {
    case attn::MaskKind::full: return at::ones({S, S}, on.dtype(at::kBool));
    case attn::MaskKind::causal: return causal;
    case attn::MaskKind::sliding_window: return causal.logical_and(j.gt(i - spec.window));
    case attn::MaskKind::prefix_lm: return causal.logical_or(j.lt(spec.prefix));
    case attn::MaskKind::document: {
      const at::Tensor doc = document_ids(spec, on);
      return causal.logical_and(doc.unsqueeze(1).eq(doc.unsqueeze(0)));
    }
  }
  return causal;
}

at::Tensor alibi_bias(const attn::MaskSpec& spec, int64_t H, int64_t S, const at::TensorOptions& on) {
  const std::vector<float> slopes = alibi_slopes_of(spec, H);
  const at::TensorOptions f32 = on.dtype(at::kFloat);
  const at::Tensor distance = at::arange(S, f32).unsqueeze(1) - at::arange(S, f32).unsqueeze(0);
  return at::tensor(slopes).to(on.device()).view({H, 1, 1}).neg() * distance.unsqueeze(0);
}

std::pair<at::Tensor, at::Tensor> repeat_kv(const at::Tensor& k, const at::Tensor& v, int64_t group) {
  if (group == 1) return {k, v};
  return {k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)};
}

SdpaMask sdpa_mask(const attn::MaskSpec& spec, int64_t H, int64_t S, at::ScalarType dtype, const at::TensorOptions& on) {
  SdpaMask m;
  m.is_causal = spec.mask == attn::MaskKind::causal && spec.score == attn::ScoreKind::none;
  if (spec.score == attn::ScoreKind::alibi) {
    m.mask = alibi_bias(spec, H, S, on).masked_fill_(visible_mask(spec, S, on).logical_not(), -kInf).to(dtype);
  } else if (!m.is_causal && spec.mask != attn::MaskKind::full) {
    m.mask = visible_mask(spec, S, on);
  }
  return m;
}

at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask,
                bool is_causal) {
  const bool gqa = q.size(1) != k.size(1);
  return at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0, is_causal, /*scale=*/std::nullopt, gqa);
}

int64_t sdpa_backend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& mask, bool is_causal) {
  const bool gqa = q.size(1) != k.size(1);
  return at::_fused_sdp_choice(q, k, v, mask, /*dropout_p=*/0.0, is_causal, /*scale=*/std::nullopt, gqa);
}

const char* sdpa_backend_name(int64_t backend) {
  switch (backend) {
    case 0: return "math";
    case 1: return "flash";
    case 2: return "efficient";
    case 3: return "cudnn";
    case 4: return "overrideable";
    default: return "error";
  }
}

namespace {

class TorchCase : public Case {
 public:
  explicit TorchCase(const CaseContext& ctx) : spec_(mask_spec_of(ctx.params)), seed_(ctx.seed) {
    in_.shape = shape_of(ctx.params);
    in_.dtype = dtype_of(ctx.params);
  }
  void setup() override {
    in_.fill(seed_);
    const attn::AttnShape& s = in_.shape;
    const auto opts = at::TensorOptions().dtype(torch_dtype(in_.dtype));
    q_ = at::from_blob(in_.q.data(), {s.B, s.H, s.S_q, s.D}, opts);
    k_ = at::from_blob(in_.k.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts);
    v_ = at::from_blob(in_.v.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts);
    prepare();
  }
  // LibTorch allocates a fresh output every run: there is nothing to poison beforehand, and the check reads
  // the tensor the last run returned.
  void poison() override { out_ = at::Tensor(); }
  Accuracy check() override {
    const at::Tensor out = out_.contiguous();
    return check_output(in_, spec_, out.data_ptr(), seed_, torch_tolerance(in_.dtype));
  }

 protected:
  virtual void prepare() = 0;
  // K and V expanded to the query heads (grouped-query attention).
  std::pair<at::Tensor, at::Tensor> kv_for_all_heads() const { return repeat_kv(k_, v_, in_.shape.H / in_.shape.H_kv); }
  attn::MaskSpec spec_;
  uint64_t seed_;
  Inputs in_;
  at::Tensor q_, k_, v_, out_;
};

class EagerCase final : public TorchCase {
 public:
  using TorchCase::TorchCase;
  void prepare() override {
    const int64_t S = in_.shape.S_q;
    if (spec_.mask != attn::MaskKind::full) hidden_ = visible_mask(spec_, S).logical_not();
    if (spec_.score == attn::ScoreKind::alibi) bias_ = alibi_bias(spec_, in_.shape.H, S).to(torch_dtype(in_.dtype));
  }
  void run() override {
    const auto [k, v] = kv_for_all_heads();
    at::Tensor s = at::matmul(q_, k.transpose(-2, -1)).mul_(1.0 / std::sqrt(double(in_.shape.D)));
    if (spec_.score == attn::ScoreKind::softcap) s = at::tanh(s.div_(spec_.softcap)).mul_(spec_.softcap);
    if (spec_.score == attn::ScoreKind::alibi) s.add_(bias_);
    if (hidden_.defined()) s.masked_fill_(hidden_, -kInf);
    out_ = at::matmul(at::softmax(s, -1), v);
  }

 private:
  at::Tensor hidden_, bias_;
};

class SdpaCase final : public TorchCase {
 public:
  using TorchCase::TorchCase;
  void prepare() override { mask_ = sdpa_mask(spec_, in_.shape.H, in_.shape.S_q, torch_dtype(in_.dtype)); }
  void run() override { out_ = sdpa(q_, k_, v_, mask_.get(), mask_.is_causal); }
  void add_labels(Labels& out) override {
    out.emplace_back("sdpa_backend", sdpa_backend_name(sdpa_backend(q_, k_, v_, mask_.get(), mask_.is_causal)));
  }

 private:
  SdpaMask mask_;
};

}  // namespace

std::vector<Implementation> torch_implementations() {
  Implementation eager;
  eager.name = "torch_eager";
  eager.provider = Provider::pytorch_eager;
  eager.description = "LibTorch: S x S scores, mask, softmax, matmul";
  eager.skip = memory_skip;
  eager.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<EagerCase>(ctx); };

  Implementation sdpa;
  sdpa.name = "torch_sdpa";
  sdpa.provider = Provider::pytorch_eager;
  sdpa.description = "LibTorch scaled_dot_product_attention (is_causal, or a dense mask; enable_gqa); label "
                     "sdpa_backend: the kernel LibTorch chose (flash on the CPU)";
  sdpa.skip = [](const Params& p) -> std::string {
    if (p.str("mask") == "causal+softcap") return "SDPA takes no score_mod: a tanh softcap cannot be expressed";
    return memory_skip(p);
  };
  sdpa.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<SdpaCase>(ctx); };
  return {eager, sdpa};
}

}  // namespace talklab::experiments::attention
