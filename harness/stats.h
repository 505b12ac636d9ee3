// Statistics of timing samples: medians and spreads are what every table reports.
#pragma once

#include <span>
#include <vector>

namespace talklab {

struct SampleStats {
  double median = 0, min = 0, max = 0, q1 = 0, q3 = 0;
  double rel_spread = 0;  // (q3 - q1) / median: the interquartile range relative to the median
};

// Quantile q in [0, 1] of sorted values, linearly interpolated between order statistics.
double quantile_sorted(std::span<const double> sorted, double q);

// Summary of any (unsorted) samples; all zeros for an empty input.
SampleStats summarize(std::span<const double> samples);

}  // namespace talklab
