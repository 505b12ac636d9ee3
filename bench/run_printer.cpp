#include "bench/run_printer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "bench/format.h"

namespace talklab::bench {
namespace {

std::string disturbed_line(const RunSummary& s, int retries) {
  if (s.disturbed == 0) return "No case was disturbed.";
  return fmt::format("{} case{} disturbed, {} re-run (up to {} times), {} still disturbed{}.", s.disturbed,
                     s.disturbed == 1 ? " was" : "s were", s.rerun, retries, s.still_disturbed,
                     s.still_disturbed > 0 ? " (talklab.time.disturbed_evidence says why)" : "");
}

void print_summary(const std::vector<CaseResult>& results) {
  size_t width = 4;
  for (const auto& r : results) width = std::max(width, r.name.size());
  width = std::min<size_t>(width, 110);
  fmt::print("\n{:<7} {:<{}} {:>11} {:>15} {:>8} {:>11}\n", "status", "case", width, "median", "rate", "roofline",
             "max rel err");
  fmt::print("{}\n", std::string(7 + 1 + width + 12 + 16 + 9 + 12, '-'));
  bool marked = false;
  for (const auto& r : results) {
    const std::string median = r.timing ? format_seconds(r.timing->stats.median) : "-";
    const std::string err = r.accuracy ? fmt::format("{:.1e}", r.accuracy->max_rel_error) : "-";
    const bool disturbed = r.timing && r.timing->disturbed, above = above_roofline(r.roofline_fraction);
    marked = marked || disturbed || above;
    fmt::print("{:<7} {:<{}} {:>11} {:>15} {:>8} {:>11}\n", r.status + (disturbed ? "~" : ""), r.name, width, median,
               format_rate(r), format_fraction(r.roofline_fraction) + (above ? "!" : ""), err);
  }
  if (marked) fmt::print("~ disturbed (its median is suspect; see the live line), ! above the measured roofline\n");
}

// The CPU ceilings, each with how its samples spread; a ceiling no clean burst measured is warned about.
void print_cpu_ceilings(const Roofline& r) {
  const auto spread = [&](const std::string& name, double unit) {
    const CeilingSpread& c = r.spread.at(name);
    if (c.clean == 0) {
      fmt::print(stderr, "bench: warning: no burst of the {} ceiling ran undisturbed; it is the best of disturbed ones "
                         "and the roofline fractions above it are suspect\n", name);
    }
    return fmt::format("best of {} clean of {} samples; median {:.1f}, worst {:.1f}", c.clean, c.samples,
                       c.median / unit, c.worst / unit);
  };
  for (const auto& [name, peak] : r.peak_ops_per_s) {
    fmt::print("  {:<5} {:8.1f} G{}/s ({})\n", name, peak / 1e9, name == "int8" ? "OP" : "FLOP", spread(name, 1e9));
  }
  fmt::print("  copy  {:8.1f} GB/s read + write ({})\n", r.spread.at("copy").best / 1e9, spread("copy", 1e9));
  fmt::print("  triad {:8.1f} GB/s read + write ({})\n", r.spread.at("triad").best / 1e9, spread("triad", 1e9));
  fmt::print("  read  {:8.1f} GB/s read only ({})\n", r.spread.at("read").best / 1e9, spread("read", 1e9));
}

void print_cuda_ceilings(const Roofline& r) {
  for (const auto& [name, peak] : r.peak_ops_per_s) fmt::print("  {:<8} {:8.1f} TFLOP/s\n", name, peak / 1e12);
  fmt::print("  copy     {:8.1f} GB/s (read + write)\n", r.bandwidth_bytes_per_s / 1e9);
}

}  // namespace

void RunPrinter::warning(const std::string& text) { fmt::print(stderr, "bench: warning: {}\n", text); }

void RunPrinter::note(const std::string& text) { fmt::print(stderr, "bench: note: {}\n", text); }

void RunPrinter::measuring_ceilings(Device device, const RunSettings& settings, const GpuInfo& gpu) {
  if (device == Device::cpu) {
    fmt::print("Measuring this machine's CPU roofline with {} threads...\n", settings.threads);
  } else {
    fmt::print("Measuring the GPU roofline ({})...\n", gpu.name);
  }
}

void RunPrinter::ceilings(Device device, const Roofline& roofline) {
  if (device == Device::cpu) {
    print_cpu_ceilings(roofline);
  } else {
    print_cuda_ceilings(roofline);
  }
}

void RunPrinter::started(const RunSettings& settings, size_t cases, const std::filesystem::path& out) {
  fmt::print("Running {} cases{} (profile {}, {} threads, seed {}), writing {}\n", cases,
             settings.passes > 1 ? fmt::format(" in {} passes", settings.passes) : "", settings.profile,
             settings.threads, settings.seed, out.string());
}

void RunPrinter::result(const CaseResult& r, int index, int total) {
  fmt::print("{}\n", live_line(r, index, total));
  std::fflush(stdout);
}

void RunPrinter::finished(const RunSummary& summary, const RunSettings& settings, const std::filesystem::path& out) {
  print_summary(summary.results);
  fmt::print("\n{} ok, {} failed, {} skipped. {}\nResults: {}\n", summary.ok, summary.failed, summary.skipped,
             disturbed_line(summary, settings.retries), std::filesystem::absolute(out).string());
}

}  // namespace talklab::bench
