// From a profile, the command line's overrides, a filter and the devices to the list of cases to run.
// Points are the product of the axes' values (zipped groups advance together), in the axes' declared
// order; an experiment's `skip` keeps a point in the plan as skipped with its reason.
#pragma once

#include <string>
#include <vector>

#include "harness/config.h"
#include "harness/experiment.h"

namespace talklab {

class Registry;

struct AxisOverride {
  std::string axis;
  std::vector<std::string> values;  // as typed; parsed per experiment by the axis's kind
};

// Parses "NAME=V1,V2" (throws InputError).
AxisOverride parse_override(const std::string& text);

struct PlanOptions {
  std::string filter;  // ECMAScript regex searched in the case name; empty = all
  std::vector<Device> devices{Device::cpu};
  std::vector<AxisOverride> overrides;
  // Non-empty when this machine cannot run CUDA cases: they stay in the plan, skipped with this reason.
  std::string cuda_unavailable_reason;
};

struct PlannedCase {
  std::string name;  // experiment/implementation/axis=value/.../device=D
  const Experiment* experiment = nullptr;
  const Implementation* implementation = nullptr;
  Params params;
  Device device = Device::cpu;
  std::string skip_reason;  // non-empty: recorded as skipped, never run
};

std::string case_name(const Experiment& experiment, const Implementation& impl, const Params& params);

// The work a case declares: its implementation's own where it has one, else its experiment's.
Work declared_work(const PlannedCase& planned, const CaseContext& ctx);

// Throws InputError for an invalid regex, an override of an axis no selected case has (listing the valid
// ones), a value of the wrong type, or a filter that matches no case.
std::vector<PlannedCase> make_plan(const Registry& registry, const Profile& profile, const PlanOptions& options);

}  // namespace talklab
