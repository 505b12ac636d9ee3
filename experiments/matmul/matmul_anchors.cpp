// The anchors of issue 17 for matmul: what a PyTorch user runs instead of our recipes, on the same inputs, timed by
// the same sampler and gated by the same float64 check (problem.h), each through the embedded interpreter
// (harness/python.h; the Python side is torch_anchors.py).
//
//   torch_compiled_bf16   torch.compile(mode="max-autotune") of torch.mm on the bf16 A and B of torch_bf16, with B
//                         a frozen weight (freezing=True, inference): Inductor's autotuner times its C++ GEMM
//                         template (max_autotune_gemm_backends "CPP,ATEN"; "CPP" alone where oneDNN has no native
//                         bf16, torch_anchors.py's _gemm_backends) against ATen's mm and keeps the faster;
//                         the label inductor_gemm says which it kept. Compilation and autotuning are the first call
//                         (compile_s); on the 2-core machine ~40 s for a small shape, minutes at 4096^3.
//   torch_int4_weight     aten._weight_int4pack_mm_for_cpu, W4A16, group 128: OUR int4 codes and scales
//                         (quantize_groupwise, as int4_w4a16), repacked by _convert_weight_to_int4pack_for_cpu.
//                         Its API stores scale and zero in bf16, as our packing stores the scales: it gets our codes
//                         and our scales unchanged (zero 0). N must be a multiple of 16 (PyTorch's message says so).
//   torch_int8_weight     aten._weight_int8pack_mm, W8A16: OUR per-channel int8 codes (quantize_cols_int8, as
//                         int8_w8a8's weights), scales rounded to bf16 (the op wants the activation's dtype).
//   torch_int8_dynamic    quantized::linear_dynamic (fbgemm/x86): fp32 A quantized inside the call (per tensor,
//                         7-bit: reduce_range as torch.ao's dynamic Linear sets it), our int8 weights prepacked by
//                         quantized::linear_prepack: the eager W8A8 path 2.13 offers on the CPU (torchao is not
//                         installed, and its CPU int8 path lowers to the same ops under torch.compile).
//   torch_fp8_scaled_mm   torch._scaled_mm on the CPU: OUR fp8 e4m3 tensorwise codes and scales (quantize_tensorwise,
//                         as fp8_tensorwise and the CUDA torch_scaled_mm), bf16 out; activation quantization is not in
//                         the timed call (compare with fp8_tensorwise's matmul_s).
// Packing is setup (prepare_s), never timed. Weight-only and decode anchors cycle through cold copies of their
// packed weights exactly as int4_w4a16 does (problem.h, cold_weight_copies), so at M = 1 both read from DRAM.
// Tolerances: each anchor is held to the floor of the recipe it stands beside (problem.h), no new ones.
//   bench --filter 'matmul/torch_(compiled_bf16|int4_weight|int8_weight|int8_dynamic|fp8_scaled_mm)/'
#include "experiments/matmul/matmul_anchors.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "experiments/matmul/problem.h"
#include "harness/python.h"
#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/matmul/matmul_int4.h"
#include "kernels/cpu/quant/scaling.h"

namespace talklab::experiments::matmul {
namespace {

namespace mm = talklab::cpu::matmul;
namespace q = talklab::cpu::quant;

constexpr const char* kAnchors = "experiments/matmul/torch_anchors.py";
constexpr int64_t kInt4Group = 128;  // as int4_w4a16 (matmul_int4.cpp)

using python::Args;

// Fills the case's float32 inputs (problem.h) and checks the anchor's (M, N) output, float32 or bf16.
class MatmulAnchorCase : public python::AnchorCase {
 public:
  MatmulAnchorCase(const CaseContext& ctx, const char* function, RecipeTolerance tol)
      : python::AnchorCase(kAnchors, function), tol_(tol), seed_(ctx.seed) {
    in_.s = shape_of(ctx.params);
  }
  Accuracy check() override {
    if (outputs().size() != 1) throw std::logic_error(fmt::format("expected one output, got {}", outputs().size()));
    const at::Tensor c = outputs()[0].to(at::kFloat).contiguous();
    if (c.dim() != 2 || c.size(0) != in_.s.M || c.size(1) != in_.s.N) {
      throw std::logic_error(fmt::format("expected a {} x {} product, PyTorch returned {}", in_.s.M, in_.s.N,
                                         c10::str(c.sizes())));
    }
    return check_product(in_, c.data_ptr(), false, tol_, seed_);
  }

