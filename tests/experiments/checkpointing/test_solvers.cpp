// The memory-budget solvers: PyTorch's knapsack as it is, and the exact solver proven against brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

#include "experiments/checkpointing/policies.h"
#include "experiments/checkpointing/solvers.h"
#include "tests/experiments/checkpointing/helpers.h"

namespace talklab::experiments::checkpointing {
namespace {

using test_support::flop_costs;

ModelShape tiny(int layers) { return test_support::shape(layers, 32, 2, 17, 1); }

TEST(Policies, SacCallbackDecidesPerOpAndLayerInputsStayKept) {
  const Graph g = build_graph(tiny(2), 0);
  // Keep attention outputs only; the built-in policy keeps every matmul output too.
  const Plan attention_only = selective_plan(g, [](const Graph&, const Node& n) {
    return n.kind == OpKind::attention ? SacDecision::must_save : SacDecision::must_recompute;
  });
  const Plan builtin = selective_plan(g);
  for (const Node& n : g.nodes) {
    const Value& v = g.values[size_t(n.output)];
    SCOPED_TRACE(v.name);
    EXPECT_EQ(bool(attention_only.saved[size_t(n.output)]), n.kind == OpKind::attention || v.layer_input);
    EXPECT_EQ(bool(builtin.saved[size_t(n.output)]), !is_pointwise(n.kind) || v.layer_input);
  }
  for (int x : g.layer_inputs) EXPECT_TRUE(builtin.saved[size_t(x)] || g.values[size_t(x)].producer < 0);
}

TEST(Knapsack, DpIsTheBruteForceOptimumOnTheQuantizedWeights) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0.01, 0.4);
  for (int trial = 0; trial < 30; ++trial) {
    const int n = 8;
    std::vector<double> w(n), v(n);
    for (int i = 0; i < n; ++i) {
      w[size_t(i)] = std::round(u(rng) * kKnapsackSteps) / kKnapsackSteps;
      v[size_t(i)] = std::round(u(rng) * 100);
    }
    const double cap = u(rng) * 2;
    double best = 0;
    for (int mask = 0; mask < (1 << n); ++mask) {
      double tw = 0, tv = 0;
      for (int i = 0; i < n; ++i) {
        if (mask >> i & 1) tw += w[size_t(i)], tv += v[size_t(i)];
      }
      if (tw <= cap + 1e-12) best = std::max(best, tv);
    }
    double got_w = 0, got_v = 0;
    for (int i : knapsack(w, v, cap, KnapsackMethod::dp)) got_w += w[size_t(i)], got_v += v[size_t(i)];
    EXPECT_LE(got_w, cap + 1.0 / kKnapsackSteps);
    EXPECT_DOUBLE_EQ(got_v, best);
    double greedy_w = 0;
    for (int i : knapsack(w, v, cap, KnapsackMethod::greedy)) greedy_w += w[size_t(i)];
    EXPECT_LE(greedy_w, cap);
  }
}

TEST(Budget, OneIsSaveAllAndZeroIsTheMostRecompute) {
  const Graph g = build_graph(tiny(3), 0);
  EXPECT_EQ(torch_knapsack_plan(g, 1.0).saved, save_all_plan(g).saved);
  EXPECT_EQ(torch_knapsack_plan(g, 0.0).saved, recompute_all_plan(g).saved);
  const std::vector<double> costs = flop_costs(g);
  const ExactSolver exact(g, costs);
  const Prediction one = simulate(g, exact.solve(1.0), costs);
  const Prediction all = simulate(g, save_all_plan(g), costs);
  EXPECT_EQ(one.peak_bytes, all.peak_bytes);
  EXPECT_EQ(one.recompute_s, 0.0);
  EXPECT_EQ(simulate(g, exact.solve(0.0), costs).peak_bytes, exact.min_peak());
  EXPECT_LT(exact.min_peak(), simulate(g, full_plan(g), costs).peak_bytes + 1);
}

TEST(Budget, OutsideZeroOneIsRejectedWithItsValue) {
  const Graph g = build_graph(tiny(2), 0);
  const ExactSolver exact(g, flop_costs(g));
  for (double bad : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_THROW(torch_knapsack_plan(g, bad), std::invalid_argument);
    EXPECT_THROW(exact.solve(bad), std::invalid_argument);
  }
  try {
    check_budget(1.5);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("budget 1.5 is outside [0, 1]"), std::string::npos) << e.what();
  }
}

