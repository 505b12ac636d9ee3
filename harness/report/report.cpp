// The report: see report.h. The pages are built in memory from the result files (page.h), then rendered twice:
// Markdown and HTML.
#include "harness/report/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "harness/report/charts.h"
#include "harness/report/environment.h"
#include "harness/report/html.h"
#include "harness/report/markdown.h"
#include "harness/report/page.h"
#include "harness/report/tables.h"
#include "harness/report/view.h"

namespace talklab::report {
namespace {

struct Corpus {
  std::vector<Run> runs;
  std::vector<CaseView> cases;
};

// The cases grouped by experiment, experiments in the order they first appear.
std::vector<std::pair<std::string, std::vector<const CaseView*>>> by_experiment(const std::vector<const CaseView*>& cases) {
  std::vector<std::pair<std::string, std::vector<const CaseView*>>> out;
  for (const CaseView* c : cases) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == c->experiment; });
    if (it == out.end()) it = out.insert(out.end(), {c->experiment, {}});
    it->second.push_back(c);
  }
  return out;
}

std::string description_of(const ReportInput& input, const std::string& experiment) {
  const auto d = input.experiment_descriptions.find(experiment);
  return d == input.experiment_descriptions.end() ? "" : d->second;
}

std::string counts_text(const std::vector<const CaseView*>& cases) {
  int ok = 0, failed = 0, skipped = 0;
  for (const CaseView* c : cases) {
    if (c->status == "ok") ++ok;
    else if (c->status == "skipped") ++skipped;
    else ++failed;
  }
  return fmt::format("{} ok, {} failed, {} skipped", ok, failed, skipped);
}

Page talk_page(const Talk& talk, const std::vector<const CaseView*>& cases, const Corpus& corpus,
               const ReportInput& input) {
  Page p;
  p.file = talk.key;
  p.title = talk.title;
  const std::string speakers = fmt::format("{}", fmt::join(talk.speakers, ", "));
  std::vector<std::pair<std::string, std::string>> links;
  if (!talk.url.empty()) links.emplace_back("Watch the talk", talk.url);
  links.emplace_back("all talks", "index");
  p.paragraph(speakers.empty() ? "PyTorch Conference 2024." : "PyTorch Conference 2024, " + speakers + ".", links);
  p.heading(2, "What the lab reproduces");
  if (!talk.reproduces.empty()) p.paragraph(talk.reproduces);
  std::vector<std::string> items;
  const auto experiments = by_experiment(cases);
  for (const auto& [e, of] : experiments) {
    const std::string d = description_of(input, e);
    items.push_back(fmt::format("{}{}: {} cases ({})", e, d.empty() ? "" : " (" + d + ")", of.size(), counts_text(of)));
  }
  p.list(std::move(items));

  std::vector<const Run*> runs;
  for (size_t r = 0; r < corpus.runs.size(); ++r) {
    if (std::any_of(cases.begin(), cases.end(), [&](const CaseView* c) { return c->run == r; })) runs.push_back(&corpus.runs[r]);
  }
  p.heading(2, runs.size() > 1 ? "Runs" : "Run");
  p.table(environment_table(runs));

  p.heading(2, "Results");
  std::vector<Chart> charts;
  for (const auto& [e, of] : experiments) {
    experiment_section(p, e, of, corpus.runs, description_of(input, e));
    if (e == "attention") {
      if (auto c = attention_chart(of, corpus.runs)) charts.push_back(std::move(*c));
    } else if (e == "matmul") {
      for (Chart& c : matmul_charts(of, corpus.runs)) charts.push_back(std::move(c));
    } else if (e == "checkpointing") {
      if (auto c = pareto_chart(of, corpus.runs)) charts.push_back(std::move(*c));
    }
  }
  if (auto c = roofline_chart(cases, corpus.runs)) charts.push_back(std::move(*c));
  if (!charts.empty()) {
    p.heading(2, "Charts");
    for (size_t i = 0; i < charts.size(); ++i) {
      charts[i].id = fmt::format("chart-{}", i + 1);
      p.chart(std::move(charts[i]));
    }
  }
  return p;
}

