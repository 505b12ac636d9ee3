// int4_w4a16: weight-only int4, the decode recipe of GPTQ/AWQ-style checkpoints. Weights (offline, in setup):
// quantize_groupwise to signed int4 with one scale per 128 consecutive k of a column (stored in bf16), packed for
// the kernel (kernels/cpu/matmul/matmul_int4.h). Activations: bf16, converted in setup as for the bf16 recipe (a model
// running in bf16 already has them). The kernel unpacks int4 -> bf16 in registers for vdpbf16ps (AVX-512), or to
// fp32 for FMA (AVX2).
// Memory-bound at M = 1: B is 0.5 + 2 / 128 bytes per element, 3.9x fewer than bf16.
// The group is fixed at 128 (kGroup): the harness's axes belong to the experiment, not to one implementation, and
// K must be a multiple of it (other K are skipped with the reason).
//   bench --filter 'matmul/(int4_w4a16|bf16|torch_bf16)/M=1/' --set M=1 --set K=4096 --set N=14336
#include "experiments/matmul/matmul_int4.h"

#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "experiments/matmul/problem.h"
#include "kernels/cpu/matmul/matmul_int4.h"
#include "kernels/cpu/quant/bf16.h"

namespace talklab::experiments::matmul {
namespace {

namespace mm = talklab::cpu::matmul;

constexpr int kGroup = 128;
constexpr double kScaleBytesPerElement = sizeof(uint16_t) / double(kGroup);  // bf16 scales
constexpr double kCodeBytesPerElement = 0.5;


class Int4Case final : public Case {
 public:
  explicit Int4Case(const CaseContext& ctx) : seed_(ctx.seed), threads_(ctx.threads) { in_.s = shape_of(ctx.params); }
  void setup() override {
    in_.fill(seed_);
    const Shape& s = in_.s;
    c_ = memory::Buffer<float>(size_t(s.M * s.N));
    a_ = memory::Buffer<uint16_t>(in_.a.size());
    for (size_t i = 0; i < a_.size(); ++i) a_[i] = cpu::quant::float_to_bf16(in_.a[i]);
    // Cold weights (problem.h, ColdCopies): a decode step reads them from DRAM.
    mm::PackedBInt4 packed = mm::quantize_pack_b_int4(in_.b.data(), int(s.K), int(s.N), kGroup);
    const size_t bytes = packed.bytes();
    packed_.assign(std::move(packed), bytes);
  }
  void poison() override { talklab::poison(c_.span()); }
  void run() override {
    mm::matmul_int4_w4a16(c_.data(), a_.data(), packed_.next(), int(in_.s.M), cpu::best_isa());
  }
  Accuracy check() override { return check_product(in_, c_.data(), false, kInt4Tolerance, seed_); }
  void add_counters(Counters& out) override {
    add_weight_counters(out, in_.s, [&] { run(); }, packed_.first().bytes(), packed_.count(), threads_);
  }

 private:
  uint64_t seed_;
  int threads_;
  Inputs in_;
  memory::Buffer<float> c_;
  memory::Buffer<uint16_t> a_;
  ColdCopies<mm::PackedBInt4> packed_;
};

}  // namespace

Implementation int4_w4a16_implementation() {
  Implementation impl;
  impl.name = "int4_w4a16";
  impl.description =
      "ours: int4 weights (bf16 scale per 128 along K) unpacked in registers: to bf16 for vdpbf16ps on AVX512_BF16, "
      "else to fp32 for AVX2 FMA";
  impl.work = [](const CaseContext& ctx) {
    return recipe_work(ctx, 2, kCodeBytesPerElement + kScaleBytesPerElement, 4, "bf16");
  };
  impl.skip = [](const Params& p) -> std::string {
    if (std::string why = tuned_cpu_kernels_skip(); !why.empty()) return why;
    const int64_t K = p.integer("K");
    if (K % kGroup != 0) return fmt::format("int4_w4a16 needs K a multiple of its group {}; K = {}", kGroup, K);
    return "";
  };
  impl.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<Int4Case>(ctx); };
  return impl;
}

}  // namespace talklab::experiments::matmul
