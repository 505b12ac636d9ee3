// The report's view of a result file: see view.h.
#include "harness/report/view.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "harness/units.h"

namespace talklab::report {

const json& field(const json& j, const char* key) {
  static const json null_json;
  if (!j.is_object()) return null_json;
  const auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

std::optional<double> number(const json& j) {
  if (!j.is_number()) return std::nullopt;
  return j.get<double>();
}

std::string text(const json& j) { return j.is_string() ? j.get<std::string>() : std::string(); }

std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return fmt::format("{:g}", v.get<double>());
  return v.dump();
}

bool is_libtorch(const std::string& implementation) {
  return implementation.starts_with("torch_") || implementation == "autograd";
}

CaseView view_of(const json& entry, size_t run) {
  const json& t = field(entry, "talklab");
  CaseView c;
  c.run = run;
  c.name = text(field(entry, "name"));
  c.experiment = text(field(t, "experiment"));
  c.implementation = text(field(t, "implementation"));
  c.device = text(field(t, "device"));
  c.status = text(field(t, "status"));
  c.reason = text(field(t, "reason"));
  c.params = field(t, "params").is_object() ? field(t, "params") : json::object();
  c.median_s = number(field(field(t, "time"), "median_s"));
  const json& rates = field(t, "rates");
  c.tflops = number(field(rates, "tflops"));
  c.gbps = number(field(rates, "gbps"));
  c.roofline = number(field(rates, "roofline_fraction"));
  c.peak_bytes = number(field(field(t, "memory"), "peak_bytes"));
  c.max_rel_error = number(field(field(t, "accuracy"), "max_rel_error"));
  c.sqnr_db = number(field(field(t, "accuracy"), "sqnr_db"));
  const json& work = field(t, "work");
  c.flops = number(field(work, "flops")).value_or(0);
  c.bytes = number(field(work, "bytes")).value_or(0);
  c.peak_kind = text(field(work, "peak"));
  c.counters = field(t, "counters").is_object() ? field(t, "counters") : json::object();
  // Labels (what a library chose, e.g. sdpa_backend) are shown as columns beside the counters.
  if (field(t, "labels").is_object()) {
    for (const auto& [k, v] : field(t, "labels").items()) c.counters[k] = v;
  }
  if (field(t, "talks").is_array()) {
    for (const json& k : field(t, "talks")) c.talks.push_back(text(k));
  }
  return c;
}


std::vector<Run> label_runs(const std::vector<ResultDoc>& docs) {
  std::vector<Run> runs;
  std::map<std::string, int> seen;
  for (const ResultDoc& d : docs) {
    std::string label = std::filesystem::path(d.path).stem().string();
    if (const int n = ++seen[label]; n > 1) label += fmt::format(" ({})", n);
    runs.push_back({label, &d});
  }
  return runs;
}

// ---- formatting ----------------------------------------------------------------------------------------------

std::string format_rate(const CaseView& c) {
  if (c.flops > 0 && c.tflops && *c.tflops > 0) {
    const char* unit = c.peak_kind == "int8" ? "OP/s" : "FLOP/s";
    return *c.tflops >= 1 ? fmt::format("{:.2f} T{}", *c.tflops, unit) : fmt::format("{:.1f} G{}", *c.tflops * 1e3, unit);
  }
  if (c.gbps && *c.gbps > 0) return fmt::format("{:.1f} GB/s", *c.gbps);
  return "-";
}

std::string format_counter(const std::string& name, const json& v) {
  const std::optional<double> x = number(v);
  if (!x) return v.is_null() ? "-" : value_text(v);
  if (name.ends_with("_s")) return format_seconds(*x);
  if (name.ends_with("_bytes")) return format_bytes(*x);
  return fmt::format("{:.4g}", *x);
}

}  // namespace talklab::report
