// The CUDA runtime calls our kernels' launchers, the harness's device probe and DeviceBuffer make, answered on the
// CPU for the SIMT emulator's build (see simt.h). "Device" memory is host memory, copies are memcpy, every launch
// has already finished when it returns, so synchronizing is a no-op. The emulated device reports itself by name,
// so a test log says plainly that no GPU ran it. Linked instead of cudart: a call this file does not define is a
// link error, not a silent no-op.
//
// Each allocation ends where an inaccessible page begins (its size rounded up to 16 bytes, so it is 16-byte
// aligned, not 256 as on a GPU): a kernel that reads or writes past the end of a buffer by a 16-byte unit or more
// faults at once, and the SIGSEGV handler below names the buffer and the emulated thread before the test dies.
#include <cuda_runtime_api.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "kernels/simt/simt.h"

namespace {

cudaError_t g_last_error = cudaSuccess;

struct Mapping {
  char* base;    // of the mmap: the buffer's pages, then the guard page
  size_t bytes;  // mapped, guard included
  size_t size;   // as requested
};

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

std::mutex g_mutex;
std::map<uintptr_t, Mapping>& mappings() {  // by the pointer cudaMalloc returned
  static std::map<uintptr_t, Mapping> m;
  return m;
}

void on_segv(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const auto& [ptr, m] : mappings()) {
    const auto guard = reinterpret_cast<uintptr_t>(m.base) + m.bytes - page_size();
    if (addr >= guard && addr < guard + page_size()) {
      const std::string where = talklab::simt::where();
      std::fprintf(stderr,
                   "simt: out-of-bounds device memory access: %zu bytes past the end of a %zu-byte cudaMalloc buffer "
                   "at %p%s%s\n",
                   size_t(addr - ptr) - m.size, m.size, reinterpret_cast<void*>(ptr), where.empty() ? "" : ", in ",
                   where.c_str());
      break;
    }
  }
  signal(sig, SIG_DFL);  // the fault repeats on return and ends the process as a crash
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, nullptr);
  });
}

cudaError_t fail(cudaError_t e) {
  g_last_error = e;
  return e;
}

}  // namespace

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  install_handler();
  const size_t page = page_size(), used = (size + 15) / 16 * 16;
  const size_t bytes = (used + page - 1) / page * page + page;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
  char* guard = static_cast<char*>(base) + bytes - page;
  mprotect(guard, page, PROT_NONE);
  *ptr = guard - used;
  const std::lock_guard<std::mutex> lock(g_mutex);
  mappings()[reinterpret_cast<uintptr_t>(*ptr)] = {static_cast<char*>(base), bytes, size};
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  const std::lock_guard<std::mutex> lock(g_mutex);
  const auto it = mappings().find(reinterpret_cast<uintptr_t>(ptr));
  if (it == mappings().end()) return fail(cudaErrorInvalidValue);
  munmap(it->second.base, it->second.bytes);
  mappings().erase(it);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind) {
  if (count > 0 && (dst == nullptr || src == nullptr)) return fail(cudaErrorInvalidValue);
  if (count > 0) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count > 0 && ptr == nullptr) return fail(cudaErrorInvalidValue);
  if (count > 0) std::memset(ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) { return cudaMemset(ptr, value, count); }

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  // Nothing to report truthfully about "device" memory that is the host heap: a fixed 16 GiB of each.
  *free_bytes = *total_bytes = size_t(16) << 30;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return g_last_error; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaError (SIMT emulator)";
  }
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "error in the SIMT emulator's runtime";
  }
}

cudaError_t cudaFuncSetAttribute(const void*, cudaFuncAttribute, int) { return cudaSuccess; }

cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  *version = 0;  // no driver is involved
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, "talklab SIMT emulator (CPU, kernels/simt)", sizeof prop->name - 1);
  prop->major = 9;  // what the kernels are written for: sm_90
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  prop->l2CacheSize = 0;
  prop->totalGlobalMem = size_t(16) << 30;
  prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->warpSize = 32;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  // One "SM" (launchers that size persistent grids by it get a small one); clocks and bus width: none to report.
  *value = attr == cudaDevAttrMultiProcessorCount ? 1 : 0;
  return cudaSuccess;
}

}  // extern "C"
