#include "experiments/checkpointing/schedule.h"

#include <algorithm>
#include <memory>

#include "experiments/checkpointing/interpreter.h"

namespace talklab::experiments::checkpointing {
namespace {

bool is_external(const Graph& g, int v) { return g.values[size_t(v)].producer < 0; }

class ScheduleBuilder {
 public:
  ScheduleBuilder(const Graph& g, const Plan& plan) : g_(g), plan_(plan), live_(g.values.size(), 0) {}

  Schedule build() {
    for (int i = 0; i < int(g_.nodes.size()); ++i) push(Step::forward, i, g_.nodes[size_t(i)].layer, false);
    raw_.push_back(Step{Step::boundary, -1, -1, int(g_.shape.layers), false});
    for (size_t v = 0; v < g_.values.size(); ++v) {
      live_[v] = is_external(g_, int(v)) || int(v) == g_.loss || plan_.saved[v];
    }
    for (int i = int(g_.nodes.size()) - 1; i >= 0; --i) {
      const Node& n = g_.nodes[size_t(i)];
      if (!g_.has_backward(n)) continue;
      for (int v : g_.backward_needs(n)) ensure(v, n.layer);
      push(Step::backward, i, n.layer, true);
    }
    return with_frees();
  }

 private:
  void push(Step::Kind kind, int node, int layer, bool in_backward) {
    raw_.push_back(Step{kind, node, -1, layer, in_backward});
  }
  // Makes v live before the current backward node, recomputing it (and first its inputs) if needed.
  void ensure(int v, int layer) {
    if (live_[size_t(v)]) return;
    const int p = g_.values[size_t(v)].producer;
    for (int u : g_.nodes[size_t(p)].inputs) ensure(u, layer);
    push(Step::recompute, p, layer, true);
    recomputed_.push_back(p);
    live_[size_t(v)] = 1;
  }
  // Liveness: every instance of a value (its forward computation, or a recompute) is freed right after its
  // last read. A value the plan does not save ends its forward instance at the boundary.
  Schedule with_frees() {
    const size_t nv = g_.values.size();
    std::vector<int> def(nv, -1), last(nv, -1);
    std::vector<std::vector<int>> free_after(raw_.size());
    const auto close = [&](size_t v) {
      if (def[v] < 0 || is_external(g_, int(v)) || int(v) == g_.loss) return;
      free_after[size_t(std::max(def[v], last[v]))].push_back(int(v));
      def[v] = last[v] = -1;
    };
    for (size_t idx = 0; idx < raw_.size(); ++idx) {
      const Step& st = raw_[idx];
      if (st.kind == Step::forward || st.kind == Step::recompute) {
        const Node& n = g_.nodes[size_t(st.node)];
        for (int u : n.inputs) last[size_t(u)] = int(idx);
        close(size_t(n.output));
        def[size_t(n.output)] = int(idx);
      } else if (st.kind == Step::backward) {
        for (int u : g_.backward_needs(g_.nodes[size_t(st.node)])) last[size_t(u)] = int(idx);
      } else if (st.kind == Step::boundary) {
        for (size_t v = 0; v < nv; ++v) {
          if (!plan_.saved[v]) close(v);
        }
      }
    }
    for (size_t v = 0; v < nv; ++v) close(v);
    Schedule s;
    s.recomputed = recomputed_;
    for (size_t idx = 0; idx < raw_.size(); ++idx) {
      s.steps.push_back(raw_[idx]);
      for (int v : free_after[idx]) {
        s.steps.push_back(Step{Step::free_value, -1, v, raw_[idx].layer, raw_[idx].in_backward});
      }
    }
    return s;
  }

  const Graph& g_;
  const Plan& plan_;
  std::vector<char> live_;
  std::vector<Step> raw_;
  std::vector<int> recomputed_;
};

// The simulator's backend: a handle is a shared byte count that leaves the live total when its last
// reference goes, exactly as an ATen tensor's storage does.
class SimBackend {
 public:
  struct Block {
    Block(SimBackend* o, int64_t b) : owner(o), bytes(b) {}
    Block(const Block&) = delete;
    ~Block() { owner->current_ -= bytes; }
    SimBackend* owner;
    int64_t bytes;
  };
  using Tensor = std::shared_ptr<Block>;
  static bool defined(const Tensor& t) { return bool(t); }

  SimBackend(const Graph& g, Prediction& out) : g_(g), out_(out) {
    out_.forward_peak.assign(size_t(g.shape.layers + 1), 0);
    out_.backward_peak.assign(size_t(g.shape.layers + 1), 0);
    out_.boundary_by_layer.assign(size_t(g.shape.layers + 1), 0);
  }

  Tensor external() { return std::make_shared<Block>(this, 0); }  // allocated before the step
  Tensor forward(const Node& n, const std::vector<Tensor>&) {
    Tensor out = allocate(g_.values[size_t(n.output)].bytes);
    touch(g_.scratch_bytes(n, false));
    return out;
  }
  std::vector<Tensor> backward(const Node& n, const std::vector<Tensor>&, const Tensor& grad_out) {
    std::vector<Tensor> grads(n.inputs.size());
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      const Value& in = g_.values[size_t(n.inputs[j])];
      if (!in.requires_grad) continue;
      grads[j] = n.kind == OpKind::add ? grad_out : allocate(in.bytes);
    }
    if (n.param >= 0) param_grads_.push_back(allocate(g_.params[size_t(n.param)].bytes));
    touch(g_.scratch_bytes(n, true));
    return grads;
  }
  Tensor loss_seed() { return allocate(g_.shape.block_bytes(1)); }
  void accumulate(Tensor&, const Tensor&) {}
  void boundary(const std::vector<Tensor>& values) {
    out_.boundary_bytes = current_;
    for (size_t v = 0; v < values.size(); ++v) {
      if (values[v]) out_.boundary_by_layer[size_t(g_.values[v].layer)] += values[v]->bytes;
    }
  }
  void begin_step(const Step& s) { step_ = &s; }

 private:
  Tensor allocate(int64_t bytes) {
    current_ += bytes;
    touch(0);
    return std::make_shared<Block>(this, bytes);
  }
  void touch(int64_t transient) {
    const int64_t now = current_ + transient;
    out_.peak_bytes = std::max(out_.peak_bytes, now);
    std::vector<int64_t>& phase = step_->in_backward ? out_.backward_peak : out_.forward_peak;
    phase[size_t(step_->layer)] = std::max(phase[size_t(step_->layer)], now);
  }

  const Graph& g_;
  Prediction& out_;
  const Step* step_ = nullptr;
  int64_t current_ = 0;
  std::vector<Tensor> param_grads_;
};

}  // namespace

Schedule build_schedule(const Graph& g, const Plan& plan) { return ScheduleBuilder(g, plan).build(); }

Prediction simulate(const Graph& g, const Schedule& s, const std::vector<double>& costs) {
  Prediction p;
  {
    SimBackend be(g, p);
    interpret(g, s, be, be.external(), be.external());
  }
  for (int n : s.recomputed) {
    if (!costs.empty()) p.recompute_s += costs[size_t(n)];
    p.recompute_flops += g.flops(g.nodes[size_t(n)]);
  }
  return p;
}

Prediction simulate(const Graph& g, const Plan& plan, const std::vector<double>& costs) {
  return simulate(g, build_schedule(g, plan), costs);
}

}  // namespace talklab::experiments::checkpointing
