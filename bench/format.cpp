#include "bench/format.h"

#include <fmt/format.h>

#include <cmath>

#include "harness/roofline.h"

namespace talklab::bench {

std::string format_rate(const CaseResult& r) {
  if (!r.timing || r.timing->stats.median <= 0) return "-";
  const double t = r.timing->stats.median;
  return talklab::format_rate(r.work.flops / t / 1e12, r.work.bytes / t / 1e9, r.work.peak);
}

std::string format_fraction(const std::optional<double>& f) {
  return f ? fmt::format("{:.0f}%", *f * 100) : std::string("-");
}

std::string live_line(const CaseResult& r, int index, int total) {
  const int width = int(std::to_string(total).size());
  std::string head = fmt::format("[{:>{}}/{}] {:<7} {}", index, width, total, r.status, r.name);
  if (r.status != "ok") return fmt::format("{}\n          {}", head, r.reason);
  std::string err = "-";
  if (r.accuracy) err = fmt::format("{:.1e}", r.accuracy->max_rel_error);
  const Timing& t = *r.timing;
  std::string samples = fmt::format("{} samples", t.samples_s.size());
  if (t.dropped > 0) samples += fmt::format(", {} preempted dropped", t.dropped);
  if (t.pass_medians_s.size() > 1) samples += fmt::format(", median of {} attempts' medians", t.pass_medians_s.size());
  if (!r.earlier_attempts.empty()) {
    const size_t n = r.earlier_attempts.size();
    samples += fmt::format(", {} disturbed attempt{} left out", n, n == 1 ? "" : "s");
  }
  std::string line =
      fmt::format("{}\n          {:>11}  {:>15}  roofline {:>4}  peak mem {:>9}  max rel err {}  ({}, {})", head,
                  format_seconds(t.stats.median), format_rate(r), format_fraction(r.roofline_fraction),
                  r.peak_bytes ? format_bytes(double(*r.peak_bytes)) : std::string("-"), err, samples, t.stop_reason);
  if (above_roofline(r.roofline_fraction)) {
    line += fmt::format("\n          ABOVE ROOFLINE: more than {:.0f}% of the measured ceiling (data served from cache "
                        "beats the memory ceiling, or the ceiling was measured low, or the declared work is wrong)",
                        kAboveRooflineFlag * 100);
  }
  if (t.disturbed) line += "\n          DISTURBED: " + t.disturbed_evidence;
  return line;
}

}  // namespace talklab::bench
