// How the checkpointing experiment is shown: peak memory against step time (the Pareto front of the budget
// solvers, the fixed policies as points), the fixed policies against save_all, and the budget sweep, the tables
// experiments/checkpointing/pareto.py used to print; beside them, PyTorch itself (torch_anchors.h): its compiled
// partitioner's curve against our exact solver and our knapsack model, its SAC beside our selective.
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
  policies.implementations = {"autograd", "save_all", "full", "every_k", "sqrt_n", "selective", "torch_sac",
                              "torch_sac_compiled"};
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
  // The three budget curves of one step: our exact solver, our model of PyTorch's knapsack, and PyTorch's own
  // partitioner (torch.compile under activation_memory_budget); SAC (eager and compiled) beside our selective.
  ChartSpec vs_pytorch;
  vs_pytorch.id = "vs_pytorch";
  vs_pytorch.title = "Checkpointing against PyTorch's partitioner and SAC";
  vs_pytorch.caption =
      "Measured peak (the case's, which holds the model and the float64 reference; PyTorch's cases also hold the "
      "dropout masks, one byte an element, that ours regenerate from a seed) against step time, a point per budget.";
  vs_pytorch.kind = ChartKind::pareto;
  vs_pytorch.x = "budget";
  vs_pytorch.implementations = {"exact", "knapsack", "torch_compile_budget", "selective", "torch_sac",
                                "torch_sac_compiled"};
  ChartSpec partitioner;
  partitioner.id = "partitioner";
  partitioner.title = "Our exact solver against PyTorch's partitioner, budget by budget";
  partitioner.caption = "Each cell: measured step peak / step time / bytes kept for backward (exact: predicted; "
                        "PyTorch: what the compiled forward saved, inputs left out).";
  partitioner.kind = ChartKind::sweep;
  partitioner.x = "budget";
  partitioner.implementations = {"exact", "knapsack", "torch_compile_budget"};
  partitioner.columns = {{"measured_step_peak_bytes", "step peak", R::value},
                         {"time", "step time", R::value},
                         {"saved_bytes", "saved", R::value}};
  // The comparison that does not depend on what a budget means (ours scales between the least peak and save_all's,
  // PyTorch's scales what its min-cut partition saves): at each of PyTorch's points, our fastest plan of any budget
  // whose step peak is no higher.
  ChartSpec frontier;
  frontier.id = "at_pytorch_peak";
  frontier.title = "Our exact solver at no more step peak than PyTorch's partitioner";
  frontier.caption = "A row per torch_compile_budget case; beside it the fastest exact case, at any budget, whose "
                     "measured step peak is no higher, and PyTorch's step time over ours.";
  frontier.kind = ChartKind::frontier;
  frontier.x = "budget";
  frontier.y = "time";
  frontier.implementations = {"exact"};
  frontier.baseline = "torch_compile_budget";
  frontier.columns = {{"measured_step_peak_bytes", "step peak", R::value}};
  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;
  p.charts = {pareto, policies, sweep, vs_pytorch, partitioner, frontier, roofline};
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
  // The target: at each budget our exact plan against PyTorch's compiled partitioner at the same budget.
  KeyComparison partitioned;
  partitioned.ours = "exact";
  partitioned.against = "torch_compile_budget";
  partitioned.where = {{"budget", {"0", "0.5"}}};
  partitioned.memory = "measured_step_peak_bytes";
  p.headline.comparisons.push_back(partitioned);
  p.axis_scopes = {{"budget", {"implementation", {"knapsack", "knapsack_greedy", "exact", "exact_matched",
                                                   "torch_compile_budget"}}}};
  return p;
}

}  // namespace talklab::experiments::checkpointing
