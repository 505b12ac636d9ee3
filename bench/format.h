// Human-readable numbers for the live lines and tables.
#pragma once

#include <optional>
#include <string>

#include "harness/result.h"
#include "harness/units.h"  // format_seconds, format_bytes

namespace talklab::bench {

std::string format_rate(const CaseResult& r);     // "245.1 GFLOP/s", "38.2 GB/s", or "-"
std::string format_fraction(const std::optional<double>& f);  // "47%" or "-"

// One line per finished case: status, name, median, rate, roofline fraction, error or reason.
std::string live_line(const CaseResult& r, int index, int total);

}  // namespace talklab::bench
