// Human-readable times and sizes: see units.h.
#include "harness/units.h"

#include <fmt/format.h>

namespace talklab {

std::string format_seconds(double s) {
  if (s < 1e-6) return fmt::format("{:.0f} ns", s * 1e9);
  if (s < 1e-3) return fmt::format("{:.2f} us", s * 1e6);
  if (s < 1.0) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.3f} s", s);
}

std::string format_bytes(double b) {
  if (b < 1024) return fmt::format("{:.0f} B", b);
  if (b < 1024.0 * 1024) return fmt::format("{:.1f} KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return fmt::format("{:.1f} MiB", b / 1024 / 1024);
  return fmt::format("{:.2f} GiB", b / 1024 / 1024 / 1024);
}

std::string format_rate(std::optional<double> tera_ops_per_s, std::optional<double> gb_per_s, const std::string& peak) {
  if (tera_ops_per_s && *tera_ops_per_s > 0) {
    const char* unit = peak == "int8" ? "OP/s" : "FLOP/s";
    const double t = *tera_ops_per_s;
    return t >= 1 ? fmt::format("{:.2f} T{}", t, unit) : fmt::format("{:.1f} G{}", t * 1e3, unit);
  }
  if (gb_per_s && *gb_per_s > 0) return fmt::format("{:.1f} GB/s", *gb_per_s);
  return "-";
}

}  // namespace talklab
