#include "experiments/checkpointing/torch_anchors.h"

#include <ATen/ATen.h>

#include "experiments/checkpointing/autograd.h"
#include "experiments/checkpointing/case_shape.h"
#include "experiments/checkpointing/executor.h"
#include "experiments/checkpointing/ops.h"
#include "harness/memory.h"
#include "harness/python.h"

namespace talklab::experiments::checkpointing {
namespace {

constexpr const char* kAnchorFile = "experiments/checkpointing/torch_compile_budget.py";

enum class AnchorKind { compile_budget, sac_eager, sac_compiled };

template <AnchorKind K>
class TorchStepCase final : public python::AnchorCase {
 public:
  explicit TorchStepCase(const CaseContext& ctx)
      : AnchorCase(kAnchorFile, K == AnchorKind::compile_budget ? "budget" : "sac"),
        shape_(shape_of(ctx.params, Device::cpu)),
        dtype_(dtype_of(ctx.params)),
        budget_(ctx.params.number("budget")),
        seed_(ctx.seed) {}

  // The previous step's gradients are released first (as AutogradStep does): the step's peak is above what is
  // live when it begins (weights, input, target, masks, the reference), as the C++ cases count theirs.
  void run() override {
    poison();
    const int64_t before = memory::current_bytes();
    memory::reset_peak();
    AnchorCase::run();
    step_peak_bytes_ = memory::peak_bytes() - before;
  }
  Accuracy check() override { return compare_grads(outputs(), ref_, grad_tolerance(dtype_, shape_.layers)); }
  void add_counters(Counters& out) override {
    AnchorCase::add_counters(out);
    out.emplace_back("measured_step_peak_bytes", double(step_peak_bytes_));
  }

 protected:
  python::Args anchor_args() override {
    graph_ = build_graph(shape_, seed_);
    model_ = make_model(graph_, seed_, at::TensorOptions().dtype(dtype_));
    ref_ = reference_grads(graph_, model_);
    python::Args args;
    args.set("params", model_.params)
        .set("masks", dropout_masks(graph_))
        .set("x", model_.input)
        .set("target", model_.target)
        .set("heads", shape_.heads)
        .set("batch", shape_.batch)
        .set("seq", shape_.seq)
        .set("dropout_p", kDropoutP)
        .set("rms_eps", kRmsEps);
    if (K == AnchorKind::compile_budget) {
      args.set("budget", budget_);
    } else {
      args.set("compiled", K == AnchorKind::sac_compiled);
    }
    return args;
  }

 private:
  ModelShape shape_;
  at::ScalarType dtype_;
  double budget_;
  uint64_t seed_;
  Graph graph_;
  ModelTensors model_;
  std::vector<at::Tensor> ref_;
  int64_t step_peak_bytes_ = 0;
};

template <AnchorKind K>
Implementation anchor(std::string name, Provider provider, std::string description) {
  Implementation impl;
  impl.name = std::move(name);
  impl.provider = provider;
  impl.description = std::move(description);
  impl.device = Device::cpu;
  if (K != AnchorKind::compile_budget) impl.applies = [](const Params& p) { return p.number("budget") == 1.0; };
  python::make_anchor<TorchStepCase<K>>(impl);
  return impl;
}

}  // namespace

std::vector<at::Tensor> dropout_masks(const Graph& g) {
  std::vector<at::Tensor> masks;
  for (const Node& n : g.nodes) {
    if (n.kind != OpKind::dropout) continue;
    const Value& v = g.values[size_t(n.output)];
    masks.push_back(dropout_mask(at::empty({v.rows, v.cols}, at::kFloat), n.seed).ne(0));
  }
  return masks;
}

std::vector<Implementation> torch_anchor_implementations() {
  return {anchor<AnchorKind::compile_budget>(
              "torch_compile_budget", Provider::pytorch_compiled,
              "torch.compile of the step under activation_memory_budget = b: PyTorch's partitioner chooses"),
          anchor<AnchorKind::sac_eager>("torch_sac", Provider::pytorch_eager,
                                        "torch.utils.checkpoint per layer, SAC with our selective policy, eager"),
          anchor<AnchorKind::sac_compiled>("torch_sac_compiled", Provider::pytorch_compiled,
                                           "torch.utils.checkpoint per layer, SAC with our selective policy, compiled")};
}

}  // namespace talklab::experiments::checkpointing
