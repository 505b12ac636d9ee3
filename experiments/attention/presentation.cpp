// How the attention experiment is shown: the block-sparse kernel against the fastest PyTorch attention where the
// mask leaves work to skip, time against sequence length, and which axes mean something for which mask.
#include "harness/presentation.h"

namespace talklab::experiments::attention {

Presentation presentation() {
  Presentation p;
  ChartSpec by_mask;
  by_mask.id = "time_per_mask";
  by_mask.title = "Attention time per mask at sequence 4096, f32, 4 heads";
  by_mask.caption = "Median time of one forward call of each implementation; lower is better.";
  by_mask.kind = ChartKind::points;
  by_mask.x = "mask";
  by_mask.y = "time";
  by_mask.facets = {"implementation"};
  by_mask.where = {{"seq", {"4096"}}, {"dtype", {"f32"}}, {"heads", {"4"}}, {"kv_heads", {"4"}}};
  ChartSpec by_seq;
  by_seq.id = "time_vs_seq";
  by_seq.title = "Attention time against sequence length, per mask and implementation";
  by_seq.caption = "Median time of one forward call, log-log; one panel per mask, dashes by dtype.";
  by_seq.kind = ChartKind::line;
  by_seq.x = "seq";
  by_seq.y = "time";
  by_seq.log_x = by_seq.log_y = true;
  by_seq.facets = {"mask"};
  by_seq.dash = "dtype";
  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;
  p.charts = {by_mask, by_seq, roofline};
  // Where a block mask skips work, at the longest sequence measured, against the fastest PyTorch attention.
  p.headline.chart = "time_per_mask";
  KeyComparison flash;
  flash.ours = "flash_cpu";
  flash.where = {{"mask", {"causal", "sliding_window", "document", "causal+alibi"}},
                 {"dtype", {"f32"}},
                 {"heads", {"4"}},
                 {"kv_heads", {"4"}}};
  flash.largest = "seq";
  KeyComparison flash_cuda = flash;
  flash_cuda.ours = "flash_cuda";
  p.headline.comparisons = {flash, flash_cuda};
  p.axis_scopes = {{"window", {"mask", {"sliding_window"}}}};
  return p;
}

}  // namespace talklab::experiments::attention
