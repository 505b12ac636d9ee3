// bench compare BASE.json NEW.json: the command line and the three renderings (text, markdown, json) of
// harness/compare.h's verdicts, the files github-action-benchmark reads, and --confirm's re-run of the slower
// cases (a child `bench run` of this very binary). Rules: docs/compare.md.
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>

#include "bench/commands.h"
#include "bench/format.h"
#include "harness/compare.h"
#include "harness/config.h"
#include "harness/context.h"
#include "harness/dashboards.h"
#include "harness/json_access.h"
#include "harness/machine.h"
#include "harness/result.h"
#include "harness/stats.h"

extern char** environ;

namespace talklab::bench {
namespace {

using nlohmann::json;
using talklab::CaseComparison;
using talklab::Comparison;

std::string seconds_or_dash(const std::optional<double>& s) { return s ? format_seconds(*s) : "-"; }
std::string ratio_or_dash(const std::optional<double>& r) { return r ? fmt::format("{:.3f}", *r) : "-"; }
std::string p_or_dash(const std::optional<double>& p) { return p ? fmt::format("{:.2g}", *p) : "-"; }

bool confirmed(const CaseComparison& c) { return c.confirmation && c.confirmation->verdict == "slower"; }

// The time verdict, or the statuses when a side did not run; flagged when the case regressed in any way
// (the reasons are listed under the table).
std::string verdict_of(const CaseComparison& c) {
  std::string v = c.base_status != "ok" || c.new_status != "ok" ? c.base_status + " -> " + c.new_status : c.verdict;
  if (confirmed(c)) v += ", confirmed";
  return c.regressions.empty() ? v : v + " [regression]";
}

// What the reader must know before reading the table's ratios: what they compare, and what was re-run.
std::vector<std::string> header_lines(const Comparison& c) {
  std::vector<std::string> out;
  if (c.normalized_by_roofline) {
    out.push_back("Different machines: times are compared as fractions of each run's own measured roofline "
                  "(new/base is base fraction / new fraction)");
  }
  if (c.confirm_runs > 0) {
    int tried = 0, yes = 0, no = 0;
    for (const CaseComparison& k : c.cases) {
      tried += k.confirmation || k.verdict == "slower" ? 1 : 0;
      yes += confirmed(k) ? 1 : 0;
      no += k.verdict == "not confirmed" ? 1 : 0;
    }
    if (tried == 0) {
      out.push_back(fmt::format("Confirmation (--confirm {}): no case was slower, nothing re-run", c.confirm_runs));
    } else {
      out.push_back(fmt::format("Slower cases re-run by this build ({} passes): {} of {} confirmed, {} not confirmed{}",
                                c.confirm_runs, yes, tried, no,
                                tried - yes - no > 0 ? fmt::format(", {} kept unconfirmed", tried - yes - no) : ""));
    }
  }
  return out;
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
  std::string out = fmt::format("BASE {}\nNEW  {}\n", c.base_path, c.new_path);
  for (const std::string& line : header_lines(c)) out += line + "\n";
  out += fmt::format("\n{:<{}} {:>11} {:>11} {:>9} {:>8}  {}\n", "case", width, "base", "new", "new/base", "p", "verdict");
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
  for (const std::string& line : header_lines(c)) out += line + "\n\n";
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
    json confirmation = nullptr;
    if (k.confirmation) {
      confirmation = {{"runs", k.confirmation->runs}, {"new_median_s", optional_json(k.confirmation->new_median_s)},
                      {"ratio", optional_json(k.confirmation->ratio)}, {"p_value", optional_json(k.confirmation->p_value)},
                      {"verdict", k.confirmation->verdict}};
    }
    cases.push_back({{"name", k.name}, {"base_status", k.base_status}, {"new_status", k.new_status},
                     {"base_median_s", optional_json(k.base_median_s)}, {"new_median_s", optional_json(k.new_median_s)},
                     {"base_samples", k.base_samples}, {"new_samples", k.new_samples},
                     {"ratio", optional_json(k.ratio)}, {"p_value", optional_json(k.p_value)},
                     {"p_plain", optional_json(k.p_plain)}, {"verdict", k.verdict}, {"confirmation", confirmation},
                     {"regressions", k.regressions}, {"warnings", k.warnings}, {"notes", k.notes}});
  }
  return {{"base", c.base_path},
          {"new", c.new_path},
          {"options", {{"threshold_pct", c.options.threshold_pct}, {"alpha", c.options.alpha},
                       {"fail_on_time_ratio", optional_json(c.options.fail_on_time_ratio)},
                       {"fail_time_floor_s", optional_json(c.options.fail_time_floor_s)},
                       {"fail_any_size_ratio", optional_json(c.options.fail_any_size_ratio)},
                       {"strict", c.options.strict}, {"allow_different_machines", c.options.allow_different_machines}}},
          {"normalized_by_roofline", c.normalized_by_roofline},
          {"confirm", c.confirm_runs},
          {"cases", cases},
          {"added", c.added},
          {"removed", c.removed},
          {"geomean_ratio", optional_json(c.geomean_ratio)},
          {"geomean_cases", c.geomean_cases},
          {"warnings", c.warnings},
          {"regressions", c.regression_count()},
          {"exit_code", compare_exit_code(c)}};
}

// ---- --confirm N: re-running the slower cases with this build ----

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(ch) != std::string_view::npos) out += '\\';
    out += ch;
  }
  return out;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

