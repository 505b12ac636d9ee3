// fp8_tensorwise, fp8_rowwise, fp8_blockwise, mxfp8, mxfp4: this CPU has no fp8 or fp4 unit, so each recipe is
// emulated on the bf16 kernel, and the cost of that emulation is part of what is measured:
//   weights (offline): quantize B with the recipe's scheme (kernels/cpu/quant/scaling.h), decode to bf16 while
//     packing (scale applied in float, then rounded to bf16; MX scales are powers of two, so exact);
//   activations (every call, timed): quantize A with the scheme, decode to bf16 (one fused AVX-512 pass,
//     kernels/cpu/quant/emulate.h, bit for bit the scalar quantize_* + dequantize + float_to_bf16), run matmul_bf16.
// Schemes: tensorwise (one scale per operand), rowwise (per row of A, per column of B), blockwise (1 x 128 on A,
// 128 x 128 on B, DeepSeek-V3's recipe: K must be a multiple of 128), MX (e8m0 scale per 32 along K).
// Counters: act_quant_s, the activation quantize-and-decode alone; matmul_s, the bf16 matmul alone (the timed run
// is both, so the result carries the time with and without quantizing the activations).
// Measured (Zen 4, 2 vCPU shared with other jobs, default profile (K, N), M = 128 / 1024 / 4096):
//   before: scalar unfused codecs, ~20 ns per element: 1.3-2.7x our bf16 at N >= 4096, 5-9x at N = 1024.
//   now: 0.35-0.45 ns per element on one thread, 0.15-0.2 on two (act_quant_s 0.08-0.11 ms at M = 128, K = 4096);
//   --threads 1: (act_quant_s + matmul_s) / matmul_s 1.002-1.047 on every shape (the largest at N = 1024),
//   recipe / bf16 0.94-1.06x at M = 128. Two threads: M = 4096 1.03-1.26x; M = 128 / 1024, median of 5 runs
//   1.0-1.5x, except M = 128, N = 1024 (2.4 ms of bf16 on quiet cores, recipes 1.04x then): 2.0x, 3.0x tensorwise,
//   because with other jobs on both cores every parallel region (act path and matmul alike) waits ~8 ms for a
//   descheduled thread (act_quant_s then reads 8.00 ms).
#include "experiments/matmul/matmul_emulated.h"

#include <fmt/format.h>


#include "experiments/matmul/problem.h"
#include "harness/sampler.h"
#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/emulate.h"
#include "kernels/cpu/quant/scaling.h"

namespace talklab::experiments::matmul {
namespace {

namespace mm = talklab::cpu::matmul;
namespace q = talklab::cpu::quant;


enum class Recipe { fp8_tensorwise, fp8_rowwise, fp8_blockwise, mxfp8, mxfp4 };

struct RecipeInfo {
  Recipe recipe;
  const char* name;
  const char* description;
  double weight_bytes_per_element;  // stored format, scales amortized
};

constexpr RecipeInfo kRecipes[] = {
    {Recipe::fp8_tensorwise, "fp8_tensorwise", "fp8 e4m3, one scale per tensor; emulated on bf16", 1.0},
    {Recipe::fp8_rowwise, "fp8_rowwise", "fp8 e4m3, per-row (A) / per-column (B) scales; emulated on bf16", 1.0},
    {Recipe::fp8_blockwise, "fp8_blockwise", "fp8 e4m3, 1x128 (A) / 128x128 (B) block scales; emulated on bf16",
     1.0},
    {Recipe::mxfp8, "mxfp8", "MXFP8: e4m3 elements, e8m0 scale per 32 along K; emulated on bf16", 1.0 + 1.0 / 32},
    {Recipe::mxfp4, "mxfp4", "MXFP4: e2m1 elements, e8m0 scale per 32 along K; emulated on bf16", 0.5 + 1.0 / 32},
};

// Quantizes x (rows x cols, the operand's layout) with the recipe and decodes it back to float: the weights' path.
std::vector<float> quantize_decode(Recipe r, const float* x, q::Operand op, int64_t rows, int64_t cols) {
  switch (r) {
    case Recipe::fp8_tensorwise:
      return q::dequantize(q::quantize_tensorwise(x, op, rows, cols, q::ElemType::fp8_e4m3fn));
    case Recipe::fp8_rowwise: return q::dequantize(q::quantize_rowwise(x, op, rows, cols, q::ElemType::fp8_e4m3fn));
    case Recipe::fp8_blockwise:
      return q::dequantize(q::quantize_blockwise(x, op, rows, cols, q::ElemType::fp8_e4m3fn));
    case Recipe::mxfp8: return q::dequantize(q::quantize_mx(x, op, rows, cols, q::MxElem::e4m3));
    case Recipe::mxfp4: return q::dequantize(q::quantize_mx(x, op, rows, cols, q::MxElem::e2m1));
  }
  return {};
}

class EmulatedCase final : public Case {
 public:
  EmulatedCase(const CaseContext& ctx, Recipe r) : recipe_(r), seed_(ctx.seed) { in_.s = shape_of(ctx.params); }
  void setup() override {
    in_.fill(seed_);
    const Shape& s = in_.s;
    c_ = memory::Buffer<float>(size_t(s.M * s.N));
    a_ = memory::Buffer<uint16_t>(size_t(s.M * s.K));
    const std::vector<float> b = quantize_decode(recipe_, in_.b.data(), q::Operand::B, s.K, s.N);
    std::vector<uint16_t> b16(b.size());
    for (size_t i = 0; i < b.size(); ++i) b16[i] = q::float_to_bf16(b[i]);
    packed_ = mm::pack_b_bf16(b16.data(), int(s.K), int(s.N));
  }
  void poison() override { talklab::poison(c_.span()); }
  void run() override {
    quantize_activations();
    matmul();
  }
  Accuracy check() override {
    return check_product(in_, c_.data(), false, recipe_ == Recipe::mxfp4 ? kFp4Tolerance : kFp8Tolerance, seed_);
  }
  void add_counters(Counters& out) override {
    out.emplace_back("act_quant_s", median_wall_seconds([&] { quantize_activations(); }, 5));
    out.emplace_back("matmul_s", median_wall_seconds([&] { matmul(); }, 5));
  }

