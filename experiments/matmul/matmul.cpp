// The matmul experiment: low-precision recipes side by side, C(M x N) = A(M x K) x B(K x N), each timed and
// each gated by its SQNR against the float64 product of the unquantized inputs.
// Talks: "Low Precision Dtypes in PyTorch", "Hacks to Make LLM Training Faster", "TorchInductor CPU Backend
// Advancements" (vectorized CPU GEMM micro-kernels), "LLMs on Edge with AI Accelerators".
//
// Implementations:
//   torch_fp32, torch_bf16   LibTorch's matmul (OpenBLAS / oneDNN): what a user calls instead (matmul_torch.cpp)
//   torch_compiled_bf16, torch_int4_weight, torch_int8_weight, torch_int8_dynamic, torch_fp8_scaled_mm
//                            PyTorch from Python inside bench: Inductor's max-autotune GEMM and PyTorch's CPU
//                            weight-only / dynamic / fp8 kernels on our quantized weights (matmul_anchors.cpp)
//   bf16                     ours: vdpbf16ps on pre-packed bf16 weights, float32 accumulation (kernels/cpu/matmul);
//                            on AVX2 + FMA the pairs are widened to fp32 and FMAed
//   int8_w8a8                ours: per-token int8 activations (quantized inside the timed run) x per-channel
//                            int8 weights, vpdpbusd (AVX2: vpmaddubsw + vpmaddwd); counter act_quant_s is the
//                            quantization's own time
//   int4_w4a16               ours: int4 weights (bf16 scale per 128 along K) x bf16 activations, unpacked to bf16
//                            in registers for vdpbf16ps (AVX2: to fp32, FMA); the decode (M = 1) recipe
//                            (matmul_int4.cpp)
//   fp8_tensorwise, fp8_rowwise, fp8_blockwise, mxfp8, mxfp4
//                            emulated on the bf16 kernel (matmul_emulated.cpp): no fp8/fp4 unit on this CPU
//   torch_bf16_cuda, torch_scaled_mm, torch_scaled_mm_rowwise
//                            LibTorch on CUDA: at::matmul in bf16, at::_scaled_mm in fp8 e4m3 with the CPU recipes'
//                            tensorwise / rowwise codes and scales (matmul_torch_cuda.cpp)
//   cublaslt_{fp32,tf32,bf16,fp16,fp8_tensorwise,fp8_rowwise,fp8_blockwise}, w4a16_cuda
//                            CUDA: cuBLASLt on the CPU codecs' data, and our int4 decode kernel (matmul_cuda.cpp)
// Weights are converted and packed once, outside the timed run, as a deployed model's are.
//   bench --filter matmul
#include <fmt/format.h>

#include <string>

#include "experiments/matmul/matmul_anchors.h"
#include "experiments/matmul/matmul_cuda.h"
#include "experiments/matmul/matmul_emulated.h"
#include "experiments/matmul/matmul_int4.h"
#include "experiments/matmul/matmul_torch.h"
#include "experiments/matmul/problem.h"
#include "harness/registry.h"
#include "harness/sampler.h"
#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/quant/bf16.h"

namespace talklab::experiments::matmul {
Presentation presentation();  // presentation.cpp
namespace {

namespace mm = talklab::cpu::matmul;


class OursCase : public Case {
 public:
  explicit OursCase(const CaseContext& ctx) : seed_(ctx.seed), threads_(ctx.threads) { in_.s = shape_of(ctx.params); }
  void poison() override { talklab::poison(c_.span()); }
  // Which cache blocking the blocked driver ran (AVX-512: "zen4" or "zen5", chosen per CPU): figures from two
  // machines, or from one with TALKLAB_MATMUL_BLOCKING set, say whether they ran the same code.
  void add_labels(Labels& out) override {
    if (const std::string b = mm::blocking_name(cpu::best_isa()); !b.empty()) out.emplace_back("blocking", b);
  }

 protected:
  void allocate() {
    in_.fill(seed_);
    c_ = memory::Buffer<float>(size_t(in_.s.M * in_.s.N));
  }
  uint64_t seed_;
  int threads_;
  Inputs in_;
  memory::Buffer<float> c_;
};

class Bf16Case final : public OursCase {
 public:
  using OursCase::OursCase;
  void setup() override {
    allocate();
    a_ = memory::Buffer<uint16_t>(in_.a.size());
    for (size_t i = 0; i < a_.size(); ++i) a_[i] = cpu::quant::float_to_bf16(in_.a[i]);
    std::vector<uint16_t> b(in_.b.size());
    for (size_t i = 0; i < b.size(); ++i) b[i] = cpu::quant::float_to_bf16(in_.b[i]);
    mm::PackedBBf16 packed = mm::pack_b_bf16(b.data(), int(in_.s.K), int(in_.s.N));
    const size_t bytes = packed.data.size() * sizeof(uint32_t);
    packed_.assign(std::move(packed), bytes);
  }
  void run() override { mm::matmul_bf16(c_.data(), a_.data(), packed_.next(), int(in_.s.M), cpu::best_isa()); }
  Accuracy check() override { return check_product(in_, c_.data(), false, kBf16Tolerance, seed_); }
  void add_counters(Counters& out) override {
    add_weight_counters(out, in_.s, [&] { run(); }, packed_.first().data.size() * sizeof(uint32_t), packed_.count(),
                        threads_);
  }

