#include "harness/result.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace talklab {
namespace {

namespace fs = std::filesystem;

CaseResult finished_case(const std::string& name) {
  CaseResult r;
  r.name = name;
  r.experiment = "attention";
  r.implementation = "flash_cpu";
  r.params.set("seq", int64_t(4096));
  r.params.set("dtype", std::string("bf16"));
  r.talks = {"flexattention"};
  r.status = "ok";
  Timing t;
  t.samples_s = {0.002, 0.0021, 0.0019};
  t.stats = summarize(t.samples_s);
  t.stop_reason = "converged";
  t.cpu_s_per_run = 0.004;
  r.timing = t;
  r.work = Work{2e9, 1e8, "bf16"};
  r.roofline_fraction = 0.5;
  r.peak_bytes = 12345;
  Accuracy a;
  a.max_rel_error = 1e-3;
  a.sqnr_db = std::numeric_limits<double>::infinity();
  a.passed = true;
  r.accuracy = a;
  r.counters = {{"executed_flops", 3e9}};
  return r;
}

TEST(Result, EntryHasGoogleBenchmarkFieldsAndTheLabsObject) {
  const nlohmann::json j = to_json(finished_case("attention/flash_cpu/seq=4096/dtype=bf16/device=cpu"));
  for (const char* k : {"name", "run_name", "run_type", "iterations", "real_time", "cpu_time", "time_unit",
                        "family_index", "per_family_instance_index", "repetition_index"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(j["time_unit"], "ns");
  EXPECT_DOUBLE_EQ(j["real_time"].get<double>(), 0.002 * 1e9);
  EXPECT_DOUBLE_EQ(j["cpu_time"].get<double>(), 0.004 * 1e9);
  EXPECT_EQ(j["iterations"], 3);
  const auto& t = j["talklab"];
  EXPECT_EQ(t["params"]["seq"], 4096);
  EXPECT_EQ(t["params"]["dtype"], "bf16");
  EXPECT_EQ(t["status"], "ok");
  EXPECT_EQ(t["time"]["samples_s"].size(), 3u);
  EXPECT_DOUBLE_EQ(t["rates"]["tflops"].get<double>(), 1.0);
  EXPECT_TRUE(t["accuracy"]["sqnr_db"].is_null());  // infinite SQNR has no JSON number
  EXPECT_EQ(t["counters"]["executed_flops"], 3e9);
  EXPECT_EQ(j["executed_flops"], 3e9);  // flat counter, as Google Benchmark writes them
  EXPECT_FALSE(j.contains("error_occurred"));
}

TEST(Result, SkippedCaseCarriesItsReasonAsAnError) {
  CaseResult r;
  r.name = "x/y/device=cuda";
  r.status = "skipped";
  r.reason = "no CUDA device";
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["error_occurred"], true);
  EXPECT_EQ(j["error_message"], "skipped: no CUDA device");
  EXPECT_EQ(j["real_time"], 0.0);
  EXPECT_TRUE(j["talklab"]["time"].is_null());
}

TEST(Result, FileIsValidAfterEveryCaseAndLeavesNoTemporaries) {
  const fs::path dir = fs::temp_directory_path() / ("talklab-result-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "run.json";
  ResultFile file(path, nlohmann::json{{"talklab", {{"schema_version", kSchemaVersion}}}});
  for (int i = 0; i < 3; ++i) {
    file.add(finished_case("case" + std::to_string(i)));
    std::ifstream in(path);
    const nlohmann::json j = nlohmann::json::parse(in);  // throws if the file were half-written
    EXPECT_EQ(j["benchmarks"].size(), size_t(i + 1));
    EXPECT_EQ(j["benchmarks"].back()["name"], "case" + std::to_string(i));
  }
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(Result, UnwritableDestinationIsAClearError) {
  try {
    write_file_atomically("/proc/talklab-cannot-write-here/x.json", "{}");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("cannot"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace talklab

namespace talklab {
namespace {

TEST(Result, ContextComesFirstSoATruncatedFileKeepsIt) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() / ("talklab-order-" + std::to_string(::getpid()) + ".json");
  ResultFile file(path, nlohmann::json{{"talklab", {{"schema_version", kSchemaVersion}}}});
  file.add(finished_case("a/b/device=cpu"));
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_LT(text.find("\"context\""), text.find("\"benchmarks\""));
  EXPECT_EQ(nlohmann::json::parse(text)["benchmarks"].size(), 1u);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace talklab
