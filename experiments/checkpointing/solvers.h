// The memory-budget solvers: budget(b), b in [0, 1].
//
// torch_knapsack  PyTorch's activation_memory_budget as it is (torch/_functorch/partitioners.py,
//                 choose_saved_values_set): the ops it bans from recomputation (matmul, attention, random)
//                 are knapsack items; weight = the bytes of the value, normalized between the budget-0 plan
//                 (only inputs kept) and the budget-1 plan (everything kept); value = a FLOP estimate (1 for an
//                 op that is not a matmul or attention); capacity b. The items it keeps are saved, everything
//                 else is recomputed on demand. The items are independent in its model: nothing says that
//                 recomputing one value keeps others alive, nor what the backward's peak becomes.
// exact           minimizes the recompute time (measured costs) subject to the simulated peak of forward plus
//                 backward <= P_min + b (P_save_all - P_min), P_min the smallest peak of any plan of its
//                 space. Its space: every plan that keeps each layer's input (per-layer saved sets may differ).
//                 With layer inputs kept, a layer's forward and backward only see the earlier layers through
//                 the bytes they keep, so the simulated peak composes per layer; a DP over layers (state: bytes
//                 kept by earlier layers) over every saved set of a layer (pruned by dominance) is exact.
#pragma once

#include <cstdint>
#include <vector>

#include "experiments/checkpointing/schedule.h"

namespace talklab::experiments::checkpointing {

// Throws std::invalid_argument naming the budget when it is outside [0, 1] or not a number.
void check_budget(double budget);

enum class KnapsackMethod { greedy, dp };
inline constexpr int kKnapsackSteps = 10000;  // PyTorch's dp_knapsack quantizes weights to 1/10,000

// The items to keep, maximizing the kept value with weight <= capacity (PyTorch's dp_knapsack and
// greedy_knapsack: weights in [0, 1] quantized to kKnapsackSteps; greedy by value / weight).
std::vector<int> knapsack(const std::vector<double>& weights, const std::vector<double>& values, double capacity,
                          KnapsackMethod method);

Plan torch_knapsack_plan(const Graph& g, double budget, KnapsackMethod method = KnapsackMethod::dp);

class ExactSolver {
 public:
  // costs: measured seconds per node of g (the layers' costs are read from layer 0 onwards).
  ExactSolver(const Graph& g, const std::vector<double>& costs);
  int64_t min_peak() const { return min_peak_; }
  int64_t save_all_peak() const { return save_all_peak_; }
  int64_t budget_bytes(double budget) const;  // P_min + b (P_save_all - P_min)
  // The cheapest plan (ties: the lower peak) whose simulated peak is <= budget_bytes; throws when none is.
  Plan solve_bytes(int64_t budget_bytes, int64_t* predicted_peak = nullptr, double* recompute_s = nullptr) const;
  Plan solve(double budget) const { return solve_bytes(budget_bytes(budget)); }
  size_t candidates() const;  // saved sets per layer position kept after pruning

  struct Profile {       // one saved set of one layer position, from the simulator
    uint32_t mask = 0;   // over free_values()
    int64_t kept = 0;    // bytes it keeps across the forward/backward boundary
    int64_t forward = 0, backward = 0;  // its phases' peaks above what the other layers hold
    double cost = 0;     // recompute seconds
  };
  const std::vector<int>& free_offsets() const { return free_offsets_; }
  // For tests: the saved sets kept for the position of `layer`, and the plan of per-layer saved sets.
  const std::vector<Profile>& candidates_for(int layer) const;
  Plan plan_of(const std::vector<uint32_t>& masks) const;

 private:
  int position(int layer) const;
  std::vector<uint32_t> run_dp(int64_t budget, bool min_peak, int64_t* peak, double* cost) const;

  const Graph& g_;
  int64_t nodes_per_layer_ = 0;
  std::vector<int> free_offsets_;            // value offsets within a layer that a plan may keep or not
  std::vector<std::vector<Profile>> by_position_;  // first, middle, last (or only)
  int64_t head_ = 0;                         // the loss's phases above all kept bytes
  int64_t layer_param_bytes_ = 0;
  int64_t min_peak_ = 0, save_all_peak_ = 0;
};

}  // namespace talklab::experiments::checkpointing
