#include "harness/torch_glue.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <omp.h>
#include <torch/version.h>

#include <cstring>
#include <regex>
#include <sstream>
#if TALKLAB_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "harness/memory.h"

namespace talklab {
namespace {

void delete_tracked(void* pointer) { memory::deallocate(pointer); }

class TrackingTorchAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) override {
    void* p = memory::allocate(bytes);
    return {p, p, &delete_tracked, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &delete_tracked; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
};

}  // namespace

void install_torch_allocator() {
  static TrackingTorchAllocator allocator;
  // Priority above the default CPU allocator's, so ours wins whatever the registration order.
  c10::SetAllocator(c10::DeviceType::CPU, &allocator, /*priority=*/100);
}

void set_threads(int threads) {
  static bool interop_set = false;
  at::set_num_threads(threads);
  if (!interop_set) {
    at::set_num_interop_threads(threads);  // may be called once per process, before any inter-op work
    interop_set = true;
  }
  omp_set_num_threads(threads);
}

int torch_threads() { return at::get_num_threads(); }

void reset_torch_cuda_peak() {
#if TALKLAB_TORCH_CUDA
  if (at::hasCUDA()) c10::cuda::CUDACachingAllocator::resetPeakStats(0);
#endif
}

std::optional<int64_t> torch_cuda_peak_bytes() {
#if TALKLAB_TORCH_CUDA
  if (at::hasCUDA()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    // Index 0 is StatType::AGGREGATE (all pools).
    return stats.allocated_bytes[0].peak;
  }
#endif
  return std::nullopt;
}

std::optional<int64_t> torch_cuda_current_bytes() {
#if TALKLAB_TORCH_CUDA
  if (at::hasCUDA()) return c10::cuda::CUDACachingAllocator::getDeviceStats(0).allocated_bytes[0].current;
#endif
  return std::nullopt;
}

void* torch_cuda_current_stream() {
#if TALKLAB_TORCH_CUDA
  if (at::hasCUDA()) return static_cast<void*>(c10::cuda::getCurrentCUDAStream(0).stream());
#endif
  return nullptr;
}

void torch_cuda_synchronize() {
#if TALKLAB_TORCH_CUDA
  if (at::hasCUDA()) c10::cuda::getCurrentCUDAStream(0).synchronize();
#endif
}

std::string torch_version() { return TORCH_VERSION; }
std::string torch_config() { return at::show_config(); }
bool torch_has_cuda() { return at::hasCUDA(); }

namespace {
// The rest of the first line of `text` that starts with `prefix` (after leading blanks and "- "), or null.
nlohmann::json line_after(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(" \t-");
    if (start != std::string::npos && line.compare(start, prefix.size(), prefix) == 0) {
      return line.substr(start + prefix.size());
    }
  }
  return nullptr;
}

// KEY=VALUE from show_config()'s "Build settings:" line (values may hold spaces, never ", KEY=").
nlohmann::json build_setting(const std::string& config, const std::string& key) {
  const std::regex setting("[ ,:]" + key + "=([^,]*)");
  std::smatch m;
  if (std::regex_search(config, m, setting)) return m[1].str();
  return nullptr;
}
}  // namespace

nlohmann::json torch_build_info() {
  const std::string config = at::show_config();
  const std::string parallel = at::get_parallel_info();
  nlohmann::json mkl = line_after(config, "Intel(R) oneAPI Math Kernel Library ");
  if (mkl.is_null()) mkl = line_after(config, "Intel(R) Math Kernel Library ");
  return {{"version", TORCH_VERSION},
          {"cpu_capability", at::get_cpu_capability()},
          {"blas", build_setting(config, "BLAS_INFO")},
          {"lapack", build_setting(config, "LAPACK_INFO")},
          {"mkl", mkl},
          {"onednn", line_after(config, "Intel(R) MKL-DNN ")},
          {"openmp", line_after(config, "OpenMP ")},
          {"parallel_backend", line_after(parallel, "ATen parallel backend: ")},
          {"intra_op_threads", at::get_num_threads()},
          {"interop_threads", at::get_num_interop_threads()},
          {"cuda", at::hasCUDA()}};
}

}  // namespace talklab
