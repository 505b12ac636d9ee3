// configs/: the talk registry (talks.toml) and the profiles (profiles/NAME.toml) that give each
// experiment's axes their values. Every error names the file and line.
//
// A profile looks like:
//   [timing]                      # optional: defaults for --min-time, --max-time, --max-noise
//   min_time_s = 0.1
//   [attention]                   # one table per experiment
//   seq = [1024, 4096]            # every axis of the experiment needs values
//   mask = ["causal", "sliding_window"]
//   zip = [["heads", "kv_heads"]] # optional: these axes advance together instead of being crossed
//
// An experiment may instead have several sweeps, `[[attention]]` tables, each a product of its own; a sweep
// may name the implementations it is for (`implementations = ["flash_cpu"]`). Cases are the union.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/axis.h"

namespace talklab {

class Registry;

// Bad input: a config, a command line value. The message names what and where.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Talk {
  std::string key;  // short id, e.g. "flexattention"
  std::string video_id, title, url, category, reproduces;
  std::vector<std::string> speakers;
};

std::vector<Talk> load_talks(const std::filesystem::path& file);
const Talk* find_talk(const std::vector<Talk>& talks, const std::string& key_or_video_id);

struct AxisValues {
  std::vector<AxisValue> values;
  int line = 0;  // where the profile set them (0: from the command line)
};

struct ExperimentProfile {  // one sweep
  std::map<std::string, AxisValues> axes;
  std::vector<std::vector<std::string>> zip;
  std::vector<std::string> implementations;  // empty = all
  int line = 0;
};

struct Profile {
  std::string name;
  std::filesystem::path file;
  std::optional<double> min_time_s, max_time_s, max_noise;
  std::map<std::string, std::vector<ExperimentProfile>> experiments;  // experiment -> its sweeps
};

// Lists NAME for every configs/profiles/NAME.toml.
std::vector<std::string> profile_names(const std::filesystem::path& config_dir);

// Loads and validates a profile against the registered experiments: unknown experiments, unknown axes,
// values of the wrong type or outside an axis's choices, zip groups of unequal length are InputErrors.
Profile load_profile(const std::filesystem::path& config_dir, const std::string& name, const Registry& registry);

// Checks that every talk id an experiment names exists (start-up check; throws InputError).
void check_talk_ids(const Registry& registry, const std::vector<Talk>& talks);

// The configs/ folder: $TALKLAB_CONFIG_DIR, else the source tree's configs/ this binary was built from.
std::filesystem::path default_config_dir();

}  // namespace talklab
