// The report's view of result files: each case as the pages use it (a CaseView), each file as a labelled run, each
// experiment as its declaration says (harness/presentation.h), and the few readers of loosely typed JSON that let an
// old or truncated file still be shown.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/compare.h"
#include "harness/presentation.h"

namespace talklab::report {

using nlohmann::json;

// A member of an object, or null (never throws on a missing key or a non-object).
const json& field(const json& j, const char* key);
std::optional<double> number(const json& j);
std::string text(const json& j);
// A parameter's value as a person reads it: 4096, 0.05, causal.
std::string value_text(const json& v);

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

// The cases of every file and the declarations of their experiments: from the first file whose context declares an
// experiment (context.talklab.experiments), else from this build's registry (files written before declarations).
// Files of one machine (compare's machine_key, and the same thread count) are one picture of it: a case measured
// again in a later file (context.date; the later file given on a tie) replaces the earlier figure, which is left
// out and counted in `superseded`, unless keep_superseded.
struct Corpus {
  std::vector<Run> runs;
  std::vector<CaseView> cases;
  std::map<std::string, ExperimentDeclaration> declarations;
  std::map<std::pair<size_t, size_t>, int> superseded;  // (earlier run, later run) -> cases measured again

  const ExperimentDeclaration& declaration(const std::string& experiment) const;
  // An implementation no declaration names is taken as ours, measuring the technique.
  const ImplementationDeclaration& implementation(const CaseView& c) const;
  bool is_pytorch(const CaseView& c) const { return talklab::is_pytorch(implementation(c).provider); }
  bool is_helper(const CaseView& c) const { return implementation(c).role == Role::helper; }
};
Corpus make_corpus(const std::vector<ResultDoc>& docs, const std::map<std::string, ExperimentDeclaration>& registry,
                   bool keep_superseded = false);

// A case's value of an axis as printed; "implementation" and "device" are axes too, for filters and scopes.
std::string axis_value(const CaseView& c, const std::string& axis);
bool matches(const CaseView& c, const std::vector<AxisFilter>& filters);
// Whether `axis` means something for this case (harness/presentation.h, AxisScope).
bool applies(const ExperimentDeclaration& d, const CaseView& c, const std::string& axis);

// A metric of a case by name (harness/presentation.h): time, peak_memory, tflops, ..., or a counter.
std::optional<double> metric(const CaseView& c, const std::string& name);
// A metric's value as a person reads it: seconds and bytes in their units, the rest to four digits.
std::string format_metric(const std::string& name, double v);

// "1.20 TFLOP/s", "812.0 GFLOP/s", "38.2 GB/s" or "-".
std::string format_rate(const CaseView& c);
// A counter or label by its name's unit suffix (_s, _bytes).
std::string format_counter(const std::string& name, const json& v);

}  // namespace talklab::report