// The cheapest plan under each budget by simulating every plan of the space.
void expect_matches_brute_force(const Graph& g, const ExactSolver& exact, const std::vector<Plan>& space,
                                const std::vector<double>& costs) {
  std::vector<Prediction> all;
  for (const Plan& p : space) all.push_back(simulate(g, p, costs));
  for (double b = 0; b <= 1.0001; b += 0.1) {
    SCOPED_TRACE(b);
    const int64_t budget = exact.budget_bytes(std::min(b, 1.0));
    double best = std::numeric_limits<double>::infinity();
    for (const Prediction& p : all) {
      if (p.peak_bytes <= budget) best = std::min(best, p.recompute_s);
    }
    int64_t peak = 0;
    double cost = 0;
    const Plan plan = exact.solve_bytes(budget, &peak, &cost);
    const Prediction check = simulate(g, plan, costs);
    EXPECT_LE(check.peak_bytes, budget);
    EXPECT_EQ(check.peak_bytes, peak);  // the per-layer composition is the simulator's peak
    EXPECT_NEAR(check.recompute_s, cost, 1e-12);
    EXPECT_NEAR(cost, best, 1e-12);
  }
}

TEST(Exact, OneLayerEqualsBruteForceOverEverySavedSet) {
  const Graph g = build_graph(tiny(1), 0);
  const std::vector<double> costs = flop_costs(g);
  const ExactSolver exact(g, costs);
  // Every subset of the layer's values (its input is external, the loss's input kept: the space's rule).
  std::vector<int> values;
  for (const Node& n : g.nodes) {
    if (n.output != g.output && n.output != g.loss) values.push_back(n.output);
  }
  ASSERT_LE(values.size(), 16u);
  std::vector<Plan> space;
  for (uint32_t mask = 0; mask < (1u << values.size()); ++mask) {
    Plan p = full_plan(g);
    for (size_t i = 0; i < values.size(); ++i) p.saved[size_t(values[i])] = (mask >> i) & 1;
    space.push_back(p);
  }
  expect_matches_brute_force(g, exact, space, costs);
}

TEST(Exact, TwoLayersEqualBruteForceOverEveryPairOfCandidates) {
  const Graph g = build_graph(tiny(2), 0);
  const std::vector<double> costs = flop_costs(g);
  const ExactSolver exact(g, costs);
  std::vector<Plan> space;
  for (const auto& a : exact.candidates_for(0)) {
    for (const auto& b : exact.candidates_for(1)) space.push_back(exact.plan_of({a.mask, b.mask}));
  }
  expect_matches_brute_force(g, exact, space, costs);
}

TEST(Exact, RespectsTheBudgetIsMonotoneAndNeverLosesToKnapsack) {
  const Graph g = build_graph(tiny(4), 0);
  const std::vector<double> costs = flop_costs(g);
  const ExactSolver exact(g, costs);
  int64_t last_peak = 0;
  for (double b = 0; b <= 1.0001; b += 0.05) {
    const double budget = std::min(b, 1.0);
    SCOPED_TRACE(budget);
    const Prediction e = simulate(g, exact.solve(budget), costs);
    EXPECT_LE(e.peak_bytes, exact.budget_bytes(budget));
    EXPECT_GE(e.peak_bytes, last_peak);
    last_peak = e.peak_bytes;
    for (KnapsackMethod method : {KnapsackMethod::dp, KnapsackMethod::greedy}) {
      const Prediction k = simulate(g, torch_knapsack_plan(g, budget, method), costs);
      if (k.peak_bytes < exact.min_peak()) {
        ADD_FAILURE() << "knapsack's plan beats the exact solver's smallest peak";
        continue;
      }
      double cost = 0;
      exact.solve_bytes(k.peak_bytes, nullptr, &cost);
      EXPECT_LE(cost, k.recompute_s + 1e-12);
    }
  }
}

// Beyond its space (plans that may drop layer inputs too): random plans of the whole space, none of which
// may reach a peak below the exact solver's least peak, or be cheaper than it under its own peak.
TEST(Exact, NoRandomPlanOfTheWholeSpaceBeatsIt) {
  // tiny: parameter gradients weigh most; long: activations do (128 tokens of width 16).
  const ModelShape shapes[] = {tiny(2), tiny(3), test_support::shape(2, 16, 2, 64, 2), test_support::shape(3, 16, 2, 64, 2)};
  for (const ModelShape& shape : shapes) {
    const int layers = int(shape.layers);
    const Graph g = build_graph(shape, 0);
    const std::vector<double> costs = flop_costs(g);
    const ExactSolver exact(g, costs);
    std::mt19937 rng{static_cast<uint32_t>(layers)};
    int beaten = 0;
    for (int trial = 0; trial < 4000; ++trial) {
      std::bernoulli_distribution keep(0.1 + 0.8 * (trial % 9) / 8.0);
      Plan p{std::vector<char>(g.values.size(), 0)};
      for (char& s : p.saved) s = keep(rng);
      const Prediction r = simulate(g, p, costs);
      if (r.peak_bytes < exact.min_peak()) {
        ++beaten;
        continue;
      }
      double cost = 0;
      exact.solve_bytes(r.peak_bytes, nullptr, &cost);
      beaten += cost > r.recompute_s + 1e-12;
    }
    EXPECT_EQ(beaten, 0) << layers << " layers";
  }
}

}  // namespace
}  // namespace talklab::experiments::checkpointing
