#include "harness/memory.h"

#include <malloc.h>

#include <atomic>
#include <climits>
#include <cstdlib>

namespace talklab::memory {
namespace {

std::atomic<int64_t> g_current{0};
std::atomic<int64_t> g_peak{0};

// The header in front of each block holds its requested size; it is a whole alignment unit so the block
// itself stays 64-byte aligned.
static_assert(kAlignment >= sizeof(size_t));

void raise_peak(int64_t now) {
  int64_t seen = g_peak.load(std::memory_order_relaxed);
  while (now > seen && !g_peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

void* allocate(size_t bytes) {
  void* raw = nullptr;
  if (posix_memalign(&raw, kAlignment, kAlignment + bytes) != 0 || raw == nullptr) throw std::bad_alloc();
  *static_cast<size_t*>(raw) = bytes;
  raise_peak(g_current.fetch_add(int64_t(bytes), std::memory_order_relaxed) + int64_t(bytes));
  return static_cast<char*>(raw) + kAlignment;
}

void deallocate(void* pointer) {
  if (pointer == nullptr) return;
  void* raw = static_cast<char*>(pointer) - kAlignment;
  g_current.fetch_sub(int64_t(*static_cast<size_t*>(raw)), std::memory_order_relaxed);
  std::free(raw);
}

int64_t current_bytes() { return g_current.load(std::memory_order_relaxed); }
int64_t peak_bytes() { return g_peak.load(std::memory_order_relaxed); }
void reset_peak() { g_peak.store(g_current.load(std::memory_order_relaxed), std::memory_order_relaxed); }

}  // namespace talklab::memory

#include <fstream>
#include <string>

namespace talklab::memory {
bool fix_malloc_thresholds() {
  constexpr int kMmapThreshold = 32 << 20;  // glibc's maximum on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return mmap_ok && trim_ok;
}

int64_t available_system_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t value = 0;
  std::string unit;
  while (in >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}
}  // namespace talklab::memory
