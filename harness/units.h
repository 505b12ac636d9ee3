// Human-readable times and sizes, the same on a live line, in a comparison and on a report page.
#pragma once

#include <string>

namespace talklab {

std::string format_seconds(double seconds);  // "812 ns", "3.41 ms", "1.20 s"
std::string format_bytes(double bytes);      // "512 B", "3.0 MiB", "1.25 GiB"

}  // namespace talklab
