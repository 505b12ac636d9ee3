// GPU ceilings: a large cuBLASLt product per dtype (the rate a tuned library reaches, which is the
// practical compute ceiling) and a device-to-device copy (bytes read plus written). Compiled in every
// build; the cases themselves exist only when this build has CUDA.
#include <fmt/format.h>

#include "experiments/roofline/roofline_cases.h"
#if TALKLAB_HAVE_CUDA
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>

#include "harness/cuda/device.h"
#include "kernels/cuda/matmul/cublaslt_matmul.h"
#include "kernels/cuda/roofline/copy.h"
#endif

namespace talklab::experiments::roofline {
namespace {

// 8192^3 fills an H100 for milliseconds: large enough that launch and tail effects are noise.
constexpr int64_t kMatmulSize = 8192;

struct LtCeiling {
  const char* ceiling;
  const char* dtype;  // the roofline key the rate is filed under
};
constexpr LtCeiling kLtCeilings[] = {{"cublaslt_fp32", "fp32"},
                                     {"cublaslt_tf32", "tf32"},
                                     {"cublaslt_bf16", "bf16"},
                                     {"cublaslt_fp16", "fp16"},
                                     {"cublaslt_fp8", "fp8_e4m3"}};

bool is_lt_ceiling(const std::string& c) {
  for (const auto& l : kLtCeilings) {
    if (c == l.ceiling) return true;
  }
  return false;
}

size_t copy_bytes(const Params& p) { return size_t(p.integer("buffer_mib")) * 1024 * 1024; }

// The GPU ceilings do not use the CPU's axes: one case each, at the axes' "all"/"best" values.
bool gpu_point(const Params& p) { return p.str("cores") == "all" && p.str("isa") == "best"; }

#if TALKLAB_HAVE_CUDA
cuda::LtDtype lt_dtype(const std::string& ceiling) {
  if (ceiling == "cublaslt_fp32") return cuda::LtDtype::fp32;
  if (ceiling == "cublaslt_tf32") return cuda::LtDtype::tf32;
  if (ceiling == "cublaslt_bf16") return cuda::LtDtype::bf16;
  if (ceiling == "cublaslt_fp16") return cuda::LtDtype::fp16;
  return cuda::LtDtype::fp8_e4m3;
}

class LtCase final : public Case {
 public:
  explicit LtCase(const CaseContext& ctx)
      : mm_(lt_dtype(ctx.params.str("ceiling")), kMatmulSize, kMatmulSize, kMatmulSize, nullptr), seed_(ctx.seed) {}
  void setup() override { mm_.fill_random(seed_); }
  void poison() override { mm_.poison_output(); }
  void run() override { mm_.run(); }
  // A float64 dot product for sampled output elements (the full product would take minutes on the host).
  Accuracy check() override {
    constexpr int kSamples = 64;
    const double tolerance = cuda::lt_error_tolerance(mm_.dtype());
    Accuracy a;
    a.max_rel_error = mm_.max_rel_error_sampled(kSamples);
    a.max_abs_error = std::numeric_limits<double>::quiet_NaN();  // not measured: the sampler gives a relative error
    a.sqnr_db = std::numeric_limits<double>::quiet_NaN();
    a.checked_elements = kSamples;
    if (!std::isfinite(a.max_rel_error)) {
      a.error = "NaN or infinity in the sampled output (unwritten or invalid)";
    } else if (a.max_rel_error > tolerance) {
      a.error = fmt::format("sampled max relative error {:.3g} exceeds the tolerance {:.3g}", a.max_rel_error, tolerance);
    }
    a.passed = a.error.empty();
    return a;
  }

 private:
  cuda::LtMatmul mm_;
  uint64_t seed_;
};

class CopyCase final : public Case {
 public:
  explicit CopyCase(const CaseContext& ctx) : bytes_(copy_bytes(ctx.params)), seed_(ctx.seed) {}
  ~CopyCase() override {
    cudaFree(src_);
    cudaFree(dst_);
  }
  void setup() override {
    host_.resize(bytes_);
    std::mt19937_64 rng(seed_);
    for (auto& b : host_) b = std::byte(rng() | 1);  // never zero
    cuda::check(cudaMalloc(&src_, bytes_), "cudaMalloc(src)");
    cuda::check(cudaMalloc(&dst_, bytes_), "cudaMalloc(dst)");
    cuda::check(cudaMemcpy(src_, host_.data(), bytes_, cudaMemcpyHostToDevice), "cudaMemcpy(src)");
  }
  void poison() override { cuda::check(cudaMemset(dst_, 0, bytes_), "cudaMemset(dst)"); }
  void run() override { cuda::launch_copy(dst_, src_, bytes_, nullptr); }
  Accuracy check() override {
    std::vector<std::byte> back(bytes_);
    cuda::check(cudaMemcpy(back.data(), dst_, bytes_, cudaMemcpyDeviceToHost), "cudaMemcpy(dst)");
    AccuracyAccumulator acc;
    for (size_t i = 0; i < bytes_; ++i) acc.add(double(back[i]), double(host_[i]), "copied byte");
    return acc.finish(Tolerance{0.0});
  }

 private:
  size_t bytes_;
  uint64_t seed_;
  std::vector<std::byte> host_;
  void* src_ = nullptr;
  void* dst_ = nullptr;
};
#endif

}  // namespace

std::vector<std::string> cuda_ceilings() {
  std::vector<std::string> out;
  for (const auto& l : kLtCeilings) out.emplace_back(l.ceiling);
  out.emplace_back("d2d_copy");
  return out;
}

Work cuda_work(const CaseContext& ctx) {
  const std::string& c = ctx.params.str("ceiling");
  if (c == "d2d_copy") return Work{0, 2.0 * double(copy_bytes(ctx.params)), ""};
  for (const auto& l : kLtCeilings) {
    if (c == l.ceiling) {
      const double n = double(kMatmulSize);
      return Work{2 * n * n * n, 0, l.dtype};
    }
  }
  return Work{};
}

std::vector<Implementation> cuda_implementations() {
  Implementation lt;
  lt.name = "cublaslt";
  lt.provider = Provider::vendor_library;
  lt.device = Device::cuda;
  lt.description = "cuBLASLt product, 8192 x 8192 x 8192, per dtype";
  lt.applies = [](const Params& p) { return gpu_point(p) && is_lt_ceiling(p.str("ceiling")); };
  lt.missing_reason = "this build has no CUDA code (configure with -DTALKLAB_CUDA=ON where nvcc is installed)";

  Implementation copy;
  copy.name = "cuda_copy";
  copy.device = Device::cuda;
  copy.description = "device-to-device copy kernel, 16-byte accesses";
  copy.applies = [](const Params& p) { return gpu_point(p) && p.str("ceiling") == "d2d_copy"; };
  copy.missing_reason = lt.missing_reason;
#if TALKLAB_HAVE_CUDA
  lt.skip = [](const Params& p) -> std::string {
    if (p.str("ceiling") != "cublaslt_fp8") return "";
    const cuda::DeviceInfo d = cuda::probe_device();
    if (d.available && d.cc_major * 10 + d.cc_minor < 89) {
      return fmt::format("fp8 matmuls need compute capability 8.9 or newer; {} is {}.{}", d.name, d.cc_major, d.cc_minor);
    }
    return "";
  };
  lt.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<LtCase>(ctx); };
  copy.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<CopyCase>(ctx); };
#endif
  return {std::move(lt), std::move(copy)};
}

}  // namespace talklab::experiments::roofline