 protected:
  Args anchor_args() override {
    in_.fill(seed_);
    return quantized_args();
  }
  virtual Args quantized_args() = 0;

  at::Tensor a_float() { return at::from_blob(in_.a.data(), {in_.s.M, in_.s.K}, at::kFloat); }
  at::Tensor b_float() { return at::from_blob(in_.b.data(), {in_.s.K, in_.s.N}, at::kFloat); }
  Inputs in_;

 private:
  RecipeTolerance tol_;
  uint64_t seed_;
};

class CompiledBf16Case final : public MatmulAnchorCase {
 public:
  explicit CompiledBf16Case(const CaseContext& ctx) : MatmulAnchorCase(ctx, "compiled_bf16", kBf16Tolerance) {}

 private:
  Args quantized_args() override {  // torch_bf16's operands: bf16 copies made by LibTorch
    return Args().set("a", a_float().to(at::kBFloat16)).set("b", b_float().to(at::kBFloat16));
  }
};

class Int4WeightCase final : public MatmulAnchorCase {
 public:
  explicit Int4WeightCase(const CaseContext& ctx) : MatmulAnchorCase(ctx, "int4_weight", kInt4Tolerance) {}

 private:
  Args quantized_args() override {
    const Shape& s = in_.s;
    // int4_w4a16's very codes and scales, read back from its packed form.
    const mm::PackedBInt4 ours = mm::quantize_pack_b_int4(in_.b.data(), int(s.K), int(s.N), int(kInt4Group));
    at::Tensor codes = at::empty({s.K, s.N}, at::kChar);
    at::Tensor scales = at::empty({s.K / kInt4Group, s.N}, at::kFloat);
    int8_t* c = codes.data_ptr<int8_t>();
    float* sc = scales.data_ptr<float>();
    for (int k = 0; k < s.K; ++k)
      for (int n = 0; n < s.N; ++n) c[size_t(k) * s.N + n] = ours.code(k, n);
    for (int64_t g = 0; g < s.K / kInt4Group; ++g)
      for (int n = 0; n < s.N; ++n) sc[size_t(g) * s.N + n] = ours.scale(int(g * kInt4Group), n);
    // PyTorch's packed bytes: a nibble per weight, a bf16 scale and zero per group and column.
    const size_t bytes = size_t(s.K * s.N / 2 + (s.K / kInt4Group) * s.N * 4);
    return Args()
        .set("a", a_float().to(at::kBFloat16))
        .set("codes", codes)
        .set("scales", scales)
        .set("group", kInt4Group)
        .set("copies", int64_t(cold_weight_copies(bytes)));
  }
};

// Our per-channel int8 weights (int8_w8a8's): codes (K, N) and one scale per column.
Args int8_weights(const Inputs& in) {
  const Shape& s = in.s;
  at::Tensor codes = at::empty({s.K, s.N}, at::kChar);
  at::Tensor scales = at::empty({s.N}, at::kFloat);
  mm::quantize_cols_int8(codes.data_ptr<int8_t>(), scales.data_ptr<float>(), in.b.data(), int(s.K), int(s.N));
  return Args().set("codes", codes).set("scales", scales).set("copies", int64_t(cold_weight_copies(size_t(s.K * s.N))));
}

class Int8WeightCase final : public MatmulAnchorCase {
 public:
  explicit Int8WeightCase(const CaseContext& ctx) : MatmulAnchorCase(ctx, "int8_weight", kInt8Tolerance) {}

 private:
  Args quantized_args() override { return int8_weights(in_).set("a", a_float().to(at::kBFloat16)); }
};

class Int8DynamicCase final : public MatmulAnchorCase {
 public:
  explicit Int8DynamicCase(const CaseContext& ctx) : MatmulAnchorCase(ctx, "int8_dynamic", kInt8Tolerance) {}

