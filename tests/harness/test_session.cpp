// The run session without the binary (harness/session.h): a small experiment registered here runs through
// run_session into a result file that holds every case, its skip and its failure; a failed case makes the session's
// exit code 1; the machine probes registered here are what the context and the capacity probe see; and a case the
// capacity probe found disturbed is re-run as many times as retries allows.
#include "harness/session.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "harness/machine_probes.h"
#include "harness/memory.h"
#include "harness/registry.h"

namespace talklab {
namespace {

// The capacity the fake probe reports: below kMinCapacity for the first `low_probes` calls, then full.
int capacity_calls = 0;
int low_probes = 0;

MachineProbes fake_probes() {
  MachineProbes p;
  p.measure_cpu_ceilings = [](int threads, double) {
    Roofline r;
    r.threads = threads;
    r.isa = "test_isa";
    r.peak_ops_per_s["fp32"] = 1e12;
    r.bandwidth_bytes_per_s = 1e10;
    r.spread["fp32"] = CeilingSpread{1e12, 0.9e12, 0.8e12, 10, 0, 10};
    return r;
  };
  p.cpu_capacity = [](const Roofline&) { return ++capacity_calls <= low_probes ? 0.5 : 1.0; };
  p.describe_cpu = [] { return CpuDescription{"TestVendor", "Test CPU 9000", {"avx2", "fma"}, "test_isa"}; };
  return p;
}
TALKLAB_REGISTER_MACHINE_PROBES(fake_probes);

// y = 2x over 4096 floats; `wrong` spoils one element, so the gate fails it.
class DoubleCase final : public Case {
 public:
  explicit DoubleCase(bool wrong) : wrong_(wrong) {}
  void setup() override {
    x_ = memory::Buffer<float>(kN);
    y_ = memory::Buffer<float>(kN);
    for (size_t i = 0; i < kN; ++i) x_[i] = float(i % 7) - 3.f;
  }
  void poison() override { talklab::poison(y_.span()); }
  void run() override {
    for (size_t i = 0; i < kN; ++i) y_[i] = 2.f * x_[i];
    if (wrong_) y_[kN / 2] += 1.f;
  }
  Accuracy check() override {
    AccuracyAccumulator acc;
    for (size_t i = 0; i < kN; ++i) acc.add(y_[i], 2.0 * x_[i]);
    return acc.finish(Tolerance{0.0});
  }

 private:
  static constexpr size_t kN = 4096;
  bool wrong_;
  memory::Buffer<float> x_, y_;
};

Implementation impl(const char* name, bool wrong, const char* skip = "") {
  Implementation i;
  i.name = name;
  i.make = [wrong](const CaseContext&) -> std::unique_ptr<Case> { return std::make_unique<DoubleCase>(wrong); };
  i.skip = [skip](const Params&) { return std::string(skip); };
  return i;
}

class Session : public ::testing::Test {
 protected:
  void SetUp() override {
    capacity_calls = 0;
    low_probes = 0;
    out_ = ::testing::TempDir() + "session-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json";
    options_.out = out_;
    options_.threads = 1;
    options_.seed = 7;
    options_.min_time = 0.01;
    options_.max_time = 0.1;
    options_.retries = 0;
    options_.wait_policy = "default";  // nothing to set: the test process is never executed again
    options_.command_line = {"test_session"};
  }
  void TearDown() override { std::remove(out_.c_str()); }

  std::vector<PlannedCase> plan(std::vector<Implementation> impls) {
    Experiment e;
    e.name = "double";
    e.axes = {int_axis("n", "elements")};
    e.work = [](const CaseContext&) { return Work{4096, 8 * 4096, "fp32"}; };
    e.implementations = std::move(impls);
    registry_.add(e);
    profile_.name = "test";
    ExperimentProfile sweep;
    sweep.axes["n"] = {{int64_t(4096)}, 1};
    profile_.experiments["double"] = {sweep};
    return make_plan(registry_, profile_, PlanOptions{});
  }

  nlohmann::json file() const {
    std::ifstream in(out_);
    return nlohmann::json::parse(in);
  }

