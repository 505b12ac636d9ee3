// What an experiment declares for the report, so that bench report names no experiment and no implementation:
// who provides each implementation and what it measures, which axes mean something for which cases, the charts
// and tables of the experiment, and the comparisons its talk pages open with. All of it is written into every
// result file (context.talklab.experiments), so a report of an old file works from what the file says.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace talklab {

struct Experiment;

// Who provides an implementation. "Against PyTorch" means against pytorch_eager and pytorch_compiled.
enum class Provider { ours, pytorch_eager, pytorch_compiled, vendor_library };
// What a case of it measures: the technique itself, or a helper of it (a block-mask build), which is never
// compared with the technique nor drawn beside it.
enum class Role { technique, helper };

const char* provider_name(Provider provider);
const char* role_name(Role role);
bool is_pytorch(Provider provider);

// The cases whose value of `axis` is one of `values` (as the report prints them: "causal", "4096", "0.5").
struct AxisFilter {
  std::string axis;
  std::vector<std::string> values;
};

// `axis` means something only on the cases `when` selects (window on sliding_window masks): elsewhere the report
// neither prints it nor lets it name a case.
struct AxisScope {
  std::string axis;
  AxisFilter when;
};

// Metrics, by name: "time" (median seconds), "peak_memory" (bytes), "tflops", "gbps", "roofline_fraction",
// "max_rel_error", "sqnr_db", or one of the experiment's counters (a name ending in _s is seconds, in _bytes bytes).
enum class ChartKind {
  line,      // y against the axis x, a panel per facet combination, a line per implementation, dashes by `dash`
  points,    // y per implementation (a category), coloured by the facets' combination
  pareto,    // time against peak memory; implementations swept over the axis x are lines, the others points
  roofline,  // each case at (declared intensity, achieved rate) under its run's measured ceilings
  table,     // one row per implementation at the `where` points, `columns` as values or relative to `baseline`
  sweep,     // one row per value of the axis x, one column per implementation, cells the `columns` joined by "; "
             // (the header names them, in that order, after the implementation)
  frontier,  // one row per case of `baseline` (in x order) beside the case of `implementations` (any x) with the
             // least y among those whose columns[0] metric (a memory) is no more than the baseline case's
};
const char* chart_kind_name(ChartKind kind);

struct Column {
  enum class Relative { value, ratio, cut };  // the value; value / baseline's ("1.35x"); 1 - value / baseline's ("40%")
  std::string metric;
  std::string title;
  Relative relative = Relative::value;
};

struct ChartSpec {
  std::string id;  // unique in its experiment; a headline names its chart by it
  std::string title, caption;
  ChartKind kind = ChartKind::line;
  std::string x;                       // line: the axis along x; pareto, sweep, frontier: the swept axis
  std::string y = "time";              // line, points: the metric; frontier: the metric minimized
  bool log_x = false, log_y = false;   // line
  std::vector<std::string> facets;     // line, points: axes giving one panel (points: one colour) per combination
  std::string dash;                    // line: an axis drawn as dashes
  std::vector<std::string> implementations;  // empty: every technique implementation
  std::vector<AxisFilter> where;       // only these cases
  std::vector<Column> columns;         // table, sweep; frontier: columns[0] the metric no case may exceed
  std::string baseline;                // table: the implementation relative columns divide by; frontier: the
                                       // reference whose every case gets a row
};

// One line of a talk page's headline: an implementation of ours against a reference at the same point, time and
// peak memory with their ratios.
struct KeyComparison {
  std::string ours;
  std::vector<AxisFilter> where;     // the points that matter
  std::string largest;               // if set: only the largest value of this axis (per combination of the others)
  std::vector<std::string> across;   // axes on which the reference may sit elsewhere (save_all is at budget 1 only)
  std::string against;               // empty: the fastest PyTorch-provided implementation at the point
  std::string memory = "peak_memory";  // the memory metric compared (a counter, where the case's peak is not it)
};

struct Headline {
  std::string chart;  // the id of the chart that shows it
  std::vector<KeyComparison> comparisons;
};

struct Presentation {
  std::vector<ChartSpec> charts;
  Headline headline;
  std::vector<AxisScope> axis_scopes;
};

struct ImplementationDeclaration {
  Provider provider = Provider::ours;
  Role role = Role::technique;
  std::string description;
};

// An experiment as a report sees it: what the result file says (or, for files before this, the build's registry).
struct ExperimentDeclaration {
  std::string description;
  std::vector<std::string> talks;
  std::map<std::string, ImplementationDeclaration> implementations;
  Presentation presentation;
};

ExperimentDeclaration declaration_of(const Experiment& experiment);
nlohmann::json to_json(const ExperimentDeclaration& declaration);
// Throws InputError naming what is malformed.
ExperimentDeclaration declaration_from_json(const nlohmann::json& j);
// Every registered experiment, by name: what context.talklab.experiments holds.
nlohmann::json registered_declarations_json();

}  // namespace talklab
