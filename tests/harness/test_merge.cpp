// bench merge (harness/merge.h) on result files written by the real entry writer: shards join into one file in the
// selection's order with each case's machine, what cannot be merged is refused naming the files, an incomplete
// merge names what is missing, and bench compare pairs a merged file's cases only on the same hardware.
#include "harness/merge.h"

#include <gtest/gtest.h>

#include "harness/config.h"
#include "harness/result.h"
#include "tests/message_of.h"

namespace talklab {
namespace {

using nlohmann::json;

const std::vector<std::string> kSelection = {"toy/a/device=cpu", "toy/b/device=cpu", "toy/c/device=cpu",
                                             "toy/d/device=cpu"};

// roofline_fraction as a run on a machine of `peak_flops` writes it.
json entry(const std::string& name, double median_s, double peak_flops) {
  CaseResult r;
  r.name = name;
  r.experiment = "toy";
  r.implementation = "impl";
  r.status = "ok";
  Timing t;
  t.samples_s = {median_s * 0.99, median_s, median_s * 1.01, median_s, median_s * 1.02};
  t.stats = summarize(t.samples_s);
  t.stop_reason = "converged";
  r.timing = t;
  r.work = Work{2e9, 1e8, "fp32"};
  r.roofline_fraction = 2e9 / median_s / peak_flops;
  return to_json(r);
}

json context(const std::string& host, const std::string& cpu, std::optional<int> shard, int count = 2) {
  json c = {{"host_name", host},
            {"date", "2026-12-03T17:00:00+0000"},
            {"talklab",
             {{"schema_version", 1},
              {"git", {{"commit", "abc"}, {"dirty", false}}},
              {"profile", "quick"},
              {"seed", 7},
              {"cpu", {{"model", cpu}}},
              {"gpu", nullptr},
              {"threads", 2}}}};
  if (shard) {
    c["talklab"]["shard"] = {{"index", *shard}, {"count", count}, {"source", "--shard"}, {"cases", 2},
                             {"selection", kSelection}};
  }
  return c;
}

ResultDoc doc(const std::string& path, json ctx, const std::vector<std::string>& names, double median_s = 1e-3,
              double peak_flops = 1e11) {
  ResultDoc d;
  d.path = path;
  d.context = std::move(ctx);
  for (const std::string& n : names) d.entries.push_back(entry(n, median_s, peak_flops));
  return d;
}

std::vector<std::string> names_of(const json& merged) {
  std::vector<std::string> out;
  for (const json& e : merged["benchmarks"]) out.push_back(e["name"]);
  return out;
}

TEST(Merge, ShardsJoinInTheSelectionsOrderEachCaseWithItsMachine) {
  const std::vector<ResultDoc> docs = {doc("s1.json", context("node2", "CPU B", 1), {"toy/d/device=cpu", "toy/a/device=cpu"}),
                                       doc("s0.json", context("node1", "CPU A", 0), {"toy/c/device=cpu", "toy/b/device=cpu"})};
  const Merged m = merge_results(docs, MergeOptions{.expect_complete = true});
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(names_of(m.document), kSelection);
  const json& b = m.document["benchmarks"];
  EXPECT_EQ(b[0]["talklab"]["machine"]["host_name"], "node2");
  EXPECT_EQ(b[1]["talklab"]["machine"]["talklab"]["cpu"]["model"], "CPU A");
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i]["family_index"], int(i));
  const json& merged = m.document["context"]["talklab"]["merged"];
  EXPECT_EQ(merged["files"].size(), 2u);
  EXPECT_EQ(merged["machines"].size(), 2u);
  EXPECT_EQ(merged["selection_size"], 4);
  EXPECT_TRUE(m.document["context"]["talklab"]["shard"].is_null());
  // The merged file reads back as a result file (the entry writer's fields are intact).
  const ResultDoc again = parse_result(m.document.dump(), "merged.json");
  EXPECT_EQ(again.entries.size(), 4u);
}

TEST(Merge, AMissingShardAndItsCasesAreNamed) {
  const Merged m = merge_results({doc("s0.json", context("n", "CPU", 0), {"toy/c/device=cpu", "toy/b/device=cpu"})}, {});
  EXPECT_FALSE(m.complete());
  EXPECT_EQ(m.missing, (std::vector<std::string>{"toy/a/device=cpu", "toy/d/device=cpu"}));
  EXPECT_EQ(m.missing_shards, (std::vector<std::string>{"1 of 2"}));
  EXPECT_EQ(m.document["context"]["talklab"]["merged"]["missing"].size(), 2u);
}

