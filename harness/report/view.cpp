// The report's view of a result file: see view.h.
#include "harness/report/view.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "harness/compare.h"
#include "harness/merge.h"
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
  // Labels (what a library chose for the case) are shown as columns beside the counters.
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
  return talklab::format_rate(c.flops > 0 ? c.tflops : std::nullopt, c.gbps, c.peak_kind);
}

const ExperimentDeclaration& Corpus::declaration(const std::string& experiment) const {
  static const ExperimentDeclaration undeclared;
  const auto it = declarations.find(experiment);
  return it == declarations.end() ? undeclared : it->second;
}

const ImplementationDeclaration& Corpus::implementation(const CaseView& c) const {
  static const ImplementationDeclaration undeclared;
  const ExperimentDeclaration& d = declaration(c.experiment);
  const auto it = d.implementations.find(c.implementation);
  return it == d.implementations.end() ? undeclared : it->second;
}

Corpus make_corpus(const std::vector<ResultDoc>& docs, const std::map<std::string, ExperimentDeclaration>& registry,
                   bool keep_superseded) {
  Corpus corpus;
  corpus.runs = label_runs(docs);
  // brand and ISA | threads | case name -> the newest figure of each machine there (by CPUID where both files
  // name it: one brand string covers several CPUs), as (CPUID or "", index in corpus.cases)
  std::map<std::string, std::vector<std::pair<std::string, size_t>>> newest;
  std::vector<bool> left_out;
  const auto date_of = [&](size_t run) { return text(field(docs[run].context, "date")); };
  std::map<std::string, size_t> declared_by;  // experiment -> the run its declaration was taken from
  for (size_t r = 0; r < docs.size(); ++r) {
    const std::string threads = value_text(field(field(docs[r].context, "talklab"), "threads"));
    for (const json& e : docs[r].entries) {
      corpus.cases.push_back(view_of(e, r));
      left_out.push_back(false);
      if (keep_superseded) continue;
      const json& machine = machine_of(e, docs[r].context);
      const std::string cpuid = names_cpuid(machine) ? machine_key(machine, true) : std::string();
      auto& seen = newest[fmt::format("{}|{}|{}", machine_key(machine, false), threads, corpus.cases.back().name)];
      const size_t later = corpus.cases.size() - 1;
      const auto same = std::find_if(seen.begin(), seen.end(), [&](const auto& s) {
        return s.first.empty() || cpuid.empty() || s.first == cpuid;
      });
      if (same == seen.end()) {
        seen.emplace_back(cpuid, later);
        continue;
      }
      const size_t earlier = same->second;
      const bool replaces = date_of(r) >= date_of(corpus.cases[earlier].run);  // ISO 8601: text order is time order
      const size_t out = replaces ? earlier : later, kept = replaces ? later : earlier;
      left_out[out] = true;
      ++corpus.superseded[{corpus.cases[out].run, corpus.cases[kept].run}];
      *same = {replaces ? cpuid : same->first, kept};
    }
    // An experiment's charts and tables as the newest file that declares it has them (the first of equal dates):
    // an older file given first must not hide what a newer build added.
    const json& declared = field(field(docs[r].context, "talklab"), "experiments");
    if (!declared.is_object()) continue;
    for (const auto& [name, d] : declared.items()) {
      const auto at = declared_by.find(name);
      if (at != declared_by.end() && date_of(r) <= date_of(at->second)) continue;
      corpus.declarations[name] = declaration_from_json(d);
      declared_by[name] = r;
    }
  }
  size_t i = 0;
  std::erase_if(corpus.cases, [&](const CaseView&) { return left_out[i++]; });
  for (const CaseView& c : corpus.cases) {
    if (corpus.declarations.contains(c.experiment)) continue;
    if (const auto it = registry.find(c.experiment); it != registry.end()) corpus.declarations[c.experiment] = it->second;
  }
  return corpus;
}

std::string axis_value(const CaseView& c, const std::string& axis) {
  if (axis == "implementation") return c.implementation;
  if (axis == "device") return c.device;
  return c.param(axis);
}

bool matches(const CaseView& c, const std::vector<AxisFilter>& filters) {
  return std::all_of(filters.begin(), filters.end(), [&](const AxisFilter& f) {
    return std::find(f.values.begin(), f.values.end(), axis_value(c, f.axis)) != f.values.end();
  });
}

bool applies(const ExperimentDeclaration& d, const CaseView& c, const std::string& axis) {
  for (const AxisScope& s : d.presentation.axis_scopes) {
    if (s.axis == axis && !matches(c, {s.when})) return false;
  }
  return true;
}

std::optional<double> metric(const CaseView& c, const std::string& name) {
  if (name == "time") return c.median_s;
  if (name == "peak_memory") return c.peak_bytes;
  if (name == "tflops") return c.tflops;
  if (name == "gbps") return c.gbps;
  if (name == "roofline_fraction") return c.roofline;
  if (name == "max_rel_error") return c.max_rel_error;
  if (name == "sqnr_db") return c.sqnr_db;
  return number(field(c.counters, name.c_str()));
}

std::string format_metric(const std::string& name, double v) {
  if (name == "time" || name.ends_with("_s")) return format_seconds(v);
  if (name == "peak_memory" || name.ends_with("_bytes")) return format_bytes(v);
  if (name == "max_rel_error") return fmt::format("{:.1e}", v);
  if (name == "sqnr_db") return fmt::format("{:.1f} dB", v);
  if (name == "roofline_fraction") return fmt::format("{:.0f}%", v * 100);
  return fmt::format("{:.4g}", v);
}

std::string format_counter(const std::string& name, const json& v) {
  const std::optional<double> x = number(v);
  if (!x) return v.is_null() ? "-" : value_text(v);
  if (name.ends_with("_s")) return format_seconds(*x);
  if (name.ends_with("_bytes")) return format_bytes(*x);
  return fmt::format("{:.4g}", *x);
}

}  // namespace talklab::report
