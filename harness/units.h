// Human-readable times and sizes, the same on a live line, in a comparison and on a report page.
#pragma once

#include <optional>
#include <string>

namespace talklab {

std::string format_seconds(double seconds);  // "812 ns", "3.41 ms", "1.20 s"
std::string format_bytes(double bytes);      // "512 B", "3.0 MiB", "1.25 GiB"
// A case's rate: its operations where it declares some ("2.41 TFLOP/s", "245.1 GFLOP/s"; OP/s for an int8 peak), else
// its bytes ("38.2 GB/s"), else "-". Empty or non-positive rates count as undeclared.
std::string format_rate(std::optional<double> tera_ops_per_s, std::optional<double> gb_per_s, const std::string& peak);

}  // namespace talklab