TEST(Merge, RefusesWhatWouldMixOrRepeatNamingTheFiles) {
  const auto error = [](const std::vector<ResultDoc>& docs, MergeOptions o = {}) {
    return test::message_of<InputError>([&] { merge_results(docs, o); });
  };
  json other_seed = context("n", "CPU", 1);
  other_seed["talklab"]["seed"] = 8;
  const std::vector<ResultDoc> mixed = {doc("s0.json", context("n", "CPU", 0), {"toy/a/device=cpu"}),
                                        doc("s1.json", other_seed, {"toy/b/device=cpu"})};
  EXPECT_EQ(error(mixed), "s0.json ran with seed 7, s1.json with 8: files of different seeds measure different things; "
                          "give every shard the same --seed (--allow-mixed merges them anyway)");
  const Merged allowed = merge_results(mixed, MergeOptions{.allow_mixed = true});
  ASSERT_EQ(allowed.notes.size(), 1u);
  EXPECT_EQ(allowed.notes[0], "mixed seed: s0.json ran with seed 7, s1.json with 8");

  EXPECT_EQ(error({doc("s0.json", context("n", "CPU", 0), {"toy/a/device=cpu"}),
                   doc("again.json", context("n", "CPU", 0), {"toy/b/device=cpu"})}),
            "s0.json and again.json are both shard 0 of 2");
  EXPECT_EQ(error({doc("s0.json", context("n", "CPU", 0), {"toy/a/device=cpu"}),
                   doc("s1.json", context("n", "CPU", 1), {"toy/a/device=cpu"})}),
            "1 case is in more than one file: toy/a/device=cpu (in s0.json and s1.json)");
  EXPECT_EQ(error({doc("s0.json", context("n", "CPU", 0), {"toy/a/device=cpu"}),
                   doc("s1.json", context("n", "CPU", 1, 3), {"toy/b/device=cpu"})}),
            "s1.json is shard 1 of 3, s0.json one of 2: shards of different splits");
  json narrower = context("n", "CPU", 1);
  narrower["talklab"]["shard"]["selection"] = {"toy/a/device=cpu"};
  EXPECT_EQ(error({doc("s0.json", context("n", "CPU", 0), {"toy/a/device=cpu"}), doc("s1.json", narrower, {})}),
            "s0.json and s1.json are shards of different selections (another filter, profile, --set or device): "
            "their case lists differ");
  ResultDoc cut = doc("s1.json", context("n", "CPU", 1), {"toy/b/device=cpu"});
  cut.truncated = true;
  EXPECT_EQ(error({doc("s0.json", context("n", "CPU", 0), {"toy/a/device=cpu"}), cut}),
            "s1.json: truncated after 1 complete cases (its run was cut short): run that shard again before merging");
  EXPECT_NE(error({doc("plain.json", context("n", "CPU", std::nullopt), {"toy/a/device=cpu"})},
                  MergeOptions{.expect_complete = true})
                .find("none of the files is a shard"),
            std::string::npos);
  EXPECT_EQ(error({}), "bench merge: no files to merge");
}

TEST(Merge, CompareLeavesOutCasesThatRanOnOtherHardwareUnlessTold) {
  // BASE: one machine ran everything. NEW: merged from two machines, b and d on a CPU with half the peak, where they
  // take twice as long: the same fraction of each machine's roofline.
  const ResultDoc base = doc("base.json", context("n1", "CPU A", std::nullopt), kSelection, 1e-3);
  const Merged m = merge_results({doc("s0.json", context("n1", "CPU A", 0), {"toy/a/device=cpu", "toy/c/device=cpu"}, 1e-3),
                                  doc("s1.json", context("n2", "CPU B", 1), {"toy/b/device=cpu", "toy/d/device=cpu"}, 2e-3, 5e10)},
                                 {});
  const ResultDoc now = parse_result(m.document.dump(), "merged.json");
  const Comparison c = compare_results(base, now, CompareOptions{});
  ASSERT_EQ(c.cases.size(), 2u);  // a and c: same hardware
  EXPECT_EQ(c.cases[0].name, "toy/a/device=cpu");
  EXPECT_EQ(c.regression_count(), 0);
  ASSERT_FALSE(c.warnings.empty());
  EXPECT_NE(c.warnings.back().find("2 cases ran on different hardware in BASE and NEW and were not compared"),
            std::string::npos);
  EXPECT_NE(c.warnings.back().find("toy/b/device=cpu (CPU 'CPU A', GPU 'none' in BASE; CPU 'CPU B'"), std::string::npos)
      << c.warnings.back();
  CompareOptions across;
  across.allow_different_machines = true;
  const Comparison all = compare_results(base, now, across);
  EXPECT_EQ(all.cases.size(), 4u);  // b and d by roofline fraction: not slower
  EXPECT_EQ(all.regression_count(), 0);
}

}  // namespace
}  // namespace talklab
