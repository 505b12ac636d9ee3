#include "harness/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <regex>
#include <set>

#include "harness/registry.h"

namespace talklab {
namespace {

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The axes' values for one experiment after overrides; the sizes drive the product.
std::vector<std::vector<AxisValue>> axis_values(const Experiment& e, const ExperimentProfile& ep,
                                                const std::vector<AxisOverride>& overrides) {
  std::vector<std::vector<AxisValue>> out;
  for (const Axis& axis : e.axes) {
    std::vector<AxisValue> values = ep.axes.at(axis.name).values;
    for (const AxisOverride& o : overrides) {
      if (o.axis != axis.name) continue;
      values.clear();
      for (const std::string& text : o.values) {
        std::string error;
        const auto v = axis.parse(text, &error);
        if (!v) throw InputError(fmt::format("--set {}: {}", o.axis, error));
        values.push_back(*v);
      }
    }
    out.push_back(std::move(values));
  }
  return out;
}

// Every point: a mixed-radix counter over the axes, where the axes of a zip group share one digit.
std::vector<Params> points(const Experiment& e, const ExperimentProfile& ep,
                           const std::vector<std::vector<AxisValue>>& values) {
  const size_t n = e.axes.size();
  std::vector<int> group_of(n, -1);
  std::vector<std::vector<size_t>> digits;  // each digit: the axes it drives
  for (const auto& group : ep.zip) {
    std::vector<size_t> members;
    for (const auto& name : group) {
      for (size_t i = 0; i < n; ++i) {
        if (e.axes[i].name == name && group_of[i] < 0) {
          group_of[i] = int(digits.size());
          members.push_back(i);
        }
      }
    }
    size_t len = values[members.front()].size();
    for (size_t m : members) {
      if (values[m].size() != len) {
        throw InputError(fmt::format("zipped axes of '{}' have different numbers of values after --set", e.name));
      }
    }
    digits.push_back(std::move(members));
  }
  for (size_t i = 0; i < n; ++i) {
    if (group_of[i] < 0) {
      group_of[i] = int(digits.size());
      digits.push_back({i});
    }
  }
  // The first axis varies slowest, so cases read in the declared order.
  std::sort(digits.begin(), digits.end());
  std::vector<size_t> radix, index(digits.size(), 0);
  for (const auto& d : digits) radix.push_back(values[d.front()].size());

  std::vector<Params> out;
  while (true) {
    Params p;
    std::vector<size_t> pick(n, 0);
    for (size_t d = 0; d < digits.size(); ++d) {
      for (size_t axis : digits[d]) pick[axis] = index[d];
    }
    for (size_t i = 0; i < n; ++i) p.set(e.axes[i].name, values[i][pick[i]]);
    out.push_back(std::move(p));
    size_t d = digits.size();
    while (d > 0) {
      --d;
      if (++index[d] < radix[d]) break;
      index[d] = 0;
      if (d == 0) return out;
    }
    if (digits.empty()) return out;
  }
}

}  // namespace

AxisOverride parse_override(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(fmt::format("--set '{}': expected NAME=V1,V2,...", text));
  }
  AxisOverride o;
  o.axis = text.substr(0, eq);
  std::string error;
  if (!split_list(text.substr(eq + 1), &o.values, &error)) throw InputError(fmt::format("--set {}: {}", o.axis, error));
  return o;
}

std::string case_name(const Experiment& experiment, const Implementation& impl, const Params& params) {
  std::string name = experiment.name + "/" + impl.name;
  const std::string path = params.path();
  if (!path.empty()) name += "/" + path;
  return name + "/device=" + device_name(impl.device);
}

Work declared_work(const PlannedCase& planned, const CaseContext& ctx) {
  return planned.implementation->work ? planned.implementation->work(ctx) : planned.experiment->work(ctx);
}

std::vector<PlannedCase> make_plan(const Registry& registry, const Profile& profile, const PlanOptions& options) {
  std::regex filter;
  try {
    filter = std::regex(options.filter.empty() ? std::string(".") : options.filter, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw InputError(fmt::format("--filter '{}' is not a valid regular expression: {}", options.filter, e.what()));
  }

  std::vector<PlannedCase> plan;
  std::set<std::string> used_axes_of_matches, all_axes, seen;  // seen: sweeps may overlap
  for (const Experiment& e : registry.experiments()) {
    for (const Axis& a : e.axes) all_axes.insert(a.name);
    const auto sweeps = profile.experiments.find(e.name);
    if (sweeps == profile.experiments.end()) continue;  // this profile does not run it
    std::vector<AxisOverride> applicable;
    for (const AxisOverride& o : options.overrides) {
      if (e.find_axis(o.axis) != nullptr) applicable.push_back(o);
    }
    for (const ExperimentProfile& sweep : sweeps->second) {
      const auto values = axis_values(e, sweep, applicable);
      for (const Params& p : points(e, sweep, values)) {
        for (const Implementation& impl : e.implementations) {
          if (std::find(options.devices.begin(), options.devices.end(), impl.device) == options.devices.end()) continue;
          if (!sweep.implementations.empty() &&
              std::find(sweep.implementations.begin(), sweep.implementations.end(), impl.name) ==
                  sweep.implementations.end()) {
            continue;
          }
          if (impl.applies && !impl.applies(p)) continue;
          PlannedCase c;
          c.name = case_name(e, impl, p);
          if (!std::regex_search(c.name, filter) || !seen.insert(c.name).second) continue;
          c.experiment = &e;
          c.implementation = &impl;
          c.params = p;
          c.device = impl.device;
          if (e.skip) c.skip_reason = e.skip(p);
          if (c.skip_reason.empty() && !impl.make) c.skip_reason = impl.missing_reason;
          if (c.skip_reason.empty() && impl.skip) c.skip_reason = impl.skip(p);
          if (c.skip_reason.empty() && c.device == Device::cuda) c.skip_reason = options.cuda_unavailable_reason;
          for (const Axis& a : e.axes) used_axes_of_matches.insert(a.name);
          plan.push_back(std::move(c));
        }
      }
    }
  }
  for (const AxisOverride& o : options.overrides) {
    if (all_axes.count(o.axis) == 0) {
      throw InputError(fmt::format("--set: unknown axis '{}' (valid: {})", o.axis, join(all_axes)));
    }
    if (!plan.empty() && used_axes_of_matches.count(o.axis) == 0) {
      throw InputError(fmt::format("--set: axis '{}' does not apply to the selected cases (their axes: {})", o.axis,
                                   join(used_axes_of_matches)));
    }
  }
  if (plan.empty()) {
    std::vector<std::string> devices;
    for (Device d : options.devices) devices.emplace_back(device_name(d));
    throw InputError(fmt::format("--filter '{}' matches no case of profile '{}' on device {}", options.filter,
                                 profile.name, fmt::join(devices, ",")));
  }
  return plan;
}

}  // namespace talklab
