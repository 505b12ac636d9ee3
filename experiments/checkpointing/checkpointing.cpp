// The checkpointing experiment: one training step of a decoder-only transformer (graph.h) under activation
// checkpointing policies and memory budgets; peak memory against step time, every point measured.
// Talks: "New Activation Checkpointing APIs in PyTorch" (selective checkpointing, the memory budget knob),
// "Slaying OOMs", "torchtune" (checkpointing as a fine-tuning recipe's memory lever), "Maximizing Training
// Throughput Using Torch.Compile and FSDP" (selective policies chosen for throughput).
//
// Implementations (a case's run() is one forward + backward producing every parameter's gradient):
//   autograd             LibTorch autograd on the same model: the baseline for gradients, peak and time
//   save_all, full, every_k (k = 2), sqrt_n, selective       fixed policies (policies.h), at budget=1 only
//   knapsack             budget(b) with PyTorch's formulation (solvers.h, torch_knapsack), 0/1 DP
//   knapsack_greedy      the same with PyTorch's greedy knapsack
//   exact                budget(b) with the exact solver: measured costs, simulated peak (solvers.h); the
//                        budget in bytes is P_min + b (P_save_all - P_min)
//   exact_matched        the exact solver under the simulated peak of knapsack's plan at the same b: the
//                        pointwise comparison with PyTorch (no more peak; is it faster?)
//   torch_compile_budget, torch_sac, torch_sac_compiled      PyTorch itself (torch_anchors.h), CPU only
// Every case checks its gradients against float64: on the CPU, autograd of the plainly written model
// (autograd.h); on CUDA, the executor's full-recompute step in float64 (executor.h: float64 autograd's saved
// tensors would not fit at GPU sizes), whose ops the tests check against that same autograd.
// Devices and dtypes: every implementation runs on the CPU and on CUDA (a LibTorch with CUDA; the ops are ours,
// kernels/cuda/checkpointing/step_ops.h, with LibTorch's matmuls), in float32 or bf16. The CPU's attention is
// flash_cpu, forward and backward (graph.h's AttentionKernel::flash). On CUDA the peaks are LibTorch's caching
// allocator's allocated bytes, which rounds each block up to 512 bytes (the graph counts the same), and attention
// materializes the scores of all heads of a sequence at once (scratch H x S x S).
//   bench --filter checkpointing
//   bench --device cuda --profile gpu --filter checkpointing
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/checkpointing/autograd.h"
#include "experiments/checkpointing/case_shape.h"
#include "experiments/checkpointing/costs.h"
#include "experiments/checkpointing/policies.h"
#include "experiments/checkpointing/solvers.h"
#include "experiments/checkpointing/torch_anchors.h"
#include "harness/memory.h"
#include "harness/registry.h"
#include "harness/sampler.h"
#include "harness/context.h"
#include "harness/torch_glue.h"

namespace talklab::experiments::checkpointing {
Presentation presentation();  // presentation.cpp

namespace {
// The CUDA caching allocator's block rounding (c10/cuda/CUDACachingAllocator.cpp, kMinBlockSize).
constexpr int64_t kCudaBlockBytes = 512;

}  // namespace

at::ScalarType dtype_of(const Params& p) { return p.str("dtype") == "bf16" ? at::kBFloat16 : at::kFloat; }

ModelShape shape_of(const Params& p, Device device) {
  ModelShape s;
  s.layers = p.integer("layers");
  s.d_model = p.integer("d_model");
  s.heads = p.integer("heads");
  s.seq = p.integer("seq");
  s.batch = p.integer("batch");
  s.element_bytes = int64_t(c10::elementSize(dtype_of(p)));
  if (device == Device::cuda) {
    s.granularity = kCudaBlockBytes;
    s.attention = AttentionKernel::scores;
    s.heads_per_pass = s.heads;
  }
  return s;
}

namespace {

at::TensorOptions options_of(const CaseContext& ctx) {
  return at::TensorOptions()
      .dtype(dtype_of(ctx.params))
      .device(ctx.device == Device::cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU));
}

// What every case shares: the model, its inputs, the float64 reference and the check.
class StepCase : public Case {
 public:
  explicit StepCase(const CaseContext& ctx)
      : shape_(shape_of(ctx.params, ctx.device)), options_(options_of(ctx)), meter_(options_.device()), seed_(ctx.seed) {}
  void setup() override {
    setup_bytes_ = meter_.current();
    graph_ = build_graph(shape_, seed_);
    model_ = make_model(graph_, seed_, options_);
    ref_ = options_.device().is_cuda() ? float64_step_grads(graph_, model_) : reference_grads(graph_, model_);
    prepare();
  }
  void poison() override { grads_.clear(); }
  // compare_grads copies to the host, which waits for the step on CUDA.
  Accuracy check() override {
    return compare_grads(grads_, ref_, grad_tolerance(options_.dtype().toScalarType(), shape_.layers));
  }
  // CUDA: the checked step's peak of allocated bytes, what was live before it included (as the harness counts
  // a CUDA case); the CPU's is the tracking allocator's, which the harness reads itself.
  std::optional<int64_t> device_peak_bytes() override {
    if (!options_.device().is_cuda()) return std::nullopt;
    return measured_.live_before + measured_.peak_bytes;
  }