 private:
  memory::Buffer<uint16_t> a_;
  ColdCopies<mm::PackedBBf16> packed_;
};

class Int8Case final : public OursCase {
 public:
  using OursCase::OursCase;
  void setup() override {
    allocate();
    const Shape& s = in_.s;
    std::vector<int8_t> bq(in_.b.size());
    std::vector<float> b_scale(size_t(s.N));
    mm::quantize_cols_int8(bq.data(), b_scale.data(), in_.b.data(), int(s.K), int(s.N));
    mm::PackedBInt8 packed = mm::pack_b_int8(bq.data(), b_scale.data(), int(s.K), int(s.N));
    const size_t bytes = packed.data.size() * sizeof(uint32_t) + packed.scale.size() * sizeof(float);
    packed_.assign(std::move(packed), bytes);
    aq_ = memory::Buffer<int8_t>(in_.a.size());
    a_scale_ = memory::Buffer<float>(size_t(s.M));
  }
  void run() override {
    quantize_activations();
    mm::matmul_int8(c_.data(), aq_.data(), a_scale_.data(), packed_.next(), int(in_.s.M), cpu::best_isa());
  }
  Accuracy check() override { return check_product(in_, c_.data(), false, kInt8Tolerance, seed_); }
  void add_counters(Counters& out) override {
    out.emplace_back("act_quant_s", median_wall_seconds([&] { quantize_activations(); }, 7));
    out.emplace_back("matmul_s", median_wall_seconds([&] {
      mm::matmul_int8(c_.data(), aq_.data(), a_scale_.data(), packed_.next(), int(in_.s.M), cpu::best_isa());
    }, 5));
    add_weight_counters(out, in_.s, [&] { run(); }, packed_.first().data.size() * sizeof(uint32_t), packed_.count(),
                        threads_);
  }

 private:
  void quantize_activations() {
    mm::quantize_rows_int8(aq_.data(), a_scale_.data(), in_.a.data(), int(in_.s.M), int(in_.s.K), cpu::best_isa());
  }
  ColdCopies<mm::PackedBInt8> packed_;
  memory::Buffer<int8_t> aq_;
  memory::Buffer<float> a_scale_;
};

std::string shape_skip(const Params& p) {
  const Shape s = shape_of(p);
  if (s.M < 1 || s.N < 1 || s.K < 1) return "M, N and K must be positive";
  if (s.M > INT32_MAX || s.N > INT32_MAX || s.K > INT32_MAX) return "M, N and K must fit in 32 bits";
  return "";
}

Experiment declare() {
  Experiment e;
  e.name = "matmul";
  e.description = "low-precision matmul recipes: speed and SQNR against LibTorch's fp32 and bf16";
  e.talks = {"low-precision-dtypes", "llm-training-hacks", "inductor-cpu-backend", "llms-on-edge"};
  e.axes = {int_axis("M", "rows of A and C (tokens)"), int_axis("N", "columns of B and C (output features)"),
            int_axis("K", "the reduction (input features)")};
  e.work = [](const CaseContext& ctx) { return recipe_work(ctx, 4, 4, 4, "fp32"); };
  e.skip = shape_skip;
  e.presentation = presentation();

  Implementation bf16;
  bf16.name = "bf16";
  bf16.description =
      "ours: packed bf16 weights, float32 accumulation; vdpbf16ps on AVX512_BF16, else AVX2 widen-to-fp32 + FMA";
  bf16.work = [](const CaseContext& ctx) { return recipe_work(ctx, 2, 2, 4, "bf16"); };
  bf16.skip = [](const Params&) { return tuned_cpu_kernels_skip(); };
  bf16.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<Bf16Case>(ctx); };

  Implementation int8;
  int8.name = "int8_w8a8";
  int8.description =
      "ours: per-token int8 activations x per-channel int8 weights; vpdpbusd on AVX512_VNNI, else AVX2 vpmaddubsw";
  int8.work = [](const CaseContext& ctx) { return recipe_work(ctx, 4, 1, 4, "int8"); };
  int8.skip = [](const Params&) { return tuned_cpu_kernels_skip(); };
  int8.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<Int8Case>(ctx); };

  e.implementations = torch_implementations();
  e.implementations.push_back(bf16);
  e.implementations.push_back(int8);
  e.implementations.push_back(int4_w4a16_implementation());
  for (Implementation& impl : emulated_implementations()) e.implementations.push_back(std::move(impl));
  for (Implementation& impl : cuda_matmul_implementations()) e.implementations.push_back(std::move(impl));
  for (Implementation& impl : torch_cuda_implementations()) e.implementations.push_back(std::move(impl));
  for (Implementation& impl : torch_anchor_implementations()) e.implementations.push_back(std::move(impl));
  return e;
}

TALKLAB_REGISTER_EXPERIMENT(declare);

}  // namespace
}  // namespace talklab::experiments::matmul
