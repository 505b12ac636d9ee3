// torch_flex's arguments encode each mask exactly: for every mask and score mod of the attention experiment, odd
// sizes (257 and 129, grouped-query heads), f32 and bf16, FlexAttention run on the arguments flex_args.h derives
// from the case's MaskSpec must pass the experiment's float64 gate, and the same output must fail it under another
// mask. flex_attention runs unwrapped here (compiled=False, its own reference path; a compile per mask would cost
// minutes): the compiled path gets the same mask_mod / score_mod and runs end to end in
// tests/bench/check_flex_anchors.py. The block-mask helpers agree with our closed form block for block; the
// backward either runs and passes its gate or is skipped in PyTorch's words. Its own executable: the interpreter
// lives as long as the process.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "experiments/attention/flex_args.h"
#include "experiments/attention/problem.h"
#include "experiments/attention/torch_masks.h"
#include "harness/python.h"
#include "harness/registry.h"
#include "harness/torch_glue.h"

namespace talklab {
namespace {

namespace ea = experiments::attention;
namespace attn = cpu::attention;

constexpr const char* kAnchor = "experiments/attention/torch_flex.py";

Params point(const std::string& mask, int64_t seq, const std::string& dtype, int64_t heads = 4, int64_t kv = 2) {
  Params p;
  p.set("mask", mask);
  p.set("seq", seq);
  p.set("window", int64_t(40));
  p.set("heads", heads);
  p.set("kv_heads", kv);
  p.set("head_dim", int64_t(48));
  p.set("batch", int64_t(2));
  p.set("dtype", dtype);
  return p;
}

const Implementation& impl(const std::string& experiment, const std::string& name) {
  for (const auto& i : registry().find(experiment)->implementations)
    if (i.name == name) return i;
  throw std::runtime_error("no implementation " + name);
}

class FlexAnchor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!python::compiled_in()) GTEST_SKIP() << python::missing_reason();
    install_torch_allocator();
  }
};

// Runs FlexAttention (uncompiled) on the case's inputs with the arguments of `args_of`, gated against `checked`.
Accuracy flex_against(const Params& p, const attn::MaskSpec& args_of, const attn::MaskSpec& checked) {
  ea::Inputs in;
  in.shape = ea::shape_of(p);
  in.dtype = ea::dtype_of(p);
  in.fill(11);
  const attn::AttnShape& s = in.shape;
  const auto opts = at::TensorOptions().dtype(in.dtype == attn::DType::bf16 ? at::kBFloat16 : at::kFloat);
  python::Args a = ea::flex_mask_args(args_of, s.H);
  a.set("q", at::from_blob(in.q.data(), {s.B, s.H, s.S_q, s.D}, opts))
      .set("k", at::from_blob(in.k.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts))
      .set("v", at::from_blob(in.v.data(), {s.B, s.H_kv, s.S_kv, s.D}, opts))
      .set("compiled", false);
  python::Anchor anchor(kAnchor, "attention", a);
  const std::vector<at::Tensor> out = anchor.run();
  EXPECT_EQ(out.size(), 1u);
  const at::Tensor o = out.at(0).contiguous();
  EXPECT_EQ(o.sizes(), at::IntArrayRef({s.B, s.H, s.S_q, s.D}));
  return ea::check_output(in, checked, o.data_ptr(), 11, ea::torch_tolerance(in.dtype));
}

TEST_F(FlexAnchor, EveryMaskAndScoreModPassesTheGateAndAnotherMaskFailsIt) {
  for (const char* mask : {"full", "causal", "sliding_window", "document", "prefix_lm", "causal+softcap", "causal+alibi"}) {
    for (const int64_t seq : {257, 129}) {
      for (const char* dtype : {"f32", "bf16"}) {
        SCOPED_TRACE(std::string(mask) + " seq " + std::to_string(seq) + " " + dtype);
        const Params p = point(mask, seq, dtype);
        const attn::MaskSpec spec = ea::mask_spec_of(p);
        const Accuracy ok = flex_against(p, spec, spec);
        EXPECT_TRUE(ok.passed) << ok.error << " max_rel_error " << ok.max_rel_error;
        // Arguments of another mask (or score mod) must fail this one's gate, in bf16's wider tolerance too: each
        // change moves most checked rows by O(1) (a window of 20 instead of 40, no prefix, no documents).
        attn::MaskSpec other = spec;
        if (spec.score == attn::ScoreKind::softcap) {
          other.softcap = 1.0f;
        } else if (spec.score == attn::ScoreKind::alibi) {
          other.score = attn::ScoreKind::none;
        } else if (spec.mask == attn::MaskKind::sliding_window) {
          other.window = spec.window / 2;
        } else if (spec.mask == attn::MaskKind::causal) {
          other.mask = attn::MaskKind::full;
        } else {
          other.mask = attn::MaskKind::causal;  // full, prefix_lm, document
        }
        EXPECT_FALSE(flex_against(p, other, spec).passed);
      }
    }
  }
}

TEST_F(FlexAnchor, DocumentIdsFollowTheLengths) {
  attn::MaskSpec spec = ea::mask_spec_of(point("document", 257, "f32"));
  const at::Tensor ids = ea::document_ids(spec);
  ASSERT_EQ(ids.numel(), 257);
  int64_t at_token = 0;
  for (size_t d = 0; d < spec.doc_lengths.size(); ++d)
    for (int64_t i = 0; i < spec.doc_lengths[d]; ++i) EXPECT_EQ(ids[at_token++].item<int32_t>(), int32_t(d));
  EXPECT_EQ(ea::document_ids(ea::mask_spec_of(point("causal", 257, "f32"))).numel(), 0);
}

// create_block_mask (eager) agrees with our closed form at 128 x 128, partial and full blocks, row for row; seq 1000
// leaves a short last block.
TEST_F(FlexAnchor, CreateBlockMaskAgreesWithTheClosedForm) {
  for (const char* mask : {"causal", "sliding_window", "document", "prefix_lm"}) {
    for (const int64_t seq : {257, 1000}) {
      SCOPED_TRACE(std::string(mask) + " " + std::to_string(seq));
      Params p = point(mask, seq, "f32");
      p.set("window", int64_t(200));
      auto c = impl("attention", "torch_create_block_mask").make(CaseContext{p, Device::cpu, 3, 2});
      c->setup();
      c->poison();
      c->run();
      const Accuracy a = c->check();
      EXPECT_TRUE(a.passed) << a.error;
      Counters counters;
      c->add_counters(counters);
      double blocks = 0;
      for (const auto& [name, value] : counters)
        if (name == "partial_blocks" || name == "full_blocks") blocks += value;
      EXPECT_GT(blocks, 0);
    }
  }
}

// PyTorch 2.13 refuses FlexAttention's backward on the CPU: the case is skipped with PyTorch's own words. Should a
// later PyTorch run it, its gradients must pass the gate instead.
TEST_F(FlexAnchor, BackwardRunsAndPassesOrIsSkippedInPyTorchsWords) {
  for (const char* pass : {"backward", "step"}) {
    SCOPED_TRACE(pass);
    Params p = point("causal", 129, "f32");
    p.set("pass", std::string(pass));
    auto c = impl("attention_backward", "torch_flex").make(CaseContext{p, Device::cpu, 3, 2});
    try {
      c->setup();
    } catch (const CaseSkipped& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("backward"), std::string::npos) << what;
      EXPECT_NE(what.find("Error"), std::string::npos) << what;  // a Python exception's type, not ours
      continue;
    }
    c->poison();
    c->run();
    EXPECT_TRUE(c->check().passed);
  }
}

}  // namespace
}  // namespace talklab
