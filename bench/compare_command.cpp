// bench compare BASE.json NEW.json: the command line and the three renderings (text, markdown, json) of
// harness/compare.h's verdicts, and the files github-action-benchmark reads. Rules: docs/compare.md.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "bench/commands.h"
#include "bench/format.h"
#include "harness/compare.h"
#include "harness/config.h"
#include "harness/result.h"
#include "harness/stats.h"

namespace talklab::bench {
namespace {

using nlohmann::json;
using talklab::CaseComparison;
using talklab::Comparison;

std::string seconds_or_dash(const std::optional<double>& s) { return s ? format_seconds(*s) : "-"; }
std::string ratio_or_dash(const std::optional<double>& r) { return r ? fmt::format("{:.3f}", *r) : "-"; }
std::string p_or_dash(const std::optional<double>& p) { return p ? fmt::format("{:.2g}", *p) : "-"; }

// The time verdict, or the statuses when a side did not run; flagged when the case regressed in any way
// (the reasons are listed under the table).
std::string verdict_of(const CaseComparison& c) {
  std::string v = c.base_status != "ok" || c.new_status != "ok" ? c.base_status + " -> " + c.new_status : c.verdict;
  return c.regressions.empty() ? v : v + " [regression]";
}

// A member of an object, or null: entries of a foreign or damaged file may lack any of them.
const json& member(const json& j, const char* key) {
  static const json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

std::string geomean_line(const Comparison& c) {
  if (!c.geomean_ratio) return "Geometric mean of new/base time: no case timed in both";
  const double g = *c.geomean_ratio;
  return fmt::format("Geometric mean of new/base time over {} cases: {:.3f} ({:.1f}% {})", c.geomean_cases, g,
                     std::abs(g - 1) * 100, g >= 1 ? "slower" : "faster");
}

std::string result_line(const Comparison& c) {
  const int n = c.regression_count();
  return n == 0 ? std::string("Result: no regression")
                : fmt::format("Result: {} regression{} (exit 1)", n, n == 1 ? "" : "s");
}

// Lines "NAME: reason" for one kind of finding, over every case.
std::vector<std::string> findings(const Comparison& c, std::vector<std::string> CaseComparison::*which) {
  std::vector<std::string> out;
  for (const CaseComparison& k : c.cases) {
    for (const std::string& reason : k.*which) out.push_back(fmt::format("{}: {}", k.name, reason));
  }
  return out;
}

std::string to_text(const Comparison& c) {
  size_t width = 4;
  for (const auto& k : c.cases) width = std::max(width, k.name.size());  // no cap: a cut name is ambiguous
  std::string out = fmt::format("BASE {}\nNEW  {}\n\n{:<{}} {:>11} {:>11} {:>9} {:>8}  {}\n", c.base_path, c.new_path,
                                "case", width, "base", "new", "new/base", "p", "verdict");
  out += std::string(width + 54, '-') + "\n";
  for (const auto& k : c.cases) {
    out += fmt::format("{:<{}} {:>11} {:>11} {:>9} {:>8}  {}\n", k.name, width, seconds_or_dash(k.base_median_s),
                       seconds_or_dash(k.new_median_s), ratio_or_dash(k.ratio), p_or_dash(k.p_value), verdict_of(k));
  }
  const auto section = [&](const std::string& title, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    out += fmt::format("\n{} ({}):\n", title, lines.size());
    for (const auto& l : lines) out += "  " + l + "\n";
  };
  section("Regressions", findings(c, &CaseComparison::regressions));
  section("Warnings", findings(c, &CaseComparison::warnings));
  section("Improvements and changes", findings(c, &CaseComparison::notes));
  section("Added in NEW", c.added);
  section("Removed from NEW", c.removed);
  return out + "\n" + geomean_line(c) + "\n" + result_line(c) + "\n";
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char ch : s) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

std::string to_markdown(const Comparison& c) {
  std::string out = fmt::format("## bench compare\n\nBASE `{}`, NEW `{}`; threshold {}%, alpha {}\n\n", c.base_path,
                                c.new_path, c.options.threshold_pct, c.options.alpha);
  out += "| case | base | new | new/base | p | verdict |\n|---|---:|---:|---:|---:|---|\n";
  for (const auto& k : c.cases) {
    out += fmt::format("| `{}` | {} | {} | {} | {} | {} |\n", md_escape(k.name), seconds_or_dash(k.base_median_s),
                       seconds_or_dash(k.new_median_s), ratio_or_dash(k.ratio), p_or_dash(k.p_value),
                       md_escape(verdict_of(k)));
  }
  const auto section = [&](const std::string& title, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    out += fmt::format("\n**{} ({})**\n\n", title, lines.size());
    for (const auto& l : lines) out += "- " + l + "\n";
  };
  section("Regressions", findings(c, &CaseComparison::regressions));
  section("Warnings", c.warnings);
  section("Case warnings", findings(c, &CaseComparison::warnings));
  section("Improvements and changes", findings(c, &CaseComparison::notes));
  section("Added in NEW", c.added);
  section("Removed from NEW", c.removed);
  return out + "\n" + geomean_line(c) + "\n\n**" + result_line(c) + "**\n";
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json to_json(const Comparison& c) {
  json cases = json::array();
  for (const auto& k : c.cases) {
    cases.push_back({{"name", k.name}, {"base_status", k.base_status}, {"new_status", k.new_status},
                     {"base_median_s", optional_json(k.base_median_s)}, {"new_median_s", optional_json(k.new_median_s)},
                     {"base_samples", k.base_samples}, {"new_samples", k.new_samples},
                     {"ratio", optional_json(k.ratio)}, {"p_value", optional_json(k.p_value)},
                     {"p_plain", optional_json(k.p_plain)}, {"verdict", k.verdict},
                     {"regressions", k.regressions}, {"warnings", k.warnings}, {"notes", k.notes}});
  }
  return {{"base", c.base_path},
          {"new", c.new_path},
          {"options", {{"threshold_pct", c.options.threshold_pct}, {"alpha", c.options.alpha},
                       {"fail_on_time_ratio", optional_json(c.options.fail_on_time_ratio)},
                       {"strict", c.options.strict}, {"allow_different_machines", c.options.allow_different_machines}}},
          {"cases", cases},
          {"added", c.added},
          {"removed", c.removed},
          {"geomean_ratio", optional_json(c.geomean_ratio)},
          {"geomean_cases", c.geomean_cases},
          {"warnings", c.warnings},
          {"regressions", c.regression_count()},
          {"exit_code", compare_exit_code(c)}};
}

// github-action-benchmark's customSmallerIsBetter: [{name, unit, value, range, extra}], one per case ok in
// NEW; range is half the interquartile range of the samples, in the same unit.
json github_smaller(const ResultDoc& now, const std::string& unit) {
  const double scale = unit == "ns" ? 1e9 : unit == "us" ? 1e6 : unit == "ms" ? 1e3 : 1.0;
  json out = json::array();
  for (const json& e : now.entries) {
    const json& t = member(e, "talklab");
    const json& time = member(t, "time");
    if (member(t, "status") != "ok" || !member(time, "median_s").is_number()) continue;
    std::vector<double> samples;
    for (const json& v : member(time, "samples_s")) {
      if (v.is_number()) samples.push_back(v.get<double>());
    }
    const SampleStats s = summarize(samples);
    out.push_back({{"name", member(e, "name")},
                   {"unit", unit},
                   {"value", time["median_s"].get<double>() * scale},
                   {"range", fmt::format("± {:.4g}", (s.q3 - s.q1) / 2 * scale)},
                   {"extra", fmt::format("{} samples, IQR/median {:.1f}%, {}", samples.size(), s.rel_spread * 100,
                                         time.value("stop_reason", "?"))}});
  }
  return out;
}

// customBiggerIsBetter: TFLOP/s (TOP/s for int8) where the case declares FLOPs, else GB/s from its bytes.
json github_bigger(const ResultDoc& now) {
  json out = json::array();
  for (const json& e : now.entries) {
    const json& t = member(e, "talklab");
    const json& rates = member(t, "rates");
    const json& flops = member(member(t, "work"), "flops");
    if (member(t, "status") != "ok") continue;
    const bool by_flops = flops.is_number() && flops.get<double>() > 0 && member(rates, "tflops").is_number();
    const json& rate = member(rates, by_flops ? "tflops" : "gbps");
    if (!rate.is_number() || rate.get<double>() <= 0) continue;
    const std::string unit = !by_flops ? "GB/s" : member(member(t, "work"), "peak") == "int8" ? "TOP/s" : "TFLOP/s";
    json entry = {{"name", member(e, "name")}, {"unit", unit}, {"value", rate}};
    if (const json& f = member(rates, "roofline_fraction"); f.is_number()) {
      entry["extra"] = fmt::format("{:.0f}% of this machine's roofline", f.get<double>() * 100);
    }
    out.push_back(entry);
  }
  return out;
}

}  // namespace

void add_compare_options(CLI::App& cmd, CompareFlags& o) {
  cmd.add_option("base", o.base, "the result file to compare against")->required();
  cmd.add_option("new", o.now, "the result file being judged")->required();
  cmd.add_option("--threshold", o.threshold_pct,
                 "percent: slower means new/base - 1 > PCT/100, faster means base/new - 1 > PCT/100")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--alpha", o.alpha, "significance level of the two-sided Mann-Whitney U test")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--fail-on-time-ratio", o.fail_on_time_ratio,
                 "a significant slowdown fails only when new/base exceeds R (default: any beyond the threshold)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--fail-time-floor", o.fail_time_floor,
                 "seconds: a slowdown of a case whose BASE median is shorter is a warning, not a failure")
      ->check(CLI::PositiveNumber);
  cmd.add_flag("--strict", o.strict, "a case ok in BASE but skipped in NEW is a regression, not a warning");
  cmd.add_flag("--allow-different-machines", o.allow_different_machines,
               "compare runs whose CPU model or GPU name differ (times are then not comparable)");
  cmd.add_option("--format", o.format, "what to print: text, markdown or json")
      ->check(CLI::IsMember({"text", "markdown", "json"}))
      ->capture_default_str();
  cmd.add_option("--markdown", o.markdown_out, "also write the markdown report to FILE (e.g. a CI job summary)");
  cmd.add_option("--json", o.json_out, "also write the json report to FILE");
  cmd.add_option("--github-benchmark", o.github_smaller,
                 "write NEW's times for github-action-benchmark (customSmallerIsBetter) to FILE");
  cmd.add_option("--github-benchmark-bigger", o.github_bigger,
                 "write NEW's TFLOP/s or GB/s for github-action-benchmark (customBiggerIsBetter) to FILE");
  cmd.add_option("--unit", o.unit, "time unit of --github-benchmark: ns, us, ms or s")
      ->check(CLI::IsMember({"ns", "us", "ms", "s"}))
      ->capture_default_str();
}

int compare_command(const CompareFlags& f) {
  const ResultDoc base = load_result(f.base);
  const ResultDoc now = load_result(f.now);
  CompareOptions options;
  options.threshold_pct = f.threshold_pct;
  options.alpha = f.alpha;
  options.fail_on_time_ratio = f.fail_on_time_ratio;
  options.fail_time_floor_s = f.fail_time_floor;
  options.strict = f.strict;
  options.allow_different_machines = f.allow_different_machines;
  const Comparison c = compare_results(base, now, options);
  for (const std::string& w : c.warnings) fmt::print(stderr, "bench compare: warning: {}\n", w);

  if (f.format == "json") {
    fmt::print("{}\n", to_json(c).dump(2));
  } else {
    fmt::print("{}", f.format == "markdown" ? to_markdown(c) : to_text(c));
  }
  // An output that cannot be written is bad input (exit 2), never to be read as a regression (exit 1).
  const auto write = [](const std::string& path, const std::string& text) {
    if (path.empty()) return;
    try {
      write_file_atomically(path, text);
    } catch (const std::exception& e) {
      throw InputError(e.what());
    }
  };
  write(f.markdown_out, to_markdown(c));
  write(f.json_out, to_json(c).dump(2) + "\n");
  write(f.github_smaller, github_smaller(now, f.unit).dump(2) + "\n");
  write(f.github_bigger, github_bigger(now).dump(2) + "\n");
  return compare_exit_code(c);
}

}  // namespace talklab::bench
