// The report: see report.h. The pages are built in memory from the result files (page.h), then rendered twice:
// Markdown and HTML. A talk page reads top down as a reader wants it: the headline (the key comparisons and the
// chart that shows them), what the lab reproduces, the detail per experiment, the other charts, and last the runs'
// environments.
#include "harness/report/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "harness/report/charts.h"
#include "harness/report/environment.h"
#include "harness/report/headline.h"
#include "harness/report/html.h"
#include "harness/report/markdown.h"
#include "harness/report/page.h"
#include "harness/report/tables.h"
#include "harness/report/view.h"

namespace talklab::report {
namespace {

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

std::string counts_text(const std::vector<const CaseView*>& cases) {
  int ok = 0, failed = 0, skipped = 0;
  for (const CaseView* c : cases) {
    if (c->status == "ok") ++ok;
    else if (c->status == "skipped") ++skipped;
    else ++failed;
  }
  return fmt::format("{} ok, {} failed, {} skipped", ok, failed, skipped);
}

// The headline: for each experiment of the page that declares key comparisons, their table, and right below it the
// chart the experiment names as the one that shows it. What a reader should see first.
void headline_section(Page& p, const std::vector<std::pair<std::string, std::vector<const CaseView*>>>& experiments,
                      const Corpus& corpus, std::set<std::pair<std::string, std::string>>& shown) {
  std::vector<std::pair<std::string, HeadlineRows>> measured, unmeasured;
  for (const auto& [e, of] : experiments) {
    if (corpus.declaration(e).presentation.headline.comparisons.empty()) continue;
    HeadlineRows rows = headline_rows(e, of, corpus);
    (rows.table.rows.empty() ? unmeasured : measured).emplace_back(e, std::move(rows));
  }
  if (measured.empty() && unmeasured.empty()) return;
  const bool one_machine = !measured.empty() && std::all_of(measured.begin(), measured.end(), [&](const auto& m) {
    return !m.second.machine.empty() && m.second.machine == measured.front().second.machine;
  });
  p.heading(2, one_machine ? "Headline, measured on " + measured.front().second.machine : "Headline");
  // What was measured first, each table right above its chart; what could not be, in a line each after them.
  for (auto& [e, rows] : measured) {
    if (!one_machine && !rows.machine.empty()) rows.table.caption = "Measured on " + rows.machine + ":";
    p.table(std::move(rows.table));
    p.blocks.back().headline = true;
    const Headline& h = corpus.declaration(e).presentation.headline;
    const auto& of = std::find_if(experiments.begin(), experiments.end(), [&](const auto& g) { return g.first == e; })->second;
    for (const ChartSpec& spec : corpus.declaration(e).presentation.charts) {
      if (spec.id != h.chart) continue;
      if (auto c = draw_chart(spec, of, corpus)) {
        c->id = fmt::format("chart-{}", shown.size() + 1);
        p.chart(std::move(*c));
        p.blocks.back().headline = true;
        shown.insert({e, spec.id});
      }
    }
    if (!rows.more.rows.empty()) {
      const size_t n = rows.more.rows.size();
      p.paragraph(fmt::format("{} more key comparison{}, on the same machine:", n, n == 1 ? "" : "s"));
      p.table(std::move(rows.more));
    }
    if (!rows.elsewhere.empty()) {
      p.paragraph(fmt::format("Also measured on {} (in the results below).", fmt::join(rows.elsewhere, "; ")));
    }
    if (!rows.missing.empty()) p.paragraph(fmt::format("Not measured: {}.", fmt::join(rows.missing, "; ")));
  }
  for (const auto& [e, rows] : unmeasured) {
    p.paragraph(fmt::format("{}: no key comparison was measured in these files{}{}.", e, rows.missing.empty() ? "" : ": ",
                            fmt::join(rows.missing, "; ")));
  }
}

Page talk_page(const Talk& talk, const std::vector<const CaseView*>& cases, const Corpus& corpus) {
  Page p;
  p.file = talk.key;
  p.title = talk.title;
  const std::string speakers = fmt::format("{}", fmt::join(talk.speakers, ", "));
  std::vector<std::pair<std::string, std::string>> links;
  if (!talk.url.empty()) links.emplace_back("Watch the talk", talk.url);
  links.emplace_back("all talks", "index");
  p.paragraph(speakers.empty() ? "PyTorch Conference 2024." : "PyTorch Conference 2024, " + speakers + ".", links);
  const auto experiments = by_experiment(cases);
  std::set<std::pair<std::string, std::string>> shown;  // (experiment, chart id) already on the page
  headline_section(p, experiments, corpus, shown);

  p.heading(2, "What the lab reproduces");
  if (!talk.reproduces.empty()) p.paragraph(talk.reproduces);
  std::vector<std::string> items;
  for (const auto& [e, of] : experiments) {
    const std::string& d = corpus.declaration(e).description;
    items.push_back(fmt::format("{}{}: {} cases ({})", e, d.empty() ? "" : " (" + d + ")", of.size(), counts_text(of)));
  }
  p.list(std::move(items));

  p.heading(2, "Results");
  std::vector<Chart> charts;
  std::vector<const CaseView*> on_roofline;  // the cases of every experiment that declares a roofline chart
  for (const auto& [e, of] : experiments) {
    experiment_section(p, e, of, corpus);
    for (const ChartSpec& spec : corpus.declaration(e).presentation.charts) {
      if (spec.kind == ChartKind::roofline) on_roofline.insert(on_roofline.end(), of.begin(), of.end());
      if (shown.contains({e, spec.id})) continue;
      if (auto c = draw_chart(spec, of, corpus)) charts.push_back(std::move(*c));
    }
  }
  if (auto c = roofline_chart(on_roofline, corpus.runs)) charts.push_back(std::move(*c));
  if (!charts.empty()) {
    p.heading(2, "Charts");
    for (Chart& c : charts) {
      c.id = fmt::format("chart-{}", shown.size() + 1);
      shown.insert({"", c.id});
      p.chart(std::move(c));
    }
  }

  std::vector<const Run*> runs;
  for (size_t r = 0; r < corpus.runs.size(); ++r) {
    if (std::any_of(cases.begin(), cases.end(), [&](const CaseView* c) { return c->run == r; })) runs.push_back(&corpus.runs[r]);
  }
  p.heading(2, runs.size() > 1 ? "Runs" : "Run");
  p.table(environment_table(runs));
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
  if (!corpus.superseded.empty()) {
    std::vector<std::string> lines;
    for (const auto& [runs, n] : corpus.superseded) {
      lines.push_back(fmt::format("{} case{} of {} by {}", n, n == 1 ? "" : "s", corpus.runs[runs.first].label,
                                  corpus.runs[runs.second].label));
    }
    p.paragraph(fmt::format("Measured again on the same machine by a later file, so the earlier figures are left out "
                            "(bench report --keep-superseded shows them): {}.", fmt::join(lines, "; ")));
  }
  p.heading(2, "Talks");
  Table t;
  t.header = {"talk", "speakers", "experiments", "cases", "link"};
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
  const Corpus corpus = make_corpus(input.runs, input.declarations, input.keep_superseded);
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
  for (const auto& [talk, cases] : talks) add(talk_page(*talk, cases, corpus));
  add(index_page(talks, corpus, input));
  return out;
}

}  // namespace talklab::report
