// How a set of cases is named: see case_axes.h.
#include "harness/report/case_axes.h"

#include <map>
#include <set>

namespace talklab::report {

AxisSplit split_axes(const std::vector<const CaseView*>& cases) {
  std::vector<std::string> order;
  std::map<std::string, std::set<std::string>> values;
  for (const CaseView* c : cases) {
    for (const auto& [axis, v] : c->params.items()) {
      if (!values.contains(axis)) order.push_back(axis);
      values[axis].insert(value_text(v));
    }
  }
  std::set<std::string> devices;
  for (const CaseView* c : cases) devices.insert(c->device);
  AxisSplit s;
  for (const std::string& axis : order) {
    if (values[axis].size() > 1) s.varying.push_back(axis);
    else s.fixed.emplace_back(axis, *values[axis].begin());
  }
  if (devices.size() > 1) s.varying.push_back("device");
  else if (!devices.empty()) s.fixed.emplace_back("device", *devices.begin());
  return s;
}

std::string case_label(const CaseView& c, const std::vector<std::string>& axes) {
  std::string out;
  for (const std::string& axis : axes) {
    out += (out.empty() ? "" : " ") + axis + "=" + (axis == "device" ? c.device : c.param(axis));
  }
  return out.empty() ? "-" : out;
}

}  // namespace talklab::report