Page index_page(const std::vector<std::pair<const Talk*, std::vector<const CaseView*>>>& talks, const Corpus& corpus,
                const ReportInput& input) {
  Page p;
  p.file = "index";
  p.title = "talklab report";
  std::vector<std::string> files;
  for (const Run& r : corpus.runs) files.push_back(r.doc->path);
  p.paragraph(fmt::format("Techniques from PyTorch Conference 2024 talks, measured by bench. Generated from {} result "
                          "file{}: {}. Each talk has a page with its tables and charts.",
                          corpus.runs.size(), corpus.runs.size() == 1 ? "" : "s", fmt::join(files, ", ")));
  p.heading(2, "Talks");
  Table t{{"talk", "speakers", "experiments", "cases", "link"}, {}};
  for (const auto& [talk, cases] : talks) {
    std::vector<std::string> experiments;
    for (const auto& group : by_experiment(cases)) experiments.push_back(group.first);
    t.rows.push_back({Cell(talk->title, talk->key), fmt::format("{}", fmt::join(talk->speakers, ", ")),
                      fmt::format("{}", fmt::join(experiments, ", ")), counts_text(cases),
                      talk->url.empty() ? Cell("-") : Cell("video", talk->url)});
  }
  p.table(std::move(t));
  int without = 0;
  for (const Talk& talk : input.talks) {
    without += std::none_of(talks.begin(), talks.end(), [&](const auto& tc) { return tc.first->key == talk.key; });
  }
  if (without > 0) {
    p.paragraph(fmt::format("{} more talks of the registry have no case in these files (bench talks lists them all).", without));
  }
  std::vector<const Run*> runs;
  for (const Run& r : corpus.runs) runs.push_back(&r);
  p.heading(2, runs.size() > 1 ? "Runs" : "Run");
  p.table(environment_table(runs));
  return p;
}

}  // namespace

ReportOutput render_report(const ReportInput& input) {
  Corpus corpus;
  corpus.runs = label_runs(input.runs);
  for (size_t r = 0; r < input.runs.size(); ++r) {
    for (const json& e : input.runs[r].entries) corpus.cases.push_back(view_of(e, r));
  }
  // Talks in registry order, each with the cases that name it; a case naming a talk the registry lacks is kept
  // under its key so nothing measured disappears from the report.
  std::vector<Talk> registry = input.talks;
  for (const CaseView& c : corpus.cases) {
    for (const std::string& key : c.talks) {
      if (std::none_of(registry.begin(), registry.end(), [&](const Talk& t) { return t.key == key; })) {
        Talk t;
        t.key = t.title = key;
        registry.push_back(std::move(t));
      }
    }
  }
  std::vector<std::pair<const Talk*, std::vector<const CaseView*>>> talks;
  for (const Talk& talk : registry) {
    std::vector<const CaseView*> cases;
    for (const CaseView& c : corpus.cases) {
      if (std::find(c.talks.begin(), c.talks.end(), talk.key) != c.talks.end()) cases.push_back(&c);
    }
    if (!cases.empty()) talks.emplace_back(&talk, std::move(cases));
  }
  ReportOutput out;
  const auto add = [&](const Page& p) {
    out.pages[p.file + ".md"] = render_markdown(p);
    out.pages[p.file + ".html"] = render_html(p);
    for (const Block& b : p.blocks) {
      if (b.kind == Block::chart) out.svgs[svg_file(p, b.ch)] = b.ch.spec;
    }
  };
  for (const auto& [talk, cases] : talks) add(talk_page(*talk, cases, corpus, input));
  add(index_page(talks, corpus, input));
  return out;
}

}  // namespace talklab::report
