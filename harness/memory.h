// Memory is measured, not estimated: every CPU buffer of a case, ours and LibTorch's, comes from this
// tracking allocator, which keeps the live byte count and its peak exactly (atomics; a size header in front
// of each block). install_torch_allocator() (harness/torch_glue.h) puts it under LibTorch's CPU tensors.
// Not seen: memory a library mallocs on its own (OpenBLAS/oneDNN scratch), noted in docs/results.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>

namespace talklab::memory {

inline constexpr size_t kAlignment = 64;  // a cache line, and LibTorch's own CPU alignment

void* allocate(size_t bytes);    // throws std::bad_alloc; bytes == 0 gives a valid unique pointer
void deallocate(void* pointer);  // nullptr is ignored

int64_t current_bytes();  // live tracked bytes (requested sizes, not counting headers)
int64_t peak_bytes();     // highest current_bytes() since the last reset_peak()
void reset_peak();        // peak := current

// An owned, tracked, 64-byte aligned array of trivially copyable T. Contents start uninitialized.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t count) : data_(static_cast<T*>(allocate(count * sizeof(T)))), size_(count) {}
  ~Buffer() { deallocate(data_); }
  Buffer(Buffer&& other) noexcept : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      deallocate(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  std::span<T> span() { return {data_, size_}; }
  std::span<const T> span() const { return {data_, size_}; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace talklab::memory

namespace talklab::memory {
// MemAvailable from /proc/meminfo (0 when unknown): what a case may allocate before the kernel's
// out-of-memory killer, rather than an exception, would stop it.
int64_t available_system_bytes();

// Fixes glibc malloc's thresholds for the run (mmap above 32 MiB, the most it allows; never trim the heap) so
// that a case which frees and re-allocates the same tensors every run reuses heap pages instead of mapping and
// faulting them in again. Left dynamic, glibc moves both thresholds as blocks are freed, so the same case
// alternated between two speeds depending on what ran before it (a training step: 0.42 s or 0.63 s). Returns
// false if glibc refused a setting. Called once by `bench run` before the first case.
bool fix_malloc_thresholds();
}  // namespace talklab::memory
