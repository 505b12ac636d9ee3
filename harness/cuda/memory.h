// Device memory for the harness without CUDA types: how much the device has free (cudaMemGetInfo), and an
// owning device buffer so host-compiled harness and experiment code can hand device pointers to kernels.
// LibTorch's caching-allocator peaks are read elsewhere, in code built against a CUDA LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace talklab::cuda {

struct DeviceMemory {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};

// Of the current device. Throws std::runtime_error when the runtime call fails (e.g. no GPU).
DeviceMemory device_memory();

// Blocks until all work on the current device is done; throws with the first asynchronous error.
void synchronize_device();

// An owning cudaMalloc'd buffer (256-byte aligned, like every cudaMalloc). Move-only. Copies are synchronous
// and ordered after all prior work on every stream (cudaMemcpy semantics).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }

  // dst/src offsets are in bytes into this buffer; out-of-range requests throw std::out_of_range.
  void copy_from_host(const void* src, size_t bytes, size_t offset = 0);
  void copy_to_host(void* dst, size_t bytes, size_t offset = 0) const;
  void fill_bytes(unsigned char value);  // every byte; 0xff poisons float32/bf16/fp16 data with NaN

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace talklab::cuda
