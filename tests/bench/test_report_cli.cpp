// `bench report` through the real binary: the pages it writes for one and for two result files, the speed-up
// it quotes (only between cases that do the same work), and bad input (exit 2 naming the file, nothing written).
// That every chart renders and every link resolves is checked on the committed baselines by check_report.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "tests/bench/run_bench.h"

#include "harness/result.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using talklab::testing::Outcome;

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

talklab::CaseResult attention_case(const std::string& impl, int64_t seq, double median_s, double flops) {
  talklab::CaseResult r;
  r.experiment = "attention";
  r.implementation = impl;
  r.params.set("mask", std::string("causal"));
  r.params.set("seq", seq);
  r.name = "attention/" + impl + "/mask=causal/seq=" + std::to_string(seq) + "/device=cpu";
  r.talks = {"flexattention"};
  r.status = "ok";
  talklab::Timing t;
  for (int s = 0; s < 9; ++s) t.samples_s.push_back(median_s * (1 + 0.01 * (s - 4)));
  t.stats = talklab::summarize(t.samples_s);
  t.stop_reason = "converged";
  r.timing = t;
  r.work = talklab::Work{flops, 1e6, "fp32"};
  r.peak_bytes = 3 << 20;
  talklab::Accuracy a;
  a.max_rel_error = 2e-7;
  a.passed = true;
  r.accuracy = a;
  return r;
}

// Ours at 2 ms and LibTorch at 6 ms on two sequence lengths, a block-mask builder (no FLOPs) and one skipped case.
json result(const std::string& cpu) {
  json j = {{"context", {{"talklab", {{"schema_version", 1}, {"cpu", {{"model", cpu}}}, {"gpu", nullptr}}}}},
            {"benchmarks", json::array()}};
  for (int64_t seq : {257, 1000}) {
    j["benchmarks"].push_back(talklab::to_json(attention_case("flash_cpu", seq, 2e-3, 1e9)));
    j["benchmarks"].push_back(talklab::to_json(attention_case("torch_sdpa", seq, 6e-3, 1e9)));
    j["benchmarks"].push_back(talklab::to_json(attention_case("blockmask_generic", seq, 1e-5, 0)));
  }
  talklab::CaseResult skipped = attention_case("torch_eager", 1000, 1, 1e9);
  skipped.status = "skipped";
  skipped.reason = "its scores would take 9 GiB";
  skipped.timing.reset();
  j["benchmarks"].push_back(talklab::to_json(skipped));
  return j;
}

class BenchReport : public talklab::testing::ScratchDirTest {
 protected:
  Outcome report(const std::string& args) { return talklab::testing::run_bench("report " + args); }
};

TEST_F(BenchReport, WritesIndexTalkPagesVendoredVegaAndStaticCharts) {
  const fs::path out = dir_ / "r";
  const Outcome o = report(write("cpu.json", result("Test CPU").dump(2)) + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  for (const char* f : {"index.md", "index.html", "flexattention.md", "flexattention.html", "vendor/vega-bundle.js",
                        "vendor/LICENSE-vl-convert", "flexattention-chart-1.svg", "flexattention-chart-2.svg"}) {
    EXPECT_TRUE(fs::is_regular_file(out / f)) << f;
  }
  // No staging folder is left beside the report.
  for (const auto& entry : fs::directory_iterator(dir_)) EXPECT_FALSE(has(entry.path().string(), "bench-report")) << entry.path();
  const std::string md = read(out / "flexattention.md");
  EXPECT_TRUE(has(md, "https://www.youtube.com/watch?v=ju-KlcuWlbk")) << md;  // the talk's video, from the registry
  EXPECT_TRUE(has(md, "Horace He")) << md;
  EXPECT_TRUE(has(md, "3.00x vs torch_sdpa")) << md;  // 6 ms / 2 ms, at each point
  // A block-mask builder declares no FLOPs: it is not an attention call, so no speed-up is quoted for it.
  std::istringstream lines(md);
  int builder_rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!has(line, "| blockmask_generic |")) continue;
    ++builder_rows;
    EXPECT_FALSE(has(line, " vs ")) << line;
  }
  EXPECT_EQ(builder_rows, 2) << md;
  EXPECT_TRUE(has(md, "torch_eager: skipped in 1 case: its scores would take 9 GiB")) << md;
  EXPECT_TRUE(has(md, "[flexattention.html](flexattention.html)")) << md;  // the interactive charts
  // The Markdown page shows each chart as its static SVG, drawn with marks (vl-convert's SVG has paths).
  EXPECT_TRUE(has(md, "](flexattention-chart-1.svg)")) << md;
  const std::string svg = read(out / "flexattention-chart-1.svg");
  EXPECT_TRUE(has(svg, "<svg")) << svg.substr(0, 200);
  EXPECT_TRUE(has(svg, "<path")) << svg.substr(0, 200);
  const std::string page = read(out / "flexattention.html");
  EXPECT_TRUE(has(page, "vendor/vega-bundle.js")) << page;
  EXPECT_TRUE(has(page, "Attention time against sequence length")) << page;
  EXPECT_TRUE(has(page, "Roofline")) << page;
  EXPECT_TRUE(has(read(out / "index.md"), "[FlexAttention")) << read(out / "index.md");
}

