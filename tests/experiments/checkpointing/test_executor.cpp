// The executor against LibTorch autograd: gradients of every policy on odd shapes, in float32 and bf16, the
// simulator's prediction against the tracking allocator, the CPU's flash attention against the scores path (one
// or several heads per pass), the float64 step that CUDA cases are checked against, dropout replay, and
// autograd's own peak. The same checks on CUDA tensors (LibTorch's caching allocator) run where LibTorch has CUDA
// and skip elsewhere.
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

// Every plan on `shape` in `options` (dtype, device): gradients against float64 autograd within the dtype's
// tolerance, and the simulated peak and boundary equal to what the device's allocator counted. Returns the worst
// normwise error.
// peak_slack: bytes the measured peak may exceed the prediction by (0: exact).
double check_every_plan(ModelShape shape, at::TensorOptions options, uint64_t seed, int64_t peak_slack = 0) {
  shape.element_bytes = int64_t(c10::elementSize(options.dtype().toScalarType()));
  const Graph g = build_graph(shape, seed);
  const ModelTensors m = make_model(g, seed, options);
  const std::vector<at::Tensor> ref = reference_grads(g, m);
  double worst = 0;
  for (const NamedPlan& p : every_plan(g)) {
    SCOPED_TRACE(p.name);
    const Executor ex(g, p.plan);
    std::vector<at::Tensor> grads;
    const StepMemory measured = ex.run(m, &grads);
    const Accuracy a = compare_grads(grads, ref, grad_tolerance(options.dtype().toScalarType(), shape.layers));
    EXPECT_TRUE(a.passed) << a.error << " max_rel_error " << a.max_rel_error;
    worst = std::max(worst, a.max_rel_error);
    const Prediction predicted = simulate(g, ex.schedule(), {});
    grads.clear();
    EXPECT_EQ(predicted.boundary_bytes, measured.boundary_bytes);  // exactly: the same allocations in the same order
    if (peak_slack == 0) {
      EXPECT_EQ(predicted.peak_bytes, measured.peak_bytes);
    } else {
      EXPECT_GE(measured.peak_bytes, predicted.peak_bytes);
      EXPECT_LE(measured.peak_bytes, predicted.peak_bytes + peak_slack);
    }
  }
  return worst;
}

TEST_F(ExecutorTest, EveryPolicyMatchesFloat64AutogradAndItsPredictedPeak) {
  check_every_plan(odd_shape(), at::kFloat, 7);
}

// LibTorch's CPU bf16 mm may allocate a transient scratch through the tracking allocator (1.13: 9-22 KB per call
// at these shapes; float32 mm allocates nothing): bounded here by the float32 bytes of the largest matmul's
// operands and result. On CUDA (cuBLAS's workspace is allocated once, before the step) the peak is exact.
int64_t cpu_bf16_mm_scratch_bound(const Graph& g) {
  int64_t bound = 0;
  for (const Node& n : g.nodes) {
    if (n.kind != OpKind::matmul) continue;
    const Value& in = g.values[size_t(n.inputs[0])];
    const Value& out = g.values[size_t(n.output)];
    const Param& w = g.params[size_t(n.param)];
    bound = std::max(bound, 4 * (in.rows * in.cols + w.rows * w.cols + out.rows * out.cols));
  }
  return bound;
}

// bf16 storage, float32 accumulation: the same plans, the same byte counts at 2 bytes an element (the boundary
// exact; the peak up to LibTorch's CPU mm scratch), gradients within bf16's tolerance at two depths. The errors
// are printed: they are the measurement behind that tolerance.
TEST_F(ExecutorTest, EveryPolicyInBf16MatchesFloat64AutogradAndItsPredictedPeak) {
  const Graph odd = build_graph(odd_shape(), 8);
  const double worst = check_every_plan(odd_shape(), at::kBFloat16, 8, cpu_bf16_mm_scratch_bound(odd));
  std::printf("bf16, %lld layers: worst normwise gradient error %.3g\n", (long long)odd_shape().layers, worst);
  ModelShape deeper = test_support::shape(8, 64, 4, 33, 1);
  std::vector<at::Tensor> grads;
  deeper.element_bytes = 2;
  const Graph g = build_graph(deeper, 9);
  const ModelTensors m = make_model(g, 9, at::kBFloat16);
  Executor(g, save_all_plan(g)).run(m, &grads);
  const Accuracy a = compare_grads(grads, reference_grads(g, m), grad_tolerance(at::kBFloat16, deeper.layers));
  EXPECT_TRUE(a.passed) << a.error;
  std::printf("bf16, 8 layers: worst normwise gradient error %.3g\n", a.max_rel_error);
}