// The values NEW's own command line gave an option, as CLI11 read them: "--opt V" or "--opt=V", and for a
// vector option (--set) every word up to the next option ("--set M=1 K=2").
std::vector<std::string> option_values(const json& argv, const std::string& option, bool many) {
  std::vector<std::string> words, out;
  for (const json& w : argv) {
    if (w.is_string()) words.push_back(w.get<std::string>());
  }
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i].starts_with(option + "=")) {
      out.push_back(words[i].substr(option.size() + 1));
    } else if (words[i] == option) {
      for (size_t j = i + 1; j < words.size() && !words[j].starts_with("-"); ++j) {
        out.push_back(words[j]);
        if (!many) break;
      }
    }
  }
  return out;
}

std::string this_executable() {
  const std::string exe = machine::executable_path();
  if (exe.empty()) throw InputError(fmt::format("--confirm: cannot find this executable: {}", std::strerror(errno)));
  return exe;
}

// The re-run must be of NEW's build on NEW's machine, or it confirms nothing: refuses otherwise, and returns
// warnings for what it allows but the reader should know.
std::vector<std::string> check_confirmable(const ResultDoc& now) {
  if (now.context.is_null()) {
    throw InputError(fmt::format("--confirm: {} has no context (cut short?): cannot tell which build and machine made it",
                                 now.path));
  }
  std::vector<std::string> warnings;
  const GitState here = git_state();
  const json& git = member(member(now.context, "talklab"), "git");
  const std::string theirs = member(git, "commit").is_string() ? member(git, "commit").get<std::string>() : "unknown";
  if (theirs != here.commit) {
    throw InputError(fmt::format("--confirm: {} was made by commit {}, this bench was built from commit {}: a re-run by "
                                 "this build would not confirm it (re-run NEW with this build, or leave out --confirm)",
                                 now.path, theirs, here.commit));
  }
  if (here.commit == "unknown") {
    warnings.push_back("--confirm: neither NEW nor this bench knows its commit (no git): assuming the same build");
  }
  if (here.dirty || member(git, "dirty") == true) {
    warnings.push_back(fmt::format("--confirm: the source tree of commit {} has uncommitted changes: the re-run's "
                                   "build may differ from NEW's by them", here.commit.substr(0, 12)));
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const json& theirs_host = member(now.context, "host_name");
  if (!theirs_host.is_string() || theirs_host.get<std::string>() != host) {
    throw InputError(fmt::format("--confirm: {} ran on host {}, this is {}: a re-run here would not confirm it",
                                 now.path, theirs_host.is_string() ? theirs_host.get<std::string>() : "unknown", host));
  }
  return warnings;
}

// `bench run` of the named cases with NEW's settings (profile, threads, seed, axis overrides, configs,
// sampling), `passes` times, writing `out`.
std::vector<std::string> rerun_argv(const ResultDoc& now, const std::vector<std::string>& names, int passes,
                                    const CompareFlags& f, const std::string& out) {
  const json& t = member(now.context, "talklab");
  for (const char* key : {"profile", "threads", "seed"}) {
    if (member(t, key).is_null()) {
      throw InputError(fmt::format("--confirm: {} has no context.talklab.{}: cannot re-run its cases", now.path, key));
    }
  }
  std::set<std::string> devices;
  for (const json& e : now.entries) {
    if (std::find(names.begin(), names.end(), member(e, "name")) != names.end()) {
      devices.insert(member(member(e, "talklab"), "device").is_string()
                         ? member(member(e, "talklab"), "device").get<std::string>() : "cpu");
    }
  }
  std::string filter;
  for (const std::string& n : names) filter += (filter.empty() ? "" : "|") + regex_escape(n);
  const auto as_text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  std::vector<std::string> argv = {this_executable(), "run",
                                   "--profile", as_text(member(t, "profile")),
                                   "--device", devices.size() == 1 ? *devices.begin() : "all",
                                   "--threads", as_text(member(t, "threads")),
                                   "--seed", as_text(member(t, "seed")),
                                   "--passes", std::to_string(passes),
                                   "--filter", "^(" + filter + ")$",
                                   "--out", out};
  if (member(t, "cuda_cache_mode").is_string()) {
    argv.insert(argv.end(), {"--cuda-cache", member(t, "cuda_cache_mode").get<std::string>()});
  }
  // OpenMP as NEW had it: a selection of only the cases that ask for passive waiting would otherwise get it, which
  // NEW's mixed selection did not get, and its tiny steps run 3x slower with a wake-up per region (seen in CI).
  const json& omp = member(t, "openmp");
  if (omp.is_object() && omp.contains("wait_policy")) {
    std::string policy = member(omp, "wait_policy").is_string() ? member(omp, "wait_policy").get<std::string>() : "default";
    std::transform(policy.begin(), policy.end(), policy.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    if (policy == "default" || policy == "passive" || policy == "active") argv.insert(argv.end(), {"--wait-policy", policy});
  }
  if (omp.is_object() && omp.contains("placement_set_by")) {
    argv.push_back(member(omp, "placement_set_by") == "bench" ? "--pin" : "--no-pin");
  }
  const json& words = member(t, "command_line");
  for (const std::string& v : option_values(words, "--set", true)) argv.insert(argv.end(), {"--set", v});
  for (const std::string& v : option_values(words, "--config-dir", false)) argv.insert(argv.end(), {"--config-dir", v});
  // Sampled as NEW was; --confirm-max-time caps the re-run's time (and its minimum with it).
  std::vector<std::string> min_time = option_values(words, "--min-time", false);
  std::vector<std::string> max_time = option_values(words, "--max-time", false);
  if (f.confirm_max_time) {
    max_time = {fmt::format("{}", *f.confirm_max_time)};
    for (std::string& m : min_time) m = fmt::format("{}", std::min(std::atof(m.c_str()), *f.confirm_max_time));
  }
  for (const std::string& v : min_time) argv.insert(argv.end(), {"--min-time", v});
  for (const std::string& v : max_time) argv.insert(argv.end(), {"--max-time", v});
  for (const std::string& v : option_values(words, "--max-noise", false)) argv.insert(argv.end(), {"--max-noise", v});
  return argv;
}

// Runs argv with its stdout sent to our stderr, so that stdout carries only the comparison (it may be json).
// Returns the exit status, or a description of how it ended otherwise.
std::string run_child(const std::vector<std::string>& argv, int& code) {
  std::fflush(stdout);
  std::fflush(stderr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return fmt::format("could not start: {}", std::strerror(err));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    code = WEXITSTATUS(status);
    return "";
  }
  return WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status)) : "ended abnormally";
}

