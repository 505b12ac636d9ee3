// The Python module of PyTorch's anchors (experiments/checkpointing/torch_compile_budget.py) is the C++ graph's
// step: in float64 its loss equals the executor's and its gradients equal float64 autograd's (reference_grads), on
// odd shapes (13 tokens a sequence, head dim 9, 3 layers), with the masks dropout_masks hands it (and C++ autograd,
// reference_grads, runs after the interpreter started: the GIL is not held between anchors). A module that
// dropped a mask, scaled attention otherwise, or ordered the parameters differently fails here. Its own
// executable: the embedded interpreter lives as long as the process.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "experiments/checkpointing/autograd.h"
#include "experiments/checkpointing/executor.h"
#include "experiments/checkpointing/ops.h"
#include "experiments/checkpointing/policies.h"
#include "experiments/checkpointing/torch_anchors.h"
#include "harness/python.h"
#include "harness/torch_glue.h"
#include "tests/experiments/checkpointing/helpers.h"

namespace talklab::experiments::checkpointing {
namespace {

constexpr const char* kModule = "experiments/checkpointing/torch_compile_budget.py";

python::Args step_args(const Graph& g, const ModelTensors& m) {
  return python::Args()
      .set("params", m.params)
      .set("masks", dropout_masks(g))
      .set("x", m.input)
      .set("target", m.target)
      .set("heads", g.shape.heads)
      .set("batch", g.shape.batch)
      .set("seq", g.shape.seq)
      .set("dropout_p", kDropoutP)
      .set("rms_eps", kRmsEps);
}

TEST(TorchModule, DropoutMasksAreTheSeedsMasks) {
  const Graph g = build_graph(test_support::shape(2, 20, 4, 7, 3), 99);
  const std::vector<at::Tensor> masks = dropout_masks(g);
  ASSERT_EQ(masks.size(), 2u);
  int layer = 0;
  for (const Node& n : g.nodes) {
    if (n.kind != OpKind::dropout) continue;
    const at::Tensor& mask = masks[size_t(layer++)];
    EXPECT_EQ(mask.scalar_type(), at::kBool);
    ASSERT_EQ(mask.sizes(), at::IntArrayRef({21, 20}));
    const at::Tensor ones = at::ones({21, 20}, at::kFloat);
    // dropout_apply of ones is the mask times 1 / (1 - p): zero exactly where the mask drops.
    EXPECT_TRUE(at::equal(dropout_apply(ones, n.seed).ne(0), mask));
    const double kept = mask.to(at::kDouble).mean().item<double>();
    EXPECT_GT(kept, 0.8);  // p = 0.1 over 420 elements
    EXPECT_LT(kept, 0.97);
  }
  // Two layers' masks differ (their seeds do).
  EXPECT_FALSE(at::equal(masks[0], masks[1]));
}

TEST(TorchModule, InFloat64ItIsTheGraphsStep) {
  if (!python::compiled_in()) GTEST_SKIP() << python::missing_reason();
  const Graph g = build_graph(test_support::shape(3, 36, 4, 13, 2), 2024);
  const ModelTensors m = to_options(make_model(g, 7), at::kDouble);
  python::Anchor module(kModule, "eager", step_args(g, m));
  const std::vector<at::Tensor> out = module.run();
  ASSERT_EQ(out.size(), g.params.size() + 1);  // the loss, then every parameter's gradient

  std::vector<at::Tensor> ours;
  at::Tensor loss;
  Executor(g, full_plan(g)).run(m, &ours, &loss);
  EXPECT_NEAR(out[0].item<double>(), loss.item<double>(), 1e-12 * loss.item<double>());

  const std::vector<at::Tensor> grads(out.begin() + 1, out.end());
  const Accuracy a = compare_grads(grads, reference_grads(g, m), 1e-10);
  EXPECT_TRUE(a.passed) << a.error;
  EXPECT_LT(a.max_rel_error, 1e-10);
  // The module is the C++ model's own: gradients of the parameters in graph.h's order, none of them zero.
  for (size_t i = 0; i < grads.size(); ++i) EXPECT_GT(grads[i].abs().max().item<double>(), 0.0) << g.params[i].name;
}

TEST(TorchModule, AMismatchedParameterListIsPythonsError) {
  if (!python::compiled_in()) GTEST_SKIP() << python::missing_reason();
  const Graph g = build_graph(test_support::shape(2, 20, 4, 7, 3), 5);
  ModelTensors m = make_model(g, 5);
  m.params.pop_back();
  try {
    python::Anchor module(kModule, "eager", step_args(g, m));
    FAIL() << "expected CaseSkipped";
  } catch (const CaseSkipped& e) {
    EXPECT_NE(std::string(e.what()).find("13 parameters for 2 layers"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace talklab::experiments::checkpointing
