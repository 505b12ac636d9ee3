// The Python anchors: the PyTorch code users actually run (torch.compile'd FlexAttention, Inductor's GEMM
// template, the compiled partitioner under an activation memory budget), run inside bench by an embedded CPython
// on the case's own tensors, timed by the same sampler, gated by the same float64 check, and counted by the same
// tracking allocator as every other case.
//
// One interpreter per process, started on first use, never finalized (PyTorch's extension modules do not survive
// Py_Finalize). It is the interpreter of the venv whose torch the binary links (TALKLAB_PYTHON at build time; the
// environment variable of the same name overrides it), and `import torch` in it loads the very libtorch_cpu.so
// bench already mapped: the start refuses an interpreter whose torch lives elsewhere, since its tensors would then
// come from another allocator and another thread pool.
//
// Tensors cross without a copy, both ways, through DLPack: Python receives views of the case's tracked buffers and
// hands back tensors that Python allocated through the same (tracking) c10 allocator.
//
// Failures: anything Python raises while an anchor is prepared or compiled (a mask flex_attention cannot express,
// a compile that fails, a PyTorch too old for a feature) becomes CaseSkipped with Python's own message; a raise
// while it is timed is a crash of the case, as a C++ exception would be.
//
// This file and torch_glue.h are the harness headers that include ATen; python.cpp is the only file that includes
// Python's headers (pybind11's embedding API, as shipped inside the torch wheel).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "harness/experiment.h"
#include "harness/python_runtime.h"

namespace talklab::python {

// Keyword arguments of an anchor's prepare function.
class Args {
 public:
  using Value = std::variant<at::Tensor, std::vector<at::Tensor>, int64_t, double, bool, std::string,
                             std::vector<int64_t>, std::vector<double>>;
  Args& set(std::string name, Value value) {
    values_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  const std::vector<std::pair<std::string, Value>>& values() const { return values_; }

 private:
  std::vector<std::pair<std::string, Value>> values_;
};

// A prepared anchor: `function(**args)` of a Python file beside an experiment (path relative to the source tree,
// e.g. "experiments/attention/torch_flex.py"), which returns an object with
//   run()        the timed call: returns a tensor, a tuple/list of tensors, or None
//   counters     optional dict str -> float (a block mask's build time, say), read after timing
//   labels       optional dict str -> str (the block size flex chose, the backend), read after the checked run
// The module is imported once per process (by file path, under the module name "talklab_anchor_<stem>").
// Each anchor starts from torch._dynamo.reset(), and the interpreter runs with Dynamo's
// fail_on_recompile_limit_hit: Dynamo compiles a function at most recompile_limit (8) times per process, then
// silently runs it uncompiled, so the ninth torch_flex case of a run timed flex_attention's unfused math (on the
// Zen 3 guest: 1.06 s and 1.4 GiB for a 32k decode step the compiled kernel takes in 79 ms). Reset, a case's
// compiles never count against another's (Inductor's on-disk caches stay warm); should one case still hit the limit,
// it is skipped with Dynamo's message instead of timing the fallback.
class Anchor {
 public:
  Anchor(const std::string& file, const std::string& function, const Args& args);  // throws CaseSkipped
  ~Anchor();
  Anchor(const Anchor&) = delete;
  Anchor& operator=(const Anchor&) = delete;

  std::vector<at::Tensor> run();  // throws std::runtime_error with Python's message
  Counters counters() const;
  Labels labels() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A case whose computation is a Python anchor. The experiment's subclass fills its inputs and names the anchor's
// arguments (anchor_args, called once in setup), and checks outputs() against its float64 reference. setup() then
// prepares the anchor (counter prepare_s: what the anchor does before its first call, a block mask's build say)
// and makes the first call, timed as compile_s: torch.compile compiles there, so no sample ever contains
// compilation (time to first result = prepare_s + compile_s). The tracking allocator's peak is reset after that
// first call: the case's peak is what a warm call needs (inputs, outputs, workspaces), not what compiling did.
class AnchorCase : public Case {
 public:
  AnchorCase(std::string file, std::string function) : file_(std::move(file)), function_(std::move(function)) {}
  void setup() override;
  void poison() override { outputs_.clear(); }
  void run() override { outputs_ = anchor_->run(); }
  void add_counters(Counters& out) override;
  void add_labels(Labels& out) override;

 protected:
  virtual Args anchor_args() = 0;
  // The tensors the last run returned (empty after poison()).
  const std::vector<at::Tensor>& outputs() const { return outputs_; }

 private:
  std::string file_, function_;
  std::unique_ptr<Anchor> anchor_;
  std::vector<at::Tensor> outputs_;
  double prepare_s_ = 0, compile_s_ = 0;
};

// The make/missing_reason of an Implementation whose cases are AnchorCases: where this build has no interpreter,
// the implementation stays declared (bench list shows it) and its cases are skipped with the reason.
template <class C>
void make_anchor(Implementation& impl) {
  impl.embedded_python = true;
  if (!compiled_in()) {
    impl.missing_reason = missing_reason();
    return;
  }
  impl.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<C>(ctx); };
}

}  // namespace talklab::python
