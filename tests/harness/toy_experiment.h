// A small experiment declared for tests of the planner and the config loader: three typed axes, a CPU and
// a CUDA implementation, a skip rule and an "applies" rule, and no heavy work.
#pragma once

#include "harness/registry.h"

namespace talklab::testing {

inline Experiment toy_experiment() {
  Experiment e;
  e.name = "toy";
  e.description = "a test experiment";
  e.talks = {"flexattention"};
  e.axes = {int_axis("seq", "length"), dtype_axis("dtype", {"f32", "bf16"}, "dtype"),
            string_axis("mode", {"plain", "fancy"}, "mode")};
  e.work = [](const CaseContext& ctx) { return Work{double(ctx.params.integer("seq")), 0, "fp32"}; };
  e.skip = [](const Params& p) { return p.integer("seq") > 1000 ? std::string("seq above 1000 is too long") : ""; };
  Implementation a;
  a.name = "ours";
  a.device = Device::cpu;
  a.make = [](const CaseContext&) -> std::unique_ptr<Case> { return nullptr; };
  Implementation b;
  b.name = "gpu";
  b.device = Device::cuda;
  b.applies = [](const Params& p) { return p.str("mode") == "plain"; };
  e.implementations = {a, b};
  return e;
}

}  // namespace talklab::testing