 private:
  // The fused path (kernels/cpu/quant/emulate.h): bit for bit the bf16 of dequantize(quantize_<scheme>(A)).
  void quantize_activations() {
    const Shape& s = in_.s;
    switch (recipe_) {
      case Recipe::fp8_tensorwise:
        return q::quantize_decode_bf16(a_.data(), in_.a.data(), s.M, s.K, q::Scheme::tensorwise, kFp8, isa_);
      case Recipe::fp8_rowwise:
        return q::quantize_decode_bf16(a_.data(), in_.a.data(), s.M, s.K, q::Scheme::rowwise, kFp8, isa_);
      case Recipe::fp8_blockwise:
        return q::quantize_decode_bf16(a_.data(), in_.a.data(), s.M, s.K, q::Scheme::blockwise, kFp8, isa_);
      case Recipe::mxfp8: return q::quantize_decode_bf16(a_.data(), in_.a.data(), s.M, s.K, q::MxElem::e4m3, isa_);
      case Recipe::mxfp4: return q::quantize_decode_bf16(a_.data(), in_.a.data(), s.M, s.K, q::MxElem::e2m1, isa_);
    }
  }
  void matmul() { mm::matmul_bf16(c_.data(), a_.data(), packed_, int(in_.s.M), isa_); }
  static constexpr q::ElemType kFp8 = q::ElemType::fp8_e4m3fn;
  const cpu::Isa isa_ = cpu::best_isa();
  Recipe recipe_;
  uint64_t seed_;
  Inputs in_;
  memory::Buffer<float> c_;
  memory::Buffer<uint16_t> a_;
  mm::PackedBBf16 packed_;
};

}  // namespace

std::vector<Implementation> emulated_implementations() {
  std::vector<Implementation> out;
  for (const RecipeInfo& info : kRecipes) {
    Implementation impl;
    impl.name = info.name;
    impl.description = info.description;
    const double wb = info.weight_bytes_per_element;
    impl.work = [wb](const CaseContext& ctx) { return recipe_work(ctx, 4, wb, 4, "bf16"); };
    impl.skip = [r = info.recipe](const Params& p) -> std::string {
      if (!cpu::cpu_features().avx512_bf16) return "this CPU has no AVX512_BF16 to emulate on";
      const int64_t K = p.integer("K");
      if (r == Recipe::fp8_blockwise && K % 128 != 0) {
        return fmt::format("fp8_blockwise needs K a multiple of 128 (1x128 / 128x128 blocks); K = {}", K);
      }
      return "";
    };
    impl.make = [r = info.recipe](const CaseContext& ctx) -> std::unique_ptr<Case> {
      return std::make_unique<EmulatedCase>(ctx, r);
    };
    out.push_back(std::move(impl));
  }
  return out;
}

}  // namespace talklab::experiments::matmul
