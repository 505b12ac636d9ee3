// The attention experiment's declarations: useful work counts only unmasked pairs, LibTorch's baselines say
// why they cannot run a point, and a planted fault in an output is caught by the run-time gate.
#include <gtest/gtest.h>

#include <cmath>

#include "experiments/attention/problem.h"
#include "harness/registry.h"

namespace talklab {
namespace {

Params point(const std::string& mask, int64_t seq, int64_t window, const std::string& dtype = "f32") {
  Params p;
  p.set("mask", mask);
  p.set("seq", seq);
  p.set("window", window);
  p.set("heads", int64_t(4));
  p.set("kv_heads", int64_t(2));
  p.set("head_dim", int64_t(64));
  p.set("batch", int64_t(2));
  p.set("dtype", dtype);
  return p;
}

const Experiment& attention() {
  const Experiment* e = registry().find("attention");
  EXPECT_NE(e, nullptr);
  return *e;
}

const Implementation& impl(const std::string& name) {
  for (const auto& i : attention().implementations) {
    if (i.name == name) return i;
  }
  throw std::runtime_error("no implementation " + name);
}

double work_flops(const Params& p) {
  return attention().work(CaseContext{p, Device::cpu, 1, 1}).flops;
}

TEST(AttentionExperiment, UsefulFlopsCountOnlyUnmaskedPairs) {
  const double per_pair = 4.0 * 64 * 2 * 4;  // 4 D per pair, times B * H
  EXPECT_DOUBLE_EQ(work_flops(point("full", 100, 8)), per_pair * 100 * 100);
  EXPECT_DOUBLE_EQ(work_flops(point("causal", 100, 8)), per_pair * 100 * 101 / 2);
  // Window 8 with the own position included: rows 0..7 see 1..8 keys, every later row 8.
  EXPECT_DOUBLE_EQ(work_flops(point("sliding_window", 100, 8)), per_pair * (36 + 92 * 8));
  EXPECT_DOUBLE_EQ(work_flops(point("causal+softcap", 100, 8)), work_flops(point("causal", 100, 8)));
}

TEST(AttentionExperiment, DocumentLengthsDependOnlyOnSeqAndCoverIt) {
  const auto a = experiments::attention::document_lengths(3001);
  EXPECT_EQ(a, experiments::attention::document_lengths(3001));
  int64_t sum = 0;
  for (int64_t n : a) {
    EXPECT_GE(n, 1);
    sum += n;
  }
  EXPECT_EQ(sum, 3001);
  EXPECT_GT(a.size(), 2u);
}

TEST(AttentionExperiment, SdpaCannotExpressASoftcapAndSaysSo) {
  EXPECT_NE(impl("torch_sdpa").skip(point("causal+softcap", 64, 8)).find("softcap"), std::string::npos);
  EXPECT_EQ(impl("torch_sdpa").skip(point("causal", 64, 8)), "");
}

TEST(AttentionExperiment, LibTorchBaselinesAreSkippedWhenTheirScoresCannotFit) {
  // 2 x 4 heads of 1M x 1M float scores: petabytes.
  const std::string reason = impl("torch_eager").skip(point("sliding_window", 1 << 20, 512));
  EXPECT_NE(reason.find("GiB"), std::string::npos) << reason;
  EXPECT_EQ(impl("torch_eager").skip(point("sliding_window", 1024, 512)), "");
}

TEST(AttentionExperiment, InvalidHeadGroupingIsSkippedWithAReason) {
  Params p = point("causal", 64, 8);
  p.set("kv_heads", int64_t(3));
  EXPECT_NE(attention().skip(p).find("does not divide"), std::string::npos);
}

TEST(AttentionExperiment, GateCatchesAPlantedFaultInOneElement) {
  const Params p = point("sliding_window", 130, 17);
  const CaseContext ctx{p, Device::cpu, 99, 2};
  for (const char* name : {"flash_cpu", "torch_eager", "torch_sdpa"}) {
    SCOPED_TRACE(name);
    auto c = impl(name).make(ctx);
    c->setup();
    c->poison();
    c->run();
    EXPECT_TRUE(c->check().passed);
  }
  // The same inputs and a correct output with one element moved: the gate must fail it.
  experiments::attention::Inputs in;
  in.shape = experiments::attention::shape_of(p);
  in.dtype = cpu::attention::DType::f32;
  in.fill(7);
  std::vector<float> out(size_t(in.shape.B * in.shape.H * in.shape.S_q * in.shape.D));
  const auto plan = cpu::attention::make_flash_plan(experiments::attention::mask_spec_of(p), in.shape);
  cpu::attention::FlashOptions opt;
  cpu::attention::flash_cpu(plan, in.tensors(out.data(), nullptr), opt, nullptr, 0);
  const auto spec = experiments::attention::mask_spec_of(p);
  const double tol = experiments::attention::flash_tolerance(in.dtype);
  EXPECT_TRUE(experiments::attention::check_output(in, spec, out.data(), 1, tol).passed);
  // The wider tolerance LibTorch's bf16 paths get must still fail an output computed under another mask.
  if (spec.mask != cpu::attention::MaskKind::full) {
    cpu::attention::MaskSpec full = spec;
    full.mask = cpu::attention::MaskKind::full;
    EXPECT_FALSE(experiments::attention::check_output(in, full, out.data(), 1,
                                                      experiments::attention::torch_tolerance(cpu::attention::DType::bf16))
                     .passed);
  }
  out[0] += 0.05f;  // row (0, 0, 0) is always among the checked rows
  EXPECT_FALSE(experiments::attention::check_output(in, spec, out.data(), 1, tol).passed);
}

}  // namespace
}  // namespace talklab
