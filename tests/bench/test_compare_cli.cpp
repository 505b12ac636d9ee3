// `bench compare` as CI meets it: exit 0 on an A/A pair, 1 naming the case and the metric on a planted
// regression, 2 naming the file on bad input; a truncated file is compared up to its last complete case;
// the report formats and github-action-benchmark files are well-formed; runs from different machines are
// compared as roofline fractions and say so; --confirm re-runs a real case with this binary. The rules
// themselves are tested in tests/harness/test_compare.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "tests/bench/run_bench.h"

#include "harness/result.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using talklab::testing::Outcome;
Outcome bench(const std::string& args) { return talklab::testing::run_bench(args); }

bool has(const Outcome& o, const std::string& text) { return o.output.find(text) != std::string::npos; }

// A result file of three cases whose samples are drawn around 1, 2 and 4 ms; `slow` multiplies the times
// of the second case and `error` sets its max_rel_error.
json result(uint64_t seed, double slow = 1.0, double error = 1e-6, const std::string& cpu = "Test CPU 9000") {
  std::seed_seq seq{seed};
  std::mt19937_64 rng(seq);
  std::lognormal_distribution<double> noise(0.0, 0.03);
  json j = {{"context", {{"talklab", {{"schema_version", 1}, {"cpu", {{"model", cpu}}}, {"gpu", nullptr}}}}},
            {"benchmarks", json::array()}};
  for (int i = 0; i < 3; ++i) {
    talklab::CaseResult r;
    r.name = "toy/impl/i=" + std::to_string(i) + "/device=cpu";
    r.status = "ok";
    talklab::Timing t;
    for (int s = 0; s < 20; ++s) t.samples_s.push_back(1e-3 * (1 << i) * noise(rng) * (i == 1 ? slow : 1.0));
    t.stats = talklab::summarize(t.samples_s);
    t.stop_reason = "converged";
    r.timing = t;
    r.work = talklab::Work{1e9, 1e6, "fp32"};
    r.peak_bytes = 1 << 20;
    talklab::Accuracy a;
    a.max_rel_error = i == 1 ? error : 1e-6;
    a.sqnr_db = 120;
    a.passed = true;
    r.accuracy = a;
    j["benchmarks"].push_back(talklab::to_json(r));
  }
  return j;
}

class BenchCompare : public talklab::testing::ScratchDirTest {
 protected:
  using ScratchDirTest::write;
  std::string write(const std::string& name, const json& j) { return write(name, j.dump(2)); }
};

TEST_F(BenchCompare, SameBuildTwiceExitsZero) {
  const Outcome o = bench("compare " + write("a.json", result(1)) + " " + write("b.json", result(2)));
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(has(o, "Result: no regression")) << o.output;
  EXPECT_TRUE(has(o, "Geometric mean of new/base time over 3 cases")) << o.output;
}

TEST_F(BenchCompare, PlantedSlowdownAndAccuracyLossExitOneNamingCaseAndMetric) {
  const std::string a = write("a.json", result(1));
  Outcome o = bench("compare " + a + " " + write("slow.json", result(2, 3.0)));
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_TRUE(has(o, "toy/impl/i=1/device=cpu: time ") && has(o, "x slower (p=")) << o.output;
  o = bench("compare " + a + " " + write("err.json", result(2, 1.0, 1e-2)));
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_TRUE(has(o, "toy/impl/i=1/device=cpu: max_rel_error 1e-06 -> 0.01")) << o.output;
  // CI's policy: 1.5x slower is no failure at --threshold 100.
  EXPECT_EQ(bench("compare --threshold 100 " + a + " " + write("mid.json", result(2, 1.5))).code, 0);
  EXPECT_EQ(bench("compare " + a + " " + dir_.string() + "/mid.json").code, 1);
}

TEST_F(BenchCompare, BadInputExitsTwoNamingTheFile) {
  const std::string a = write("a.json", result(1));
  Outcome o = bench("compare " + a + " " + dir_.string() + "/missing.json");
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(has(o, dir_.string() + "/missing.json: cannot read")) << o.output;
  o = bench("compare " + write("text.json", std::string("not json at all")) + " " + a);
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(has(o, "text.json: not valid JSON")) << o.output;
  json v2 = result(2);
  v2["context"]["talklab"]["schema_version"] = 2;
  o = bench("compare " + a + " " + write("v2.json", v2));
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(has(o, "v2.json: schema_version 2")) << o.output;
  EXPECT_EQ(bench("compare " + a).code, 2);  // NEW missing on the command line
}

TEST_F(BenchCompare, DifferentMachinesExitTwoUnlessAllowed) {
  const std::string a = write("a.json", result(1));
  const std::string other = write("other.json", result(2, 1.0, 1e-6, "Other CPU 1"));
  Outcome o = bench("compare " + a + " " + other);
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(has(o, "Test CPU 9000") && has(o, "Other CPU 1")) << o.output;
  o = bench("compare --allow-different-machines " + a + " " + other);
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(has(o, "warning: different machines")) << o.output;
}