 protected:
  virtual void prepare() = 0;
  ModelShape shape_;
  at::TensorOptions options_;
  MemoryMeter meter_;
  uint64_t seed_;
  int64_t setup_bytes_ = 0;
  Graph graph_;
  ModelTensors model_;
  std::vector<at::Tensor> ref_, grads_;
  StepMemory measured_;
};

class AutogradCase final : public StepCase {
 public:
  using StepCase::StepCase;
  void prepare() override { step_ = std::make_unique<AutogradStep>(graph_, model_); }
  void run() override { measured_ = step_->run(&grads_); }
  void add_counters(Counters& out) override {
    out.emplace_back("measured_step_peak_bytes", double(measured_.peak_bytes));
    out.emplace_back("measured_saved_bytes", double(measured_.boundary_bytes));
  }

 private:
  std::unique_ptr<AutogradStep> step_;
};

// How a case picks its plan: a fixed policy, or a solver at the case's budget.
struct Choice {
  Plan plan;
  int64_t budget_bytes = -1;  // -1: no budget
  double solver_s = 0;
};
using Chooser = std::function<Choice(const Graph&, const std::vector<double>& costs, double budget)>;

class PolicyCase final : public StepCase {
 public:
  PolicyCase(const CaseContext& ctx, Chooser choose)
      : StepCase(ctx), choose_(std::move(choose)), budget_(ctx.params.number("budget")) {}
  void prepare() override {
    costs_ = measure_costs(graph_, options_);
    choice_ = choose_(graph_, costs_, budget_);
    executor_ = std::make_unique<Executor>(graph_, choice_.plan);
    predicted_ = simulate(graph_, executor_->schedule(), costs_);
  }
  void run() override { measured_ = executor_->run(model_, &grads_); }
  void add_counters(Counters& out) override {
    // What the case holds from setup (parameters, inputs, the reference) plus the step's predicted peak:
    // the figure to hold against the result's measured peak.
    out.emplace_back("predicted_peak_bytes", double(measured_.live_before - setup_bytes_ + predicted_.peak_bytes));
    out.emplace_back("predicted_step_peak_bytes", double(predicted_.peak_bytes));
    out.emplace_back("measured_step_peak_bytes", double(measured_.peak_bytes));
    out.emplace_back("saved_bytes", double(predicted_.boundary_bytes));
    out.emplace_back("measured_saved_bytes", double(measured_.boundary_bytes));
    out.emplace_back("recompute_s", predicted_.recompute_s);
    // plan_: the exact and knapsack plans are chosen from op costs measured in this run, so what they recompute can
    // differ between two runs of the same build; bench compare holds only shape-determined work exactly.
    out.emplace_back("plan_recompute_flops", predicted_.recompute_flops);
    out.emplace_back("recomputed_ops", double(executor_->schedule().recomputed.size()));
    if (choice_.budget_bytes >= 0) out.emplace_back("budget_bytes", double(choice_.budget_bytes));
    out.emplace_back("solver_s", choice_.solver_s);
  }

