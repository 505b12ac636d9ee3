// What an experiment declares for the report: see presentation.h. The JSON form is the one the result schema
// describes (docs/result-schema.json, run_context.experiments).
#include "harness/presentation.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "harness/config.h"
#include "harness/experiment.h"
#include "harness/registry.h"

namespace talklab {
namespace {

using nlohmann::json;

constexpr Provider kProviders[] = {Provider::ours, Provider::pytorch_eager, Provider::pytorch_compiled,
                                   Provider::vendor_library};
constexpr Role kRoles[] = {Role::technique, Role::helper};
constexpr ChartKind kKinds[] = {ChartKind::line,  ChartKind::points, ChartKind::pareto,  ChartKind::roofline,
                                ChartKind::table, ChartKind::sweep,  ChartKind::frontier};
constexpr Column::Relative kRelatives[] = {Column::Relative::value, Column::Relative::ratio, Column::Relative::cut};

const char* relative_name(Column::Relative r) {
  switch (r) {
    case Column::Relative::value: return "value";
    case Column::Relative::ratio: return "ratio";
    case Column::Relative::cut: return "cut";
  }
  return "value";
}

// The enumerator whose name is j's string; InputError naming `what` otherwise.
template <typename E, size_t N, typename Name>
E named(const json& j, const E (&all)[N], Name name_of, const char* what) {
  const std::string s = j.is_string() ? j.get<std::string>() : j.dump();
  const auto it = std::find_if(std::begin(all), std::end(all), [&](E e) { return s == name_of(e); });
  if (it == std::end(all)) throw InputError(fmt::format("experiment declaration: unknown {} {}", what, s));
  return *it;
}

std::string str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> strings(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_array() ? it->get<std::vector<std::string>>() : std::vector<std::string>();
}

json filters_json(const std::vector<AxisFilter>& filters) {
  json out = json::array();
  for (const AxisFilter& f : filters) out.push_back({{"axis", f.axis}, {"values", f.values}});
  return out;
}

std::vector<AxisFilter> filters_from(const json& j, const char* key) {
  std::vector<AxisFilter> out;
  if (const auto it = j.find(key); it != j.end() && it->is_array()) {
    for (const json& f : *it) out.push_back({str(f, "axis"), strings(f, "values")});
  }
  return out;
}

json chart_json(const ChartSpec& c) {
  json columns = json::array();
  for (const Column& col : c.columns) {
    columns.push_back({{"metric", col.metric}, {"title", col.title}, {"relative", relative_name(col.relative)}});
  }
  return {{"id", c.id}, {"title", c.title}, {"caption", c.caption}, {"kind", chart_kind_name(c.kind)},
          {"x", c.x}, {"y", c.y}, {"log_x", c.log_x}, {"log_y", c.log_y}, {"facets", c.facets}, {"dash", c.dash},
          {"implementations", c.implementations}, {"where", filters_json(c.where)}, {"columns", columns},
          {"baseline", c.baseline}};
}

ChartSpec chart_from(const json& j) {
  ChartSpec c;
  c.id = str(j, "id");
  c.title = str(j, "title");
  c.caption = str(j, "caption");
  c.kind = named(j.value("kind", json("line")), kKinds, chart_kind_name, "chart kind");
  c.x = str(j, "x");
  c.y = str(j, "y");
  c.log_x = j.value("log_x", false);
  c.log_y = j.value("log_y", false);
  c.facets = strings(j, "facets");
  c.dash = str(j, "dash");
  c.implementations = strings(j, "implementations");
  c.where = filters_from(j, "where");
  if (const auto it = j.find("columns"); it != j.end() && it->is_array()) {
    for (const json& col : *it) {
      c.columns.push_back({str(col, "metric"), str(col, "title"),
                           named(col.value("relative", json("value")), kRelatives, relative_name, "column relative")});
    }
  }
  c.baseline = str(j, "baseline");
  return c;
}

}  // namespace

const char* provider_name(Provider p) {
  switch (p) {
    case Provider::ours: return "ours";
    case Provider::pytorch_eager: return "pytorch_eager";
    case Provider::pytorch_compiled: return "pytorch_compiled";
    case Provider::vendor_library: return "vendor_library";
  }
  return "ours";
}

const char* role_name(Role r) { return r == Role::helper ? "helper" : "technique"; }

bool is_pytorch(Provider p) { return p == Provider::pytorch_eager || p == Provider::pytorch_compiled; }

const char* chart_kind_name(ChartKind k) {
  switch (k) {
    case ChartKind::line: return "line";
    case ChartKind::points: return "points";
    case ChartKind::pareto: return "pareto";
    case ChartKind::roofline: return "roofline";
    case ChartKind::table: return "table";
    case ChartKind::sweep: return "sweep";
    case ChartKind::frontier: return "frontier";
  }
  return "line";
}

ExperimentDeclaration declaration_of(const Experiment& e) {
  ExperimentDeclaration d;
  d.description = e.description;
  d.talks = e.talks;
  for (const Implementation& impl : e.implementations) {
    d.implementations[impl.name] = {impl.provider, impl.role, impl.description};
  }
  d.presentation = e.presentation;
  return d;
}

json to_json(const ExperimentDeclaration& d) {
  json implementations = json::object();
  for (const auto& [name, impl] : d.implementations) {
    implementations[name] = {{"provider", provider_name(impl.provider)}, {"role", role_name(impl.role)},
                             {"description", impl.description}};
  }
  json charts = json::array();
  for (const ChartSpec& c : d.presentation.charts) charts.push_back(chart_json(c));
  json comparisons = json::array();
  for (const KeyComparison& k : d.presentation.headline.comparisons) {
    comparisons.push_back({{"ours", k.ours}, {"where", filters_json(k.where)}, {"largest", k.largest},
                           {"across", k.across}, {"against", k.against}, {"memory", k.memory}});
  }
  json scopes = json::array();
  for (const AxisScope& s : d.presentation.axis_scopes) {
    scopes.push_back({{"axis", s.axis}, {"when", {{"axis", s.when.axis}, {"values", s.when.values}}}});
  }
  return {{"description", d.description},
          {"talks", d.talks},
          {"implementations", implementations},
          {"charts", charts},
          {"headline", {{"chart", d.presentation.headline.chart}, {"comparisons", comparisons}}},
          {"axis_scopes", scopes}};
}

ExperimentDeclaration declaration_from_json(const json& j) {
  if (!j.is_object()) throw InputError("experiment declaration: not an object");
  ExperimentDeclaration d;
  d.description = str(j, "description");
  d.talks = strings(j, "talks");
  if (const auto it = j.find("implementations"); it != j.end() && it->is_object()) {
    for (const auto& [name, impl] : it->items()) {
      d.implementations[name] = {named(impl.value("provider", json("ours")), kProviders, provider_name, "provider"),
                                 named(impl.value("role", json("technique")), kRoles, role_name, "role"),
                                 str(impl, "description")};
    }
  }
  if (const auto it = j.find("charts"); it != j.end() && it->is_array()) {
    for (const json& c : *it) d.presentation.charts.push_back(chart_from(c));
  }
  if (const auto it = j.find("headline"); it != j.end() && it->is_object()) {
    d.presentation.headline.chart = str(*it, "chart");
    if (const auto c = it->find("comparisons"); c != it->end() && c->is_array()) {
      for (const json& k : *c) {
        d.presentation.headline.comparisons.push_back(
            {str(k, "ours"), filters_from(k, "where"), str(k, "largest"), strings(k, "across"), str(k, "against"),
             k.value("memory", std::string("peak_memory"))});
      }
    }
  }
  if (const auto it = j.find("axis_scopes"); it != j.end() && it->is_array()) {
    for (const json& s : *it) {
      const json when = s.value("when", json::object());
      d.presentation.axis_scopes.push_back({str(s, "axis"), {str(when, "axis"), strings(when, "values")}});
    }
  }
  return d;
}

json registered_declarations_json() {
  json out = json::object();
  for (const Experiment& e : registry().experiments()) out[e.name] = to_json(declaration_of(e));
  return out;
}

}  // namespace talklab