  Registry registry_;
  Profile profile_;
  SessionOptions options_;
  std::string out_;
};

// Records what the session says, in order.
struct Recorder final : SessionObserver {
  void ceilings(Device device, const Roofline&) override { said.push_back(std::string("ceilings ") + device_name(device)); }
  void started(const RunSettings&, size_t cases, const std::filesystem::path&) override {
    said.push_back("started " + std::to_string(cases));
  }
  void result(const CaseResult& r, int index, int total) override {
    said.push_back(r.status + " " + std::to_string(index) + "/" + std::to_string(total));
  }
  void finished(const RunSummary&, const RunSettings&, const std::filesystem::path&) override { said.push_back("finished"); }
  std::vector<std::string> said;
};

TEST_F(Session, WritesEveryCaseAndAFailedCaseFailsTheRun) {
  const auto cases = plan({impl("good", false), impl("wrong", true), impl("elsewhere", false, "no such path here")});
  ASSERT_EQ(cases.size(), 3u);
  Recorder recorder;
  const SessionOutcome outcome = run_session(cases, profile_, GpuInfo{}, options_, recorder);
  EXPECT_EQ(outcome.exit_code(), 1);
  EXPECT_EQ(outcome.summary.ok, 1);
  EXPECT_EQ(outcome.summary.failed, 1);
  EXPECT_EQ(outcome.summary.skipped, 1);
  EXPECT_EQ(recorder.said, (std::vector<std::string>{"ceilings cpu", "started 3", "ok 1/3", "failed 2/3",
                                                     "skipped 3/3", "finished"}));

  const nlohmann::json j = file();
  const nlohmann::json& b = j["benchmarks"];
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0]["talklab"]["status"], "ok");
  EXPECT_EQ(b[1]["talklab"]["status"], "failed");
  EXPECT_NE(b[1]["talklab"]["reason"].get<std::string>().find("correctness check failed"), std::string::npos);
  EXPECT_EQ(b[2]["talklab"]["status"], "skipped");
  EXPECT_EQ(b[2]["talklab"]["reason"], "no such path here");
  // The context carries what the probes gave: the ceilings and the CPU as the kernels see it.
  const nlohmann::json& t = j["context"]["talklab"];
  EXPECT_EQ(t["roofline"]["cpu"]["peak_ops_per_s"]["fp32"], 1e12);
  EXPECT_EQ(t["roofline"]["cpu"]["isa"], "test_isa");
  EXPECT_EQ(t["roofline"]["cpu"]["spread"]["fp32"]["clean_samples"], 10);
  EXPECT_TRUE(t["roofline"]["cuda"].is_null());
  EXPECT_EQ(t["cpu"]["model"], "Test CPU 9000");
  EXPECT_EQ(t["cpu"]["isa"], "test_isa");
  EXPECT_EQ(t["seed"], 7);
  // The capacity was probed before and after the good case, and before the wrong one (which has no timing to mark).
  EXPECT_EQ(capacity_calls, 3);
  EXPECT_EQ(b[0]["talklab"]["time"]["interference"]["capacity_before"], 1.0);
}

TEST_F(Session, ACleanRunExitsZero) {
  const auto cases = plan({impl("good", false), impl("elsewhere", false, "no such path here")});
  SessionObserver quiet;
  EXPECT_EQ(run_session(cases, profile_, GpuInfo{}, options_, quiet).exit_code(), 0);
  EXPECT_EQ(file()["benchmarks"].size(), 2u);
}

