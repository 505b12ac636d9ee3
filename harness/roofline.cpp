#include "harness/roofline.h"

#include <algorithm>

namespace talklab {

double Roofline::bandwidth_for(const Work& work) const {
  if (work.bandwidth.empty()) return bandwidth_bytes_per_s;
  if (work.bandwidth == "read") return read_bandwidth_bytes_per_s;
  return 0;
}

std::optional<double> Roofline::attainable_ops_per_s(const Work& work) const {
  std::optional<double> best;
  if (!work.peak.empty()) {
    const auto it = peak_ops_per_s.find(work.peak);
    if (it != peak_ops_per_s.end()) {
      best = it->second;
    } else if (work.bandwidth.empty()) {
      return std::nullopt;
    }
    // Else the dtype has no instruction whose peak this machine measures (bf16 and int8 dots on AVX2) but the work
    // declares the stream it is bound by: the memory bound alone, an upper bound on what it can attain, so the
    // fraction never flatters it.
  }
  // A work bound by a bandwidth this machine did not measure (the read stream on a GPU) gets no fraction rather
  // than one against another ceiling.
  const double bandwidth = bandwidth_for(work);
  if (work.bytes > 0 && bandwidth <= 0 && !work.bandwidth.empty()) return std::nullopt;
  if (work.bytes > 0 && bandwidth > 0) {
    if (work.peak.empty()) return bandwidth;  // a memory-only case: its "rate" is bytes/s
    const double memory_bound = work.flops / work.bytes * bandwidth;
    best = best ? std::min(*best, memory_bound) : memory_bound;
  }
  return best;
}

std::optional<double> Roofline::fraction(const Work& work, double seconds) const {
  if (seconds <= 0) return std::nullopt;
  const auto attainable = attainable_ops_per_s(work);
  if (!attainable || *attainable <= 0) return std::nullopt;
  const double achieved = work.peak.empty() ? work.bytes / seconds : work.flops / seconds;
  return achieved / *attainable;
}

}  // namespace talklab
