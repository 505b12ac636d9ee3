#include "harness/check.h"

#include <fmt/format.h>

#include <algorithm>

namespace talklab {

void AccuracyAccumulator::add(double out, double ref, const char* what) {
  if (!std::isfinite(out) && first_bad_.empty()) {
    first_bad_ = fmt::format("{} element {} is {} (reference {:.6g}): unwritten or invalid", what, count_,
                             std::isnan(out) ? "NaN" : "infinite", ref);
  }
  const double err = std::abs(out - ref);
  if (std::isfinite(err)) {
    max_abs_ = std::max(max_abs_, err);
    sum_err2_ += err * err;
  }
  if (std::isfinite(ref)) {
    max_ref_ = std::max(max_ref_, std::abs(ref));
    sum_ref2_ += ref * ref;
  }
  ++count_;
}

Accuracy AccuracyAccumulator::finish(const Tolerance& tolerance) const {
  Accuracy a;
  a.checked_elements = count_;
  a.max_abs_error = max_abs_;
  a.max_rel_error = max_ref_ > 0 ? max_abs_ / max_ref_ : max_abs_;
  a.sqnr_db = sum_err2_ > 0 ? 10.0 * std::log10(sum_ref2_ / sum_err2_) : std::numeric_limits<double>::infinity();
  if (count_ == 0) {
    a.error = "nothing was checked";
  } else if (!first_bad_.empty()) {
    a.error = first_bad_;
  } else if (a.max_rel_error > tolerance.max_rel_error) {
    a.error = fmt::format("max relative error {:.3g} exceeds the tolerance {:.3g}", a.max_rel_error,
                          tolerance.max_rel_error);
  } else if (a.sqnr_db < tolerance.min_sqnr_db) {
    a.error = fmt::format("SQNR {:.2f} dB is below the floor {:.2f} dB", a.sqnr_db, tolerance.min_sqnr_db);
  }
  a.passed = a.error.empty();
  return a;
}

void poison(std::span<float> values) {
  std::fill(values.begin(), values.end(), std::numeric_limits<float>::quiet_NaN());
}
void poison(std::span<double> values) {
  std::fill(values.begin(), values.end(), std::numeric_limits<double>::quiet_NaN());
}
void poison_bf16(std::span<uint16_t> values) { std::fill(values.begin(), values.end(), uint16_t(0x7FC0)); }

}  // namespace talklab
