// The tables an experiment declares: see declared_tables.h.
#include "harness/report/declared_tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "harness/report/case_axes.h"

namespace talklab::report {
namespace {

// The measured cases the table shows: matching `where`, of its implementations (all when it names none) and, for a
// frontier, its baseline.
std::vector<const CaseView*> shown(const ChartSpec& spec, const std::vector<const CaseView*>& cases) {
  std::vector<const CaseView*> out;
  for (const CaseView* c : cases) {
    const bool chosen = spec.implementations.empty() ||
                        std::find(spec.implementations.begin(), spec.implementations.end(), c->implementation) !=
                            spec.implementations.end() ||
                        (spec.kind == ChartKind::frontier && c->implementation == spec.baseline);
    if (c->status == "ok" && chosen && matches(*c, spec.where)) out.push_back(c);
  }
  return out;
}

// Cases grouped by run, device and every axis but `own` (the table's rows and its where): one table per group.
std::vector<std::pair<std::string, std::vector<const CaseView*>>> groups(const std::vector<const CaseView*>& cases,
                                                                          const std::vector<std::string>& own,
                                                                          const Corpus& corpus) {
  std::vector<std::pair<std::string, std::vector<const CaseView*>>> out;
  for (const CaseView* c : cases) {
    std::string key = corpus.runs.size() > 1 ? corpus.runs[c->run].label + ": " : "";
    for (const auto& [axis, v] : c->params.items()) {
      const bool named = std::find(own.begin(), own.end(), axis) == own.end() && applies(corpus.declaration(c->experiment), *c, axis);
      if (named) key += axis + "=" + value_text(v) + " ";
    }
    key += "device=" + c->device;
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == key; });
    if (it == out.end()) it = out.insert(out.end(), {key, {}});
    it->second.push_back(c);
  }
  return out;
}

std::string cell(const Column& col, const CaseView& c, const CaseView* baseline) {
  const auto v = metric(c, col.metric);
  if (!v) return "-";
  if (col.relative == Column::Relative::value) return format_metric(col.metric, *v);
  const auto base = baseline ? metric(*baseline, col.metric) : std::nullopt;
  if (!base || *base == 0) return "-";
  if (col.relative == Column::Relative::ratio) return fmt::format("{:.2f}x", *v / *base);
  return fmt::format("{:.0f}%", 100 * (1 - *v / *base));
}

// One row per implementation, in the declared order.
Table policy_table(const ChartSpec& spec, const std::vector<const CaseView*>& cases) {
  const auto base = std::find_if(cases.begin(), cases.end(), [&](const CaseView* c) { return c->implementation == spec.baseline; });
  Table t;
  t.header.push_back("implementation");
  for (const Column& col : spec.columns) t.header.push_back(col.title);
  std::vector<const CaseView*> ordered = cases;
  const auto rank = [&](const CaseView* c) {
    return std::find(spec.implementations.begin(), spec.implementations.end(), c->implementation) - spec.implementations.begin();
  };
  std::stable_sort(ordered.begin(), ordered.end(), [&](const CaseView* a, const CaseView* b) { return rank(a) < rank(b); });
  for (const CaseView* c : ordered) {
    std::vector<Cell> row{Cell(c->implementation)};
    for (const Column& col : spec.columns) row.emplace_back(cell(col, *c, base == cases.end() ? nullptr : *base));
    t.rows.push_back(std::move(row));
  }
  return t;
}

