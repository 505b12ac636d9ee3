// bench merge and bench export: result files into one file, and into the files dashboards read.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "bench/commands.h"
#include "harness/config.h"
#include "harness/dashboards.h"
#include "harness/merge.h"
#include "harness/result.h"

namespace talklab::bench {
namespace {

// An output that cannot be written is bad input (exit 2); nothing is written before every check has passed.
void write_output(const std::string& path, const std::string& text) {
  try {
    write_file_atomically(path, text);
  } catch (const std::exception& e) {
    throw InputError(e.what());
  }
}

}  // namespace

void add_merge_options(CLI::App& cmd, MergeFlags& o) {
  cmd.add_option("files", o.files, "result files of the shards (bench run --shard I/N or auto)")->required();
  cmd.add_option("--out", o.out, "the merged result file")->required();
  cmd.add_flag("--allow-mixed", o.allow_mixed, "merge files of different commits, profiles or seeds (recorded)");
  cmd.add_flag("--expect-complete", o.expect_complete,
               "exit 1, writing nothing, when a case of the shards' selection (or a whole shard) is in no file");
}

void add_export_options(CLI::App& cmd, ExportFlags& o) {
  cmd.add_option("file", o.file, "a result file")->required();
  cmd.add_option("--format", o.format, "the dashboard's format")
      ->check(CLI::IsMember({"github-action-benchmark"}))
      ->capture_default_str();
  cmd.add_option("--smaller", o.smaller_out, "write customSmallerIsBetter (time per case, peak memory) to FILE");
  cmd.add_option("--bigger", o.bigger_out, "write customBiggerIsBetter (TFLOP/s or GB/s, SQNR) to FILE");
  cmd.add_option("--unit", o.unit, "time unit: ns, us, ms or s")
      ->check(CLI::IsMember({"ns", "us", "ms", "s"}))
      ->capture_default_str();
}

int merge_command(const MergeFlags& f) {
  if (std::find(f.files.begin(), f.files.end(), f.out) != f.files.end()) {
    throw InputError(fmt::format("--out {} is one of the files to merge; write the merged file elsewhere", f.out));
  }
  std::vector<ResultDoc> docs;
  for (const std::string& file : f.files) docs.push_back(load_result(file));
  MergeOptions options;
  options.allow_mixed = f.allow_mixed;
  options.expect_complete = f.expect_complete;
  const Merged m = merge_results(docs, options);
  for (const std::string& note : m.notes) fmt::print(stderr, "bench merge: {}\n", note);
  if (!m.complete()) {
    std::vector<std::string> what;
    if (!m.missing_shards.empty()) what.push_back(fmt::format("shard {} (no file)", fmt::join(m.missing_shards, ", ")));
    if (!m.missing.empty()) {
      what.push_back(fmt::format("{} case{} in no file: {}", m.missing.size(), m.missing.size() == 1 ? "" : "s",
                                 fmt::join(m.missing, ", ")));
    }
    fmt::print(stderr, "bench merge: incomplete: {}\n", fmt::join(what, "; "));
    if (f.expect_complete) {
      fmt::print(stderr, "bench merge: --expect-complete: {} not written\n", f.out);
      return 1;
    }
  }
  write_output(f.out, m.document.dump(2) + "\n");
  const nlohmann::json& merged = m.document["context"]["talklab"]["merged"];
  fmt::print("Merged {} files ({} cases, {} machine{}) into {}\n", docs.size(), m.document["benchmarks"].size(),
             merged["machines"].size(), merged["machines"].size() == 1 ? "" : "s", f.out);
  return 0;
}

int export_command(const ExportFlags& f) {
  if (f.smaller_out.empty() && f.bigger_out.empty()) {
    throw InputError("bench export: name at least one output: --smaller FILE and/or --bigger FILE");
  }
  const ResultDoc doc = load_result(f.file);
  if (doc.truncated) throw InputError(fmt::format("{}: truncated; export a complete file", f.file));
  const nlohmann::json smaller = github_smaller_is_better(doc, f.unit);
  const nlohmann::json bigger = github_bigger_is_better(doc);
  if (!f.smaller_out.empty()) write_output(f.smaller_out, smaller.dump(2) + "\n");
  if (!f.bigger_out.empty()) write_output(f.bigger_out, bigger.dump(2) + "\n");
  fmt::print("Exported {}: {} smaller-is-better and {} bigger-is-better series\n", f.file, smaller.size(), bigger.size());
  return 0;
}

}  // namespace talklab::bench
