// How the checkpointing experiment is shown: peak memory against step time (the Pareto front of the budget
// solvers, the fixed policies as points), the fixed policies against save_all, and the budget sweep, the tables
// experiments/checkpointing/pareto.py used to print.
#include "harness/presentation.h"

namespace talklab::experiments::checkpointing {

Presentation presentation() {
  Presentation p;
  ChartSpec pareto;
  pareto.id = "pareto";
  pareto.title = "Checkpointing: peak memory against step time";
  pareto.caption =
      "One line per budget solver (a point per budget), the fixed policies as points. Lower left is better.";
  pareto.kind = ChartKind::pareto;
  pareto.x = "budget";
  using R = Column::Relative;
  ChartSpec policies;
  policies.id = "policies";
  policies.title = "Fixed policies against save_all";
  policies.caption = "\"Step peak\" is the tracking allocator's peak of the step above what was live before it; "
                     "recompute is the measured cost of the recomputed ops.";
  policies.kind = ChartKind::table;
  policies.where = {{"budget", {"1"}}};
  policies.implementations = {"autograd", "save_all", "full", "every_k", "sqrt_n", "selective"};
  policies.baseline = "save_all";
  policies.columns = {{"time", "step time", R::value},
                      {"time", "x save_all", R::ratio},
                      {"measured_step_peak_bytes", "step peak", R::value},
                      {"predicted_step_peak_bytes", "predicted", R::value},
                      {"measured_saved_bytes", "kept for backward", R::value},
                      {"measured_saved_bytes", "kept cut", R::cut},
                      {"measured_step_peak_bytes", "peak cut", R::cut},
                      {"recompute_s", "recompute", R::value},
                      {"max_rel_error", "grad error", R::value}};
  ChartSpec sweep;
  sweep.id = "sweep";
  sweep.title = "Budget sweep of the solvers";
  sweep.caption = "Each cell: measured step peak / step time / recompute (measured op costs).";
  sweep.kind = ChartKind::sweep;
  sweep.x = "budget";
  sweep.implementations = {"knapsack", "knapsack_greedy", "exact", "exact_matched"};
  sweep.columns = {{"measured_step_peak_bytes", "step peak", R::value},
                   {"time", "step time", R::value},
                   {"recompute_s", "recompute", R::value}};
  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;
  p.charts = {pareto, policies, sweep, roofline};
  // What a policy buys against PyTorch's own autograd step: the budget solvers at no budget and at half of it,
  // selective checkpointing and full recomputation.
  p.headline.chart = "pareto";
  // Memory: the step's peak above what was live before it (the case's peak also holds the float64 reference).
  for (const char* policy : {"selective", "full"}) {
    KeyComparison k;
    k.ours = policy;
    k.where = {{"budget", {"1"}}};
    k.memory = "measured_step_peak_bytes";
    p.headline.comparisons.push_back(k);
  }
  KeyComparison exact;
  exact.ours = "exact";
  exact.where = {{"budget", {"0", "0.5"}}};
  exact.across = {"budget"};
  exact.memory = "measured_step_peak_bytes";
  p.headline.comparisons.push_back(exact);
  p.axis_scopes = {{"budget", {"implementation", {"knapsack", "knapsack_greedy", "exact", "exact_matched"}}}};
  return p;
}

}  // namespace talklab::experiments::checkpointing
