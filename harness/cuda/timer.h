// The CUDA-event timer every CUDA case is timed with: one sample = events recorded on the case's stream
// around its launch, so the time is what the device spent, not what the host waited. Cold mode overwrites a
// buffer of twice the L2 size before each sample, outside the timed region, so the case starts with none of
// its data in L2; hot mode runs samples back to back with whatever the previous one left in L2.
// Resolution: cudaEventElapsedTime is good to about 0.5 us, so a case shorter than a few microseconds is
// dominated by launch latency and event resolution: time a loop of launches inside one sample instead.
// No CUDA types here (the stream is a void* holding a cudaStream_t).
#pragma once

#include <cstdint>
#include <functional>

namespace talklab::cuda {

enum class CacheMode { hot, cold };

class EventTimer {
 public:
  // stream: a cudaStream_t, nullptr for the default stream. l2_bytes: the device's L2 size (DeviceInfo), used
  // only in cold mode to size the flush buffer. Throws std::runtime_error when a CUDA call fails.
  EventTimer(void* stream, CacheMode mode, int64_t l2_bytes);
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  // One sample, in seconds. launch() must enqueue its work on stream() and nowhere else (work on another
  // stream is not ordered between the events). Synchronizes on the stop event before returning.
  double sample(const std::function<void()>& launch);

  void* stream() const { return stream_; }
  CacheMode mode() const { return mode_; }

 private:
  void* stream_ = nullptr;
  CacheMode mode_ = CacheMode::hot;
  void* start_ = nullptr;  // cudaEvent_t
  void* stop_ = nullptr;   // cudaEvent_t
  void* flush_ = nullptr;  // device buffer, cold mode only
  int64_t flush_bytes_ = 0;
  unsigned flush_value_ = 0;  // changes every sample so no layer can skip a write of unchanged bytes
};

}  // namespace talklab::cuda
