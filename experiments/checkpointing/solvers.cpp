#include "experiments/checkpointing/solvers.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

#include "experiments/checkpointing/policies.h"

namespace talklab::experiments::checkpointing {

void check_budget(double budget) {
  if (!(budget >= 0.0 && budget <= 1.0)) {
    throw std::invalid_argument(fmt::format(
        "budget {} is outside [0, 1]: 0 = the most recomputation, 1 = save_all (no recomputation)", budget));
  }
}

std::vector<int> knapsack(const std::vector<double>& weights, const std::vector<double>& values, double capacity,
                          KnapsackMethod method) {
  const int n = int(weights.size());
  std::vector<int> kept;
  if (method == KnapsackMethod::greedy) {
    std::vector<int> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    const auto ratio = [&](int i) {
      return weights[size_t(i)] > 0 ? values[size_t(i)] / weights[size_t(i)] : std::numeric_limits<double>::infinity();
    };
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return ratio(a) > ratio(b); });
    double total = 0;
    for (int i : order) {
      if (total + weights[size_t(i)] <= capacity) {
        total += weights[size_t(i)];
        kept.push_back(i);
      }
    }
    std::sort(kept.begin(), kept.end());
    return kept;
  }
  // dp_knapsack, float32 table as PyTorch's.
  std::vector<int64_t> w(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) w[size_t(i)] = std::llround(weights[size_t(i)] * kKnapsackSteps);
  const int64_t cap = std::llround(capacity * kKnapsackSteps);
  std::vector<std::vector<float>> dp(size_t(n + 1), std::vector<float>(size_t(cap + 1), 0.0f));
  for (int i = 1; i <= n; ++i) {
    const int64_t wi = w[size_t(i - 1)];
    const float vi = float(values[size_t(i - 1)]);
    for (int64_t c = 0; c <= cap; ++c) {
      float best = dp[size_t(i - 1)][size_t(c)];
      if (wi == 0) best += vi;
      else if (c >= wi) best = std::max(best, dp[size_t(i - 1)][size_t(c - wi)] + vi);
      dp[size_t(i)][size_t(c)] = best;
    }
  }
  int64_t c = cap;
  for (int i = n; i >= 1; --i) {
    if (dp[size_t(i)][size_t(c)] != dp[size_t(i - 1)][size_t(c)]) {
      kept.push_back(i - 1);
      c -= w[size_t(i - 1)];
    }
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

Plan torch_knapsack_plan(const Graph& g, double budget, KnapsackMethod method) {
  check_budget(budget);
  if (budget == 1.0) return save_all_plan(g);  // PyTorch: budget 1 is its default plan
  const std::vector<double> none;
  const double max_kept = double(simulate(g, save_all_plan(g), none).boundary_bytes);
  const double min_kept = double(simulate(g, recompute_all_plan(g), none).boundary_bytes);
  // Banned from recomputation (compute-intensive or random), largest first as PyTorch sorts them.
  std::vector<int> items;
  for (const Node& n : g.nodes) {
    if (!is_pointwise(n.kind) || n.kind == OpKind::dropout) items.push_back(n.output);
  }
  std::stable_sort(items.begin(), items.end(),
                   [&](int a, int b) { return g.values[size_t(a)].bytes > g.values[size_t(b)].bytes; });
  std::vector<double> weights, values;
  for (int v : items) {
    weights.push_back(double(g.values[size_t(v)].bytes) / (max_kept - min_kept));
    values.push_back(g.counted_flops(g.nodes[size_t(g.values[size_t(v)].producer)]));
  }
  Plan p = recompute_all_plan(g);
  for (int i : knapsack(weights, values, budget, method)) p.saved[size_t(items[size_t(i)])] = 1;
  return p;
}

// ---- exact ----------------------------------------------------------------------------------------------

namespace {

constexpr int kProfileLayers = 3;  // first, middle, last

bool dominates(const ExactSolver::Profile& a, const ExactSolver::Profile& b) {
  return a.kept <= b.kept && a.forward <= b.forward && a.backward <= b.backward && a.cost <= b.cost;
}

std::vector<ExactSolver::Profile> prune(std::vector<ExactSolver::Profile> all) {
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tie(a.cost, a.kept, a.forward, a.backward, a.mask) < std::tie(b.cost, b.kept, b.forward, b.backward, b.mask);
  });
  std::vector<ExactSolver::Profile> kept;
  for (const auto& p : all) {
    bool dominated = false;
    for (const auto& k : kept) dominated = dominated || dominates(k, p);
    if (!dominated) kept.push_back(p);
  }
  return kept;
}