// What a GPU runs, here on the CPU: the scores path (AttentionKernel::scores), one head's (S, S) scores at a time
// and all heads' in one pass (and a last, smaller group when the pass does not divide the heads). The gradients
// are the CPU's flash step's, and every scratch is predicted exactly.
TEST_F(ExecutorTest, TheScoresPathGivesFlashsGradientsAndAPredictedPeak) {
  std::vector<at::Tensor> with_flash;
  {
    const Graph g = build_graph(odd_shape(), 4);
    ASSERT_TRUE(g.shape.flash_attention());
    Executor(g, full_plan(g)).run(make_model(g, 4), &with_flash);
  }
  for (int64_t per_pass : {1, 3, 4}) {
    SCOPED_TRACE(per_pass);
    ModelShape s = odd_shape();
    s.attention = AttentionKernel::scores;
    s.heads_per_pass = per_pass;
    const Graph g = build_graph(s, 4);
    const Executor ex(g, full_plan(g));
    std::vector<at::Tensor> grads;
    const StepMemory measured = ex.run(make_model(g, 4), &grads);
    for (size_t i = 0; i < grads.size(); ++i) {
      EXPECT_TRUE(at::allclose(grads[i], with_flash[i], 1e-5, 1e-7)) << g.params[i].name;
    }
    grads.clear();
    EXPECT_EQ(simulate(g, ex.schedule(), {}).peak_bytes, measured.peak_bytes);
  }
}

// CUDA cases are checked against the executor's float64 full-recompute step: it must be float64 autograd's
// gradients to float64 rounding.
TEST_F(ExecutorTest, Float64StepIsFloat64Autograd) {
  const Graph g = build_graph(odd_shape(), 6);
  const ModelTensors m = make_model(g, 6);
  const Accuracy a = compare_grads(float64_step_grads(g, m), reference_grads(g, m), 1e-10);
  EXPECT_TRUE(a.passed) << a.error << " max_rel_error " << a.max_rel_error;
}

// A block the CUDA caching allocator hands out is a multiple of 512 bytes: the graph counts the same.
TEST(Graph, BlockBytesRoundUpToTheAllocatorsGranularity) {
  ModelShape s = odd_shape();
  s.element_bytes = 2;
  s.granularity = 512;
  const Graph g = build_graph(s, 1);
  for (const Value& v : g.values) {
    EXPECT_EQ(v.bytes % 512, 0) << v.name;
    EXPECT_GE(v.bytes, v.rows * v.cols * 2) << v.name;
    EXPECT_LT(v.bytes, v.rows * v.cols * 2 + 512) << v.name;
  }
  EXPECT_EQ(g.values[size_t(g.loss)].bytes, 512);
  EXPECT_EQ(s.block_bytes(0), 0);
}

// The same executor on CUDA tensors: exact peaks against the caching allocator (every block rounded to 512
// bytes), all heads per pass, float32 and bf16. Runs where LibTorch has CUDA.
TEST_F(ExecutorTest, OnCudaEveryPolicyMatchesFloat64AutogradAndItsPredictedPeak) {
  if (!torch_has_cuda()) GTEST_SKIP() << "LibTorch " << torch_version() << " here has no CUDA device";
  ModelShape s = odd_shape();
  s.granularity = 512;
  s.attention = AttentionKernel::scores;  // as shape_of() sets for CUDA cases
  s.heads_per_pass = s.heads;
  const at::TensorOptions cuda = at::TensorOptions().device(at::kCUDA, 0);
  check_every_plan(s, cuda.dtype(at::kFloat), 7);
  check_every_plan(s, cuda.dtype(at::kBFloat16), 8);
  // The CUDA cases' reference: the float64 step on the GPU against float64 autograd on the CPU.
  const Graph g = build_graph(s, 6);
  const ModelTensors m = make_model(g, 6, cuda.dtype(at::kDouble));
  const Accuracy a = compare_grads(float64_step_grads(g, m), reference_grads(g, m), 1e-10);
  EXPECT_TRUE(a.passed) << a.error;
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
