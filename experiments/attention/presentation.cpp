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
  // What a user waits for the first output: ours builds a plan and runs; torch_flex builds its BlockMask, then
  // compiles in its first call (first_result_s = prepare_s + compile_s).
  ChartSpec first_result;
  first_result.id = "time_to_first_result";
  first_result.title = "Time to first result per mask at sequence 4096, 4 heads: flash_cpu against torch_flex";
  first_result.caption = "flash_cpu: its block-mask plan's build (plan_build_s) and one call. torch_flex: "
                         "create_block_mask (block_mask_build_s), the first call that compiles (compile_s) and "
                         "their sum (first_result_s, with Python's prepare); then a warm call's median time.";
  first_result.kind = ChartKind::sweep;
  first_result.x = "mask";
  first_result.implementations = {"flash_cpu", "torch_flex"};
  first_result.where = {{"seq", {"4096"}}, {"heads", {"4"}}, {"kv_heads", {"4"}}};
  first_result.columns = {{"plan_build_s", "plan"},
                          {"block_mask_build_s", "create_block_mask"},
                          {"compile_s", "compile"},
                          {"first_result_s", "first result"},
                          {"time", "warm call"}};
  // The block mask alone at long context: our closed form (64 x 64 tiles) against create_block_mask (128 x 128).
  ChartSpec block_masks;
  block_masks.id = "block_mask_build";
  block_masks.title = "Building the block mask at sequence 65536: closed form against FlexAttention's create_block_mask";
  block_masks.caption = "Median time of one build. blockmask_closed lists 64 x 64 tiles (4x the blocks of "
                        "create_block_mask's 128 x 128); eager create_block_mask evaluates all S x S points at once "
                        "(skipped where that cannot fit), the compiled one fuses it into the block reduction.";
  block_masks.kind = ChartKind::sweep;
  block_masks.x = "mask";
  block_masks.implementations = {"blockmask_closed", "torch_create_block_mask", "torch_create_block_mask_compiled"};
  block_masks.where = {{"seq", {"65536"}}};
  block_masks.columns = {{"time", "time"}};
  p.charts = {by_mask, by_seq, first_result, block_masks, roofline};
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
  // The targets against compiled FlexAttention (flash_cpu >= 1.5x torch_flex): the sliding window at its
  // longest sequence, f32 and bf16, and the document and prefix masks at 4096.
  KeyComparison window_vs_flex;
  window_vs_flex.ours = "flash_cpu";
  window_vs_flex.against = "torch_flex";
  window_vs_flex.where = {{"mask", {"sliding_window"}}, {"heads", {"4"}}, {"kv_heads", {"4"}}};
  window_vs_flex.largest = "seq";
  KeyComparison masks_vs_flex = window_vs_flex;
  masks_vs_flex.where = {{"mask", {"document", "prefix_lm"}}, {"seq", {"4096"}}, {"heads", {"4"}}, {"kv_heads", {"4"}}};
  masks_vs_flex.largest = "";
  p.headline.comparisons = {flash, flash_cuda, window_vs_flex, masks_vs_flex};
  p.axis_scopes = {{"window", {"mask", {"sliding_window"}}}};
  return p;
}

}  // namespace talklab::experiments::attention