bool better(double cost_a, int64_t peak_a, double cost_b, int64_t peak_b, bool min_peak) {
  const double eps = 1e-12 * std::max({1.0, std::abs(cost_a), std::abs(cost_b)});
  if (min_peak) return peak_a != peak_b ? peak_a < peak_b : cost_a < cost_b - eps;
  if (std::abs(cost_a - cost_b) > eps) return cost_a < cost_b;
  return peak_a < peak_b;
}

}  // namespace

ExactSolver::ExactSolver(const Graph& g, const std::vector<double>& costs) : g_(g) {
  for (const Node& n : g.nodes) nodes_per_layer_ += n.layer == 0 ? 1 : 0;
  // Values a layer may keep or not: all it produces but its output (the next layer's input, always kept),
  // less those only a layer output is computed from (never recomputed, so keeping them changes nothing).
  std::vector<char> needed(g.values.size(), 0), feeds_non_input(g.values.size(), 0);
  for (const Node& n : g.nodes) {
    if (g.has_backward(n)) {
      for (int v : g.backward_needs(n)) needed[size_t(v)] = 1;
    }
    for (int v : n.inputs) feeds_non_input[size_t(v)] |= !g.values[size_t(n.output)].layer_input;
  }
  for (int j = 0; j < nodes_per_layer_; ++j) {
    const int v = g.nodes[size_t(j)].output;
    if (!g.values[size_t(v)].layer_input && (needed[size_t(v)] || feeds_non_input[size_t(v)])) free_offsets_.push_back(j);
  }
  layer_param_bytes_ = g.layer_param_bytes(0);

  // Profiles from a graph of up to three layers, the other layers keeping everything.
  ModelShape rs = g.shape;
  rs.layers = std::min<int64_t>(g.shape.layers, kProfileLayers);
  const Graph r = build_graph(rs, 0);
  std::vector<double> rcosts;
  for (size_t i = 0; i < r.nodes.size(); ++i) {
    const bool head = r.nodes[i].layer == rs.layers;
    rcosts.push_back(costs.empty() ? 0.0 : head ? costs.back() : costs[i % size_t(nodes_per_layer_)]);
  }
  const Plan all = save_all_plan(r);
  const Prediction base = simulate(r, all, rcosts);
  int64_t held_all = 0;
  for (int l = 0; l < rs.layers; ++l) held_all += base.boundary_by_layer[size_t(l)];
  head_ = std::max(base.forward_peak[size_t(rs.layers)], base.backward_peak[size_t(rs.layers)]) - held_all;

  for (int k = 0; k < int(rs.layers); ++k) {
    int64_t held_before = 0;
    for (int l = 0; l < k; ++l) held_before += base.boundary_by_layer[size_t(l)];
    std::vector<Profile> profiles;
    for (uint32_t mask = 0; mask < (1u << free_offsets_.size()); ++mask) {
      Plan p = all;
      for (size_t i = 0; i < free_offsets_.size(); ++i) {
        p.saved[size_t(r.nodes[size_t(k * nodes_per_layer_ + free_offsets_[i])].output)] = (mask >> i) & 1;
      }
      const Prediction pr = simulate(r, p, rcosts);
      Profile f;
      f.mask = mask;
      f.kept = pr.boundary_by_layer[size_t(k)];
      f.forward = pr.forward_peak[size_t(k)] - held_before;
      f.backward = pr.backward_peak[size_t(k)] - held_before - (rs.layers - 1 - k) * layer_param_bytes_;
      f.cost = pr.recompute_s;
      profiles.push_back(f);
    }
    by_position_.push_back(prune(std::move(profiles)));
  }
  int64_t peak = 0;
  double cost = 0;
  run_dp(std::numeric_limits<int64_t>::max(), true, &peak, &cost);
  min_peak_ = peak;
  save_all_peak_ = simulate(g, save_all_plan(g), costs).peak_bytes;
}

