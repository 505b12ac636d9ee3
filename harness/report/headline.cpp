// What a talk page opens with: see headline.h.
#include "harness/report/headline.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "harness/compare.h"
#include "harness/report/case_axes.h"
#include "harness/units.h"

namespace talklab::report {
namespace {

// The same point but for the axes in `across` (and the implementation): the reference of a comparison.
bool same_point(const CaseView& a, const CaseView& b, const std::vector<std::string>& across) {
  if (a.run != b.run || a.device != b.device) return false;
  for (const auto& [axis, v] : a.params.items()) {
    if (std::find(across.begin(), across.end(), axis) != across.end()) continue;
    if (value_text(v) != b.param(axis)) return false;
  }
  return true;
}

// The fastest case that `k` measures `ours` against.
const CaseView* reference(const KeyComparison& k, const CaseView& ours, const std::vector<const CaseView*>& cases,
                          const Corpus& corpus) {
  const CaseView* best = nullptr;
  for (const CaseView* c : cases) {
    const bool candidate = k.against.empty() ? corpus.is_pytorch(*c) : c->implementation == k.against;
    if (!candidate || c->status != "ok" || !c->median_s || !same_point(ours, *c, k.across)) continue;
    if (best == nullptr || *c->median_s < *best->median_s) best = c;
  }
  return best;
}

// A VM's brand string ("AMD EPYC") covers several CPU generations, and the kernels' paths follow the ISA: where the
// file names CPUID, its family and model and the ISA path name the machine too (bench compare tells machines apart
// by the same fields), so rows from a Zen 2, a Zen 3 and a Zen 5 are not one "AMD EPYC".
std::string machine(const CaseView& c, const Corpus& corpus) {
  const json& context = corpus.runs[c.run].doc->context;
  const json& t = field(context, "talklab");
  if (c.device == "cuda") return text(field(field(t, "gpu"), "name"));
  const json& cpu = field(t, "cpu");
  std::string name = text(field(cpu, "model"));
  if (names_cpuid(context)) {
    const std::string isa = text(field(cpu, "isa"));
    name += fmt::format(" (family {} model {}{})", value_text(field(cpu, "family")),
                        value_text(field(cpu, "model_number")), isa.empty() ? "" : ", " + isa);
  }
  return fmt::format("{}, {} threads", name, value_text(field(t, "threads")));
}

std::string times(double ratio, const char* more, const char* less) {
  return ratio >= 1 ? fmt::format("{:.2f}x {}", ratio, more) : fmt::format("{:.2f}x {}", 1 / ratio, less);
}

// Keeps, per machine and combination of the other axes, the cases at the largest value of `axis`: over all of a
// machine's files, so a short run beside a long one (seq 1024 in one file, 4096 in another) gives the 4096 row alone.
std::vector<const CaseView*> at_largest(const std::vector<const CaseView*>& cases, const std::string& axis,
                                        const Corpus& corpus) {
  if (axis.empty()) return cases;
  std::map<std::string, double> largest;
  const auto rest = [&](const CaseView* c) {
    json p = c->params;
    p.erase(axis);
    return fmt::format("{}|{}", machine(*c, corpus), p.dump());
  };
  for (const CaseView* c : cases) {
    const double v = number(field(c->params, axis.c_str())).value_or(0);
    auto [it, fresh] = largest.try_emplace(rest(c), v);
    if (!fresh) it->second = std::max(it->second, v);
  }
  std::vector<const CaseView*> out;
  for (const CaseView* c : cases) {
    if (number(field(c->params, axis.c_str())).value_or(0) == largest[rest(c)]) out.push_back(c);
  }
  return out;
}

}  // namespace

HeadlineRows headline_rows(const std::string& experiment, const std::vector<const CaseView*>& cases, const Corpus& corpus) {
  const ExperimentDeclaration& d = corpus.declaration(experiment);
  HeadlineRows out;
  std::vector<std::pair<const CaseView*, const CaseView*>> pairs;  // (ours, reference)
  std::vector<const KeyComparison*> by;  // per pair, the comparison that selected it (its memory metric, its across)
  for (const KeyComparison& k : d.presentation.headline.comparisons) {
    std::vector<const CaseView*> compared;
    std::map<const CaseView*, const CaseView*> reference_of;
    std::map<std::string, int> not_measured;  // status and reason -> cases
    for (const CaseView* c : cases) {
      if (c->implementation != k.ours || !matches(*c, k.where)) continue;
      if (c->status != "ok" || !c->median_s) {
        ++not_measured[c->status + (c->reason.empty() ? "" : ": " + c->reason)];
      } else if (const CaseView* r = reference(k, *c, cases, corpus); r != nullptr) {
        compared.push_back(c);
        reference_of[c] = r;
      }
    }
    for (const CaseView* c : at_largest(compared, k.largest, corpus)) {
      // A pair two comparisons both select (a case matching both's `where`) is one row.
      const std::pair<const CaseView*, const CaseView*> pair{c, reference_of.at(c)};
      if (std::find(pairs.begin(), pairs.end(), pair) != pairs.end()) continue;
      pairs.push_back(pair);
      by.push_back(&k);
    }
    if (compared.empty() && !not_measured.empty()) {
      for (const auto& [why, n] : not_measured) out.missing.push_back(fmt::format("{}: {} ({} case{})", k.ours, why, n, n == 1 ? "" : "s"));
    }
  }
  if (pairs.empty()) return out;
  std::vector<const CaseView*> ours;
  for (const auto& [o, r] : pairs) ours.push_back(o);
  AxisSplit axes = split_axes(ours, d);
  // The axis a comparison takes the largest value of names every row: the reader needs the size.
  for (const KeyComparison& k : d.presentation.headline.comparisons) {
    if (!k.largest.empty() && std::find(axes.varying.begin(), axes.varying.end(), k.largest) == axes.varying.end()) {
      axes.varying.push_back(k.largest);
    }
  }
  // An axis that applies to some cases only (window, to sliding_window) names the rows it applies to.
  for (const AxisScope& scope : d.presentation.axis_scopes) {
    const bool fixed = std::any_of(axes.fixed.begin(), axes.fixed.end(), [&](const auto& f) { return f.first == scope.axis; });
    if (fixed) axes.varying.push_back(scope.axis);
  }
  // One machine's rows: the newest file's (ISO 8601 dates: text order is time order), the one with more rows on a tie.
  // The rows' labels keep the axes that vary over every machine's pairs (a row says its mode even where only one
  // mode's pair is on the machine shown).
  std::vector<std::string> machine_of(pairs.size());
  std::map<std::string, std::pair<std::string, int>> per_machine;  // label -> (newest date, rows)
  for (size_t i = 0; i < pairs.size(); ++i) {
    machine_of[i] = machine(*pairs[i].first, corpus);
    auto& [date, n] = per_machine[machine_of[i]];
    date = std::max(date, text(field(corpus.runs[pairs[i].first->run].doc->context, "date")));
    ++n;
  }
  for (const auto& [label, count] : per_machine) {
    if (out.machine.empty() || count > per_machine.at(out.machine)) out.machine = label;
  }
  for (const auto& [label, count] : per_machine) {
    if (label == out.machine) continue;
    out.elsewhere.push_back(fmt::format("{}: {} row{}", label, count.second, count.second == 1 ? "" : "s"));
  }
  out.table.header = {"case", "ours", "against", "median, ours / its", "time", "peak, ours / its", "memory"};
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (machine_of[i] != out.machine) continue;
    const auto& [o, r] = pairs[i];
    const auto ours_memory = metric(*o, by[i]->memory), its_memory = metric(*r, by[i]->memory);
    // A reference taken at another point (a comparison's `across`) says where: "torch_compile_budget at budget=1".
    std::string against = r->implementation;
    for (const std::string& axis : by[i]->across) {
      if (const std::string v = r->param(axis); v != o->param(axis)) against += fmt::format(" at {}={}", axis, v);
    }
    std::vector<Cell> row{Cell(case_label(*o, axes.varying, d)), Cell(o->implementation), Cell(against),
                          Cell(format_seconds(*o->median_s) + " / " + format_seconds(*r->median_s)),
                          Cell(times(*r->median_s / *o->median_s, "faster", "slower"))};
    if (ours_memory && its_memory && *ours_memory > 0) {
      row.emplace_back(format_bytes(*ours_memory) + " / " + format_bytes(*its_memory));
      row.emplace_back(times(*its_memory / *ours_memory, "less", "more"));
    } else {
      row.insert(row.end(), {Cell("-"), Cell("-")});
    }
    out.table.rows.push_back(std::move(row));
  }
  // The comparisons in their declared order, the first kHeadlineRows above the chart.
  if (out.table.rows.size() > kHeadlineRows) {
    out.more.header = out.table.header;
    out.more.rows.assign(std::make_move_iterator(out.table.rows.begin() + kHeadlineRows),
                         std::make_move_iterator(out.table.rows.end()));
    out.table.rows.resize(kHeadlineRows);
  }
  return out;
}

}  // namespace talklab::report
