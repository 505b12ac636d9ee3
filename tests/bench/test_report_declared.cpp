// `bench report` draws a page from what a result file declares (context.talklab.experiments), not from names: a toy
// experiment no build registers, with a renamed "PyTorch" implementation and a helper, gets its headline (ours
// against the fastest PyTorch implementation at the largest size), its chart, its declared tables, its axes only
// where they apply, and the page reads headline first and the runs' environment last.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/bench/run_bench.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

json toy_case(const std::string& impl, int n, const std::string& mode, double median_s, double flops) {
  json params = {{"n", n}, {"mode", mode}, {"knob", 7}};
  const std::string name = "toy/" + impl + "/n=" + std::to_string(n) + "/mode=" + mode + "/knob=7/device=cpu";
  return {{"name", name},
          {"run_type", "iteration"},
          {"talklab",
           {{"experiment", "toy"}, {"implementation", impl}, {"device", "cpu"}, {"status", "ok"}, {"params", params},
            {"talks", {"flexattention"}}, {"time", {{"median_s", median_s}}},
            {"work", {{"flops", flops}, {"bytes", 1e6}, {"peak", "fp32"}}},
            {"memory", {{"peak_bytes", impl == "fast" ? 1 << 20 : 4 << 20}}}}}};
}

json toy_declaration() {
  const json filter_n3 = {{"axis", "n"}, {"values", {"3"}}};
  return {{"description", "a toy technique"},
          {"talks", {"flexattention"}},
          {"implementations",
           {{"fast", {{"provider", "ours"}, {"role", "technique"}, {"description", "ours"}}},
            {"slow", {{"provider", "pytorch_eager"}, {"role", "technique"}, {"description", "theirs"}}},
            {"build", {{"provider", "ours"}, {"role", "helper"}, {"description", "a helper"}}}}},
          {"charts",
           {{{"id", "t"}, {"title", "Toy time against n"}, {"kind", "line"}, {"x", "n"}, {"y", "time"},
             {"facets", {"mode"}}},
            {{"id", "s"}, {"title", "Toy sweep"}, {"kind", "sweep"}, {"x", "n"}, {"implementations", {"fast", "slow"}},
             {"columns", {{{"metric", "time"}, {"title", "time"}, {"relative", "value"}}}}},
            {{"id", "w"}, {"title", "Toy sweep over words"}, {"kind", "sweep"}, {"x", "mode"}, {"where", {filter_n3}},
             {"implementations", {"fast", "slow"}},
             {"columns", {{{"metric", "time"}, {"title", "time"}, {"relative", "value"}},
                          {{"metric", "time"}, {"title", "again"}, {"relative", "value"}}}}},
            {{"id", "p"}, {"title", "Toy at n=3"}, {"kind", "table"}, {"where", {filter_n3}}, {"baseline", "slow"},
             {"implementations", {"slow", "fast"}},
             {"columns", {{{"metric", "time"}, {"title", "x slow"}, {"relative", "ratio"}}}}}}},
          {"headline", {{"chart", "t"}, {"comparisons", {{{"ours", "fast"}, {"largest", "n"}}}}}},
          {"axis_scopes", {{{"axis", "knob"}, {"when", {{"axis", "mode"}, {"values", {"b"}}}}}}}};
}

// Ours at 1 ms, "PyTorch" at 3 ms, at n = 1..3 in two modes, and a helper with no FLOPs.
json toy_result() {
  json j = {{"context",
             {{"talklab",
               {{"schema_version", 1},
                {"cpu", {{"model", "Toy CPU"}}},
                {"threads", 2},
                {"gpu", nullptr},
                {"experiments", {{"toy", toy_declaration()}}}}}}},
            {"benchmarks", json::array()}};
  for (int n : {1, 2, 3}) {
    for (const char* mode : {"a", "b"}) {
      j["benchmarks"].push_back(toy_case("fast", n, mode, 1e-3, 1e9));
      j["benchmarks"].push_back(toy_case("slow", n, mode, 3e-3, 1e9));
      j["benchmarks"].push_back(toy_case("build", n, mode, 1e-5, 0));
    }
  }
  return j;
}

class BenchReportDeclared : public talklab::testing::ScratchDirTest {
 protected:
  // The headline section of a report's flexattention.md: from "## Headline" to "## What the lab reproduces".
  static std::string headline_md(const fs::path& out) {
    const std::string md = read(out / "flexattention.md");
    const size_t from = md.find("## Headline");
    return md.substr(from, md.find("## What the lab reproduces") - from);
  }
};