 private:
  Args quantized_args() override { return int8_weights(in_).set("a", a_float()); }
};

class Fp8ScaledMmCase final : public MatmulAnchorCase {
 public:
  explicit Fp8ScaledMmCase(const CaseContext& ctx) : MatmulAnchorCase(ctx, "fp8_scaled_mm", kFp8Tolerance) {}

 private:
  Args quantized_args() override {
    const Shape& s = in_.s;
    constexpr q::ElemType kE4m3 = q::ElemType::fp8_e4m3fn;
    q::Quantized qa = q::quantize_tensorwise(in_.a.data(), q::Operand::A, s.M, s.K, kE4m3);
    q::Quantized qb = q::quantize_tensorwise(in_.b.data(), q::Operand::B, s.K, s.N, kE4m3);
    return Args()
        .set("a_codes", at::from_blob(qa.codes.data(), {s.M, s.K}, at::kByte).clone())
        .set("b_codes", at::from_blob(qb.codes.data(), {s.K, s.N}, at::kByte).clone())
        .set("scale_a", at::scalar_tensor(qa.scales.at(0), at::kFloat))
        .set("scale_b", at::scalar_tensor(qb.scales.at(0), at::kFloat))
        .set("copies", int64_t(cold_weight_copies(size_t(s.K * s.N))));
  }
};

template <class C>
Implementation anchor(const char* name, Provider provider, const char* description,
                      std::function<Work(const CaseContext&)> work) {
  Implementation impl;
  impl.name = name;
  impl.provider = provider;
  impl.description = description;
  impl.work = std::move(work);
  python::make_anchor<C>(impl);
  return impl;
}

}  // namespace

std::vector<Implementation> torch_anchor_implementations() {
  std::vector<Implementation> out;
  out.push_back(anchor<CompiledBf16Case>(
      "torch_compiled_bf16", Provider::pytorch_compiled,
      "torch.compile(mode=max-autotune), bf16, frozen weight: Inductor's C++ GEMM template or ATen, autotuned",
      [](const CaseContext& ctx) { return recipe_work(ctx, 2, 2, 2, "bf16"); }));
  Implementation int4 = anchor<Int4WeightCase>(
      "torch_int4_weight", Provider::pytorch_eager,
      "PyTorch aten._weight_int4pack_mm_for_cpu: our int4 weights (group 128), bf16 activations",
      [](const CaseContext& ctx) { return recipe_work(ctx, 2, 0.5 + 4.0 / double(kInt4Group), 2, "bf16"); });
  int4.skip = [](const Params& p) -> std::string {
    const int64_t K = p.integer("K");
    if (K % kInt4Group != 0) return fmt::format("torch_int4_weight needs K a multiple of its group {}; K = {}", kInt4Group, K);
    return "";
  };
  out.push_back(std::move(int4));
  out.push_back(anchor<Int8WeightCase>(
      "torch_int8_weight", Provider::pytorch_eager,
      "PyTorch aten._weight_int8pack_mm: our per-channel int8 weights, bf16 activations",
      [](const CaseContext& ctx) { return recipe_work(ctx, 2, 1, 2, "bf16"); }));
  out.push_back(anchor<Int8DynamicCase>(
      "torch_int8_dynamic", Provider::pytorch_eager,
      "PyTorch quantized::linear_dynamic (fbgemm): int8 activations quantized per call x our int8 weights",
      [](const CaseContext& ctx) { return recipe_work(ctx, 4, 1, 4, "int8"); }));
  out.push_back(anchor<Fp8ScaledMmCase>(
      "torch_fp8_scaled_mm", Provider::pytorch_eager,
      "PyTorch torch._scaled_mm on the CPU: our fp8 e4m3 tensorwise codes and scales, bf16 out",
      [](const CaseContext& ctx) { return recipe_work(ctx, 1, 1, 2, "bf16"); }));
  return out;
}

}  // namespace talklab::experiments::matmul
