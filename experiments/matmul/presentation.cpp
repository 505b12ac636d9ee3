// How the matmul experiment is shown: each low-precision recipe of ours against the fastest PyTorch matmul at the
// square 4096 weight, its rate against M per weight shape, and its quantization error; and issue 17's targets
// against PyTorch's own kernels (matmul_anchors.cpp): decode (M = 1) recipes beside PyTorch's weight-only ones,
// bf16 4096^3 beside Inductor's max-autotune GEMM. The charts take every technique implementation, so the anchors
// are drawn beside ours wherever both ran.
#include <utility>
#include <vector>

#include "harness/presentation.h"

namespace talklab::experiments::matmul {

Presentation presentation() {
  Presentation p;
  ChartSpec rate;
  rate.id = "tflops_vs_M";
  rate.title = "Matmul TFLOP/s against M, per recipe";
  rate.caption = "One panel per (K, N) weight shape.";
  rate.kind = ChartKind::line;
  rate.x = "M";
  rate.y = "tflops";
  rate.log_x = true;
  rate.facets = {"K", "N"};
  ChartSpec sqnr;
  sqnr.id = "sqnr";
  sqnr.title = "SQNR per recipe";
  sqnr.caption = "Quantization error of each recipe on randn inputs, every shape measured.";
  sqnr.kind = ChartKind::points;
  sqnr.x = "implementation";
  sqnr.y = "sqnr_db";
  sqnr.facets = {"K", "N"};
  using R = Column::Relative;
  // Decode: the weights' bytes dominate, so the roofline fraction is against the read-only stream (problem.h).
  ChartSpec decode;
  decode.id = "decode_anchors";
  decode.title = "Decode (M = 1, K = 4096, N = 14336): ours against PyTorch's CPU kernels";
  decode.caption = "Same weights (our quantizers' codes and scales), same float64 gate. Roofline: against the "
                   "read-only stream bandwidth measured at the run's start; alternated: against a read of as many "
                   "bytes timed in turn with the step (ours only); setup: packing (prepare) and the first call "
                   "(compile).";
  decode.kind = ChartKind::table;
  decode.where = {{"M", {"1"}}, {"K", {"4096"}}, {"N", {"14336"}}};
  decode.implementations = {"bf16", "int8_w8a8", "int4_w4a16", "torch_bf16", "torch_compiled_bf16",
                            "torch_int8_weight", "torch_int8_dynamic", "torch_int4_weight", "torch_fp8_scaled_mm"};
  decode.columns = {{"time", "time", R::value},          {"gbps", "GB/s", R::value},
                    {"roofline_fraction", "of read", R::value}, {"read_fraction", "of read, alternated", R::value},
                    {"sqnr_db", "SQNR", R::value},
                    {"prepare_s", "prepare", R::value},   {"compile_s", "first call", R::value}};
  ChartSpec square;
  square.id = "compiled_gemm";
  square.title = "bf16 4096^3: ours against LibTorch and Inductor's max-autotune GEMM";
  square.caption = "compile_s is torch.compile's compile and autotuning (the first call), never in a sample.";
  square.kind = ChartKind::table;
  square.where = {{"M", {"4096"}}, {"K", {"4096"}}, {"N", {"4096"}}};
  square.implementations = {"bf16", "torch_bf16", "torch_compiled_bf16"};
  square.baseline = "torch_compiled_bf16";
  square.columns = {{"time", "time", R::value}, {"time", "x compiled", R::ratio}, {"tflops", "TFLOP/s", R::value},
                    {"compile_s", "compile", R::value}};
  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;
  p.charts = {rate, sqnr, decode, square, roofline};
  p.headline.chart = "tflops_vs_M";
  for (const char* ours : {"bf16", "int8_w8a8", "int4_w4a16", "w4a16_cuda"}) {
    KeyComparison k;
    k.ours = ours;
    k.where = {{"K", {"4096"}}, {"N", {"4096"}}};
    p.headline.comparisons.push_back(k);
  }
  // Issue 17's targets: each against the named PyTorch kernel, not the fastest PyTorch at the point.
  const std::vector<AxisFilter> decode_point = {{"M", {"1"}}, {"K", {"4096"}}, {"N", {"14336"}}};
  for (const auto& [ours, against] : {std::pair{"int4_w4a16", "torch_int4_weight"},
                                      std::pair{"int8_w8a8", "torch_int8_weight"}}) {
    KeyComparison k;
    k.ours = ours;
    k.against = against;
    k.where = decode_point;
    p.headline.comparisons.push_back(k);
  }
  KeyComparison compiled;
  compiled.ours = "bf16";
  compiled.against = "torch_compiled_bf16";
  compiled.where = {{"M", {"4096"}}, {"K", {"4096"}}, {"N", {"4096"}}};
  p.headline.comparisons.push_back(compiled);
  return p;
}

}  // namespace talklab::experiments::matmul
