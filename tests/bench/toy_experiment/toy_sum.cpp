// toy_sum: the sum of n floats, ours against PyTorch's. A fixture, not a technique: it is the smallest experiment
// a report can show, and tests/bench/check_toy_experiment.py builds it into a bench of its own, runs it and reports
// it. Everything the report draws (who provides each implementation, the chart, the headline) is declared here, so
// adding it touched this folder, one add_subdirectory line and a profile: nothing in bench/ or harness/.
#include <ATen/ATen.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>

#include "harness/experiment.h"
#include "harness/memory.h"
#include "harness/registry.h"

namespace talklab::experiments::toy_sum {
namespace {

// Eight float32 lanes, each summing n / 8 values in (0.5, 2): a lane's rounding error grows at most as
// (n / 8) * 2^-24 of the total in the worst case, 1e-3 at n = 10^5 but about sqrt(n / 8) * 2^-24 ~ 7e-6 for random
// signs of rounding. PyTorch's reduction is blocked too. 1e-4 passes both and still catches a lost block of 8.
constexpr double kTolerance = 1e-4;

class SumCase final : public Case {
 public:
  SumCase(const CaseContext& ctx, bool ours) : ours_(ours), n_(size_t(ctx.params.integer("n"))), seed_(ctx.seed) {}
  void setup() override {
    x_ = memory::Buffer<float>(n_);
    std::mt19937_64 rng(seed_);
    std::uniform_real_distribution<float> value(0.5f, 2.0f);
    for (float& v : x_.span()) v = value(rng);
  }
  void poison() override { sum_ = std::numeric_limits<float>::quiet_NaN(); }
  void run() override {
    if (!ours_) {
      sum_ = at::from_blob(x_.data(), {int64_t(n_)}, at::kFloat).sum().item<float>();
      return;
    }
    float lane[8] = {};
    size_t i = 0;
    for (; i + 8 <= n_; i += 8) {
      for (int l = 0; l < 8; ++l) lane[l] += x_[i + l];
    }
    for (; i < n_; ++i) lane[0] += x_[i];
    float total = 0;
    for (float s : lane) total += s;
    sum_ = total;
  }
  Accuracy check() override {
    double ref = 0;
    for (size_t i = 0; i < n_; ++i) ref += double(x_[i]);
    AccuracyAccumulator acc;
    acc.add(double(sum_), ref, "sum");
    return acc.finish(Tolerance{kTolerance});
  }

 private:
  bool ours_;
  size_t n_;
  uint64_t seed_;
  memory::Buffer<float> x_;
  float sum_ = 0;
};

Implementation implementation(const char* name, Provider provider, const char* description, bool ours) {
  Implementation i;
  i.name = name;
  i.provider = provider;
  i.description = description;
  i.make = [ours](const CaseContext& ctx) { return std::make_unique<SumCase>(ctx, ours); };
  return i;
}

Experiment declare() {
  Experiment e;
  e.name = "toy_sum";
  e.description = "the sum of n floats: a fixture experiment";
  e.talks = {"llm-training-hacks"};
  e.axes = {int_axis("n", "how many floats are summed")};
  e.implementations = {implementation("sum_lanes", Provider::ours, "eight float32 lanes", true),
                       implementation("torch_sum", Provider::pytorch_eager, "at::sum", false)};
  e.work = [](const CaseContext& ctx) {
    const double n = double(ctx.params.integer("n"));
    return Work{n, 4 * n, "fp32"};
  };
  ChartSpec time;
  time.id = "time_vs_n";
  time.title = "Sum time against n";
  time.caption = "Median time of one sum; lower is better.";
  time.kind = ChartKind::line;
  time.x = std::string("n");  // not = "n": GCC 12 warns (-Wrestrict) on a one-letter literal assigned there
  time.y = "time";
  time.log_x = true;
  e.presentation.charts = {time};
  e.presentation.headline.chart = "time_vs_n";
  KeyComparison largest;
  largest.ours = "sum_lanes";
  largest.largest = std::string("n");
  e.presentation.headline.comparisons = {largest};
  return e;
}

TALKLAB_REGISTER_EXPERIMENT(declare);

}  // namespace
}  // namespace talklab::experiments::toy_sum
