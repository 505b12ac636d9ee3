// torch_sdpa: at::scaled_dot_product_attention(q, k, v, mask, 0, is_causal = false, scale, enable_gqa = true) on a
//   contiguous bf16 cache (B, H_kv, context, D), as a PyTorch 2.x model's decode step calls it (LibTorch 2.13's C++
//   signature has enable_gqa as its last argument). On the CPU it runs LibTorch's flash kernel, parallel over
//   batch x heads x query blocks: at q_len 1 that is B x H tasks and nothing along the sequence. q_len > 1: the new
//   tokens are causal among themselves, bottom-right aligned (query i sees keys <= context - q_len + i), which
//   is_causal (top-left) does not express, so a boolean (q_len, context) mask.
// torch_eager: K and V repeated to the query heads (repeat_interleave, as plain PyTorch GQA does), matmul, the
//   same mask, softmax, matmul; every intermediate allocated per step.
// torch_sdpa and torch_eager run on bf16 contiguous caches only (LibTorch has no paged or quantized KV), split=auto.
// torch_flex: torch.compile(flex_attention) run by bench's embedded CPython (experiments/decode/torch_flex.py),
//   enable_gqa, a BlockMask from create_block_mask (q_len > 1: bottom-right causal). Compiled in the first call
//   (counter compile_s). bf16 caches, split=auto, contiguous or paged: a paged case hands it PyTorch's layout for
//   FlexAttention's PagedAttention, a pool (1, H_kv, pages x page_size, D), filled through the case's own block table
//   (the shuffled table ours reads), with the table and the sequences' lengths; PagedAttention rewrites the BlockMask.
// Inputs wrapped without copies (at::from_blob over the case's tracked buffers).
#include "experiments/decode/decode_torch.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "experiments/decode/problem.h"
#include "harness/python.h"
#include "kernels/cpu/quant/bf16.h"

namespace talklab::experiments::decode {
namespace {

// The case's inputs as LibTorch tensors: Q, and K and V rounded to bf16, wrapped without a copy over tracked
// buffers. Contiguous (page_size 0): k and v (B, H_kv, context, D). Paged: k and v the pool of FlexAttention's
// PagedAttention, (1, H_kv, pages x page_size, D), page p holding pool tokens p x page_size onwards, filled through
// the case's block table (the same shuffled table as ours, block_table (B, pages per sequence)), lengths (B); the
// slots past a sequence's length are zero.
struct TorchInputs {
  Inputs in;
  memory::Buffer<uint16_t> k16, v16;
  memory::Buffer<int64_t> table64, lengths64;
  at::Tensor q, k, v, block_table, lengths;
  void fill(const Problem& p, uint64_t seed) {
    in.fill(p, seed);
    const dec::DecodeShape& s = p.shape;
    const auto bf16 = at::TensorOptions().dtype(at::kBFloat16);
    q = at::from_blob(in.q.data(), {s.B, s.H, s.q_len, s.D}, bf16);
    if (p.page_size == 0) {
      k16 = memory::Buffer<uint16_t>(in.k.size());
      v16 = memory::Buffer<uint16_t>(in.v.size());
      for (size_t i = 0; i < in.k.size(); ++i) {
        k16[i] = cpu::quant::float_to_bf16(in.k[i]);
        v16[i] = cpu::quant::float_to_bf16(in.v[i]);
      }
      k = at::from_blob(k16.data(), {s.B, s.H_kv, p.context, s.D}, bf16);
      v = at::from_blob(v16.data(), {s.B, s.H_kv, p.context, s.D}, bf16);
      return;
    }
    const dec::PageTable table = dec::make_page_table(s.B, p.context, p.page_size, kPageShuffleSeed);
    const int64_t ps = p.page_size, pool = table.num_pages * ps, D = s.D;
    k16 = memory::Buffer<uint16_t>(size_t(s.H_kv * pool * D));
    v16 = memory::Buffer<uint16_t>(k16.size());
    std::fill(k16.span().begin(), k16.span().end(), uint16_t(0));
    std::fill(v16.span().begin(), v16.span().end(), uint16_t(0));
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H_kv; ++h)
        for (int64_t t = 0; t < in.lengths[size_t(b)]; ++t) {
          const int64_t page = table.block_table[size_t(b * table.pages_per_seq + t / ps)];
          const size_t src = size_t(((b * s.H_kv + h) * p.context + t) * D);
          const size_t dst = size_t((h * pool + page * ps + t % ps) * D);
          for (int64_t d = 0; d < D; ++d) {
            k16[dst + size_t(d)] = cpu::quant::float_to_bf16(in.k[src + size_t(d)]);
            v16[dst + size_t(d)] = cpu::quant::float_to_bf16(in.v[src + size_t(d)]);
          }
        }
    table64 = memory::Buffer<int64_t>(table.block_table.size());
    std::copy(table.block_table.begin(), table.block_table.end(), table64.data());
    lengths64 = memory::Buffer<int64_t>(in.lengths.size());
    std::copy(in.lengths.begin(), in.lengths.end(), lengths64.data());
    k = at::from_blob(k16.data(), {1, s.H_kv, pool, D}, bf16);
    v = at::from_blob(v16.data(), {1, s.H_kv, pool, D}, bf16);
    const auto i64 = at::TensorOptions().dtype(at::kLong);
    block_table = at::from_blob(table64.data(), {s.B, table.pages_per_seq}, i64);
    lengths = at::from_blob(lengths64.data(), {s.B}, i64);
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
    python::Args args;
    args.set("q", t_.q).set("k", t_.k).set("v", t_.v);
    if (p_.page_size > 0)
      args.set("block_table", t_.block_table).set("lengths", t_.lengths).set("page_size", p_.page_size);
    return args;
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

bool flex_applies(const Params& p) { return p.str("kv_dtype") == "bf16" && p.str("split") == "auto"; }

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
  flex.description = "torch.compile(flex_attention), enable_gqa, a BlockMask (q_len > 1: bottom-right causal), bf16 "
                     "cache, contiguous or paged through PyTorch's PagedAttention";
  flex.applies = flex_applies;
  python::make_anchor<FlexCase>(flex);
  return {sdpa, eager, flex};
}

}  // namespace talklab::experiments::decode
