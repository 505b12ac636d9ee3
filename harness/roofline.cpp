#include "harness/roofline.h"

#include <algorithm>

namespace talklab {

std::optional<double> Roofline::attainable_ops_per_s(const Work& work) const {
  std::optional<double> best;
  if (!work.peak.empty()) {
    const auto it = peak_ops_per_s.find(work.peak);
    if (it == peak_ops_per_s.end()) return std::nullopt;
    best = it->second;
  }
  if (work.bytes > 0 && bandwidth_bytes_per_s > 0) {
    if (work.peak.empty()) return bandwidth_bytes_per_s;  // a memory-only case: its "rate" is bytes/s
    const double memory_bound = work.flops / work.bytes * bandwidth_bytes_per_s;
    best = std::min(*best, memory_bound);
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
