// The LibTorch CUDA baselines (experiments/*/*_torch_cuda.cpp) as the host sees them: declared on the cuda device in
// every build, with the reason they cannot run where LibTorch has no CUDA, their declared work, and the host-side
// rules that skip a point before anything is allocated. What they compute is checked by bench's own gate on a GPU.
#include <gtest/gtest.h>
#include <torch/version.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "experiments/attention/attention_torch.h"
#include "experiments/matmul/matmul_torch.h"
#include "harness/registry.h"

namespace talklab {
namespace {

const Implementation& impl(const std::string& experiment, const std::string& name) {
  const Experiment* e = registry().find(experiment);
  if (e == nullptr) throw std::runtime_error("no experiment " + experiment);
  for (const Implementation& i : e->implementations) {
    if (i.name == name) return i;
  }
  throw std::runtime_error("no implementation " + experiment + "/" + name);
}

Params attention_point(const std::string& mask, int64_t seq, int64_t batch, const std::string& dtype) {
  Params p;
  p.set("mask", mask);
  p.set("seq", seq);
  p.set("window", int64_t(512));
  p.set("heads", int64_t(16));
  p.set("kv_heads", int64_t(16));
  p.set("head_dim", int64_t(128));
  p.set("batch", batch);
  p.set("dtype", dtype);
  return p;
}

Params matmul_point(int64_t M, int64_t N, int64_t K) {
  Params p;
  p.set("M", M);
  p.set("N", N);
  p.set("K", K);
  return p;
}

constexpr int64_t kGiB = int64_t(1) << 30;

TEST(TorchCudaBaselines, AreDeclaredOnCudaInEveryBuildWithAReasonWhenTheyCannotRun) {
  const std::pair<const char*, const char*> names[] = {{"attention", "torch_eager_cuda"},
                                                       {"attention", "torch_sdpa_cuda"},
                                                       {"matmul", "torch_bf16_cuda"},
                                                       {"matmul", "torch_scaled_mm"},
                                                       {"matmul", "torch_scaled_mm_rowwise"}};
  for (const auto& [experiment, name] : names) {
    const Implementation& i = impl(experiment, name);
    EXPECT_EQ(i.device, Device::cuda) << name;
    EXPECT_FALSE(i.description.empty()) << name;
    if (!i.make) {
      EXPECT_FALSE(i.missing_reason.empty()) << name;
    }
#if !TALKLAB_TORCH_CUDA
    EXPECT_FALSE(static_cast<bool>(i.make)) << name << " has a factory in a build whose LibTorch has no CUDA";
    EXPECT_EQ(i.missing_reason, "LibTorch was built without CUDA") << name;
#elif TALKLAB_HAVE_CUDA
    EXPECT_TRUE(static_cast<bool>(i.make)) << name << " has no factory in a CUDA build against LibTorch " << TORCH_VERSION;
#endif
  }
}

TEST(TorchCudaBaselines, ScaledMmWorkCountsFp8OperandsAndABf16Output) {
  const Params p = matmul_point(16, 14336, 4096);
  const CaseContext ctx{p, Device::cuda, 1, 1};
  const double mk = 16.0 * 4096, kn = 4096.0 * 14336, mn = 16.0 * 14336;
  const Work tensorwise = impl("matmul", "torch_scaled_mm").work(ctx);
  EXPECT_DOUBLE_EQ(tensorwise.flops, 2.0 * 16 * 14336 * 4096);
  EXPECT_DOUBLE_EQ(tensorwise.bytes, mk + kn + 2.0 * mn);
  EXPECT_EQ(tensorwise.peak, "fp8_e4m3");
  // Rowwise also reads one float32 scale per row of A (16) and per column of B (14336).
  EXPECT_DOUBLE_EQ(impl("matmul", "torch_scaled_mm_rowwise").work(ctx).bytes, mk + kn + 2.0 * mn + 4.0 * (16 + 14336));
  const Work bf16 = impl("matmul", "torch_bf16_cuda").work(ctx);
  EXPECT_DOUBLE_EQ(bf16.bytes, 2.0 * (mk + kn + mn));
  EXPECT_EQ(bf16.peak, "bf16");
}

TEST(TorchCudaBaselines, ScaledMmIsSkippedOffSixteenAlignedKAndNAndBeforeFp8Hardware) {
  using experiments::matmul::scaled_mm_skip;
  EXPECT_EQ(scaled_mm_skip(matmul_point(1, 14336, 4096), 90), "");
  EXPECT_EQ(scaled_mm_skip(matmul_point(3, 14336, 4096), 0), "");  // no device: the harness says why
  EXPECT_NE(scaled_mm_skip(matmul_point(16, 14336, 4100), 90).find("K = 4100"), std::string::npos);
  EXPECT_NE(scaled_mm_skip(matmul_point(16, 14330, 4096), 90).find("N = 14330"), std::string::npos);
  EXPECT_NE(scaled_mm_skip(matmul_point(16, 14336, 4096), 80).find("8.0"), std::string::npos);
  EXPECT_EQ(scaled_mm_skip(matmul_point(16, 14336, 4096), 89), "");
}

TEST(TorchCudaBaselines, EagerScoresAreSkippedWhenTheyCannotFitTheDevice) {
  using experiments::attention::torch_cuda_memory_skip;
  using experiments::attention::torch_cuda_peak_estimate;
  // 16 heads of 16384 x 16384 bf16 scores: 8 GiB per tensor, three of them (scores, softmax, a temporary).
  const Params long_bf16 = attention_point("sliding_window", 16384, 1, "bf16");
  const double scores = 16.0 * 16384 * 16384 * 2;
  EXPECT_GT(torch_cuda_peak_estimate(long_bf16, false), 3 * scores);
  EXPECT_LT(torch_cuda_peak_estimate(long_bf16, false), 3.2 * scores);
  EXPECT_EQ(torch_cuda_memory_skip(long_bf16, false, 80 * kGiB), "");
  const std::string reason = torch_cuda_memory_skip(long_bf16, false, 24 * kGiB);
  EXPECT_NE(reason.find("GiB"), std::string::npos) << reason;
  EXPECT_EQ(torch_cuda_memory_skip(long_bf16, false, 0), "");  // no device: the harness says why
  // SDPA never materializes the scores: its dense mask is (S, S), shared by every (b, h).
  EXPECT_LT(torch_cuda_peak_estimate(long_bf16, true), 0.2 * scores);
  EXPECT_EQ(torch_cuda_memory_skip(long_bf16, true, 24 * kGiB), "");
  // Without a mask tensor (flash) only the inputs and the output are left.
  const Params full = attention_point("full", 16384, 1, "bf16");
  EXPECT_DOUBLE_EQ(torch_cuda_peak_estimate(full, true), 4.0 * 16384 * 16 * 128 * 2);
}

TEST(TorchCudaBaselines, SdpaSkipsWhatNoEnabledFusedKernelCanRun) {
  const Implementation& sdpa = impl("attention", "torch_sdpa_cuda");
  EXPECT_NE(sdpa.skip(attention_point("causal+softcap", 1024, 16, "bf16")).find("softcap"), std::string::npos);
  EXPECT_EQ(impl("attention", "torch_eager_cuda").skip(attention_point("causal+softcap", 1024, 16, "bf16")), "");
  // Math is off: head dims the flash and memory-efficient kernels refuse are skipped before setup.
  Params p = attention_point("causal", 1024, 16, "bf16");
  EXPECT_EQ(sdpa.skip(p), "");
  p.set("head_dim", int64_t(60));
  EXPECT_NE(sdpa.skip(p).find("head_dim = 60"), std::string::npos);
  p.set("head_dim", int64_t(264));
  EXPECT_NE(sdpa.skip(p).find("head_dim = 264"), std::string::npos);
  EXPECT_EQ(impl("attention", "torch_eager_cuda").skip(p), "");
}

}  // namespace
}  // namespace talklab