TEST_F(BenchReportDeclared, ToyExperimentIsReportedFromWhatItsFileDeclares) {
  const fs::path out = dir_ / "r";
  const auto o = talklab::testing::run_bench("report " + write("toy.json", toy_result().dump()) + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  const std::string md = read(out / "flexattention.md");
  // Headline first, the runs' environment last.
  const size_t headline = md.find("## Headline"), reproduces = md.find("## What the lab reproduces"),
               results = md.find("## Results"), run = md.find("## Run");
  ASSERT_NE(headline, std::string::npos) << md;
  EXPECT_LT(headline, reproduces) << md;
  EXPECT_LT(reproduces, results) << md;
  EXPECT_LT(results, run) << md;
  // Ours against the declared PyTorch implementation, at the largest n only: one row per mode.
  std::istringstream lines(md.substr(headline, reproduces - headline));
  int headline_rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!has(line, "| fast |")) continue;
    ++headline_rows;
    EXPECT_TRUE(has(line, "n=3")) << line;
    EXPECT_TRUE(has(line, "| slow |")) << line;
    EXPECT_TRUE(has(line, "3.00x faster")) << line;
    EXPECT_TRUE(has(line, "4.00x less")) << line;
  }
  EXPECT_TRUE(has(md, "## Headline, measured on Toy CPU, 2 threads")) << md;  // one machine: said once
  EXPECT_EQ(headline_rows, 2) << md;
  // The detail: the speed-up by provider, never for the helper; knob only where mode is b.
  EXPECT_TRUE(has(md, "3.00x vs slow")) << md;
  std::istringstream detail(md.substr(results, run - results));
  for (std::string line; std::getline(detail, line);) {
    if (has(line, "| build |")) {
      EXPECT_FALSE(has(line, " vs ")) << line;
    }
    if (has(line, "mode=a")) {
      EXPECT_FALSE(has(line, "knob=")) << line;
    }
  }
  EXPECT_TRUE(has(md, "knob=7 (where mode is b)")) << md;
  // The declared tables: the sweep (a row per n, a column per implementation) and the table against a baseline.
  EXPECT_TRUE(has(md, "| n | fast | slow |")) << md;
  EXPECT_TRUE(has(md, "| 3 | 1.000 ms | 3.000 ms |")) << md;
  // A sweep over an axis of words: a row per value, in the order the cases came.
  // Two columns: each cell joins them, and its header says in which order.
  const size_t words = md.find("| mode | fast: time; again | slow: time; again |");
  ASSERT_NE(words, std::string::npos) << md;
  EXPECT_LT(md.find("| a | 1.000 ms; 1.000 ms | 3.000 ms; 3.000 ms |", words),
            md.find("| b | 1.000 ms; 1.000 ms | 3.000 ms; 3.000 ms |", words)) << md;
  EXPECT_NE(md.find("| b | 1.000 ms; 1.000 ms | 3.000 ms; 3.000 ms |", words), std::string::npos) << md;
  EXPECT_TRUE(has(md, "| slow | 1.00x |")) << md;
  EXPECT_TRUE(has(md, "| fast | 0.33x |")) << md;
  // The headline chart is the declared one, drawn without the helper; the long table is folded in HTML.
  const std::string page = read(out / "flexattention.html");
  EXPECT_TRUE(has(page, "Toy time against n")) << page;
  EXPECT_TRUE(has(page, "<table class=\"headline\">")) << page;
  EXPECT_TRUE(has(page, "<div class=\"chart headline\" id=\"chart-1\">")) << page;
  const std::string charts = page.substr(page.find("const TALKLAB_CHARTS"));
  EXPECT_TRUE(has(charts, "\"implementation\":\"fast\"")) << charts.substr(0, 400);
  EXPECT_FALSE(has(charts, "\"implementation\":\"build\"")) << charts.substr(0, 400);
  EXPECT_TRUE(has(page, "<details><summary>18 cases")) << page;
}

