// The correctness gate: compares an output with a float64 reference.
//
//   max_abs_error = max |out - ref|
//   max_rel_error = max |out - ref| / max |ref|      (normwise, so near-zero reference values do not blow up)
//   sqnr_db       = 10 log10( sum ref^2 / sum (out - ref)^2 )   (+inf when exact)
//
// A NaN or infinity in the output fails, and names the first such element: outputs are poisoned with NaN
// before a checked run, so an element the kernel never wrote is caught the same way. Tolerances are per
// dtype and live with each experiment, beside a comment that justifies them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace talklab {

struct Tolerance {
  double max_rel_error = 0;  // normwise, see above
  double min_sqnr_db = -std::numeric_limits<double>::infinity();
};

struct Accuracy {
  double max_abs_error = 0;
  double max_rel_error = 0;
  double sqnr_db = std::numeric_limits<double>::infinity();
  int64_t checked_elements = 0;
  bool passed = false;
  std::string error;  // why it failed; empty when it passed
};

// Streams (out, ref) pairs; call finish() for the verdict. Lets a check cover several outputs (O and LSE,
// or sampled rows) without copying them into one buffer.
class AccuracyAccumulator {
 public:
  void add(double out, double ref, const char* what = "output");
  Accuracy finish(const Tolerance& tolerance) const;

 private:
  double max_abs_ = 0, max_ref_ = 0, sum_ref2_ = 0, sum_err2_ = 0;
  int64_t count_ = 0;
  std::string first_bad_;
};

template <class T, class ToDouble>
Accuracy compare(std::span<const T> out, std::span<const double> ref, const Tolerance& tolerance, ToDouble to_double) {
  AccuracyAccumulator acc;
  if (out.size() != ref.size()) {
    Accuracy a;
    a.error = "output has " + std::to_string(out.size()) + " elements, reference " + std::to_string(ref.size());
    return a;
  }
  for (size_t i = 0; i < out.size(); ++i) acc.add(to_double(out[i]), ref[i]);
  return acc.finish(tolerance);
}

template <class T>
Accuracy compare(std::span<const T> out, std::span<const double> ref, const Tolerance& tolerance) {
  return compare(out, ref, tolerance, [](T v) { return double(v); });
}

// Fills with quiet NaN.
void poison(std::span<float> values);
void poison(std::span<double> values);
// bf16 and fp16 stored as raw 16-bit patterns: both use 0x7FC0 / 0x7E00 quiet NaNs.
void poison_bf16(std::span<uint16_t> values);

}  // namespace talklab
