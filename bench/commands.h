// The subcommands of bench. Each returns the process exit code; bad input throws talklab::InputError.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  std::string out;
  int threads = 0;  // 0 = every logical CPU
  std::optional<uint64_t> seed;
  std::optional<double> min_time, max_time, max_noise;
  std::string cuda_cache = "cold";
  bool dry_run = false;
};

void add_selection_options(CLI::App& cmd, CommonOptions& o);
void add_run_options(CLI::App& cmd, RunFlags& o);

int run_command(const CommonOptions& common, const RunFlags& flags, const std::vector<std::string>& argv);
int list_command(const CommonOptions& common);
int talks_command(const CommonOptions& common);

}  // namespace talklab::bench
