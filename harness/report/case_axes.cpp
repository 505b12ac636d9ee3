// How a set of cases is named: see case_axes.h.
#include "harness/report/case_axes.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>

namespace talklab::report {
namespace {

// " (where mask is sliding_window)": the cases an axis is said for.
std::string where_text(const ExperimentDeclaration& d, const std::string& axis) {
  std::string out;
  for (const AxisScope& s : d.presentation.axis_scopes) {
    if (s.axis != axis) continue;
    out += fmt::format(" (where {} is {})", s.when.axis, fmt::join(s.when.values, " or "));
  }
  return out;
}

}  // namespace

AxisSplit split_axes(const std::vector<const CaseView*>& cases, const ExperimentDeclaration& d) {
  std::vector<std::string> order;
  std::map<std::string, std::set<std::string>> values;
  std::set<std::string> partial;  // axes that apply to some of the cases only
  for (const CaseView* c : cases) {
    for (const auto& [axis, v] : c->params.items()) {
      if (!applies(d, *c, axis)) {
        partial.insert(axis);
        continue;
      }
      if (!values.contains(axis)) order.push_back(axis);
      values[axis].insert(value_text(v));
    }
  }
  std::set<std::string> devices;
  for (const CaseView* c : cases) devices.insert(c->device);
  AxisSplit s;
  for (const std::string& axis : order) {
    if (values[axis].size() > 1) s.varying.push_back(axis);
    else s.fixed.emplace_back(axis, *values[axis].begin() + (partial.contains(axis) ? where_text(d, axis) : ""));
  }
  if (devices.size() > 1) s.varying.push_back("device");
  else if (!devices.empty()) s.fixed.emplace_back("device", *devices.begin());
  return s;
}

std::string case_label(const CaseView& c, const std::vector<std::string>& axes, const ExperimentDeclaration& d) {
  std::string out;
  for (const std::string& axis : axes) {
    if (!applies(d, c, axis)) continue;
    out += (out.empty() ? "" : " ") + axis + "=" + (axis == "device" ? c.device : c.param(axis));
  }
  return out.empty() ? "-" : out;
}

}  // namespace talklab::report
