// The charts of a talk page, one generic builder per declared kind (harness/presentation.h): see charts.h.
#include "harness/report/charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "harness/report/case_axes.h"

namespace talklab::report {
namespace {

constexpr const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";

// The varying axes other than `used` (and the device, when it varies), as one string: cases that differ only there
// stay on separate lines.
std::string variant(const CaseView& c, const AxisSplit& axes, const std::vector<std::string>& used,
                    const ExperimentDeclaration& d) {
  std::string out;
  for (const std::string& axis : axes.varying) {
    if (axis == "device" || std::find(used.begin(), used.end(), axis) != used.end() || !applies(d, c, axis)) continue;
    out += (out.empty() ? "" : " ") + axis + "=" + c.param(axis);
  }
  if (std::find(axes.varying.begin(), axes.varying.end(), "device") != axes.varying.end()) out += " " + c.device;
  return out.empty() ? "-" : out;
}

json facet_wrap(json data, const std::string& facet_title, json spec, int columns) {
  return {{"$schema", kSchema},
          {"data", {{"values", std::move(data)}}},
          {"facet", {{"field", "panel"}, {"type", "nominal"}, {"title", facet_title}}},
          {"columns", columns},
          {"spec", std::move(spec)},
          {"resolve", {{"scale", {{"y", "independent"}}}}}};
}

std::string panel_of(const std::string& base, const CaseView& c, const std::vector<Run>& runs) {
  return runs.size() > 1 ? base + " · " + runs[c.run].label : base;
}

// "causal" for one axis, "K=4096 N=14336" for several.
std::string combination(const CaseView& c, const std::vector<std::string>& axes) {
  if (axes.size() == 1) return axis_value(c, axes[0]);
  std::string out;
  for (const std::string& a : axes) out += (out.empty() ? "" : " ") + a + "=" + axis_value(c, a);
  return out;
}

std::string joined(const std::vector<std::string>& axes) {
  std::string out;
  for (const std::string& a : axes) out += (out.empty() ? "" : ", ") + a;
  return out;
}

// What a metric is called on an axis.
std::string metric_title(const std::string& m, bool log) {
  if (m == "time") return log ? "median time (ms)" : "median time (ms)";
  if (m == "tflops") return "TFLOP/s (TOP/s for int8)";
  if (m == "sqnr_db") return "SQNR (dB) against the float64 product";
  if (m == "peak_memory") return "peak memory (MiB)";
  return m;
}

// Times are drawn in ms and bytes in MiB; the rest as recorded.
double metric_scale(const std::string& m) {
  if (m == "time" || m.ends_with("_s")) return 1e3;
  if (m == "peak_memory" || m.ends_with("_bytes")) return 1.0 / (1024.0 * 1024.0);
  return 1.0;
}

// The cases a chart draws: measured, selected by `where`, and its implementations (by default the technique's).
std::vector<const CaseView*> drawn(const ChartSpec& spec, const std::vector<const CaseView*>& cases, const Corpus& corpus) {
  std::vector<const CaseView*> out;
  for (const CaseView* c : cases) {
    if (c->status != "ok" || !matches(*c, spec.where)) continue;
    const bool chosen = spec.implementations.empty()
                            ? !corpus.is_helper(*c)
                            : std::find(spec.implementations.begin(), spec.implementations.end(), c->implementation) !=
                                  spec.implementations.end();
    if (chosen) out.push_back(c);
  }
  return out;
}

json axis_value_json(const CaseView& c, const std::string& axis) {
  return c.params.contains(axis) ? c.params[axis] : json(axis_value(c, axis));
}

std::optional<Chart> line_chart(const ChartSpec& spec, const std::vector<const CaseView*>& all, const Corpus& corpus) {
  const std::vector<const CaseView*> cases = drawn(spec, all, corpus);
  if (cases.empty()) return std::nullopt;
  const ExperimentDeclaration& d = corpus.declaration(cases.front()->experiment);
  const AxisSplit axes = split_axes(cases, d);
  std::vector<std::string> used = spec.facets;
  used.push_back(spec.x);
  if (!spec.dash.empty()) used.push_back(spec.dash);
  // A panel with one x value holds a point, not a line: such points are in the tables (and the headline).
  std::map<std::string, std::set<std::string>> xs;
  for (const CaseView* c : cases) xs[panel_of(combination(*c, spec.facets), *c, corpus.runs)].insert(axis_value(*c, spec.x));
  json data = json::array();
  for (const CaseView* c : cases) {
    const std::string panel = panel_of(combination(*c, spec.facets), *c, corpus.runs);
    const auto y = metric(*c, spec.y);
    if (!y || xs[panel].size() < 2) continue;
    json row = {{"panel", panel}, {"x", axis_value_json(*c, spec.x)}, {"implementation", c->implementation},
                {"y", *y * metric_scale(spec.y)}, {"variant", variant(*c, axes, used, d)}};
    if (!spec.dash.empty()) row["dash"] = axis_value(*c, spec.dash);
    data.push_back(std::move(row));
  }
  if (data.empty()) return std::nullopt;
  const json log = {{"type", "log"}};
  json x = {{"field", "x"}, {"type", "quantitative"}, {"title", spec.x}};
  json y = {{"field", "y"}, {"type", "quantitative"}, {"title", metric_title(spec.y, spec.log_y)}};
  if (spec.log_x) x["scale"] = log;
  if (spec.log_y) y["scale"] = log;
  json enc = {{"x", x}, {"y", y}, {"color", {{"field", "implementation"}, {"type", "nominal"}}},
              {"detail", {{"field", "variant"}, {"type", "nominal"}}},
              {"tooltip", json::array({{{"field", "implementation"}}, {{"field", "x"}, {"title", spec.x}},
                                       {{"field", "y"}, {"title", metric_title(spec.y, false)}, {"format", ".3f"}},
                                       {{"field", "variant"}}})}};
  if (!spec.dash.empty()) enc["strokeDash"] = {{"field", "dash"}, {"type", "nominal"}, {"title", spec.dash}};
  json inner = {{"width", 240}, {"height", 180}, {"mark", {{"type", "line"}, {"point", true}}}, {"encoding", enc}};
  return Chart{"", spec.title, spec.caption, facet_wrap(std::move(data), joined(spec.facets), std::move(inner), 4)};
}

std::optional<Chart> points_chart(const ChartSpec& spec, const std::vector<const CaseView*>& all, const Corpus& corpus) {
  json data = json::array();
  for (const CaseView* c : drawn(spec, all, corpus)) {
    const auto y = metric(*c, spec.y);
    if (!y) continue;
    data.push_back({{"run", corpus.runs[c->run].label}, {"x", axis_value(*c, spec.x)},
                    {"series", combination(*c, spec.facets)}, {"y", *y * metric_scale(spec.y)}});
  }
  if (data.empty()) return std::nullopt;
  json enc = {{"x", {{"field", "x"}, {"type", "nominal"}, {"title", spec.x}, {"sort", nullptr}}},
              {"y", {{"field", "y"}, {"type", "quantitative"}, {"title", metric_title(spec.y, spec.log_y)}}},
              {"color", {{"field", "series"}, {"type", "nominal"}, {"title", joined(spec.facets)}}},
              {"tooltip", json::array({{{"field", "x"}, {"title", spec.x}}, {{"field", "series"}, {"title", joined(spec.facets)}},
                                       {{"field", "y"}, {"title", metric_title(spec.y, false)}, {"format", ".3f"}}})}};
  if (spec.log_y) enc["y"]["scale"] = {{"type", "log"}};
  json out = {{"$schema", kSchema}, {"data", {{"values", std::move(data)}}}, {"width", 520}, {"height", 240},
              {"mark", {{"type", "point"}, {"filled", true}, {"size", 70}}}, {"encoding", enc}};
  std::set<std::string> runs;
  for (const json& row : out["data"]["values"]) runs.insert(row["run"].get<std::string>());
  if (runs.size() > 1) out["encoding"]["shape"] = {{"field", "run"}, {"type", "nominal"}};
  return Chart{"", spec.title, spec.caption, std::move(out)};
}

// Implementations swept over the axis x are lines (a point per value); the others, single points.
std::optional<Chart> pareto_chart(const ChartSpec& spec, const std::vector<const CaseView*>& all, const Corpus& corpus) {
  const std::vector<const CaseView*> cases = drawn(spec, all, corpus);
  if (cases.empty()) return std::nullopt;
  std::map<std::string, std::set<std::string>> swept;
  for (const CaseView* c : cases) swept[c->implementation].insert(c->param(spec.x));
  const AxisSplit axes = split_axes(cases, corpus.declaration(cases.front()->experiment));
  // A panel per model (the axes that vary, other than the swept one); where no axis varies, a panel per run, titled
  // so: a "-" model label over the chart says nothing.
  const auto model_of = [&](const CaseView& c) { return variant(c, axes, {spec.x}, corpus.declaration(c.experiment)); };
  const bool models = std::any_of(cases.begin(), cases.end(), [&](const CaseView* c) { return model_of(*c) != "-"; });
  json data = json::array();
  for (const CaseView* c : cases) {
    if (!c->median_s || !c->peak_bytes) continue;
    const bool line = swept[c->implementation].size() > 1;
    const std::string panel = models ? panel_of(model_of(*c), *c, corpus.runs)
                                     : corpus.runs.size() > 1 ? corpus.runs[c->run].label : "this run";
    data.push_back({{"panel", panel},
                    {"implementation", c->implementation},
                    {"kind", line ? "solver" : "policy"},
                    {"budget", line ? json(std::stod(c->param(spec.x))) : json(nullptr)},
                    {"step_ms", *c->median_s * 1e3},
                    {"peak_mib", *c->peak_bytes / (1024.0 * 1024.0)}});
  }
  if (data.empty()) return std::nullopt;
  const json x = {{"field", "step_ms"}, {"type", "quantitative"}, {"title", "step time (ms)"}, {"scale", {{"zero", false}}}};
  const json y = {{"field", "peak_mib"}, {"type", "quantitative"}, {"title", "measured peak (MiB)"}, {"scale", {{"zero", false}}}};
  const json color = {{"field", "implementation"}, {"type", "nominal"}};
  const json tooltip = json::array({{{"field", "implementation"}}, {{"field", "budget"}, {"title", spec.x}}, {{"field", "step_ms"}, {"format", ".2f"}},
                                    {{"field", "peak_mib"}, {"format", ".1f"}}});
  json lines = {{"transform", json::array({{{"filter", "datum.kind === 'solver'"}}})},
                {"mark", {{"type", "line"}, {"point", true}}},
                {"encoding", {{"x", x}, {"y", y}, {"color", color}, {"order", {{"field", "budget"}, {"type", "quantitative"}}},
                              {"tooltip", tooltip}}}};
  json points = {{"transform", json::array({{{"filter", "datum.kind === 'policy'"}}})},
                 {"mark", {{"type", "point"}, {"filled", true}, {"size", 90}}},
                 {"encoding", {{"x", x}, {"y", y}, {"color", color}, {"shape", color}, {"tooltip", tooltip}}}};
  json inner = {{"width", 360}, {"height", 260}, {"layer", json::array({lines, points})}};
  return Chart{"", spec.title, spec.caption, facet_wrap(std::move(data), models ? "model" : "run", std::move(inner), 2)};
}


}  // namespace

// Each case at (arithmetic intensity, achieved rate) under its run's measured ceilings.
std::optional<Chart> roofline_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  json data = json::array();
  std::map<size_t, std::pair<double, double>> range;  // run -> intensity range of its cases
  std::map<size_t, std::set<std::string>> devices;
  for (const CaseView* c : cases) {
    if (c->status != "ok" || !c->median_s || c->flops <= 0 || c->bytes <= 0) continue;
    const double intensity = c->flops / c->bytes;
    data.push_back({{"panel", runs.size() > 1 ? runs[c->run].label : "this run"},
                    {"layer", "case"},
                    {"intensity", intensity},
                    {"gflops", c->flops / *c->median_s / 1e9},
                    {"experiment", c->experiment},
                    {"implementation", c->implementation},
                    {"case", c->name}});
    auto [it, inserted] = range.try_emplace(c->run, intensity, intensity);
    it->second.first = std::min(it->second.first, intensity);
    it->second.second = std::max(it->second.second, intensity);
    devices[c->run].insert(c->device);
  }
  if (data.empty()) return std::nullopt;
  for (const auto& [run, r] : range) {
    const json& roof = field(field(runs[run].doc->context, "talklab"), "roofline");
    for (const std::string& device : devices[run]) {
      const json& ceil = field(roof, device.c_str());
      const auto bw = number(field(ceil, "bandwidth_bytes_per_s"));
      if (!bw) continue;
      const double lo = std::log10(r.first / 8), hi = std::log10(r.second * 8);
      for (const auto& [kind, ops] : field(ceil, "peak_ops_per_s").items()) {
        const auto peak = number(ops);
        if (!peak) continue;
        constexpr int kSteps = 48;
        for (int i = 0; i <= kSteps; ++i) {
          const double x = std::pow(10.0, lo + (hi - lo) * i / kSteps);
          data.push_back({{"panel", runs.size() > 1 ? runs[run].label : "this run"},
                          {"layer", "ceiling"},
                          {"ceiling", device + " " + kind},
                          {"intensity", x},
                          {"gflops", std::min(*peak, *bw * x) / 1e9}});
        }
      }
    }
  }
  const json x = {{"field", "intensity"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}},
                  {"title", "arithmetic intensity (FLOP per byte of declared traffic)"}};
  const json y = {{"field", "gflops"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "GFLOP/s (GOP/s for int8)"}};
  json ceilings = {{"transform", json::array({{{"filter", "datum.layer === 'ceiling'"}}})},
                   {"mark", {{"type", "line"}, {"strokeWidth", 1.5}}},
                   {"encoding", {{"x", x}, {"y", y}, {"strokeDash", {{"field", "ceiling"}, {"type", "nominal"}, {"title", "ceiling"}}},
                                 {"color", {{"value", "#888"}}}}}};
  json points = {{"transform", json::array({{{"filter", "datum.layer === 'case'"}}})},
                 {"mark", {{"type", "point"}, {"filled", true}, {"opacity", 0.8}}},
                 {"encoding", {{"x", x}, {"y", y}, {"color", {{"field", "implementation"}, {"type", "nominal"}}},
                               {"shape", {{"field", "experiment"}, {"type", "nominal"}}},
                               {"tooltip", json::array({{{"field", "case"}}, {{"field", "gflops"}, {"format", ".1f"}},
                                                        {{"field", "intensity"}, {"format", ".2f"}}})}}}};
  json spec = {{"width", 520}, {"height", 320}, {"layer", json::array({ceilings, points})}};
  return Chart{"", "Roofline: each case against this machine's measured ceilings",
               "Ceilings are the peaks bench measured at the start of the run (min of compute peak and bandwidth x "
               "intensity); a case's intensity uses its declared FLOPs and fewest bytes.",
               facet_wrap(std::move(data), "run", std::move(spec), 1)};
}

std::optional<Chart> draw_chart(const ChartSpec& spec, const std::vector<const CaseView*>& cases, const Corpus& corpus) {
  switch (spec.kind) {
    case ChartKind::line: return line_chart(spec, cases, corpus);
    case ChartKind::points: return points_chart(spec, cases, corpus);
    case ChartKind::pareto: return pareto_chart(spec, cases, corpus);
    default: return std::nullopt;  // the roofline is drawn once per page; tables are tables (declared_tables.h)
  }
}

}  // namespace talklab::report
