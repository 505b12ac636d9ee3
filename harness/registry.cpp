#include "harness/registry.h"

#include <stdexcept>

namespace talklab {

const char* device_name(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

const Axis* Experiment::find_axis(const std::string& axis_name) const {
  for (const Axis& a : axes) {
    if (a.name == axis_name) return &a;
  }
  return nullptr;
}

void Registry::add(Experiment experiment) {
  if (experiment.name.empty()) throw std::logic_error("an experiment has no name");
  if (find(experiment.name) != nullptr) {
    throw std::logic_error("experiment '" + experiment.name + "' is registered twice");
  }
  for (const Implementation& impl : experiment.implementations) {
    if (impl.name.empty()) throw std::logic_error("experiment '" + experiment.name + "' has an unnamed implementation");
  }
  if (!experiment.work) throw std::logic_error("experiment '" + experiment.name + "' declares no work");
  experiments_.push_back(std::move(experiment));
}

const Experiment* Registry::find(const std::string& name) const {
  for (const Experiment& e : experiments_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Registry& registry() {
  static Registry instance;
  return instance;
}

ExperimentRegistration::ExperimentRegistration(Experiment (*declare)()) { registry().add(declare()); }

}  // namespace talklab