 private:
  Chooser choose_;
  double budget_;
  std::vector<double> costs_;
  Choice choice_;
  std::unique_ptr<Executor> executor_;
  Prediction predicted_;
};

Chooser fixed(Plan (*policy)(const Graph&)) {
  return [policy](const Graph& g, const std::vector<double>&, double) { return Choice{policy(g), -1, 0.0}; };
}

Work declare_work(const CaseContext& ctx) {
  const ModelShape s = shape_of(ctx.params, ctx.device);
  const Graph g = build_graph(s, 0);
  double flops = 0;
  for (const Node& n : g.nodes) {
    if (n.kind == OpKind::matmul) flops += 3.0 * g.flops(n);            // forward, dx, dW
    if (n.kind == OpKind::attention) flops += 3.0 * g.flops(n) / 2.0;  // causal: half the pairs
  }
  // Parameters read and their gradients written, the input and target read.
  const double bytes = 2.0 * double(g.param_bytes()) + 2.0 * double(g.values[size_t(g.input)].bytes);
  return Work{flops, bytes, dtype_of(ctx.params) == at::kBFloat16 ? "bf16" : "fp32"};
}

std::string declare_skip(const Params& p) {
  const ModelShape s = shape_of(p, Device::cpu);
  if (s.layers < 1 || s.d_model < 1 || s.heads < 1 || s.seq < 1 || s.batch < 1) return "sizes must be positive";
  if (s.d_model % s.heads != 0) return fmt::format("heads {} does not divide d_model {}", s.heads, s.d_model);
  const double b = p.number("budget");
  if (!(b >= 0 && b <= 1)) return fmt::format("budget {} is outside [0, 1]", b);
  return "";
}

// A point whose step would not fit: save_all's simulated peak, the parameters, their gradients and the
// reference's, plus on CUDA the float64 reference step (full recompute), against 80% of what the device has
// (on the CPU, what the kernel reports available; the CPU reference is float64 autograd, not counted).
std::string memory_skip(const Params& p, Device device) {
  const Graph g = build_graph(shape_of(p, device), 0);
  double need = double(simulate(g, save_all_plan(g), {}).peak_bytes + 3 * g.param_bytes());
  double available = 0;
  if (device == Device::cuda) {
    if (!torch_has_cuda()) {
      return fmt::format("LibTorch {} sees no CUDA device (built without CUDA, or no GPU here)", torch_version());
    }
    ModelShape s64 = g.shape;
    s64.element_bytes = 8;
    const Graph g64 = build_graph(s64, 0);
    need += double(simulate(g64, full_plan(g64), {}).peak_bytes + 2 * g64.param_bytes());
    available = double(gpu_memory_bytes());
  } else {
    available = double(memory::available_system_bytes());
  }
  if (available > 0 && need > 0.8 * available) {
    return fmt::format("needs about {:.1f} GiB, more than 80% of the {:.1f} GiB {} has", need / double(1 << 30),
                       available / double(1 << 30), device == Device::cuda ? "the GPU" : "the system");
  }
  return "";
}

// Every implementation on both devices: the same executor and solvers on CPU or CUDA tensors. The CUDA copy
// needs this build's CUDA kernels (step_ops) and, at run time, a LibTorch with CUDA.
void add_on_both_devices(Experiment& e, Implementation impl) {
  impl.device = Device::cpu;
  impl.skip = [](const Params& p) { return memory_skip(p, Device::cpu); };
  e.implementations.push_back(impl);
  impl.device = Device::cuda;
  impl.skip = [](const Params& p) { return memory_skip(p, Device::cuda); };
  if (!TALKLAB_HAVE_CUDA) {
    impl.make = {};
    impl.missing_reason = "this build has no CUDA (configure with TALKLAB_CUDA=ON on a machine with nvcc)";
  }
  e.implementations.push_back(std::move(impl));
}

// The fixed policies and autograd ignore the budget: they are cases at budget=1 only.
bool at_budget_one(const Params& p) { return p.number("budget") == 1.0; }

Experiment declare() {
  Experiment e;
  e.name = "checkpointing";
  e.description = "activation checkpointing: fixed policies and memory-budget solvers, peak against step time";
  e.talks = {"activation-checkpointing-apis", "slaying-ooms", "torchtune", "compile-and-fsdp-throughput"};
  // A training step alternates serial dispatch with short parallel regions; with spinning OpenMP threads it ran
  // at one of two speeds 1.45x apart on a 2-vCPU VM (harness/openmp.h), which no comparison of plans survives.
  e.openmp_wait_policy = "passive";
  e.axes = {int_axis("layers", "transformer layers L"),
            int_axis("d_model", "D (the SwiGLU hidden size is 8/3 D rounded up to 16)"),
            int_axis("heads", "attention heads (head dim D / heads)"),
            int_axis("seq", "S, tokens per sequence"),
            int_axis("batch", "B"),
            dtype_axis("dtype", {"f32", "bf16"}, "activations, parameters and gradients"),
            float_axis("budget", "memory budget b in [0, 1]: knapsack and exact only")};
  e.work = declare_work;
  e.skip = declare_skip;
  e.presentation = presentation();

  Implementation autograd;
  autograd.name = "autograd";
  autograd.provider = Provider::pytorch_eager;
  autograd.description = "LibTorch autograd on the same model (fused attention and seeded dropout)";
  autograd.applies = at_budget_one;
  autograd.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<AutogradCase>(ctx); };
  add_on_both_devices(e, autograd);

