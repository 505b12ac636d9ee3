// bench: runs the lab's cases on this machine and writes a result file.
//
//   bench [run] [--filter REGEX] [--device cpu|cuda|all] [--profile NAME] [--set AXIS=V1,V2]... [--out FILE]
//   bench list [--filter REGEX] ...      the cases, with their axes and talks
//   bench talks                          the talk registry, with the experiments that reproduce each talk
//   bench compare BASE.json NEW.json     regressions between two result files (docs/compare.md)
//   bench report FILE... --out DIR       Markdown and HTML pages per talk, with charts (harness/report/report.h)
//   bench merge FILE... --out FILE       one result file from the shards of a selection (harness/merge.h)
//   bench export FILE --smaller F --bigger F   github-action-benchmark's files (harness/dashboards.h)
//
// Exit codes: 0 every case ran and passed its check (or was skipped with a reason); 1 a case failed its
// check or crashed (compare: a regression; merge --expect-complete: a case no shard holds); 2 bad usage or bad input.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "bench/commands.h"
#include "harness/config.h"

int main(int argc, char** argv) {
  using namespace talklab::bench;
  // `run` is the default subcommand: `bench --filter x` means `bench run --filter x`.
  std::vector<std::string> args(argv, argv + argc);
  const bool has_subcommand = argc > 1 && argv[1][0] != '-';
  if (!has_subcommand && !(argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0))) {
    args.insert(args.begin() + 1, "run");
  }

  CLI::App app{"talklab bench: PyTorch Conference 2024 trade-offs, measured on this machine", "bench"};
  app.require_subcommand(1);
  CommonOptions common;
  RunFlags run;
  CLI::App* run_cmd = app.add_subcommand("run", "run the cases that match and write a result file (default)");
  CLI::App* list_cmd = app.add_subcommand("list", "list the cases that match, with their axes and talks");
  CLI::App* talks_cmd = app.add_subcommand("talks", "the talk registry and the experiments that reproduce each talk");
  for (CLI::App* cmd : {run_cmd, list_cmd}) add_selection_options(*cmd, common);
  add_run_options(*run_cmd, run);
  talks_cmd->add_option("--config-dir", common.config_dir, "folder with talks.toml and profiles/");
  CompareFlags compare;
  CLI::App* compare_cmd = app.add_subcommand("compare", "compare two result files; exit 1 on a regression");
  add_compare_options(*compare_cmd, compare);
  ReportFlags report;
  CLI::App* report_cmd = app.add_subcommand("report", "write Markdown and HTML pages, one per talk, from result files");
  add_report_options(*report_cmd, report);
  MergeFlags merge;
  CLI::App* merge_cmd = app.add_subcommand("merge", "one result file from the shards of a selection (bench run --shard)");
  add_merge_options(*merge_cmd, merge);
  ExportFlags export_flags;
  CLI::App* export_cmd = app.add_subcommand("export", "a result file in a dashboard's format (github-action-benchmark)");
  add_export_options(*export_cmd, export_flags);

  std::vector<const char*> cargs;
  for (const auto& a : args) cargs.push_back(a.c_str());
  try {
    app.parse(int(cargs.size()), const_cast<char**>(cargs.data()));
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  try {
    if (run_cmd->parsed()) return run_command(common, run, args);
    if (list_cmd->parsed()) return list_command(common);
    if (talks_cmd->parsed()) return talks_command(common);
    if (compare_cmd->parsed()) return compare_command(compare);
    if (report_cmd->parsed()) return report_command(report);
    if (merge_cmd->parsed()) return merge_command(merge);
    if (export_cmd->parsed()) return export_command(export_flags);
  } catch (const talklab::InputError& e) {
    fmt::print(stderr, "bench: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench: error: {}\n", e.what());
    return 1;
  }
  return 2;
}
