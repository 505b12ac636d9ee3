// bench merge: one result file from the files of several runs, usually the shards of one selection run on several
// machines (bench run --shard, harness/shard.h; scripts/slurm/). See docs/cluster.md.
//
// What may be merged: complete files (a truncated one is an error: its shard must run again) of one schema,
// one commit, one profile and one seed, unless allow_mixed; shards of one selection (the same case list and
// count). What comes out: the first file's context, less its shard, plus `talklab.merged` (each file: its path,
// host, shard and date; the distinct machines), and every entry once, in the selection's order, each carrying the
// machine it ran on (`talklab.machine`: host, CPU, GPU, visible GPUs) so compare and report can tell them apart.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/compare.h"

namespace talklab {

struct MergeOptions {
  bool allow_mixed = false;      // files of different commits, profiles or seeds
  bool expect_complete = false;  // every case of the shards' selection must be in some file
};

struct Merged {
  nlohmann::json document;            // the merged result file
  std::vector<std::string> missing;   // cases of the selection no file holds (only known for shards)
  std::vector<std::string> missing_shards;  // "2 of 4": shard indexes no file came from
  std::vector<std::string> notes;     // what the merge accepted under allow_mixed, or could not check
  bool complete() const { return missing.empty() && missing_shards.empty(); }
};

// Throws InputError naming the file (and the field and values) for: no files, a truncated file, a file without
// a context, mixed commits, profiles or seeds (unless allow_mixed), shards of different selections or counts,
// a shard index seen twice, a case in two files (naming both), and expect_complete without a shard to say what
// the selection was.
Merged merge_results(const std::vector<ResultDoc>& docs, const MergeOptions& options);

// The context of the machine an entry ran on: its own talklab.machine in a merged file, else its file's context.
// Both have the shape compare reads (host_name, talklab.cpu, talklab.gpu).
const nlohmann::json& machine_of(const nlohmann::json& entry, const nlohmann::json& file_context);

}  // namespace talklab
