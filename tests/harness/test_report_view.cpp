// The report's corpus (harness/report/view.h): which file an experiment's declaration (its charts, tables and
// captions) comes from when several files declare it. The newest file's, whatever the order the files are given
// in: a file from an older build, given first, hid a table a newer build had added (bench report results/*.json
// globs the older files first).
#include "harness/report/view.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace talklab::report {
namespace {

ResultDoc doc_declaring(const std::string& date, const std::string& caption) {
  ExperimentDeclaration d;
  d.description = "toy";
  ChartSpec chart;
  chart.id = "c";
  chart.title = "t";
  chart.caption = caption;
  chart.kind = ChartKind::sweep;
  chart.x = "n";
  d.presentation.charts = {chart};
  ResultDoc doc;
  doc.path = date + ".json";
  doc.context = {{"date", date}, {"talklab", {{"experiments", {{"toy", to_json(d)}}}}}};
  return doc;
}

TEST(ReportCorpus, TheNewestFileDeclaresAnExperiment) {
  const ResultDoc older = doc_declaring("2026-11-01T10:00:00+00:00", "old"),
                  newer = doc_declaring("2026-12-04T10:00:00+00:00", "new");
  for (const auto& docs : {std::vector<ResultDoc>{older, newer}, std::vector<ResultDoc>{newer, older}}) {
    const Corpus c = make_corpus(docs, {});
    ASSERT_TRUE(c.declarations.contains("toy"));
    ASSERT_EQ(c.declarations.at("toy").presentation.charts.size(), 1u);
    EXPECT_EQ(c.declarations.at("toy").presentation.charts[0].caption, "new");
  }
  // Equal dates: the first given, as before.
  const ResultDoc twin = doc_declaring("2026-12-04T10:00:00+00:00", "twin");
  EXPECT_EQ(make_corpus({newer, twin}, {}).declarations.at("toy").presentation.charts[0].caption, "new");
}

}  // namespace
}  // namespace talklab::report
