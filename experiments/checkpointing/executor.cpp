#include "experiments/checkpointing/executor.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/checkpointing/interpreter.h"
#include "experiments/checkpointing/ops.h"
#include "harness/memory.h"

namespace talklab::experiments::checkpointing {
namespace {

class AtenBackend {
 public:
  using Tensor = at::Tensor;
  static bool defined(const Tensor& t) { return t.defined(); }

  AtenBackend(const Graph& g, const ModelTensors& m, std::vector<at::Tensor>* grads, int64_t base)
      : g_(g), m_(m), grads_(grads), base_(base) {}

  Tensor forward(const Node& n, const std::vector<Tensor>& values) {
    Tensor out = op_forward(g_, n, values, m_.params);
    if (n.output == g_.loss) loss = out;
    return out;
  }
  std::vector<Tensor> backward(const Node& n, const std::vector<Tensor>& values, const Tensor& grad_out) {
    at::Tensor unused;
    return op_backward(g_, n, values, grad_out, m_.params, n.param >= 0 ? &(*grads_)[size_t(n.param)] : &unused);
  }
  Tensor loss_seed() { return at::ones({}, at::kFloat); }
  void accumulate(Tensor& into, const Tensor& more) { into.add_(more); }
  void boundary(const std::vector<Tensor>&) { boundary_bytes = memory::current_bytes() - base_; }
  void begin_step(const Step&) {}

  at::Tensor loss;
  int64_t boundary_bytes = 0;

 private:
  const Graph& g_;
  const ModelTensors& m_;
  std::vector<at::Tensor>* grads_;
  int64_t base_;
};

}  // namespace

ModelTensors make_model(const Graph& g, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  ModelTensors m;
  for (const Param& p : g.params) {
    if (p.rows == 1) {
      m.params.push_back(at::randn({1, p.cols}, gen, at::kFloat).mul_(0.1).add_(1.0));
    } else {
      m.params.push_back(at::randn({p.rows, p.cols}, gen, at::kFloat).mul_(1.0 / std::sqrt(double(p.rows))));
    }
  }
  const Value& x = g.values[size_t(g.input)];
  m.input = at::randn({x.rows, x.cols}, gen, at::kFloat);
  m.target = at::randn({x.rows, x.cols}, gen, at::kFloat);
  return m;
}

Executor::Executor(const Graph& g, const Plan& plan) : g_(g), schedule_(build_schedule(g, plan)) {}

Accuracy compare_grads(const std::vector<at::Tensor>& out, const std::vector<at::Tensor>& ref, double tolerance) {
  Accuracy worst;
  worst.passed = true;
  worst.max_rel_error = 0;
  if (out.size() != ref.size()) {
    worst.passed = false;
    worst.error = fmt::format("{} gradients, reference has {}", out.size(), ref.size());
    return worst;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].defined()) {
      worst.passed = false;
      worst.error = fmt::format("parameter {} has no gradient", i);
      return worst;
    }
    const at::Tensor o = out[i].contiguous(), r = ref[i].contiguous();
    const float* op = o.data_ptr<float>();
    const double* rp = r.data_ptr<double>();
    AccuracyAccumulator acc;
    for (int64_t j = 0; j < o.numel(); ++j) acc.add(double(op[j]), rp[j], "gradient");
    const Accuracy a = acc.finish(Tolerance{tolerance});
    worst.max_abs_error = std::max(worst.max_abs_error, a.max_abs_error);
    worst.max_rel_error = std::max(worst.max_rel_error, a.max_rel_error);
    worst.sqnr_db = std::min(worst.sqnr_db, a.sqnr_db);
    worst.checked_elements += a.checked_elements;
    if (!a.passed && worst.passed) {
      worst.passed = false;
      worst.error = fmt::format("parameter {}: {}", i, a.error);
    }
  }
  return worst;
}

StepMemory Executor::run(const ModelTensors& m, std::vector<at::Tensor>* param_grads, at::Tensor* loss) const {
  param_grads->assign(g_.params.size(), at::Tensor());
  StepMemory out;
  const int64_t base = memory::current_bytes();
  out.live_before = base;
  memory::reset_peak();
  {
    AtenBackend be(g_, m, param_grads, base);
    interpret(g_, schedule_, be, m.input, m.target);
    out.boundary_bytes = be.boundary_bytes;
    if (loss != nullptr) *loss = be.loss;
  }
  out.peak_bytes = memory::peak_bytes() - base;
  return out;
}

}  // namespace talklab::experiments::checkpointing
