// One walk over a schedule, shared by the executor (ATen tensors) and the simulator (byte counts), so the
// simulator predicts the executor's allocations in the same order: same handles, same lifetimes, same
// gradient accumulation. A Backend provides
//   using Tensor = ...;                        // reference-counted handle; empty when default-constructed
//   static bool defined(const Tensor&);
//   Tensor forward(const Node&, const std::vector<Tensor>& values);  // allocates and returns the output
//   std::vector<Tensor> backward(const Node&, const std::vector<Tensor>& values, const Tensor& grad_out);
//       // one gradient per input (empty where none is needed; add passes grad_out itself), parameter
//       // gradients kept by the backend
//   Tensor loss_seed();                        // d loss / d loss = 1
//   void accumulate(Tensor& into, const Tensor& more);  // into += more, in place
//   void boundary(const std::vector<Tensor>& values);   // end of the forward
//   void begin_step(const Step&);
#pragma once

#include <vector>

#include "experiments/checkpointing/schedule.h"

namespace talklab::experiments::checkpointing {

template <class Backend>
void interpret(const Graph& g, const Schedule& s, Backend& be, typename Backend::Tensor input,
               typename Backend::Tensor target) {
  using Tensor = typename Backend::Tensor;
  std::vector<Tensor> values(g.values.size()), grads(g.values.size());
  values[size_t(g.input)] = std::move(input);
  values[size_t(g.target)] = std::move(target);
  for (const Step& step : s.steps) {
    be.begin_step(step);
    switch (step.kind) {
      case Step::forward:
      case Step::recompute: {
        const Node& n = g.nodes[size_t(step.node)];
        values[size_t(n.output)] = be.forward(n, values);
        break;
      }
      case Step::free_value: values[size_t(step.value)] = Tensor(); break;
      case Step::boundary: be.boundary(values); break;
      case Step::backward: {
        const Node& n = g.nodes[size_t(step.node)];
        const Tensor grad_out = n.output == g.loss ? be.loss_seed() : std::move(grads[size_t(n.output)]);
        grads[size_t(n.output)] = Tensor();
        std::vector<Tensor> grad_in = be.backward(n, values, grad_out);
        for (size_t j = 0; j < grad_in.size(); ++j) {
          if (!Backend::defined(grad_in[j])) continue;
          Tensor& slot = grads[size_t(n.inputs[j])];
          if (!Backend::defined(slot)) {
            slot = std::move(grad_in[j]);
          } else {
            be.accumulate(slot, grad_in[j]);  // the residual stream: every branch is consumed before this
          }
        }
        break;
      }
    }
  }
}

}  // namespace talklab::experiments::checkpointing