// One row per value of the swept axis (in increasing order), one column per implementation. With more than one
// column, a cell holds them joined by "; ", and its header names them in that order ("decode_cpu: time; GB/s"): until
// 2026-12-05 the header named the implementation only, and "4.555 ms / 29.47 / 1.036x / 4 B" left the reader to guess
// which number was which (and " / " also stood inside titles: "paged / contiguous").
Table sweep_table(const ChartSpec& spec, const std::vector<const CaseView*>& cases) {
  std::vector<std::string> implementations;
  for (const std::string& name : spec.implementations) {
    if (std::any_of(cases.begin(), cases.end(), [&](const CaseView* c) { return c->implementation == name; })) {
      implementations.push_back(name);
    }
  }
  for (const CaseView* c : cases) {
    if (std::find(implementations.begin(), implementations.end(), c->implementation) == implementations.end()) {
      implementations.push_back(c->implementation);
    }
  }
  // One row per value of x: numbers in ascending order; an axis of words (a KV format, split=auto|off) keeps the
  // order its cases came in, which is the profile's.
  std::vector<std::string> labels;
  std::map<std::string, std::map<std::string, const CaseView*>> by_label;
  std::map<std::string, double> numeric;
  for (const CaseView* c : cases) {
    const json& x = field(c->params, spec.x.c_str());
    if (x.is_null()) continue;
    const std::string label = c->param(spec.x);
    if (!by_label.contains(label)) labels.push_back(label);
    by_label[label][c->implementation] = c;
    if (const auto v = number(x)) numeric[label] = *v;
  }
  if (numeric.size() == labels.size()) {
    std::stable_sort(labels.begin(), labels.end(),
                     [&](const std::string& a, const std::string& b) { return numeric[a] < numeric[b]; });
  }
  Table t;
  t.header.push_back(spec.x);
  std::string titles;
  if (spec.columns.size() > 1)
    for (const Column& col : spec.columns) titles += (titles.empty() ? ": " : "; ") + col.title;
  for (const std::string& name : implementations) t.header.push_back(name + titles);
  for (const std::string& label : labels) {
    const auto& row_cases = by_label[label];
    std::vector<Cell> row{Cell(label)};
    for (const std::string& name : implementations) {
      const auto it = row_cases.find(name);
      std::string text;
      for (const Column& col : spec.columns) {
        text += (text.empty() ? "" : "; ") + (it == row_cases.end() ? std::string("-") : cell(col, *it->second, nullptr));
      }
      row.emplace_back(text);
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

// One row per case of the baseline (x ascending), beside the case of the first implementation, at any x, with the
// least y among those whose limit metric (columns[0]) is no more than the row's: "at no more memory than theirs,
// how fast is ours?". A row with none under the limit says so.
Table frontier_table(const ChartSpec& spec, const std::vector<const CaseView*>& cases) {
  Table t;
  if (spec.columns.empty() || spec.implementations.empty()) return t;
  const std::string& limit = spec.columns.front().metric;
  const std::string& ours = spec.implementations.front();
  std::vector<const CaseView*> reference, candidates;
  for (const CaseView* c : cases) {
    if (c->implementation == spec.baseline) reference.push_back(c);
    if (c->implementation == ours) candidates.push_back(c);
  }
  const auto x_of = [&](const CaseView* c) { return number(field(c->params, spec.x.c_str())).value_or(0.0); };
  std::stable_sort(reference.begin(), reference.end(),
                   [&](const CaseView* a, const CaseView* b) { return x_of(a) < x_of(b); });
  const std::string limit_title = spec.columns.front().title;
  t.header = {spec.baseline + " " + spec.x, limit_title, spec.y, ours + " " + spec.x, limit_title, spec.y,
              spec.baseline + " / " + ours};
  // The cells as cell() writes a table's: the two metrics as values, the reference's y over ours as a ratio.
  const Column limit_value{limit, limit_title}, y_value{spec.y, spec.y};
  const Column y_ratio{spec.y, spec.y, Column::Relative::ratio};
  for (const CaseView* r : reference) {
    const auto r_limit = metric(*r, limit);
    if (!r_limit || !metric(*r, spec.y)) continue;
    const CaseView* best = nullptr;
    double best_y = 0;
    for (const CaseView* c : candidates) {
      const auto c_limit = metric(*c, limit), c_y = metric(*c, spec.y);
      if (c_limit && c_y && *c_limit <= *r_limit && (best == nullptr || *c_y < best_y)) best = c, best_y = *c_y;
    }
    std::vector<Cell> row{Cell(r->param(spec.x)), Cell(cell(limit_value, *r, nullptr)),
                          Cell(cell(y_value, *r, nullptr))};
    if (best == nullptr) {
      row.insert(row.end(), {Cell("none under " + format_metric(limit, *r_limit)), Cell("-"), Cell("-"), Cell("-")});
    } else {
      row.insert(row.end(), {Cell(best->param(spec.x)), Cell(cell(limit_value, *best, nullptr)),
                             Cell(cell(y_value, *best, nullptr)), Cell(cell(y_ratio, *r, best))});
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace

void declared_table(Page& page, const ChartSpec& spec, const std::vector<const CaseView*>& cases, const Corpus& corpus) {
  if (spec.kind != ChartKind::table && spec.kind != ChartKind::sweep && spec.kind != ChartKind::frontier) return;
  const std::vector<const CaseView*> chosen = shown(spec, cases);
  if (chosen.empty()) return;
  std::vector<std::string> own;
  for (const AxisFilter& f : spec.where) own.push_back(f.axis);
  if (!spec.x.empty()) own.push_back(spec.x);
  const auto grouped = groups(chosen, own, corpus);
  page.heading(4, spec.title);
  if (!spec.caption.empty()) page.paragraph(spec.caption);
  for (const auto& [key, group] : grouped) {
    if (grouped.size() > 1) page.paragraph(key + ":");
    switch (spec.kind) {
      case ChartKind::table: page.table(policy_table(spec, group)); break;
      case ChartKind::frontier: page.table(frontier_table(spec, group)); break;
      default: page.table(sweep_table(spec, group));
    }
  }
}

}  // namespace talklab::report
