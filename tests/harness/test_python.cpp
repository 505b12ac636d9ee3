// The embedded interpreter (harness/python.h) against the real torch of the venv: tensors cross without a copy,
// Python's allocations go through the tracking allocator, and Python's failures become skips or crashes with its
// own message. Its own executable: the interpreter lives as long as the process.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "harness/memory.h"
#include "harness/python.h"
#include "harness/torch_glue.h"

namespace talklab::python {
namespace {

constexpr const char* kFixture = "tests/harness/python_anchor_fixture.py";

class Python : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!compiled_in()) GTEST_SKIP() << missing_reason();
    install_torch_allocator();
  }
};

TEST_F(Python, StartsTheVenvInterpreterOnTheLinkedTorch) {
  start();
  ASSERT_TRUE(started());
  const nlohmann::json facts = describe();
  EXPECT_EQ(facts.at("torch").get<std::string>().rfind(torch_version(), 0), 0u) << facts.dump();
  EXPECT_FALSE(facts.at("inductor_cache_dir").get<std::string>().empty());
  EXPECT_EQ(facts.at("inductor_compile_threads"), "1");
}

TEST_F(Python, TensorsCrossWithoutACopyAndResultsAreTracked) {
  at::Tensor x = at::randn({257, 3}, at::kFloat);  // odd size, random values
  const at::Tensor before = x.clone();
  Anchor anchor(kFixture, "scale", Args().set("x", x).set("offset", 0.5).set("tag", std::string("t1")));
  const int64_t tracked = memory::current_bytes();
  std::vector<at::Tensor> out = anchor.run();
  ASSERT_EQ(out.size(), 1u);
  // Python doubled x in its own storage: the C++ tensor sees it, so Python had a view, not a copy.
  EXPECT_TRUE(at::equal(x, before * 2));
  EXPECT_TRUE(at::allclose(out[0], before * 2 + 0.5));
  EXPECT_NE(out[0].data_ptr(), x.data_ptr());
  // The result Python allocated came through the tracking allocator (its bytes are counted while it lives).
  EXPECT_GE(memory::current_bytes() - tracked, int64_t(257 * 3 * sizeof(float)));
  const Counters counters = anchor.counters();
  ASSERT_EQ(counters.size(), 1u);
  EXPECT_EQ(counters[0].first, "elements");
  EXPECT_EQ(counters[0].second, 771.0);
  const Labels labels = anchor.labels();
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[0].second, "t1");
  EXPECT_EQ(labels[1].second, "torch.float32");
}

TEST_F(Python, Bf16AndListsRoundTrip) {
  at::Tensor a = at::randn({5, 7}).to(at::kBFloat16);
  at::Tensor b = at::randn({9, 2}).to(at::kBFloat16);
  Anchor anchor(kFixture, "pair", Args().set("tensors", std::vector<at::Tensor>{a, b}));
  std::vector<at::Tensor> out = anchor.run();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(out[0], a.sum(0)));
  EXPECT_TRUE(at::equal(out[1], b.sum(0)));
}

TEST_F(Python, APrepareThatRaisesIsASkipWithPythonsMessage) {
  try {
    Anchor anchor(kFixture, "refuses", Args().set("shape", std::vector<int64_t>{3, 5}));
    FAIL() << "expected CaseSkipped";
  } catch (const CaseSkipped& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("NotImplementedError"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot express shape [3, 5]"), std::string::npos) << what;
    EXPECT_NE(what.find(kFixture), std::string::npos) << what;
  }
  EXPECT_THROW(Anchor(kFixture, "no_such_function", Args()), CaseSkipped);
}

// Dynamo compiles one function at most recompile_limit (8) times per process and then runs it uncompiled, which
// timed the ninth torch_flex case of a run on flex_attention's unfused math. Each anchor starts from a Dynamo reset,
// so twelve anchors compiling one function at twelve shapes each compile it (a backend that counts what it is
// handed); the limit being hit would be a skip (fail_on_recompile_limit_hit), not a silent fallback.
TEST_F(Python, EveryAnchorCompilesPastDynamosRecompileLimit) {
  for (int64_t n = 1; n <= 12; ++n) {
    at::Tensor x = at::randn({n + 2, 3});
    Anchor anchor(kFixture, "counts_compiles", Args().set("x", x));
    const std::vector<at::Tensor> out = anchor.run();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(at::allclose(out[0], x + 1.0));
    const Counters counters = anchor.counters();
    ASSERT_EQ(counters.size(), 1u);
    EXPECT_EQ(counters[0].second, 1.0) << "shape " << n + 2 << ": the anchor ran uncompiled";
  }
}

TEST_F(Python, AMissingAnchorFileIsOurErrorNotASkip) {
  try {
    Anchor anchor("tests/harness/no_such_anchor.py", "f", Args());
    FAIL() << "expected an error";
  } catch (const CaseSkipped& e) {
    FAIL() << "a missing file of ours is not PyTorch's limitation: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_anchor.py not found"), std::string::npos) << e.what();
  }
}

TEST_F(Python, ARaiseWhileTimedIsAnErrorWithPythonsMessage) {
  Anchor anchor(kFixture, "flaky", Args());
  EXPECT_EQ(anchor.run().size(), 1u);
  try {
    anchor.run();
    FAIL() << "expected a runtime_error";
  } catch (const CaseSkipped&) {
    FAIL() << "a failure while timed is not a skip";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("call 2 failed"), std::string::npos) << e.what();
  }
}

// Inductor compiles C++ and loads it into this process (one OpenMP runtime, the tracking allocator underneath).
TEST_F(Python, TorchCompileRunsInsideTheProcess) {
  const at::Tensor x = at::randn({129, 31}, at::kFloat);
  Anchor anchor(kFixture, "compiled", Args().set("x", x));
  const std::vector<at::Tensor> out = anchor.run();
  ASSERT_EQ(out.size(), 1u);
  const at::Tensor want = at::tanh(x.to(at::kDouble)) * x.to(at::kDouble) + 1.0;
  // float32 tanh and one product: a few ulps of values of order 1.
  EXPECT_LT((out[0].to(at::kDouble) - want).abs().max().item<double>(), 1e-5);
}

class FirstCallFails final : public AnchorCase {
 public:
  FirstCallFails() : AnchorCase(kFixture, "first_call_fails") {}
  Accuracy check() override { return {}; }

 protected:
  Args anchor_args() override { return {}; }
};

TEST_F(Python, AnAnchorCaseWhoseFirstCallFailsIsSkipped) {
  FirstCallFails c;
  try {
    c.setup();
    FAIL() << "expected CaseSkipped";
  } catch (const CaseSkipped& e) {
    EXPECT_NE(std::string(e.what()).find("compile failed on purpose"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace talklab::python
