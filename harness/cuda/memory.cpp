// Device memory queries and the owning device buffer (see memory.h). Host code against the runtime API.
#include "harness/cuda/memory.h"

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "harness/cuda/device.h"

namespace talklab::cuda {

DeviceMemory device_memory() {
  size_t free_bytes = 0, total_bytes = 0;
  check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  return {static_cast<int64_t>(free_bytes), static_cast<int64_t>(total_bytes)};
}

void synchronize_device() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;  // cudaMalloc(0) would return nullptr anyway; no call, no error
  check(cudaMalloc(&ptr_, bytes), ("cudaMalloc(" + std::to_string(bytes) + " bytes)").c_str());
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);  // no throw from a destructor; a sticky error surfaces at the next checked call
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

namespace {
void check_range(size_t offset, size_t bytes, size_t size, const char* what) {
  if (offset > size || bytes > size - offset) {
    throw std::out_of_range(std::string(what) + ": offset " + std::to_string(offset) + " + " +
                            std::to_string(bytes) + " bytes exceeds the buffer's " + std::to_string(size));
  }
}
}  // namespace

void DeviceBuffer::copy_from_host(const void* src, size_t bytes, size_t offset) {
  check_range(offset, bytes, bytes_, "DeviceBuffer::copy_from_host");
  if (bytes == 0) return;
  check(cudaMemcpy(static_cast<char*>(ptr_) + offset, src, bytes, cudaMemcpyHostToDevice),
        "cudaMemcpy(host to device)");
}

void DeviceBuffer::copy_to_host(void* dst, size_t bytes, size_t offset) const {
  check_range(offset, bytes, bytes_, "DeviceBuffer::copy_to_host");
  if (bytes == 0) return;
  check(cudaMemcpy(dst, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost),
        "cudaMemcpy(device to host)");
}

void DeviceBuffer::fill_bytes(unsigned char value) {
  if (bytes_ == 0) return;
  check(cudaMemset(ptr_, value, bytes_), "cudaMemset");
}

}  // namespace talklab::cuda
