// The matmul experiment's declarations and gate: work is 2MNK with each recipe's own byte sizes, and the
// SQNR floor catches a product that is merely a little wrong everywhere.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "experiments/matmul/problem.h"
#include "harness/registry.h"
#include "kernels/cpu/cpu_features.h"

namespace talklab {
namespace {

using experiments::matmul::check_product;
using experiments::matmul::Inputs;
using experiments::matmul::RecipeTolerance;

Params shape(int64_t M, int64_t N, int64_t K) {
  Params p;
  p.set("M", M);
  p.set("N", N);
  p.set("K", K);
  return p;
}

Work work_of(const std::string& impl, const Params& p) {
  const Experiment* e = registry().find("matmul");
  EXPECT_NE(e, nullptr);
  const CaseContext ctx{p, Device::cpu, 1, 1};
  for (const Implementation& i : e->implementations) {
    if (i.name == impl) return i.work ? i.work(ctx) : e->work(ctx);
  }
  ADD_FAILURE() << "no implementation " << impl;
  return {};
}

TEST(MatmulExperiment, WorkIsTwoMnkWithEachRecipesBytes) {
  const Params p = shape(3, 5, 7);
  EXPECT_DOUBLE_EQ(work_of("torch_fp32", p).flops, 2.0 * 3 * 5 * 7);
  EXPECT_DOUBLE_EQ(work_of("torch_fp32", p).bytes, 4.0 * (21 + 35 + 15));
  EXPECT_DOUBLE_EQ(work_of("bf16", p).bytes, 2.0 * 21 + 2.0 * 35 + 4.0 * 15);
  EXPECT_DOUBLE_EQ(work_of("int8_w8a8", p).bytes, 4.0 * 21 + 1.0 * 35 + 4.0 * 15);  // reads float activations
  EXPECT_EQ(work_of("int8_w8a8", p).peak, "int8");
  // int4 codes plus one bf16 scale per 128 weights; bf16 activations.
  EXPECT_DOUBLE_EQ(work_of("int4_w4a16", p).bytes, 2.0 * 21 + (0.5 + 2.0 / 128) * 35 + 4.0 * 15);
  EXPECT_EQ(work_of("int4_w4a16", p).peak, "bf16");
  EXPECT_EQ(work_of("torch_bf16", p).peak, "bf16");
}

std::string blocking_label(const std::string& impl) {
  const Experiment* e = registry().find("matmul");
  for (const Implementation& i : e->implementations) {
    if (i.name != impl) continue;
    const std::unique_ptr<Case> c = i.make(CaseContext{shape(3, 5, 7), Device::cpu, 1, 1});
    Labels labels;
    c->add_labels(labels);
    for (const auto& [key, value] : labels)
      if (key == "blocking") return value;
    return "";
  }
  ADD_FAILURE() << "no implementation " << impl;
  return "";
}

// Our blocked recipes say which cache blocking ran, and TALKLAB_MATMUL_BLOCKING's choice shows in it.
TEST(MatmulExperiment, OurRecipesRecordTheirBlocking) {
  if (cpu::best_isa() != cpu::Isa::avx512) {
    EXPECT_EQ(blocking_label("bf16"), "");  // one blocking below AVX-512: nothing to tell apart
    return;
  }
  const std::string chosen = blocking_label("bf16");
  EXPECT_TRUE(chosen == "zen4" || chosen == "zen5") << chosen;
  EXPECT_EQ(blocking_label("int8_w8a8"), chosen);
  for (const char* forced : {"zen4", "zen5"}) {
    ::setenv("TALKLAB_MATMUL_BLOCKING", forced, 1);
    EXPECT_EQ(blocking_label("bf16"), forced);
    ::unsetenv("TALKLAB_MATMUL_BLOCKING");
  }
}

TEST(MatmulExperiment, GateMeasuresAgainstTheUnquantizedProduct) {
  Inputs in;
  in.s = {33, 17, 65};
  in.fill(5);
  std::vector<float> c(size_t(in.s.M * in.s.N), 0.f);
  for (int64_t m = 0; m < in.s.M; ++m)
    for (int64_t n = 0; n < in.s.N; ++n)
      for (int64_t k = 0; k < in.s.K; ++k) c[size_t(m * in.s.N + n)] += in.a[size_t(m * in.s.K + k)] * in.b[size_t(k * in.s.N + n)];
  const RecipeTolerance strict{100.0, 1e-5};
  const Accuracy exact = check_product(in, c.data(), false, strict, 1);
  EXPECT_TRUE(exact.passed) << exact.error;
  EXPECT_GT(exact.sqnr_db, 100.0);
  for (float& x : c) x *= 1.001f;  // 0.1% everywhere: 60 dB, under a 100 dB floor
  const Accuracy scaled = check_product(in, c.data(), false, strict, 1);
  EXPECT_FALSE(scaled.passed);
  EXPECT_NEAR(scaled.sqnr_db, 60.0, 0.1);
}

}  // namespace
}  // namespace talklab
