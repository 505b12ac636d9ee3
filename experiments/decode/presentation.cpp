// How the decode experiment is shown: time and bandwidth against context per KV format (ours against LibTorch on bf16),
// what each format costs in accuracy for the bytes it saves, paged against contiguous (ours, and ours beside
// FlexAttention's paging), split-KV on and off, and the roofline (memory-only: on the CPU the fraction is of the
// measured read-only stream). Headline: ours against torch_sdpa at the longest context, bf16, Llama-3-8B's 32:8 heads.
#include "harness/presentation.h"

namespace talklab::experiments::decode {
namespace {

// Llama-3-8B's attention at one sequence, the shape the performance targets are quoted at.
std::vector<AxisFilter> llama_shape() {
  return {{"batch", {"1"}}, {"heads", {"32"}}, {"kv_heads", {"8"}}, {"head_dim", {"128"}}, {"q_len", {"1"}}};
}

}  // namespace

Presentation presentation() {
  Presentation p;
  std::vector<AxisFilter> contiguous = llama_shape();
  contiguous.push_back({"page_size", {"0"}});
  contiguous.push_back({"split", {"auto"}});

  ChartSpec time;
  time.id = "time_vs_context";
  time.title = "Decode step time against context, per KV format (batch 1, 32:8 heads, head_dim 128)";
  time.caption = "Median time of one decode step (q_len 1), log-log; dashes by KV format. Memory-bound: time should "
                 "grow linearly with the bytes of cache read.";
  time.kind = ChartKind::line;
  time.x = "context";
  time.y = "time";
  time.log_x = time.log_y = true;
  time.dash = "kv_dtype";
  time.where = contiguous;

  ChartSpec bandwidth = time;
  bandwidth.id = "bandwidth_vs_context";
  bandwidth.title = "Cache bandwidth against context, per KV format";
  bandwidth.caption = "Bytes of K and V (codes and scales) read per second; the read-only stream measured at the start "
                      "of the run is the ceiling. Quantized formats read fewer bytes, so their GB/s is lower at the "
                      "same speed: compare times for the speedup.";
  bandwidth.y = "gbps";
  bandwidth.log_y = false;

  ChartSpec accuracy;
  accuracy.id = "accuracy_vs_memory";
  accuracy.title = "Accuracy against memory per KV format: bytes per token, SQNR, max relative error";
  accuracy.caption = "Against the float64 reference on the unquantized cache (randn K, V, Q). Floors: "
                     "kernels/cpu/decode/decode_tolerances.h.";
  accuracy.kind = ChartKind::sweep;
  accuracy.x = "kv_dtype";
  accuracy.implementations = {"decode_cpu"};
  accuracy.where = contiguous;
  accuracy.columns = {{"kv_bytes_per_token", "KV bytes per token"},
                      {"sqnr_db", "SQNR (dB)"},
                      {"max_rel_error", "max rel. error"},
                      {"time", "time"}};

  ChartSpec sqnr;
  sqnr.id = "sqnr_per_format";
  sqnr.title = "SQNR per KV format at context 32768 (the table above adds bytes per token)";
  sqnr.caption = "Output SQNR against the float64 reference on the unquantized cache, one colour per format.";
  sqnr.kind = ChartKind::points;
  sqnr.y = "sqnr_db";
  sqnr.facets = {"kv_dtype"};
  sqnr.implementations = {"decode_cpu"};
  sqnr.where = contiguous;
  sqnr.where.push_back({"context", {"32768"}});

  ChartSpec paired;
  paired.id = "read_fraction";
  paired.title = "Each format against a plain read of as many bytes, timed in alternation (context 32768)";
  paired.caption = "read fraction = the time a read-only stream (the roofline's, same threads) takes over the step's "
                   "bytes / the step's time, the two alternated over 21 rounds within the case; the bandwidth column "
                   "above divides by a ceiling measured once at the run's start. Quantized formats read fewer bytes: a "
                   "low fraction there means compute, not memory, sets their time. speedup over bf16: the format's step "
                   "against a bf16 cache of the same data, alternated the same way.";
  paired.kind = ChartKind::sweep;
  paired.x = "kv_dtype";
  paired.implementations = {"decode_cpu"};
  paired.where = contiguous;
  paired.where.push_back({"context", {"32768"}});
  paired.columns = {{"time", "time"}, {"gbps", "GB/s"}, {"read_gbps_paired", "read GB/s, alternated"},
                    {"read_fraction", "read fraction"}, {"speedup_vs_bf16", "speedup over bf16, alternated"}};

  ChartSpec paged;
  paged.id = "paged_vs_contiguous";
  paged.title = "Paged (shuffled pages) against contiguous KV, bf16, 32:8 heads";
  paged.caption = "page_size 0 is the contiguous cache; the same data behind a shuffled block table otherwise. "
                  "paged over contiguous: the two caches timed in alternation within the paged case (median of 21 "
                  "rounds), the figure to read on a host whose bandwidth moves between cases.";
  paged.kind = ChartKind::sweep;
  paged.x = "page_size";
  paged.implementations = {"decode_cpu"};
  paged.where = llama_shape();
  paged.where.push_back({"kv_dtype", {"bf16"}});
  paged.where.push_back({"split", {"auto"}});
  paged.columns = {{"time", "time"}, {"gbps", "GB/s"}, {"paged_over_contiguous", "paged over contiguous, alternated"},
                   {"page_table_bytes", "block table"}};

  ChartSpec paged_flex;
  paged_flex.id = "paged_flex";
  paged_flex.title = "Paging in PyTorch's FlexAttention against ours, bf16, 32:8 heads, context 32768";
  paged_flex.caption = "torch_flex pages through PyTorch's PagedAttention (its pool, the same shuffled block table, "
                       "key blocks of one page, each key's logical position looked up in the mask_mod); page_size 0 "
                       "is each one's contiguous cache. Cases timed one after another, not in alternation.";
  paged_flex.kind = ChartKind::sweep;
  paged_flex.x = "page_size";
  paged_flex.implementations = {"decode_cpu", "torch_flex"};
  paged_flex.where = paged.where;
  paged_flex.where.push_back({"context", {"32768"}});
  paged_flex.columns = {{"time", "time"}, {"gbps", "GB/s"}};

  ChartSpec split;
  split.id = "split_kv";
  split.title = "Split-KV on and off, multi-query attention (one kv head)";
  split.caption = "With B x kv_heads = 1 the unsplit kernel runs on one core; split-KV cuts the sequence into chunks "
                  "for every core and merges them by log-sum-exp.";
  split.kind = ChartKind::sweep;
  split.x = "split";
  split.implementations = {"decode_cpu"};
  split.where = {{"kv_heads", {"1"}}, {"q_len", {"1"}}};
  split.columns = {{"time", "time"}, {"splits", "chunks"}, {"gbps", "GB/s"}};

  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;

  p.charts = {time, bandwidth, accuracy, sqnr, paired, paged, paged_flex, split, roofline};
  p.headline.chart = "time_vs_context";
  KeyComparison ours;
  ours.ours = "decode_cpu";
  ours.where = contiguous;
  ours.where.push_back({"kv_dtype", {"bf16"}});
  ours.largest = "context";
  ours.against = "torch_sdpa";
  p.headline.comparisons = {ours};
  return p;
}

}  // namespace talklab::experiments::decode