// The probe says the machine delivered half its fp32 ceiling around the first attempt: the case is disturbed and,
// with retries, re-run at the end; the file keeps the first attempt beside the new timing.
TEST_F(Session, ACaseDisturbedByLowCapacityIsRerunUpToRetries) {
  const auto cases = plan({impl("good", false)});
  low_probes = 2;
  options_.retries = 2;
  SessionObserver quiet;
  const RunSummary s = run_session(cases, profile_, GpuInfo{}, options_, quiet).summary;
  EXPECT_EQ(s.disturbed, 1);
  EXPECT_EQ(s.rerun, 1);
  const nlohmann::json j = file();
  const nlohmann::json& time = j["benchmarks"][0]["talklab"]["time"];
  if (time["disturbed"].get<bool>()) {  // a real neighbour (ctest -j2) disturbed the re-runs too: all in the figure
    EXPECT_GE(time["attempt_numbers"].size(), 2u);
    EXPECT_NE(time["disturbed_evidence"].get<std::string>().find("of its fp32 ceiling"), std::string::npos) << time;
    return;
  }
  ASSERT_GE(time["attempts"].size(), 1u);
  EXPECT_EQ(time["attempts"][0]["attempt_numbers"], nlohmann::json({1}));
  EXPECT_NE(time["attempts"][0]["disturbed_evidence"].get<std::string>().find("of its fp32 ceiling"), std::string::npos)
      << time["attempts"][0];
}

TEST_F(Session, WithoutRetriesADisturbedCaseStaysDisturbed) {
  const auto cases = plan({impl("good", false)});
  low_probes = 2;
  SessionObserver quiet;
  const RunSummary s = run_session(cases, profile_, GpuInfo{}, options_, quiet).summary;
  EXPECT_EQ(s.disturbed, 1);
  EXPECT_EQ(s.rerun, 0);
  EXPECT_EQ(s.still_disturbed, 1);
  EXPECT_EQ(capacity_calls, 2);
  EXPECT_TRUE(file()["benchmarks"][0]["talklab"]["time"]["attempts"].empty());
}

// Disturbed in every attempt (the passes and both re-runs): the figure is the median of all their medians, not
// the last re-run's alone, and nothing is left out.
TEST_F(Session, ACaseDisturbedInEveryAttemptTakesTheMedianOfAll) {
  const auto cases = plan({impl("good", false)});
  low_probes = 1000;
  options_.retries = 2;
  options_.passes = 2;
  SessionObserver quiet;
  const RunSummary s = run_session(cases, profile_, GpuInfo{}, options_, quiet).summary;
  EXPECT_EQ(s.disturbed, 1);
  EXPECT_EQ(s.still_disturbed, 1);
  const nlohmann::json time = file()["benchmarks"][0]["talklab"]["time"];
  EXPECT_TRUE(time["disturbed"].get<bool>());
  EXPECT_EQ(time["attempt_numbers"], nlohmann::json({1, 2, 3, 4}));
  EXPECT_EQ(time["pass_medians_s"].size(), 4u);
  EXPECT_TRUE(time["attempts"].empty());
}

// Two passes, the first disturbed: the figure is the clean pass's, the disturbed one stays beside it, and with
// a clean pass to take the figure from the case is not re-run. (A real neighbour under ctest -j2 may disturb the
// second pass too; then every attempt is in the figure.)
TEST_F(Session, ADisturbedPassIsLeftOutBesideACleanOne) {
  const auto cases = plan({impl("good", false)});
  low_probes = 2;
  options_.passes = 2;
  SessionObserver quiet;
  run_session(cases, profile_, GpuInfo{}, options_, quiet);
  const nlohmann::json time = file()["benchmarks"][0]["talklab"]["time"];
  if (time["disturbed"].get<bool>()) {
    EXPECT_EQ(time["attempt_numbers"], nlohmann::json({1, 2}));
    return;
  }
  EXPECT_EQ(time["attempt_numbers"], nlohmann::json({2}));
  ASSERT_EQ(time["attempts"].size(), 1u);
  EXPECT_EQ(time["attempts"][0]["attempt_numbers"], nlohmann::json({1}));
  EXPECT_NE(time["attempts"][0]["disturbed_evidence"].get<std::string>().find("of its fp32 ceiling"), std::string::npos);
}

TEST_F(Session, BadOptionsAreInputErrors) {
  const auto cases = plan({impl("good", false)});
  SessionObserver quiet;
  options_.min_time = 2.0;
  options_.max_time = 1.0;
  EXPECT_THROW(run_session(cases, profile_, GpuInfo{}, options_, quiet), InputError);
  options_.min_time = 0.01;
  options_.out = ::testing::TempDir();
  EXPECT_THROW(run_session(cases, profile_, GpuInfo{}, options_, quiet), InputError);
}

}  // namespace
}  // namespace talklab