// Re-runs the slower cases and re-judges them (harness/compare.h's apply_confirmation). The re-run's file lies
// beside --json FILE when one is written (kept, for the record), else in a temporary folder removed afterwards.
void confirm_slower(Comparison& c, const ResultDoc& base, const ResultDoc& now, const CompareFlags& f) {
  c.confirm_runs = f.confirm;
  const std::vector<std::string> names = slower_cases(c);
  if (names.empty()) return;
  namespace fs = std::filesystem;
  fs::path dir, out;
  if (!f.json_out.empty()) {
    out = fs::path(f.json_out).replace_extension(".confirm.json");
  } else {
    std::string pattern = (fs::temp_directory_path() / "talklab-confirm-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw InputError(fmt::format("--confirm: cannot make a temporary folder: {}", std::strerror(errno)));
    }
    dir = pattern;
    out = dir / "confirm.json";
  }
  const std::vector<std::string> argv = rerun_argv(now, names, f.confirm, f, out.string());
  std::string shown;
  for (const std::string& a : argv) shown += (shown.empty() ? "" : " ") + shell_quote(a);
  fmt::print(stderr, "bench compare: re-running {} slower case{} {} times to confirm:\n  {}\n", names.size(),
             names.size() == 1 ? "" : "s", f.confirm, shown);
  int code = -1;
  const std::string how = run_child(argv, code);
  std::error_code ec;
  if (!how.empty() || !fs::exists(out, ec)) {
    keep_unconfirmed(c, f.confirm, fmt::format("the re-run wrote no result file ({})",
                                               how.empty() ? fmt::format("exit {}", code) : how));
  } else {
    try {
      apply_confirmation(c, base, load_result(out), f.confirm);
    } catch (const InputError& e) {
      keep_unconfirmed(c, f.confirm, fmt::format("the re-run's file is unreadable: {}", e.what()));
    }
  }
  if (!dir.empty()) fs::remove_all(dir, ec);
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
  cmd.add_option("--fail-any-size-ratio", o.fail_any_size_ratio,
                 "a significant slowdown beyond this new/base ratio fails even under --fail-time-floor")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--confirm", o.confirm,
                 "re-run the cases NEW calls slower N times with this build (NEW must be of this build and "
                 "machine); the verdict uses the re-run")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--confirm-max-time", o.confirm_max_time, "seconds: the re-run's --max-time (default: NEW's)")
      ->check(CLI::PositiveNumber);
  cmd.add_flag("--strict", o.strict, "a case ok in BASE but skipped in NEW is a regression, not a warning");
  cmd.add_flag("--allow-different-machines", o.allow_different_machines,
               "compare runs from different CPUs or GPUs, as fractions of each run's own roofline");
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
  // Checked before anything is compared: a CI job set up wrong should fail on its first run, not on the day a
  // slowdown needs confirming.
  const std::vector<std::string> confirm_warnings = f.confirm > 0 ? check_confirmable(now) : std::vector<std::string>{};
  CompareOptions options;
  options.threshold_pct = f.threshold_pct;
  options.alpha = f.alpha;
  options.fail_on_time_ratio = f.fail_on_time_ratio;
  options.fail_time_floor_s = f.fail_time_floor;
  options.fail_any_size_ratio = f.fail_any_size_ratio;
  options.strict = f.strict;
  options.allow_different_machines = f.allow_different_machines;
  Comparison c = compare_results(base, now, options);
  c.warnings.insert(c.warnings.end(), confirm_warnings.begin(), confirm_warnings.end());
  if (f.confirm > 0) confirm_slower(c, base, now, f);
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
  write(f.github_smaller, github_smaller_is_better(now, f.unit).dump(2) + "\n");
  write(f.github_bigger, github_bigger_is_better(now).dump(2) + "\n");
  return compare_exit_code(c);
}

}  // namespace talklab::bench
