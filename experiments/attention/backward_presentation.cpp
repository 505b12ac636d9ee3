// How attention_backward is shown: what a training step costs per mask as the sequence grows, in time and in peak
// memory, ours against LibTorch's autograd; the headline where a mask leaves blocks to skip.
#include "harness/presentation.h"

namespace talklab::experiments::attention {

Presentation backward_presentation() {
  Presentation p;
  ChartSpec step_time;
  step_time.id = "step_time_vs_seq";
  step_time.title = "Training step of one attention layer (forward + backward): time against sequence length";
  step_time.caption = "Median time of forward plus backward, log-log; one panel per mask, dashes by dtype. A sliding "
                      "window grows linearly for flash_cpu, quadratically for LibTorch.";
  step_time.kind = ChartKind::line;
  step_time.x = "seq";
  step_time.y = "time";
  step_time.log_x = step_time.log_y = true;
  step_time.facets = {"mask"};
  step_time.dash = "dtype";
  step_time.where = {{"pass", {"step"}}};
  ChartSpec step_memory = step_time;
  step_memory.id = "step_peak_memory_vs_seq";
  step_memory.title = "Training step of one attention layer: peak memory against sequence length";
  step_memory.caption = "Peak bytes allocated during forward plus backward (inputs and gradients included), log-log.";
  step_memory.y = "peak_memory";
  ChartSpec backward_time;
  backward_time.id = "backward_time_per_mask";
  backward_time.title = "Attention backward alone, per mask";
  backward_time.caption = "Median time of dQ, dK, dV given the forward's outputs; lower is better.";
  backward_time.kind = ChartKind::points;
  backward_time.x = "mask";
  backward_time.y = "time";
  backward_time.facets = {"implementation"};
  backward_time.where = {{"pass", {"backward"}}};
  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;
  p.charts = {step_time, step_memory, backward_time, roofline};
  // Backward alone against the fastest LibTorch autograd, where a mask leaves work to skip, at the longest sequence.
  p.headline.chart = "step_time_vs_seq";
  KeyComparison backward;
  backward.ours = "flash_cpu";
  backward.where = {{"pass", {"backward"}}, {"mask", {"causal", "sliding_window", "document"}}};
  backward.largest = "seq";
  backward.against = "torch_sdpa";
  KeyComparison step = backward;
  step.where = {{"pass", {"step"}}, {"mask", {"causal", "sliding_window", "document"}}};
  p.headline.comparisons = {backward, step};
  p.axis_scopes = {{"window", {"mask", {"sliding_window"}}}};
  return p;
}

}  // namespace talklab::experiments::attention
