// How the matmul experiment is shown: each low-precision recipe of ours against the fastest PyTorch matmul at the
// square 4096 weight, its rate against M per weight shape, and its quantization error.
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
  ChartSpec roofline;
  roofline.id = "roofline";
  roofline.kind = ChartKind::roofline;
  p.charts = {rate, sqnr, roofline};
  p.headline.chart = "tflops_vs_M";
  for (const char* ours : {"bf16", "int8_w8a8", "int4_w4a16", "w4a16_cuda"}) {
    KeyComparison k;
    k.ours = ours;
    k.where = {{"K", {"4096"}}, {"N", {"4096"}}};
    p.headline.comparisons.push_back(k);
  }
  return p;
}

}  // namespace talklab::experiments::matmul