TEST_F(BenchCompare, TruncatedFileIsComparedUpToItsLastCompleteCase) {
  const std::string text = result(2).dump(2);
  const size_t third = text.find("\"toy/impl/i=2/device=cpu\"");
  const std::string cut = write("cut.json", text.substr(0, third));
  const Outcome o = bench("compare " + write("a.json", result(1)) + " " + cut);
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(has(o, "cut.json: truncated after 2 complete cases; comparing those")) << o.output;
  EXPECT_TRUE(has(o, "Removed from NEW (1)")) << o.output;
  EXPECT_EQ(bench("compare " + write("a.json", result(1)) + " " + write("empty.json", text.substr(0, 30))).code, 2);
}

TEST_F(BenchCompare, ReportFormatsAndGithubBenchmarkFiles) {
  const std::string a = write("a.json", result(1)), b = write("b.json", result(2, 3.0));
  const std::string md = (dir_ / "report.md").string(), small = (dir_ / "gh.json").string();
  const std::string big = (dir_ / "gh-big.json").string();
  Outcome o = bench("compare --format json " + a + " " + b + " --markdown " + md + " --github-benchmark " + small +
                    " --github-benchmark-bigger " + big + " --unit us");
  EXPECT_EQ(o.code, 1);
  const json report = json::parse(o.output);
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_EQ(report["cases"].size(), 3u);
  EXPECT_EQ(report["cases"][1]["verdict"], "slower");
  std::ifstream md_in(md);
  const std::string md_text((std::istreambuf_iterator<char>(md_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(md_text.find("| `toy/impl/i=1/device=cpu` |"), std::string::npos) << md_text;
  const json gh = json::parse(std::ifstream(small));
  ASSERT_EQ(gh.size(), 6u);  // per case its time, then its peak memory (harness/dashboards.h)
  EXPECT_EQ(gh[2]["name"], "toy/impl/i=1/device=cpu");
  EXPECT_EQ(gh[2]["unit"], "us");
  EXPECT_NEAR(gh[2]["value"].get<double>(), 6000, 600);  // 2 ms x 3, in microseconds
  EXPECT_TRUE(gh[2]["range"].is_string() && gh[2]["extra"].is_string());
  EXPECT_EQ(gh[3]["name"], "toy/impl/i=1/device=cpu (peak memory)");
  EXPECT_EQ(gh[3]["unit"], "MiB");
  const json gh_big = json::parse(std::ifstream(big));
  ASSERT_EQ(gh_big.size(), 6u);  // per case its rate, then its SQNR
  EXPECT_EQ(gh_big[0]["unit"], "TFLOP/s");
  EXPECT_NEAR(gh_big[0]["value"].get<double>(), 1.0, 0.1);  // 1e9 FLOPs in 1 ms
  EXPECT_EQ(gh_big[1]["name"], "toy/impl/i=0/device=cpu (SQNR)");
  EXPECT_EQ(gh_big[1]["value"], 120);
  o = bench("compare --format markdown " + a + " " + write("c.json", result(2)));
  EXPECT_EQ(o.code, 0);
  EXPECT_TRUE(has(o, "| case | base | new | new/base | p | verdict |")) << o.output;
}

TEST_F(BenchCompare, DifferentMachinesAreComparedAsRooflineFractionsAndSaySo) {
  // The same brand string, another CPU family: another machine, though `model` alone would not tell.
  const auto on = [](json j, int family, double fraction) {
    j["context"]["talklab"]["cpu"].update({{"vendor", "AuthenticAMD"}, {"family", family}, {"model_number", 17},
                                           {"stepping", 1}, {"microcode", "0x10"}});
    for (json& e : j["benchmarks"]) e["talklab"]["rates"]["roofline_fraction"] = fraction;
    return j;
  };
  // NEW's case 1 is 3x slower in seconds, but on a machine whose ceiling is a third as high: the same fraction.
  const std::string a = write("a.json", on(result(1), 25, 0.6));
  json slow = on(result(2, 3.0), 26, 0.6);
  slow["benchmarks"][0]["talklab"]["rates"]["roofline_fraction"] = 0.2;  // case 0: same time, a third of the fraction
  const std::string b = write("b.json", slow);
  Outcome o = bench("compare " + a + " " + b);
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_TRUE(has(o, "family 25") && has(o, "family 26")) << o.output;
  o = bench("compare --allow-different-machines " + a + " " + b);
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_TRUE(has(o, "Different machines: times are compared as fractions of each run's own measured roofline")) << o.output;
  EXPECT_TRUE(has(o, "toy/impl/i=0/device=cpu: time 3.00x slower")) << o.output;
  EXPECT_FALSE(has(o, "toy/impl/i=1/device=cpu: time")) << o.output;
  const std::string json_out = (dir_ / "report.json").string();
  o = bench("compare --allow-different-machines --format markdown " + a + " " + b + " --json " + json_out);
  EXPECT_TRUE(has(o, "Different machines: times are compared as fractions")) << o.output;
  const json report = json::parse(std::ifstream(json_out));
  EXPECT_EQ(report["normalized_by_roofline"], true);
  EXPECT_NEAR(report["cases"][1]["ratio"].get<double>(), 1.0, 1e-9);
}

// --confirm against a real case of about 5 us: LibTorch's fp32 matmul at M=1 (the quick profile's own low-
// precision recipes are skipped on an AVX2 machine; this one always runs). It is run once for the suite by the
// binary under test, so the re-run is of the same build on the same machine, as --confirm requires.
const std::string kRealCase = "matmul/torch_fp32/M=1/N=257/K=256/device=cpu";
// CI's gate.
const std::string kGate = "--threshold 100 --fail-on-time-ratio 3 --fail-time-floor 0.001 --fail-any-size-ratio 10";

// A copy of a result file with every time multiplied by `factor`.
json scaled(json j, double factor) {
  for (json& e : j["benchmarks"]) {
    json& t = e["talklab"]["time"];
    if (!t.is_object()) continue;
    for (json& v : t["samples_s"]) v = v.get<double>() * factor;
    for (const char* key : {"median_s", "min_s", "max_s"}) t[key] = t[key].get<double>() * factor;
  }
  return j;
}

class BenchConfirm : public BenchCompare {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = fs::temp_directory_path() / ("talklab-confirm-real-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path out = dir / "real.json";
    const Outcome o = bench("run --profile quick --device cpu --threads 2 --seed 7 --filter '^" + kRealCase +
                            "$' --max-time 1 --out " + out.string());
    run_output_ = o.output;
    if (o.code == 0 && fs::exists(out)) real_ = json::parse(std::ifstream(out));
    fs::remove_all(dir);
  }
  void SetUp() override {
    BenchCompare::SetUp();
    ASSERT_TRUE(real_.is_object() && real_["benchmarks"].size() == 1) << run_output_;
    ASSERT_EQ(real_["benchmarks"][0]["talklab"]["status"], "ok") << run_output_;
  }
  static inline json real_;
  static inline std::string run_output_;
};

TEST_F(BenchConfirm, PlantedSlowdownOfAFiveMicrosecondCaseFailsAfterConfirmation) {
  // BASE is the real run made 20x faster: the re-run reproduces NEW's time, so the 20x slowdown stands, and
  // beyond --fail-any-size-ratio 10 it fails though the case is far under the 1 ms floor.
  const std::string base = write("base.json", scaled(real_, 1.0 / 20)), now = write("real.json", real_);
  const Outcome o = bench("compare " + base + " " + now + " " + kGate + " --confirm 2");
  EXPECT_EQ(o.code, 1) << o.output;
  EXPECT_TRUE(has(o, "re-running 1 slower case 2 times")) << o.output;
  // The re-run waits and is placed as NEW's run was (a lone checkpointing case would otherwise wait passively).
  EXPECT_TRUE(has(o, "--wait-policy default") && has(o, "--no-pin")) << o.output;
  EXPECT_TRUE(has(o, kRealCase + ": time ") && has(o, "(confirmed: 2 re-runs, ")) << o.output;
  EXPECT_TRUE(has(o, "slower, confirmed [regression]")) << o.output;
}

TEST_F(BenchConfirm, OneOffStallThatTheReRunDoesNotReproducePasses) {
  // NEW is the real run made 20x slower, as a stall of the whole run would: the re-run takes the real time.
  const std::string base = write("real.json", real_), now = write("stalled.json", scaled(real_, 20));
  const std::string report = (dir_ / "report.json").string();
  const Outcome o = bench("compare " + base + " " + now + " " + kGate + " --confirm 2 --confirm-max-time 0.5 --json " + report);
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(has(o, kRealCase + ": slower in NEW (20.00x) but not confirmed by 2 re-runs (")) << o.output;
  EXPECT_TRUE(has(o, "--max-time 0.5")) << o.output;
  const json r = json::parse(std::ifstream(report));
  EXPECT_EQ(r["confirm"], 2);
  EXPECT_EQ(r["exit_code"], 0);
  EXPECT_EQ(r["cases"][0]["verdict"], "not confirmed");
  EXPECT_EQ(r["cases"][0]["confirmation"]["runs"], 2);
  EXPECT_NE(r["cases"][0]["confirmation"]["verdict"], "slower");
  EXPECT_TRUE(fs::exists(dir_ / "report.confirm.json"));  // the re-run's own file, kept beside the report
}

TEST_F(BenchConfirm, RefusesANewFileFromAnotherCommit) {
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  json other = scaled(real_, 20);
  other["context"]["talklab"]["git"]["commit"] = commit;
  const Outcome o = bench("compare " + write("real.json", real_) + " " + write("other.json", other) + " --confirm 2");
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_TRUE(has(o, "other.json was made by commit " + commit)) << o.output;
  EXPECT_FALSE(has(o, "re-running")) << o.output;
}

}  // namespace
