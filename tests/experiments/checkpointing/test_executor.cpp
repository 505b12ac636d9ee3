// The executor against LibTorch autograd: gradients of every policy on odd shapes, the simulator's
// prediction against the tracking allocator, dropout replay, and autograd's own peak.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "experiments/checkpointing/autograd.h"
#include "experiments/checkpointing/executor.h"
#include "experiments/checkpointing/ops.h"
#include "experiments/checkpointing/policies.h"
#include "experiments/checkpointing/solvers.h"
#include "harness/torch_glue.h"
#include "tests/experiments/checkpointing/helpers.h"

namespace talklab::experiments::checkpointing {
namespace {

struct NamedPlan {
  std::string name;
  Plan plan;
};

using test_support::flop_costs;

// Odd sizes: 33 tokens, head dim 12, SwiGLU hidden 128, three layers (first, middle, last).
ModelShape odd_shape() { return test_support::shape(3, 48, 4, 33, 2); }

std::vector<NamedPlan> every_plan(const Graph& g) {
  std::vector<NamedPlan> plans = {{"save_all", save_all_plan(g)},   {"full", full_plan(g)},
                                  {"every_k", every_k_plan(g, 2)},  {"sqrt_n", sqrt_n_plan(g)},
                                  {"selective", selective_plan(g)}, {"recompute_all", recompute_all_plan(g)}};
  for (double b : {0.0, 0.3, 0.7}) {
    plans.push_back({"knapsack_dp@" + std::to_string(b), torch_knapsack_plan(g, b, KnapsackMethod::dp)});
    plans.push_back({"knapsack_greedy@" + std::to_string(b), torch_knapsack_plan(g, b, KnapsackMethod::greedy)});
  }
  const ExactSolver exact(g, flop_costs(g));
  for (double b : {0.0, 0.25, 0.5, 1.0}) plans.push_back({"exact@" + std::to_string(b), exact.solve(b)});
  return plans;
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_threads(1);  // two would spin against the other tests on a 2-core machine
    install_torch_allocator();
  }
};

TEST_F(ExecutorTest, EveryPolicyMatchesFloat64AutogradAndItsPredictedPeak) {
  const Graph g = build_graph(odd_shape(), 7);
  const ModelTensors m = make_model(g, 7);
  const std::vector<at::Tensor> ref = reference_grads(g, m);
  for (const NamedPlan& p : every_plan(g)) {
    SCOPED_TRACE(p.name);
    const Executor ex(g, p.plan);
    std::vector<at::Tensor> grads;
    const StepMemory measured = ex.run(m, &grads);
    const Accuracy a = compare_grads(grads, ref, kF32Tolerance);
    EXPECT_TRUE(a.passed) << a.error << " max_rel_error " << a.max_rel_error;
    const Prediction predicted = simulate(g, ex.schedule(), {});
    grads.clear();
    EXPECT_EQ(predicted.peak_bytes, measured.peak_bytes);  // exactly: the same allocations in the same order
    EXPECT_EQ(predicted.boundary_bytes, measured.boundary_bytes);
  }
}

TEST_F(ExecutorTest, AutogradMatchesTheReferenceAndSaveAllsPeak) {
  const Graph g = build_graph(odd_shape(), 3);
  const ModelTensors m = make_model(g, 3);
  AutogradStep step(g, m);
  std::vector<at::Tensor> grads;
  const StepMemory autograd = step.run(&grads);
  const Accuracy a = compare_grads(grads, reference_grads(g, m), kF32Tolerance);
  EXPECT_TRUE(a.passed) << a.error;
  grads.clear();
  const StepMemory ours = Executor(g, save_all_plan(g)).run(m, &grads);
  EXPECT_NEAR(double(ours.peak_bytes), double(autograd.peak_bytes), 0.05 * double(autograd.peak_bytes));
  EXPECT_NEAR(double(ours.boundary_bytes), double(autograd.boundary_bytes), 0.05 * double(autograd.boundary_bytes));
}

TEST_F(ExecutorTest, RecomputedDropoutReplaysItsMask) {
  const at::Tensor x = at::randn({33, 48});
  EXPECT_TRUE(at::equal(dropout_apply(x, 11), dropout_apply(x, 11)));
  EXPECT_FALSE(at::equal(dropout_apply(x, 11), dropout_apply(x, 12)));
  const double kept = dropout_apply(at::ones({100000}), 5).ne(0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 1.0 - kDropoutP, 0.01);

  // full recomputes every dropout in backward: its gradients are save_all's (which never recomputes).
  const Graph g = build_graph(odd_shape(), 5);
  const ModelTensors m = make_model(g, 5);
  const Executor full(g, full_plan(g));
  int dropouts = 0;
  for (int n : full.schedule().recomputed) dropouts += g.nodes[size_t(n)].kind == OpKind::dropout;
  EXPECT_EQ(dropouts, g.shape.layers);
  std::vector<at::Tensor> a, b;
  full.run(m, &a);
  Executor(g, save_all_plan(g)).run(m, &b);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::allclose(a[i], b[i], 1e-5, 1e-7)) << g.params[i].name;
}

TEST_F(ExecutorTest, SelectiveKeepsFewerBytesThanSaveAll) {
  const Graph g = build_graph(odd_shape(), 1);
  const Prediction all = simulate(g, save_all_plan(g), {});
  const Prediction sac = simulate(g, selective_plan(g), {});
  const Prediction full = simulate(g, full_plan(g), {});
  EXPECT_LT(sac.boundary_bytes, all.boundary_bytes * 0.6);
  EXPECT_LT(full.boundary_bytes, sac.boundary_bytes);
  EXPECT_LE(full.peak_bytes, sac.peak_bytes);
}

}  // namespace
}  // namespace talklab::experiments::checkpointing
