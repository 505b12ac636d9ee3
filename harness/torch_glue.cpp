#include "harness/torch_glue.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <omp.h>
#include <torch/version.h>

#include <cstring>
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
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  c10::DataPtr allocate(size_t bytes) override {
#else
  c10::DataPtr allocate(size_t bytes) const override {
#endif
    void* p = memory::allocate(bytes);
    return {p, p, &delete_tracked, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &delete_tracked; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
#endif
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
    // Index 0 is StatType::AGGREGATE (all pools); the enum moved namespaces between LibTorch 1.x and 2.x.
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

}  // namespace talklab
