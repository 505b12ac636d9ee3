// talklab::simt: runs our CUDA kernels' own source on the CPU, one CUDA thread per fiber, so that their indexing,
// fragment layouts, shared-memory staging and launch arithmetic are tested on machines without a GPU (this
// project's CI and the sessions that wrote the kernels). It is a test tool, not a second implementation: the
// kernel files are compiled unchanged by the host compiler with this header force-included (-include), and the
// launch macro, PTX wrappers and shared-memory helper they already use (kernels/cuda/launch.h, ptx.cuh) switch to
// the functions below when TALKLAB_SIMT is defined.
//
// Model. A launch runs its blocks one after another; a block's threads are fibers (ucontext) on the calling OS
// thread, switched only where CUDA threads synchronize: __syncthreads, and the warp collectives (__syncwarp,
// shuffles, votes, ldmatrix, mma.sync), which complete when all 32 lanes of the warp have arrived. So within a
// block, every ordering the kernel does not forbid by a barrier is one the emulator may take; what it does NOT
// find is a missing barrier that the fixed round-robin order happens to satisfy (compute-sanitizer racecheck on a
// GPU does that). It does find, with a message naming block, thread and call:
//   - a barrier or collective some threads never reach (deadlock), or warp lanes in different collectives;
//   - partial-warp masks (our kernels use only full warps; emulating sub-warp masks is not attempted);
//   - ldmatrix / cp.async addresses outside the launch's dynamic shared memory or not 16-byte aligned;
//   - reads of shared memory the kernel never wrote: dynamic shared memory starts as 0xff bytes (NaN in bf16,
//     fp16 and float), and cp.async data lands only when the issuing thread waits for its group, as on hardware.
// Arithmetic: mma.sync m16n8k16 multiplies the 16-bit operands exactly and accumulates in double, rounded once
// to float (hardware keeps ~fp32 partial sums: the two differ by far less than the tests' bf16/fp16 tolerances).
// Host math (expf, exp2f, tanhf) stands in for the device's approximations, likewise well inside tolerance.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <source_location>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace talklab::simt {

struct ThreadContext {
  uint3 thread_idx{};
  uint3 block_idx{};
  dim3 block_dim;
  dim3 grid_dim;
};

// The running CUDA thread's indices; calling it outside a launch throws std::logic_error.
const ThreadContext& this_thread();
// "kernel, block (x,y,z) thread (x,y,z)" of the running CUDA thread, or "" outside a launch (for diagnostics).
std::string where();

// Runs `body` as every thread of every block of the grid; throws std::runtime_error naming the kernel, the block
// and the thread when the emulator detects one of the errors above (the launch is abandoned at that point).
void run_grid(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem_bytes, const std::function<void()>& body);

// What TALKLAB_LAUNCH(grid, block, smem, stream, kernel)(args...) becomes: arguments converted to the kernel's
// parameter types once, as a launch copies them, then every thread calls the kernel with a copy.
template <class... Params>
class Launch {
 public:
  Launch(void (*kernel)(Params...), const char* name, dim3 grid, dim3 block, size_t smem)
      : kernel_(kernel), name_(name), grid_(grid), block_(block), smem_(smem) {}
  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params), "kernel launched with the wrong number of arguments");
    const std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
    run_grid(name_, grid_, block_, smem_, [&] { std::apply(kernel_, params); });
  }

 private:
  void (*kernel_)(Params...);
  const char* name_;
  dim3 grid_, block_;
  size_t smem_;
};
template <class... Params>
Launch<Params...> make_launch(void (*kernel)(Params...), const char* name, dim3 grid, dim3 block, size_t smem) {
  return Launch<Params...>(kernel, name, grid, block, smem);
}

// Shared-memory bank conflicts of ldmatrix, summed over launches on this OS thread since the last reset: each
// 8-row matrix is one 128-byte phase; rows at different addresses in the same 16-byte bank group (address / 16
// mod 8) cost one extra wavefront each beyond the first. A conflict-free swizzle keeps extra_wavefronts at 0.
struct SharedMemoryStats {
  uint64_t ldmatrix_phases = 0;
  uint64_t ldmatrix_extra_wavefronts = 0;
};
SharedMemoryStats shared_memory_stats();
void reset_shared_memory_stats();

