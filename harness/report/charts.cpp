// The charts of a talk page: see charts.h.
#include "harness/report/charts.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "harness/report/case_axes.h"

namespace talklab::report {
namespace {

constexpr const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";

// "run" (several files) and the varying axes other than `used`, as one string: cases that differ only there
// stay on separate lines.
std::string variant(const CaseView& c, const AxisSplit& axes, std::initializer_list<const char*> used) {
  std::string out;
  for (const std::string& axis : axes.varying) {
    if (axis == "device" || std::find_if(used.begin(), used.end(), [&](const char* u) { return axis == u; }) != used.end()) continue;
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

}  // namespace

std::optional<Chart> attention_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  const AxisSplit axes = split_axes(cases);
  json data = json::array();
  for (const CaseView* c : cases) {
    if (c->status != "ok" || !c->median_s || c->implementation.starts_with("blockmask")) continue;
    data.push_back({{"panel", panel_of(c->param("mask"), *c, runs)},
                    {"seq", c->params.value("seq", json(nullptr))},
                    {"dtype", c->param("dtype")},
                    {"implementation", c->implementation},
                    {"time_ms", *c->median_s * 1e3},
                    {"variant", variant(*c, axes, {"mask", "seq", "dtype"})}});
  }
  if (data.empty()) return std::nullopt;
  json enc = {
      {"x", {{"field", "seq"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "sequence length"}}},
      {"y", {{"field", "time_ms"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "median time (ms)"}}},
      {"color", {{"field", "implementation"}, {"type", "nominal"}}},
      {"strokeDash", {{"field", "dtype"}, {"type", "nominal"}}},
      {"detail", {{"field", "variant"}, {"type", "nominal"}}},
      {"tooltip", json::array({{{"field", "implementation"}}, {{"field", "dtype"}}, {{"field", "seq"}},
                               {{"field", "time_ms"}, {"format", ".3f"}}, {{"field", "variant"}}})}};
  json spec = {{"width", 220}, {"height", 170}, {"mark", {{"type", "line"}, {"point", true}}}, {"encoding", enc}};
  return Chart{"", "Attention time against sequence length, per mask and implementation",
               "Median time of one forward call, log-log; one panel per mask, dashes by dtype.",
               facet_wrap(std::move(data), "mask", std::move(spec), 4)};
}

std::vector<Chart> matmul_charts(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  std::vector<Chart> out;
  json rate = json::array(), sqnr = json::array();
  for (const CaseView* c : cases) {
    if (c->status != "ok") continue;
    const std::string shape = "K=" + c->param("K") + " N=" + c->param("N");
    if (c->tflops && *c->tflops > 0) {
      rate.push_back({{"panel", panel_of(shape, *c, runs)},
                      {"M", c->params.value("M", json(nullptr))},
                      {"implementation", c->implementation},
                      {"tflops", *c->tflops}});
    }
    if (c->sqnr_db) {
      sqnr.push_back({{"run", runs[c->run].label}, {"shape", shape}, {"M", c->params.value("M", json(nullptr))},
                      {"implementation", c->implementation}, {"sqnr_db", *c->sqnr_db}});
    }
  }
  if (!rate.empty()) {
    json enc = {
        {"x", {{"field", "M"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "M (tokens)"}}},
        {"y", {{"field", "tflops"}, {"type", "quantitative"}, {"title", "TFLOP/s (TOP/s for int8)"}}},
        {"color", {{"field", "implementation"}, {"type", "nominal"}}},
        {"tooltip", json::array({{{"field", "implementation"}}, {{"field", "M"}}, {{"field", "tflops"}, {"format", ".3f"}}})}};
    json spec = {{"width", 240}, {"height", 180}, {"mark", {{"type", "line"}, {"point", true}}}, {"encoding", enc}};
    out.push_back({"", "Matmul TFLOP/s against M, per recipe", "One panel per (K, N) weight shape.",
                   facet_wrap(std::move(rate), "weight shape", std::move(spec), 4)});
  }
  if (!sqnr.empty()) {
    json enc = {{"x", {{"field", "implementation"}, {"type", "nominal"}, {"title", "recipe"}, {"sort", nullptr}}},
                {"y", {{"field", "sqnr_db"}, {"type", "quantitative"}, {"title", "SQNR (dB) against the float64 product"}}},
                {"color", {{"field", "shape"}, {"type", "nominal"}, {"title", "weight shape"}}},
                {"tooltip", json::array({{{"field", "implementation"}}, {{"field", "shape"}}, {{"field", "M"}},
                                         {{"field", "sqnr_db"}, {"format", ".1f"}}})}};
    json spec = {{"$schema", kSchema},
                 {"data", {{"values", std::move(sqnr)}}},
                 {"width", 520},
                 {"height", 240},
                 {"mark", {{"type", "point"}, {"filled", true}}},
                 {"encoding", enc}};
    if (runs.size() > 1) {
      spec["encoding"]["shape"] = {{"field", "run"}, {"type", "nominal"}};
    }
    out.push_back({"", "SQNR per recipe", "Quantization error of each recipe on randn inputs, every shape measured.",
                   std::move(spec)});
  }
  return out;
}

// Solvers are the implementations swept over a budget; the fixed policies are single points.
std::optional<Chart> pareto_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  std::map<std::string, std::set<std::string>> budgets;
  for (const CaseView* c : cases) {
    if (const std::string b = c->param("budget"); !b.empty()) budgets[c->implementation].insert(b);
  }
  const AxisSplit axes = split_axes(cases);
  json data = json::array();
  for (const CaseView* c : cases) {
    if (c->status != "ok" || !c->median_s || !c->peak_bytes) continue;
    const bool solver = budgets[c->implementation].size() > 1;
    const std::string model = variant(*c, axes, {"budget"});
    data.push_back({{"panel", panel_of(model, *c, runs)},
                    {"implementation", c->implementation},
                    {"kind", solver ? "solver" : "policy"},
                    {"budget", solver ? json(std::stod(c->param("budget"))) : json(nullptr)},
                    {"step_ms", *c->median_s * 1e3},
                    {"peak_mib", *c->peak_bytes / (1024.0 * 1024.0)}});
  }
  if (data.empty()) return std::nullopt;
  const json x = {{"field", "step_ms"}, {"type", "quantitative"}, {"title", "step time (ms)"}, {"scale", {{"zero", false}}}};
  const json y = {{"field", "peak_mib"}, {"type", "quantitative"}, {"title", "measured peak (MiB)"}, {"scale", {{"zero", false}}}};
  const json color = {{"field", "implementation"}, {"type", "nominal"}};
  const json tooltip = json::array({{{"field", "implementation"}}, {{"field", "budget"}}, {{"field", "step_ms"}, {"format", ".2f"}},
                                    {{"field", "peak_mib"}, {"format", ".1f"}}});
  json lines = {{"transform", json::array({{{"filter", "datum.kind === 'solver'"}}})},
                {"mark", {{"type", "line"}, {"point", true}}},
                {"encoding", {{"x", x}, {"y", y}, {"color", color}, {"order", {{"field", "budget"}, {"type", "quantitative"}}},
                              {"tooltip", tooltip}}}};
  json points = {{"transform", json::array({{{"filter", "datum.kind === 'policy'"}}})},
                 {"mark", {{"type", "point"}, {"filled", true}, {"size", 90}}},
                 {"encoding", {{"x", x}, {"y", y}, {"color", color}, {"shape", color}, {"tooltip", tooltip}}}};
  json spec = {{"width", 360}, {"height", 260}, {"layer", json::array({lines, points})}};
  return Chart{"", "Checkpointing: peak memory against step time",
               "One line per budget solver (a point per budget), the fixed policies as points. Lower left is better.",
               facet_wrap(std::move(data), "model", std::move(spec), 2)};
}

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

}  // namespace talklab::report
