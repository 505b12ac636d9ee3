// The GPU's ceilings, measured at the start of a run that has CUDA cases: a cuBLASLt product per dtype at 8192^3
// (the practical compute ceiling) and a device-to-device copy of 2 x 1 GiB (bytes read plus written), medians of
// hot event-timed samples after one warm-up (handles, heuristics, first touch). Compiled only into CUDA builds
// (CMakeLists.txt).
#include <exception>
#include <utility>

#include "experiments/roofline/ceilings.h"
#include "harness/cuda/memory.h"
#include "harness/cuda/timer.h"
#include "harness/sampler.h"
#include "kernels/cuda/matmul/cublaslt_matmul.h"
#include "kernels/cuda/roofline/copy.h"

namespace talklab::experiments::roofline {
namespace {

constexpr int kSamples = 10;

template <class Launch>
double median_event_seconds(cuda::EventTimer& timer, Launch&& launch) {
  return median_seconds([&] { return timer.sample(launch); }, 1, kSamples);
}

}  // namespace

Roofline measure_cuda_ceilings(int64_t l2_bytes) {
  Roofline r;
  r.threads = 1;
  r.isa = "cuda";
  cuda::EventTimer timer(nullptr, cuda::CacheMode::hot, l2_bytes);
  constexpr int64_t n = 8192;
  const std::pair<cuda::LtDtype, const char*> dtypes[] = {{cuda::LtDtype::fp32, "fp32"},
                                                          {cuda::LtDtype::tf32, "tf32"},
                                                          {cuda::LtDtype::bf16, "bf16"},
                                                          {cuda::LtDtype::fp16, "fp16"},
                                                          {cuda::LtDtype::fp8_e4m3, "fp8_e4m3"}};
  for (const auto& [dtype, name] : dtypes) {
    try {
      cuda::LtMatmul mm(dtype, n, n, n, nullptr);
      mm.fill_random(1);
      r.peak_ops_per_s[name] = mm.flops() / median_event_seconds(timer, [&] { mm.run(); });
    } catch (const std::exception&) {
      // This GPU or CUDA version has no such product (fp8 before compute capability 8.9): no ceiling for it.
    }
  }
  const size_t bytes = size_t(1) << 30;
  cuda::DeviceBuffer src(bytes), dst(bytes);
  src.fill_bytes(0x5A);
  r.bandwidth_bytes_per_s =
      2.0 * double(bytes) /
      median_event_seconds(timer, [&] { cuda::launch_copy(dst.data(), src.data(), bytes, nullptr); });
  return r;
}

}  // namespace talklab::experiments::roofline