TEST_F(BenchReport, TwoFilesSideBySideEachWithItsEnvironment) {
  const fs::path out = dir_ / "r";
  const Outcome o = report(write("cpu.json", result("Test CPU").dump()) + " " + write("box.json", result("Other CPU").dump()) +
                           " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  const std::string md = read(out / "flexattention.md");
  EXPECT_TRUE(has(md, "|   | cpu | box |")) << md;
  EXPECT_TRUE(has(md, "Test CPU")) << md;
  EXPECT_TRUE(has(md, "Other CPU")) << md;
  EXPECT_TRUE(has(md, "| run | case |")) << md;
}

// Two files of one machine: the later (by date) measured flash_cpu (now 3 ms) and torch_sdpa again. Its figures
// replace the earlier file's, whichever order the files come in, and the index says so; --keep-superseded shows
// both runs. (Ratios are within one run, so the later pair gives 2x, the earlier 3x.)
TEST_F(BenchReport, ACaseMeasuredAgainOnTheSameMachineShowsTheLaterFigure) {
  json early = result("Test CPU");
  early["context"]["date"] = "2026-12-01T10:00:00+0000";
  json late = {{"context", early["context"]}, {"benchmarks", json::array()}};
  late["context"]["date"] = "2026-12-02T10:00:00+0000";
  for (int64_t seq : {257, 1000}) {
    late["benchmarks"].push_back(talklab::to_json(attention_case("flash_cpu", seq, 3e-3, 1e9)));
    late["benchmarks"].push_back(talklab::to_json(attention_case("torch_sdpa", seq, 6e-3, 1e9)));
  }
  const std::string a = write("early.json", early.dump()), b = write("late.json", late.dump());
  for (const std::string& files : {a + " " + b, b + " " + a}) {
    const fs::path out = dir_ / "r";
    const Outcome o = report(files + " --out " + out.string());
    ASSERT_EQ(o.code, 0) << o.output;
    const std::string md = read(out / "flexattention.md");
    EXPECT_TRUE(has(md, "2.00x vs torch_sdpa")) << md;  // 6 ms / 3 ms
    EXPECT_FALSE(has(md, "3.00x vs torch_sdpa")) << md;
    EXPECT_TRUE(has(read(out / "index.md"), "4 cases of early by late")) << read(out / "index.md");
  }
  const fs::path out = dir_ / "all";
  const Outcome o = report(a + " " + b + " --keep-superseded --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(has(read(out / "flexattention.md"), "3.00x vs torch_sdpa")) << read(out / "flexattention.md");
  EXPECT_FALSE(has(read(out / "index.md"), "Measured again")) << read(out / "index.md");
}

// One brand string, two CPUs: files naming different CPUIDs are two machines and both stay; a file written before
// CPUID was recorded is taken as the same machine as one that names it.
TEST_F(BenchReport, SupersedingGoesByCpuidWhereBothFilesNameIt) {
  const auto with_cpuid = [](json j, int model, const char* date) {
    j["context"]["date"] = date;
    j["context"]["talklab"]["cpu"]["vendor"] = "AuthenticAMD";
    j["context"]["talklab"]["cpu"]["family"] = 25;
    j["context"]["talklab"]["cpu"]["model_number"] = model;
    j["context"]["talklab"]["cpu"]["stepping"] = 1;
    return j;
  };
  json old_file = result("AMD EPYC");
  old_file["context"]["date"] = "2026-12-01T10:00:00+0000";
  const std::string a = write("zen4.json", with_cpuid(result("AMD EPYC"), 17, "2026-12-02T10:00:00+0000").dump());
  const std::string b = write("zen5.json", with_cpuid(result("AMD EPYC"), 2, "2026-12-03T10:00:00+0000").dump());
  const std::string c = write("old.json", old_file.dump());
  const fs::path out = dir_ / "r";
  const Outcome o = report(a + " " + b + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  EXPECT_FALSE(has(read(out / "index.md"), "Measured again")) << read(out / "index.md");
  const fs::path out2 = dir_ / "r2";
  const Outcome o2 = report(c + " " + a + " --out " + out2.string());
  ASSERT_EQ(o2.code, 0) << o2.output;
  EXPECT_TRUE(has(read(out2 / "index.md"), "cases of old by zen4")) << read(out2 / "index.md");
}

TEST_F(BenchReport, TruncatedFileIsReportedUpToItsLastCaseWithAWarning) {
  const std::string text = result("Test CPU").dump(2);
  const std::string cut = text.substr(0, text.find("torch_eager") - 200);
  const Outcome o = report(write("cut.json", cut) + " --out " + (dir_ / "r").string());
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(has(o.output, "warning")) << o.output;
  EXPECT_TRUE(has(o.output, "truncated")) << o.output;
}

TEST_F(BenchReport, BadInputExitsTwoNamingTheFileAndWritesNothing) {
  const fs::path out = dir_ / "r";
  const std::string good = write("cpu.json", result("Test CPU").dump());
  Outcome o = report(good + " " + (dir_ / "missing.json").string() + " --out " + out.string());
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_TRUE(has(o.output, "missing.json")) << o.output;
  o = report(write("bad.json", "{ not json") + " --out " + out.string());
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_TRUE(has(o.output, "bad.json")) << o.output;
  // A Python that cannot draw the charts: nothing is written.
  o = report(good + " --python " + (dir_ / "nowhere" / "python").string() + " --out " + out.string());
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_TRUE(has(o.output, "vl-convert-python")) << o.output;
  EXPECT_TRUE(has(o.output, "nowhere/python")) << o.output;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& entry : fs::directory_iterator(dir_)) EXPECT_FALSE(has(entry.path().string(), "bench-report")) << entry.path();
}

}  // namespace
