// An experiment's section of a talk page: see tables.h.
#include "harness/report/tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "harness/report/case_axes.h"
#include "harness/report/declared_tables.h"
#include "harness/units.h"

namespace talklab::report {
namespace {

// A speed-up is quoted only between cases that declare the same useful work (a helper that builds an index has
// none; a different problem size has other).
bool same_work(const CaseView& a, const CaseView& b) {
  return a.flops > 0 && std::abs(a.flops - b.flops) <= 1e-9 * a.flops;
}

std::string point_key(const CaseView& c) { return fmt::format("{}|{}|{}", c.run, c.device, c.params.dump()); }

// A column that says "-" in every row (no case has a rate, or an SQNR) is left out.
void drop_empty_columns(Table& t) {
  for (size_t col = t.header.size(); col-- > 0;) {
    const bool empty = std::all_of(t.rows.begin(), t.rows.end(), [&](const auto& row) { return row[col].text == "-"; });
    if (!empty || t.rows.empty()) continue;
    t.header.erase(t.header.begin() + long(col));
    for (auto& row : t.rows) row.erase(row.begin() + long(col));
  }
}

// Longer tables are folded in HTML (the Markdown page shows them whole).
constexpr size_t kFoldRows = 12;

}  // namespace

void experiment_section(Page& page, const std::string& experiment, const std::vector<const CaseView*>& cases,
                        const Corpus& corpus) {
  const ExperimentDeclaration& d = corpus.declaration(experiment);
  const std::vector<Run>& runs = corpus.runs;
  const std::string& description = d.description;
  page.heading(3, experiment);
  std::set<size_t> runs_here;
  for (const CaseView* c : cases) runs_here.insert(c->run);
  const bool run_column = runs_here.size() > 1;
  if (!description.empty()) page.paragraph(description);
  const AxisSplit axes = split_axes(cases, d);
  if (!axes.fixed.empty()) {
    std::string fixed;
    for (const auto& [k, v] : axes.fixed) fixed += (fixed.empty() ? "" : ", ") + k + "=" + v;
    page.paragraph("The same in every case below: " + fixed + ".");
  }
  // The fastest PyTorch implementation at each point: what ours is measured against.
  std::map<std::string, const CaseView*> best_torch;
  for (const CaseView* c : cases) {
    if (!corpus.is_pytorch(*c) || c->status != "ok" || !c->median_s) continue;
    const CaseView*& best = best_torch[point_key(*c)];
    if (best == nullptr || *c->median_s < *best->median_s) best = c;
  }
  std::vector<std::string> counter_names;
  for (const CaseView* c : cases) {
    for (const auto& [k, v] : c->counters.items()) {
      if (std::find(counter_names.begin(), counter_names.end(), k) == counter_names.end()) counter_names.push_back(k);
    }
  }
  constexpr size_t kMaxCounters = 8;
  if (counter_names.size() > kMaxCounters) counter_names.resize(kMaxCounters);

  Table t;
  if (run_column) t.header.push_back("run");
  for (const char* h : {"case", "implementation", "status", "median", "rate", "roofline", "peak memory", "max rel error",
                        "SQNR", "vs fastest PyTorch"}) {
    t.header.push_back(h);
  }
  // The experiment's own counters and labels in a table of their own, so the main one fits a screen.
  Table counters;
  if (run_column) counters.header.push_back("run");
  counters.header.insert(counters.header.end(), {"case", "implementation"});
  for (const std::string& k : counter_names) counters.header.push_back(k);
  std::map<std::pair<std::string, std::string>, int> skipped;  // (implementation, reason) -> cases
  // Points in the order they first appear, implementations in file order within each.
  std::vector<std::string> point_order;
  std::map<std::string, std::vector<const CaseView*>> by_point;
  for (const CaseView* c : cases) {
    if (c->status == "skipped") {
      ++skipped[{c->implementation, c->reason}];
      continue;
    }
    const std::string key = point_key(*c);
    if (!by_point.contains(key)) point_order.push_back(key);
    by_point[key].push_back(c);
  }
  for (const std::string& key : point_order) {
    for (const CaseView* c : by_point[key]) {
      std::vector<Cell> row;
      if (run_column) row.push_back(runs[c->run].label);
      row.push_back(case_label(*c, axes.varying, d));
      row.push_back(c->implementation);
      row.push_back(c->status == "ok" ? "ok" : c->status + (c->reason.empty() ? "" : ": " + c->reason));
      row.push_back(c->median_s ? format_seconds(*c->median_s) : "-");
      row.push_back(format_rate(*c));
      row.push_back(c->roofline ? fmt::format("{:.0f}%", *c->roofline * 100) : "-");
      row.push_back(c->peak_bytes ? format_bytes(*c->peak_bytes) : "-");
      row.push_back(c->max_rel_error ? fmt::format("{:.1e}", *c->max_rel_error) : "-");
      row.push_back(c->sqnr_db ? fmt::format("{:.1f} dB", *c->sqnr_db) : "-");
      std::string vs = "-";
      if (const auto it = best_torch.find(key); it != best_torch.end() && !corpus.is_pytorch(*c) &&
                                                c->status == "ok" && c->median_s && same_work(*c, *it->second)) {
        vs = fmt::format("{:.2f}x vs {}", *it->second->median_s / *c->median_s, it->second->implementation);
      }
      row.push_back(vs);
      if (!c->counters.empty()) {
        std::vector<Cell> counted(row.begin(), row.begin() + (run_column ? 3 : 2));
        for (const std::string& k : counter_names) counted.emplace_back(format_counter(k, field(c->counters, k.c_str())));
        counters.rows.push_back(std::move(counted));
      }
      t.rows.push_back(std::move(row));
    }
  }
  drop_empty_columns(t);
  if (t.rows.size() > kFoldRows) t.fold = fmt::format("{} cases (show the table)", t.rows.size());
  if (!t.rows.empty()) page.table(std::move(t));
  drop_empty_columns(counters);
  if (!counters.rows.empty()) {
    counters.fold = fmt::format("the experiment's counters and labels of {} cases", counters.rows.size());
    page.paragraph("Counters and labels of the experiment's own, per case:");
    page.table(std::move(counters));
  }
  for (const ChartSpec& spec : d.presentation.charts) declared_table(page, spec, cases, corpus);
  if (!skipped.empty()) {
    std::vector<std::string> items;
    for (const auto& [what, n] : skipped) {
      items.push_back(fmt::format("{}: skipped in {} case{}: {}", what.first, n, n == 1 ? "" : "s", what.second));
    }
    page.paragraph("Skipped, with the reason each gave:");
    page.list(std::move(items));
  }
}

}  // namespace talklab::report