  const auto add = [&e](std::string name, std::string description, Chooser choose, bool fixed_policy) {
    Implementation impl;
    impl.name = std::move(name);
    impl.description = std::move(description);
    if (fixed_policy) impl.applies = at_budget_one;
    impl.make = [choose](const CaseContext& ctx) -> std::unique_ptr<Case> {
      return std::make_unique<PolicyCase>(ctx, choose);
    };
    add_on_both_devices(e, std::move(impl));
  };
  add("save_all", "no checkpointing: keep every value a backward reads", fixed(save_all_plan), true);
  add("full", "keep each layer's input, recompute the layer", fixed(full_plan), true);
  add("every_k", "keep every 2nd layer's input", fixed([](const Graph& g) { return every_k_plan(g, kEveryK); }), true);
  add("sqrt_n", "Chen et al. 2016: sqrt(L) segments", fixed(sqrt_n_plan), true);
  add("selective", "SAC: keep matmul and attention outputs, recompute pointwise and norms",
      fixed([](const Graph& g) { return selective_plan(g); }), true);
  for (const KnapsackMethod method : {KnapsackMethod::dp, KnapsackMethod::greedy}) {
    const bool dp = method == KnapsackMethod::dp;
    add(dp ? "knapsack" : "knapsack_greedy",
        fmt::format("budget(b), PyTorch's formulation: FLOP values, normalized saved bytes, {}", dp ? "0/1 DP" : "greedy"),
        [method](const Graph& g, const std::vector<double>&, double b) {
          Choice c;
          c.solver_s = wall_seconds([&] { c.plan = torch_knapsack_plan(g, b, method); });
          return c;
        },
        false);
  }
  // The exact solver under a budget in bytes that `budget_of` derives from b (timed with the solve).
  const auto exact = [](std::function<int64_t(const Graph&, const ExactSolver&, double)> budget_of) -> Chooser {
    return [budget_of](const Graph& g, const std::vector<double>& costs, double b) {
      Choice c;
      c.solver_s = wall_seconds([&] {
        const ExactSolver solver(g, costs);
        c.budget_bytes = budget_of(g, solver, b);
        c.plan = solver.solve_bytes(c.budget_bytes);
      });
      return c;
    };
  };
  add("exact", "budget(b), exact: least measured recompute time with the simulated peak under the budget",
      exact([](const Graph&, const ExactSolver& solver, double b) { return solver.budget_bytes(b); }), false);
  // The pointwise comparison: at each b, the exact plan under the peak that PyTorch's plan reaches at b.
  add("exact_matched", "exact under the simulated peak of knapsack's plan at the same b",
      exact([](const Graph& g, const ExactSolver& solver, double b) {
        const int64_t knapsack_peak = simulate(g, torch_knapsack_plan(g, b, KnapsackMethod::dp), {}).peak_bytes;
        return std::max(knapsack_peak, solver.min_peak());
      }),
      false);
  // PyTorch's own partitioner under the same budget, and its SAC with our selective policy (torch_anchors.h).
  for (Implementation impl : torch_anchor_implementations()) {
    impl.skip = [](const Params& p) { return memory_skip(p, Device::cpu); };
    e.implementations.push_back(std::move(impl));
  }
  return e;
}

TALKLAB_REGISTER_EXPERIMENT(declare);

}  // namespace
}  // namespace talklab::experiments::checkpointing
