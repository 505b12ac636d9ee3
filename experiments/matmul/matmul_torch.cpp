// torch_fp32 and torch_bf16: at::matmul on tensors that wrap the case's inputs (fp32) or their bf16 copies.
// The output is a fresh LibTorch tensor every run, allocated through the tracking allocator.
#include "experiments/matmul/matmul_torch.h"

#include <ATen/ATen.h>

#include "experiments/matmul/problem.h"

namespace talklab::experiments::matmul {
namespace {


class TorchMatmulCase final : public Case {
 public:
  TorchMatmulCase(const CaseContext& ctx, bool bf16) : bf16_(bf16), seed_(ctx.seed) { in_.s = shape_of(ctx.params); }
  void setup() override {
    in_.fill(seed_);
    a_ = at::from_blob(in_.a.data(), {in_.s.M, in_.s.K}, at::kFloat);
    b_ = at::from_blob(in_.b.data(), {in_.s.K, in_.s.N}, at::kFloat);
    if (bf16_) {
      a_ = a_.to(at::kBFloat16);
      b_ = b_.to(at::kBFloat16);
    }
  }
  void poison() override { c_ = at::Tensor(); }  // LibTorch returns a fresh output each run
  void run() override { c_ = at::matmul(a_, b_); }
  Accuracy check() override {
    const at::Tensor c = c_.contiguous();
    return check_product(in_, c.data_ptr(), bf16_, bf16_ ? kBf16Tolerance : kFp32Tolerance, seed_);
  }

 private:
  bool bf16_;
  uint64_t seed_;
  Inputs in_;
  at::Tensor a_, b_, c_;
};

}  // namespace

std::vector<Implementation> torch_implementations() {
  Implementation fp32;
  fp32.name = "torch_fp32";
  fp32.provider = Provider::pytorch_eager;
  fp32.description = "LibTorch at::matmul, float32";
  fp32.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> {
    return std::make_unique<TorchMatmulCase>(ctx, false);
  };
  Implementation bf16;
  bf16.name = "torch_bf16";
  bf16.provider = Provider::pytorch_eager;
  bf16.description = "LibTorch at::matmul, bf16 (oneDNN)";
  bf16.work = [](const CaseContext& ctx) { return recipe_work(ctx, 2, 2, 2, "bf16"); };
  bf16.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<TorchMatmulCase>(ctx, true); };
  return {fp32, bf16};
}

}  // namespace talklab::experiments::matmul
