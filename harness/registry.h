// The experiments this binary knows. Each experiment registers itself from its own folder with
// TALKLAB_REGISTER_EXPERIMENT; the experiments target is an object library so the linker keeps them.
#pragma once

#include <string>
#include <vector>

#include "harness/experiment.h"

namespace talklab {

class Registry {
 public:
  void add(Experiment experiment);  // throws on a duplicate name or an implementation without a name
  const std::vector<Experiment>& experiments() const { return experiments_; }
  const Experiment* find(const std::string& name) const;

 private:
  std::vector<Experiment> experiments_;
};

Registry& registry();

struct ExperimentRegistration {
  explicit ExperimentRegistration(Experiment (*declare)());
};

}  // namespace talklab

#define TALKLAB_CONCAT_INNER(a, b) a##b
#define TALKLAB_CONCAT(a, b) TALKLAB_CONCAT_INNER(a, b)
// TALKLAB_REGISTER_EXPERIMENT(declare_fn): declare_fn() returns the Experiment; called before main().
#define TALKLAB_REGISTER_EXPERIMENT(declare_fn) \
  static const ::talklab::ExperimentRegistration TALKLAB_CONCAT(talklab_registration_, __LINE__)(declare_fn)