// Two files under one brand string ("AMD EPYC" covers Zen 2 to Zen 5 in a VM) from two CPUs, told apart by family,
// model and ISA path (a label by brand alone folded them into one machine). The headline shows one machine's rows:
// the newer file's, the one with more rows on a tie; the other is named below it with its count. One file alone says
// its machine once, in the heading.
TEST_F(BenchReportDeclared, HeadlineShowsOneMachineNamedByCpuidAndIsaAndNamesTheOthers) {
  const auto on = [](int model, const char* isa, const char* date, bool mode_a_only) {
    json j = toy_result();
    j["context"]["date"] = date;
    j["context"]["talklab"]["cpu"] = {{"model", "AMD EPYC"}, {"vendor", "AuthenticAMD"}, {"family", 25},
                                      {"model_number", model},  {"stepping", 1},          {"isa", isa}};
    if (mode_a_only) {
      json kept = json::array();
      for (const json& c : j["benchmarks"]) {
        if (c["talklab"]["params"]["mode"] == "a") kept.push_back(c);
      }
      j["benchmarks"] = kept;
    }
    return j;
  };
  const auto headline_of = [&](const std::string& files, const std::string& name) {
    const fs::path out = dir_ / name;
    const auto o = talklab::testing::run_bench("report " + files + " --out " + out.string());
    EXPECT_EQ(o.code, 0) << o.output;
    return headline_md(out);
  };
  const std::string zen3 = "AMD EPYC (family 25 model 1, avx2), 2 threads";
  const std::string zen4 = "AMD EPYC (family 25 model 17, avx512), 2 threads";
  const std::string newer = write("zen3.json", on(1, "avx2", "2026-12-05T10:00:00+0000", false).dump());
  const std::string older = write("zen4.json", on(17, "avx512", "2026-12-04T10:00:00+0000", false).dump());
  // The newer file's machine, with one row (mode a only) against the older one's two.
  const std::string partial = write("zen3a.json", on(1, "avx2", "2026-12-05T10:00:00+0000", true).dump());
  std::string h = headline_of(older + " " + partial, "newer");
  EXPECT_TRUE(has(h, "## Headline, measured on " + zen3 + "\n")) << h;
  EXPECT_TRUE(has(h, "| mode=a n=3 | fast | slow |")) << h;
  EXPECT_FALSE(has(h, "mode=b")) << h;
  EXPECT_FALSE(has(h, "| machine |")) << h;
  EXPECT_TRUE(has(h, "Also measured on " + zen4 + ": 2 rows (in the results below).")) << h;
  // One date: the machine with more rows.
  const std::string same_day = write("zen4b.json", on(17, "avx512", "2026-12-05T10:00:00+0000", false).dump());
  h = headline_of(partial + " " + same_day, "more");
  EXPECT_TRUE(has(h, "## Headline, measured on " + zen4 + "\n")) << h;
  EXPECT_TRUE(has(h, "| mode=b n=3 knob=7 | fast | slow |")) << h;
  EXPECT_TRUE(has(h, "Also measured on " + zen3 + ": 1 row (in the results below).")) << h;
  // One file: its machine in the heading, nothing measured elsewhere.
  h = headline_of(newer, "one");
  EXPECT_TRUE(has(h, "## Headline, measured on " + zen3 + "\n")) << h;
  EXPECT_FALSE(has(h, "Also measured on")) << h;
}

// Two comparisons that both select the pair at n = 3, mode a (the second names mode a): its row once, so the headline
// has one row per mode, as with the first comparison alone.
TEST_F(BenchReportDeclared, APairTwoComparisonsSelectIsOneHeadlineRow) {
  json j = toy_result();
  json& comparisons = j["context"]["talklab"]["experiments"]["toy"]["headline"]["comparisons"];
  comparisons.push_back({{"ours", "fast"}, {"largest", "n"}, {"where", {{{"axis", "mode"}, {"values", {"a"}}}}}});
  const fs::path out = dir_ / "r";
  const auto o = talklab::testing::run_bench("report " + write("toy.json", j.dump()) + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  const std::string h = headline_md(out);
  std::istringstream lines(h);
  int rows = 0, mode_a = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!has(line, "| fast |")) continue;
    ++rows;
    mode_a += has(line, "mode=a") ? 1 : 0;
  }
  EXPECT_EQ(rows, 2) << h;
  EXPECT_EQ(mode_a, 1) << h;
}

// `largest` over all of one machine's files: an older file up to n = 3 and a newer one up to n = 2 (its n = 1, 2
// supersede the older figures) give the n = 3 rows alone, not the newer file's n = 2 beside them.
TEST_F(BenchReportDeclared, HeadlineTakesTheLargestSizeOverAMachinesFiles) {
  json older = toy_result(), newer = toy_result();
  older["context"]["date"] = "2026-12-04T10:00:00+0000";
  newer["context"]["date"] = "2026-12-05T10:00:00+0000";
  json kept = json::array();
  for (const json& c : newer["benchmarks"]) {
    if (c["talklab"]["params"]["n"] != 3) kept.push_back(c);
  }
  newer["benchmarks"] = kept;
  const fs::path out = dir_ / "r";
  const auto o = talklab::testing::run_bench("report " + write("older.json", older.dump()) + " " +
                                             write("newer.json", newer.dump()) + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  std::istringstream lines(headline_md(out));
  int rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!has(line, "| fast |")) continue;
    ++rows;
    EXPECT_TRUE(has(line, "n=3")) << line;
  }
  EXPECT_EQ(rows, 2);
}

