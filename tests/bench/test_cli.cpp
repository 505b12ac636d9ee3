// The command line as a user meets it: every kind of bad input gives a message that names it and exit
// code 2, and nothing already written is lost.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/bench/run_bench.h"

namespace {

namespace fs = std::filesystem;

using talklab::testing::Outcome;
Outcome bench(const std::string& args) { return talklab::testing::run_bench(args); }

void expect_usage_error(const std::string& args, const std::string& message) {
  const Outcome o = bench(args);
  EXPECT_EQ(o.code, 2) << args << "\n" << o.output;
  EXPECT_NE(o.output.find(message), std::string::npos) << args << "\nexpected: " << message << "\ngot: " << o.output;
}

TEST(BenchCli, UnknownAxisListsTheValidOnes) {
  expect_usage_error("--profile quick --filter roofline --set sqe=4 --dry-run", "unknown axis 'sqe' (valid: ");
}

TEST(BenchCli, ValueOfTheWrongType) {
  expect_usage_error("--profile quick --filter roofline --set buffer_mib=big --dry-run",
                     "axis 'buffer_mib' takes integers, got 'big'");
  expect_usage_error("--profile quick --filter roofline --set cores=three --dry-run",
                     "axis 'cores' has no value 'three' (valid: one, all)");
}

TEST(BenchCli, InvalidRegex) {
  expect_usage_error("--profile quick --filter '(roofline' --dry-run", "is not a valid regular expression");
}

TEST(BenchCli, FilterThatMatchesNothing) {
  expect_usage_error("--profile quick --filter no-such-case --dry-run", "matches no case");
}

TEST(BenchCli, UnknownProfile) { expect_usage_error("--profile quik --dry-run", "unknown profile 'quik' (available: "); }

TEST(BenchCli, UnknownOptionAndBadDevice) {
  expect_usage_error("--frobnicate", "frobnicate");
  expect_usage_error("--device tpu --dry-run", "--device 'tpu': expected cpu, cuda or all");
}

TEST(BenchCli, MalformedConfigNamesFileAndLine) {
  const fs::path dir = fs::temp_directory_path() / ("talklab-cli-" + std::to_string(::getpid()));
  fs::create_directories(dir / "profiles");
  fs::copy_file(fs::path(TALKLAB_SOURCE_DIR) / "configs" / "talks.toml", dir / "talks.toml");
  std::ofstream(dir / "profiles" / "broken.toml") << "[roofline]\nceiling = [\"copy\"\ncores = 1\n";
  expect_usage_error("--config-dir " + dir.string() + " --profile broken --dry-run", "broken.toml:3");
  std::ofstream(dir / "profiles" / "typo.toml") << "[roofline]\nceiling = \"copy\"\ncores = \"all\"\nisa = \"best\"\n"
                                                << "bufer_mib = 4\n";
  expect_usage_error("--config-dir " + dir.string() + " --profile typo --dry-run",
                     "typo.toml:5: unknown axis 'bufer_mib' of experiment 'roofline'");
  fs::remove_all(dir);
}

TEST(BenchCli, BadInputLeavesAnExistingResultFileUntouched) {
  const fs::path out = fs::temp_directory_path() / ("talklab-keep-" + std::to_string(::getpid()) + ".json");
  std::ofstream(out) << "{\"precious\": true}";
  const Outcome o = bench("--profile quick --filter roofline --set cores=many --out " + out.string());
  EXPECT_EQ(o.code, 2) << o.output;
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "{\"precious\": true}");
  fs::remove(out);
}

TEST(BenchCli, DryRunListsCasesAndRunsNothing) {
  const Outcome o = bench("--profile quick --filter 'roofline/cpu_loop' --dry-run");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("roofline/cpu_loop/ceiling=fp32_fma/cores=one/isa=best/buffer_mib=128/device=cpu"),
            std::string::npos)
      << o.output;
}

TEST(BenchCli, CudaCasesOnAMachineWithoutAGpuAreSkippedWithTheReason) {
  const fs::path out = fs::temp_directory_path() / ("talklab-cuda-" + std::to_string(::getpid()) + ".json");
  const Outcome o = bench("--profile quick --device cuda --filter roofline --out " + out.string());
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& b : j["benchmarks"]) {
    if (b["talklab"]["status"] == "ok") continue;  // a GPU box runs them
    EXPECT_EQ(b["talklab"]["status"], "skipped");
    EXPECT_FALSE(b["talklab"]["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(o.code, 0) << o.output;
  fs::remove(out);
}

// bench run applies the OpenMP wait policy the selected experiment asks for (checkpointing: passive) by executing
// itself again (harness/openmp.h), unless the environment chose one; other experiments keep libgomp's default.
// The context says which, so two files can be compared under the same policy.
TEST(BenchCli, RunRecordsTheOpenMpWaitPolicyAndWhoSetIt) {
  const fs::path out = fs::temp_directory_path() / ("talklab-omp-" + std::to_string(::getpid()) + ".json");
  const auto openmp_of_run = [&](const char* policy, const std::string& filter) {
    if (policy) setenv("OMP_WAIT_POLICY", policy, 1); else unsetenv("OMP_WAIT_POLICY");
    const Outcome o = bench("--profile quick --threads 1 --filter '" + filter + "' --max-time 0.1 --out " + out.string());
    unsetenv("OMP_WAIT_POLICY");
    EXPECT_EQ(o.code, 0) << o.output;
    std::ifstream in(out);
    return nlohmann::json::parse(in)["context"]["talklab"]["openmp"];
  };
  const std::string checkpointing = "checkpointing/save_all/";
  const nlohmann::json asked = openmp_of_run(nullptr, checkpointing);
  EXPECT_EQ(asked["wait_policy"], "passive") << asked;
  EXPECT_EQ(asked["set_by"], "bench") << asked;
  const nlohmann::json given = openmp_of_run("active", checkpointing);
  EXPECT_EQ(given["wait_policy"], "active") << given;
  EXPECT_EQ(given["set_by"], "environment") << given;
  const nlohmann::json untouched = openmp_of_run(nullptr, "roofline/cpu_loop/ceiling=fp32_fma/cores=one");
  EXPECT_TRUE(untouched["wait_policy"].is_null()) << untouched;
  EXPECT_TRUE(untouched["set_by"].is_null()) << untouched;
  fs::remove(out);
}

TEST(BenchCli, ListAndTalksShowTheRegistry) {
  Outcome o = bench("list --profile quick --filter roofline");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("talks: llm-inference-workload (https://www.youtube.com/watch?v=z2M8gKGYws4)"),
            std::string::npos)
      << o.output;
  o = bench("talks");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("flexattention  FlexAttention"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("experiments: roofline"), std::string::npos) << o.output;
}

}  // namespace
