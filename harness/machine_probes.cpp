#include "harness/machine_probes.h"

#include <memory>
#include <stdexcept>

namespace talklab {
namespace {

std::unique_ptr<MachineProbes>& registered() {
  static std::unique_ptr<MachineProbes> probes;
  return probes;
}

}  // namespace

const MachineProbes* machine_probes() { return registered().get(); }

MachineProbesRegistration::MachineProbesRegistration(MachineProbes (*provide)()) {
  if (registered()) throw std::logic_error("machine probes are registered twice");
  registered() = std::make_unique<MachineProbes>(provide());
}

}  // namespace talklab
