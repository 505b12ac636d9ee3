// copy_kernel: dst = src, as fast as the memory system allows, for the roofline's bandwidth ceiling.
// Memory-bound: 2 * bytes moved (each byte read once, written once), nothing else.
//
// Shape of the work: the bytes split into [head | body of Vec-wide words | tail]. The head brings dst (and
// therefore src, when both are equally aligned modulo sizeof(Vec)) to a Vec boundary; the body is copied
// with one Vec load and store per element, coalesced across the warp (consecutive threads, consecutive
// words); head + tail are under 2 * sizeof(Vec) bytes and are copied byte by byte by the first threads.
// Grid: persistent, 8 blocks of 256 threads per SM (the 2048 threads an SM holds on Hopper), grid-stride,
// each thread with kUnroll independent 16-byte loads in flight before its first store: on an H100 that is
// 132 * 2048 * 64 B = 17 MB in flight, well over bandwidth x latency (~3.3 TB/s x ~1 us).
#include "kernels/cuda/roofline/copy.h"

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace talklab::cuda {

namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int kBlocksPerSm = 8;  // 8 x 256 = 2048 resident threads, a full Hopper SM
constexpr int kUnroll = 4;       // independent loads in flight per thread per trip
constexpr int kMaxCachedDevices = 64;

// body: n_vec words of Vec starting at byte `head` of both buffers (both Vec-aligned there).
// edges: edge_bytes bytes, the first `head` at [0, head), the rest at [tail_start, ...).
template <typename Vec>
__global__ void __launch_bounds__(kThreadsPerBlock)
    copy_kernel(unsigned char* __restrict__ dst, const unsigned char* __restrict__ src, size_t head, size_t n_vec,
                size_t tail_start, size_t edge_bytes) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t tid = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  Vec* __restrict__ d = reinterpret_cast<Vec*>(dst + head);
  const Vec* __restrict__ s = reinterpret_cast<const Vec*>(src + head);

  size_t i = tid;
  // All kUnroll loads are issued before any store: the stores do not alias the loads (__restrict__), so the
  // loads overlap in the memory system instead of waiting for one another.
  for (; i + (kUnroll - 1) * stride < n_vec; i += kUnroll * stride) {
    Vec v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = s[i + u * stride];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) d[i + u * stride] = v[u];
  }
  for (; i < n_vec; i += stride) d[i] = s[i];

  if (tid < edge_bytes) {
    const size_t b = tid < head ? tid : tail_start + (tid - head);
    dst[b] = src[b];
  }
}

// SM count of the current device, read once per device: the launcher runs between the timer's events, so
// it should do no more host work than it must.
int sm_count_of_current_device() {
  int device = 0;
  detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  static std::atomic<int> cache[kMaxCachedDevices] = {};
  if (device >= 0 && device < kMaxCachedDevices) {
    if (const int cached = cache[device].load(std::memory_order_relaxed); cached > 0) return cached;
  }
  int sms = 0;
  detail::check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
                     "cudaDeviceGetAttribute(cudaDevAttrMultiProcessorCount)");
  if (device >= 0 && device < kMaxCachedDevices) cache[device].store(sms, std::memory_order_relaxed);
  return sms;
}

template <typename Vec>
void launch_with(unsigned char* dst, const unsigned char* src, size_t bytes, cudaStream_t stream) {
  constexpr size_t kWidth = sizeof(Vec);
  const auto dst_addr = reinterpret_cast<uintptr_t>(dst);
  const size_t head_wanted = (kWidth - dst_addr % kWidth) % kWidth;
  const size_t head = head_wanted < bytes ? head_wanted : bytes;
  const size_t n_vec = (bytes - head) / kWidth;
  const size_t tail_start = head + n_vec * kWidth;
  const size_t edge_bytes = bytes - n_vec * kWidth;  // head + tail, < 2 * kWidth <= kThreadsPerBlock

  const size_t blocks_for_work = (n_vec + kThreadsPerBlock - 1) / kThreadsPerBlock;
  const size_t blocks_persistent = static_cast<size_t>(sm_count_of_current_device()) * kBlocksPerSm;
  size_t blocks = blocks_for_work < blocks_persistent ? blocks_for_work : blocks_persistent;
  if (blocks == 0) blocks = 1;  // only edges to copy; block 0 holds the threads that do them

  TALKLAB_LAUNCH(static_cast<unsigned>(blocks), kThreadsPerBlock, 0, stream, copy_kernel<Vec>)(dst, src, head, n_vec,
                                                                                             tail_start, edge_bytes);
  detail::check_launch("copy_kernel");
}

}  // namespace

void launch_copy(void* dst, const void* src, size_t bytes, void* stream) {
  if (bytes == 0) return;
  if (dst == nullptr || src == nullptr) throw std::invalid_argument("launch_copy: null pointer with bytes > 0");
  const auto d = reinterpret_cast<uintptr_t>(dst);
  const auto s = reinterpret_cast<uintptr_t>(src);
  // Overlap would make the result depend on which thread ran first.
  if (d < s + bytes && s < d + bytes) throw std::invalid_argument("launch_copy: dst and src overlap");

  auto* dst_bytes = static_cast<unsigned char*>(dst);
  const auto* src_bytes = static_cast<const unsigned char*>(src);
  auto st = static_cast<cudaStream_t>(stream);
  // The widest access for which dst and src share their alignment: after the same head both are aligned.
  const uintptr_t misaligned = (d ^ s) & 15u;
  if (misaligned == 0) {
    launch_with<uint4>(dst_bytes, src_bytes, bytes, st);
  } else if ((misaligned & 7u) == 0) {
    launch_with<uint2>(dst_bytes, src_bytes, bytes, st);
  } else if ((misaligned & 3u) == 0) {
    launch_with<unsigned int>(dst_bytes, src_bytes, bytes, st);
  } else if ((misaligned & 1u) == 0) {
    launch_with<unsigned short>(dst_bytes, src_bytes, bytes, st);
  } else {
    launch_with<unsigned char>(dst_bytes, src_bytes, bytes, st);
  }
}

}  // namespace talklab::cuda