// Coalescing of global loads, per source line (cp.async as one site), while tracking is on (it is off by default:
// it costs a hash lookup per load). A warp-wide load is the same site's n-th execution in each lane that executes
// it; it touches `sectors` 32-byte sectors where its distinct bytes need `ideal_sectors` at best. Equal counts mean
// fully coalesced. Recorded by __ldg, __ldcs and cp.async (plain dereferences are not seen).
struct GlobalLoadSite {
  std::string file;  // "cp.async" for every cp.async
  unsigned line = 0;
  uint64_t requests = 0, sectors = 0, ideal_sectors = 0;
};
void track_global_loads(bool on);  // also clears what was recorded
std::vector<GlobalLoadSite> global_load_stats();

// ---- what the kernels call (through the CUDA spellings below and kernels/cuda/ptx.cuh) ---------------------------
void sync_threads();
void sync_warp(unsigned mask);
uint64_t shfl_xor(unsigned mask, uint64_t bits, int lane_mask, int width);
unsigned ballot(unsigned mask, bool predicate);
void* dynamic_shared();
uint32_t shared_offset(const void* p);  // __cvta_generic_to_shared: only dynamic shared memory is addressable
void ldmatrix_x4(uint32_t (&r)[4], uint32_t address, bool transpose);
enum class MmaInput { bf16, fp16 };
void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, MmaInput input);
void cp_async_16(uint32_t dst, const void* src, bool valid);
void record_global_load(const void* p, size_t bytes, const std::source_location& site);
void cp_async_commit();
void cp_async_wait(int pending_groups);

}  // namespace talklab::simt

// ---- the CUDA built-ins our kernels use, spelled as in CUDA ---------------------------------------------------------
#define threadIdx (::talklab::simt::this_thread().thread_idx)
#define blockIdx (::talklab::simt::this_thread().block_idx)
#define blockDim (::talklab::simt::this_thread().block_dim)
#define gridDim (::talklab::simt::this_thread().grid_dim)
#define __launch_bounds__(...)
// Static shared memory: one copy for the block that runs (blocks run one after another).
#undef __shared__
#define __shared__ static

inline void __syncthreads() { ::talklab::simt::sync_threads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::talklab::simt::sync_warp(mask); }

template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = ::talklab::simt::shfl_xor(mask, bits, lane_mask, width);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}
inline int __any_sync(unsigned mask, int predicate) { return ::talklab::simt::ballot(mask, predicate != 0) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
  return ::talklab::simt::ballot(mask, predicate != 0) == mask;
}
inline unsigned __ballot_sync(unsigned mask, int predicate) { return ::talklab::simt::ballot(mask, predicate != 0); }

// One OS thread runs every fiber and switches only at the calls above, so these read-modify-writes are atomic.
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = old + v;
  return old;
}
inline unsigned atomicMax(unsigned* p, unsigned v) {
  const unsigned old = *p;
  if (v > old) *p = v;
  return old;
}

template <class T>
T __ldg(const T* p, const std::source_location& site = std::source_location::current()) {
  ::talklab::simt::record_global_load(p, sizeof(T), site);
  return *p;
}
template <class T>
T __ldcs(const T* p, const std::source_location& site = std::source_location::current()) {
  ::talklab::simt::record_global_load(p, sizeof(T), site);
  return *p;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline size_t __cvta_generic_to_shared(const void* p) { return ::talklab::simt::shared_offset(p); }

// CUDA's integer min / max overloads (the device code calls them unqualified).
template <class A, class B>
constexpr auto min(A a, B b) -> std::common_type_t<A, B> {
  return b < a ? b : a;
}
template <class A, class B>
constexpr auto max(A a, B b) -> std::common_type_t<A, B> {
  return a < b ? b : a;
}
