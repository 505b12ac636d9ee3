// CUDA-event timer (see timer.h). Host code against the runtime API: the L2 flush is a cudaMemsetAsync, which
// writes every byte of the buffer through L2 and so evicts whatever the case left there.
#include "harness/cuda/timer.h"

#include <cuda_runtime_api.h>

#include <stdexcept>

#include "harness/cuda/device.h"

namespace talklab::cuda {

namespace {
// Writing twice the L2 size evicts all of it even though lines are not replaced in strict LRU order.
constexpr int64_t kFlushOverL2 = 2;
// When the caller knows no L2 size (0), flush this much: above every current GPU's L2 (H100: 50 MiB).
constexpr int64_t kFallbackFlushBytes = 256ll << 20;

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t as_event(void* e) { return static_cast<cudaEvent_t>(e); }
}  // namespace

EventTimer::EventTimer(void* stream, CacheMode mode, int64_t l2_bytes) : stream_(stream), mode_(mode) {
  // If a later call throws, the destructor does not run: release what was made so far by hand.
  try {
    cudaEvent_t start = nullptr, stop = nullptr;
    check(cudaEventCreate(&start), "cudaEventCreate(start)");
    start_ = start;
    check(cudaEventCreate(&stop), "cudaEventCreate(stop)");
    stop_ = stop;
    if (mode_ == CacheMode::cold) {
      flush_bytes_ = l2_bytes > 0 ? kFlushOverL2 * l2_bytes : kFallbackFlushBytes;
      check(cudaMalloc(&flush_, static_cast<size_t>(flush_bytes_)), "cudaMalloc(L2 flush buffer)");
    }
  } catch (...) {
    if (flush_) cudaFree(flush_);
    if (stop_) cudaEventDestroy(as_event(stop_));
    if (start_) cudaEventDestroy(as_event(start_));
    throw;
  }
}

EventTimer::~EventTimer() {
  // A destructor must not throw; errors here (e.g. a sticky error from a faulted kernel) were or will be
  // reported by the call that met them first.
  if (flush_) cudaFree(flush_);
  if (stop_) cudaEventDestroy(as_event(stop_));
  if (start_) cudaEventDestroy(as_event(start_));
}

double EventTimer::sample(const std::function<void()>& launch) {
  cudaStream_t s = as_stream(stream_);
  if (mode_ == CacheMode::cold) {
    // Enqueued before the start event on the same stream: it completes before the start timestamp is taken.
    flush_value_ = (flush_value_ + 1) & 0xff;
    check(cudaMemsetAsync(flush_, static_cast<int>(flush_value_), static_cast<size_t>(flush_bytes_), s),
          "cudaMemsetAsync(L2 flush buffer)");
  }
  check(cudaEventRecord(as_event(start_), s), "cudaEventRecord(start)");
  launch();
  // A launch that forgot to check its own kernel launch is caught here, named as the case's launch.
  check(cudaGetLastError(), "launch under EventTimer::sample");
  check(cudaEventRecord(as_event(stop_), s), "cudaEventRecord(stop)");
  check(cudaEventSynchronize(as_event(stop_)), "cudaEventSynchronize(stop)");
  float ms = 0.0f;
  check(cudaEventElapsedTime(&ms, as_event(start_), as_event(stop_)), "cudaEventElapsedTime");
  constexpr double kSecondsPerMs = 1e-3;
  return static_cast<double>(ms) * kSecondsPerMs;
}

}  // namespace talklab::cuda