// Six key comparisons (no `largest`: every n and mode): the first four above the chart, in the declared order, and
// the other two right after it, in the same columns. A reference at another point (`across`) says where.
TEST_F(BenchReportDeclared, HeadlineShowsFourRowsAboveItsChartAndTheRestAfterIt) {
  json j = toy_result();
  json& comparisons = j["context"]["talklab"]["experiments"]["toy"]["headline"]["comparisons"];
  comparisons = {{{"ours", "fast"}}};
  const fs::path out = dir_ / "r";
  auto o = talklab::testing::run_bench("report " + write("toy.json", j.dump()) + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  std::string h = headline_md(out);
  const size_t chart = h.find("![Toy time against n]");
  ASSERT_NE(chart, std::string::npos) << h;
  const auto rows_in = [](const std::string& text) {
    int n = 0;
    for (size_t at = text.find("| fast |"); at != std::string::npos; at = text.find("| fast |", at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(rows_in(h.substr(0, chart)), 4) << h;
  EXPECT_EQ(rows_in(h.substr(chart)), 2) << h;
  EXPECT_LT(chart, h.find("2 more key comparisons, on the same machine:")) << h;
  EXPECT_LT(h.find("mode=a n=1"), chart) << h;
  EXPECT_GT(h.find("mode=b n=3"), chart) << h;
  // The reference may sit at another n, where slow is fastest (n = 1): the row names it there.
  for (json& c : j["benchmarks"]) {
    if (c["talklab"]["implementation"] == "slow" && c["talklab"]["params"]["n"] == 1) {
      c["talklab"]["time"]["median_s"] = 2e-3;
    }
  }
  comparisons = {{{"ours", "fast"}, {"against", "slow"}, {"largest", "n"}, {"across", {"n"}}}};
  o = talklab::testing::run_bench("report " + write("across.json", j.dump()) + " --out " + (dir_ / "a").string());
  ASSERT_EQ(o.code, 0) << o.output;
  h = headline_md(dir_ / "a");
  EXPECT_TRUE(has(h, "| fast | slow at n=1 | 1.000 ms / 2.000 ms | 2.00x faster |")) << h;
}

// A frontier table: a row per reference case (x ascending), beside our fastest case at any x whose memory is no
// more than the row's. Ours: (1 MiB, 5 ms) at n = 1, (2 MiB, 2 ms) at 2, (8 MiB, 1 ms) at 3; the reference at n = 1
// holds 1.5 MiB (only our n = 1 fits), at 2 4 MiB (n = 1 and 2 fit, 2 is faster), at 3 0.5 MiB (none fits).
TEST_F(BenchReportDeclared, AFrontierTablePairsEachReferencePointWithOurFastestUnderItsMemory) {
  json decl = toy_declaration();
  decl["charts"] = {{{"id", "f"}, {"title", "Ours at no more memory"}, {"kind", "frontier"}, {"x", "n"}, {"y", "time"},
                     {"implementations", {"fast"}}, {"baseline", "slow"},
                     {"columns", {{{"metric", "peak_memory"}, {"title", "peak"}, {"relative", "value"}}}}}};
  decl["headline"] = {{"chart", "f"}, {"comparisons", json::array()}};
  json j = toy_result();
  j["context"]["talklab"]["experiments"]["toy"] = decl;
  j["benchmarks"] = json::array();
  const auto point = [&](const std::string& impl, int n, double mib, double ms) {
    json c = toy_case(impl, n, "a", ms * 1e-3, 1e9);
    c["talklab"]["memory"]["peak_bytes"] = mib * (1 << 20);
    j["benchmarks"].push_back(c);
  };
  point("fast", 1, 1, 5);
  point("fast", 2, 2, 2);
  point("fast", 3, 8, 1);
  point("slow", 3, 0.5, 1.5);  // out of x order in the file: the rows are sorted by x
  point("slow", 1, 1.5, 4);
  point("slow", 2, 4, 3);
  const fs::path out = dir_ / "r";
  const auto o = talklab::testing::run_bench("report " + write("toy.json", j.dump()) + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.output;
  const std::string md = read(out / "flexattention.md");
  const size_t table = md.find("| slow n | peak | time | fast n | peak | time | slow / fast |");
  ASSERT_NE(table, std::string::npos) << md;
  const size_t r1 = md.find("| 1 | 1.5 MiB | 4.000 ms | 1 | 1.0 MiB | 5.000 ms | 0.80x |", table);
  const size_t r2 = md.find("| 2 | 4.0 MiB | 3.000 ms | 2 | 2.0 MiB | 2.000 ms | 1.50x |", table);
  const size_t r3 = md.find("| 3 | 512.0 KiB | 1.500 ms | none under 512.0 KiB | - | - | - |", table);
  EXPECT_NE(r1, std::string::npos) << md.substr(table);
  EXPECT_LT(r1, r2) << md.substr(table);
  EXPECT_LT(r2, r3) << md.substr(table);
  EXPECT_NE(r3, std::string::npos) << md.substr(table);
}

}  // namespace