size_t ExactSolver::candidates() const {
  size_t n = 0;
  for (const auto& p : by_position_) n += p.size();
  return n;
}

int ExactSolver::position(int layer) const {
  const int L = int(g_.shape.layers);
  return layer == 0 ? 0 : layer == L - 1 ? int(by_position_.size()) - 1 : 1;
}

const std::vector<ExactSolver::Profile>& ExactSolver::candidates_for(int layer) const {
  return by_position_[size_t(position(layer))];
}

int64_t ExactSolver::budget_bytes(double budget) const {
  check_budget(budget);
  return min_peak_ + int64_t(std::floor(budget * double(save_all_peak_ - min_peak_)));
}

std::vector<uint32_t> ExactSolver::run_dp(int64_t budget, bool min_peak, int64_t* peak, double* cost) const {
  struct Entry {
    double cost;
    int64_t peak;
    int64_t prev_kept;
    uint32_t mask;
  };
  const int L = int(g_.shape.layers);
  std::vector<std::unordered_map<int64_t, Entry>> layers(size_t(L + 1));
  layers[0][0] = Entry{0.0, 0, -1, 0};
  for (int k = 0; k < L; ++k) {
    const int pos = position(k);
    const int64_t grads_above = int64_t(L - 1 - k) * layer_param_bytes_;
    for (const auto& [kept, e] : layers[size_t(k)]) {
      for (const Profile& f : by_position_[size_t(pos)]) {
        const int64_t pk = std::max({e.peak, kept + f.forward, kept + grads_above + f.backward});
        if (pk > budget) continue;
        const int64_t next = kept + f.kept;
        const double c = e.cost + f.cost;
        auto it = layers[size_t(k + 1)].find(next);
        if (it == layers[size_t(k + 1)].end() || better(c, pk, it->second.cost, it->second.peak, min_peak)) {
          layers[size_t(k + 1)][next] = Entry{c, pk, kept, f.mask};
        }
      }
    }
  }
  const Entry* best = nullptr;
  int64_t best_kept = 0, best_peak = 0;
  for (const auto& [kept, e] : layers[size_t(L)]) {
    const int64_t pk = std::max(e.peak, kept + head_);
    if (pk > budget) continue;
    if (best == nullptr || better(e.cost, pk, best->cost, best_peak, min_peak)) {
      best = &e;
      best_kept = kept;
      best_peak = pk;
    }
  }
  if (best == nullptr) {
    throw std::invalid_argument(fmt::format("no plan keeps the simulated peak under {} bytes (the smallest is {})",
                                            budget, min_peak_));
  }
  *peak = best_peak;
  *cost = best->cost;
  std::vector<uint32_t> masks(static_cast<size_t>(L));
  int64_t kept = best_kept;
  for (int k = L; k >= 1; --k) {
    const Entry& e = layers[size_t(k)].at(kept);
    masks[size_t(k - 1)] = e.mask;
    kept = e.prev_kept;
  }
  return masks;
}

Plan ExactSolver::plan_of(const std::vector<uint32_t>& masks) const {
  Plan p = full_plan(g_);
  for (size_t k = 0; k < masks.size(); ++k) {
    for (size_t i = 0; i < free_offsets_.size(); ++i) {
      const int v = g_.nodes[k * size_t(nodes_per_layer_) + size_t(free_offsets_[i])].output;
      p.saved[size_t(v)] = (masks[k] >> i) & 1;
    }
  }
  return p;
}

Plan ExactSolver::solve_bytes(int64_t budget_bytes, int64_t* predicted_peak, double* recompute_s) const {
  int64_t peak = 0;
  double cost = 0;
  const std::vector<uint32_t> masks = run_dp(budget_bytes, false, &peak, &cost);
  if (predicted_peak != nullptr) *predicted_peak = peak;
  if (recompute_s != nullptr) *recompute_s = cost;
  return plan_of(masks);
}

}  // namespace talklab::experiments::checkpointing
