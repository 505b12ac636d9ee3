// The subcommands of bench. Each returns the process exit code; bad input throws talklab::InputError.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/session.h"

namespace talklab::bench {

// What selects cases: shared by run and list.
struct CommonOptions {
  std::string filter;
  std::string device;  // cpu, cuda, all; empty = every device this machine has
  std::string profile = "default";
  std::vector<std::string> sets;
  std::string config_dir;
};

struct RunFlags {
  SessionOptions session;            // --out, --threads, --seed, sampling, --cuda-cache, --passes, --retries, ...
  bool pin = false, no_pin = false;  // neither: the session's default (kPinByDefault in harness/session.h)
  bool dry_run = false;
  std::string shard;                  // --shard I/N or auto (harness/shard.h)
  std::optional<int> shard_count;     // --shard-count N: with JOB_COMPLETION_INDEX
};

// bench compare BASE NEW: see docs/compare.md.
struct CompareFlags {
  std::string base, now;
  double threshold_pct = 5.0;
  double alpha = 0.05;
  std::optional<double> fail_on_time_ratio;
  std::optional<double> fail_time_floor;
  std::optional<double> fail_any_size_ratio;
  bool strict = false;
  bool allow_different_machines = false;
  int confirm = 0;                          // re-run the slower cases this many times (passes) before they count
  std::optional<double> confirm_max_time;   // the re-run's --max-time (default: NEW's)
  std::string format = "text";  // text, markdown, json
  std::string markdown_out, json_out;
  std::string github_smaller, github_bigger;
  std::string unit = "ms";  // of the github-action-benchmark times
};

// bench report FILE... --out DIR: see harness/report/report.h.
struct ReportFlags {
  std::vector<std::string> files;
  std::string out, python, config_dir;
  bool keep_superseded = false;
};

// bench merge FILE... --out FILE: see harness/merge.h.
struct MergeFlags {
  std::vector<std::string> files;
  std::string out;
  bool allow_mixed = false, expect_complete = false;
};

// bench export --format github-action-benchmark FILE: see harness/dashboards.h.
struct ExportFlags {
  std::string file;
  std::string format = "github-action-benchmark";
  std::string smaller_out, bigger_out;
  std::string unit = "ms";
};

void add_selection_options(CLI::App& cmd, CommonOptions& o);
void add_run_options(CLI::App& cmd, RunFlags& o);
void add_compare_options(CLI::App& cmd, CompareFlags& o);
void add_report_options(CLI::App& cmd, ReportFlags& o);
void add_merge_options(CLI::App& cmd, MergeFlags& o);
void add_export_options(CLI::App& cmd, ExportFlags& o);

int run_command(const CommonOptions& common, const RunFlags& flags, const std::vector<std::string>& argv);
int list_command(const CommonOptions& common);
int talks_command(const CommonOptions& common);
int compare_command(const CompareFlags& flags);
int report_command(const ReportFlags& flags);
int merge_command(const MergeFlags& flags);
int export_command(const ExportFlags& flags);

}  // namespace talklab::bench
