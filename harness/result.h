// Results are data: one JSON file per run, readable by Google Benchmark's tools (name, run_name, run_type,
// iterations, real_time, cpu_time, time_unit, flat counters) with the lab's own fields in a `talklab`
// object per entry and in the context. The schema is docs/result-schema.json (docs/results.md explains it).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/check.h"
#include "harness/experiment.h"
#include "harness/sampler.h"

namespace talklab {

inline constexpr int kSchemaVersion = 1;

struct CaseResult {
  std::string name;
  std::string experiment, implementation;
  Device device = Device::cpu;
  Params params;
  std::vector<std::string> talks;
  std::string status = "skipped";  // ok, failed, skipped
  std::string reason;              // why failed or skipped
  std::optional<Timing> timing;
  // The disturbed timings of a case (passes or re-runs, oldest first) that `timing` leaves out because others
  // were clean (runner.cpp, settle_figure). Kept so nothing is replaced silently.
  std::vector<Timing> earlier_attempts;
  Work work;
  std::optional<double> roofline_fraction;
  std::optional<int64_t> peak_bytes;
  std::optional<Accuracy> accuracy;
  Counters counters;
  Labels labels;
  int family_index = 0;  // position in the run, for Google Benchmark's tools
};

nlohmann::json to_json(const CaseResult& result);

// A result file being written: the context is fixed at the start, each finished case is appended and the
// whole file is replaced atomically (write a temporary file beside it, flush, rename), so a crash in case
// 40 keeps cases 1 to 39 and a reader never sees half a file.
class ResultFile {
 public:
  ResultFile(std::filesystem::path path, const nlohmann::json& context);
  void add(const CaseResult& result);  // throws std::runtime_error naming the file if it cannot write
  void replace(size_t index, const CaseResult& result);  // the index-th added case, e.g. after another pass
  const std::filesystem::path& path() const { return path_; }

 private:
  void write() const;
  std::filesystem::path path_;
  std::string context_text_;             // written first, so a file cut short still says where it came from
  std::vector<std::string> entry_texts_;  // one per finished case
};

// Writes text to path atomically (temporary file in the same folder, then rename).
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace talklab
