// The report's view of a result file: each case as the pages use it (a CaseView), each file as a labelled run,
// and the few readers of loosely typed JSON that let an old or truncated file still be shown.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/compare.h"

namespace talklab::report {

using nlohmann::json;

// A member of an object, or null (never throws on a missing key or a non-object).
const json& field(const json& j, const char* key);
std::optional<double> number(const json& j);
std::string text(const json& j);
// A parameter's value as a person reads it: 4096, 0.05, causal.
std::string value_text(const json& v);

bool is_libtorch(const std::string& implementation);

// One case of one run, as the pages use it.
struct CaseView {
  size_t run = 0;
  std::string name, experiment, implementation, device, status, reason;
  json params;  // axis -> value
  std::optional<double> median_s, tflops, gbps, roofline, peak_bytes, max_rel_error, sqnr_db;
  double flops = 0, bytes = 0;
  std::string peak_kind;  // "fp32", "bf16", "int8", or empty
  json counters;  // the experiment's counters and labels
  std::vector<std::string> talks;

  std::string param(const std::string& axis) const {
    const json& v = field(params, axis.c_str());
    return v.is_null() ? std::string() : value_text(v);
  }
};

CaseView view_of(const json& entry, size_t run);

struct Run {
  std::string label;  // the file's stem, made unique
  const ResultDoc* doc = nullptr;
};

// One run per file, labelled by the file's stem (made unique).
std::vector<Run> label_runs(const std::vector<ResultDoc>& docs);

// "1.20 TFLOP/s", "812.0 GFLOP/s", "38.2 GB/s" or "-".
std::string format_rate(const CaseView& c);
// A counter or label by its name's unit suffix (_s, _bytes).
std::string format_counter(const std::string& name, const json& v);

}  // namespace talklab::report
