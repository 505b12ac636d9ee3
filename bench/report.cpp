// bench report: see report.h. The pages are built in memory from the result files (tables as cells, charts as
// Vega-Lite specifications with their data inlined), then rendered twice: Markdown and HTML.
#include "bench/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>

#include "bench/format.h"

namespace talklab::bench {
namespace {

using nlohmann::json;

const json& field(const json& j, const char* key) {
  static const json null_json;
  if (!j.is_object()) return null_json;
  const auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

std::optional<double> number(const json& j) {
  if (!j.is_number()) return std::nullopt;
  return j.get<double>();
}

std::string text(const json& j) { return j.is_string() ? j.get<std::string>() : std::string(); }

// A parameter's value as a person reads it: 4096, 0.05, causal.
std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return fmt::format("{:g}", v.get<double>());
  return v.dump();
}

bool is_libtorch(const std::string& implementation) {
  return implementation.starts_with("torch_") || implementation == "autograd";
}

// One case of one run, as the pages use it.
struct CaseView {
  size_t run = 0;
  std::string name, experiment, implementation, device, status, reason;
  json params;  // axis -> value
  std::optional<double> median_s, tflops, gbps, roofline, peak_bytes, max_rel_error, sqnr_db;
  double flops = 0, bytes = 0;
  std::string peak_kind;  // "fp32", "bf16", "int8", or empty
  json counters;  // the experiment's counters and labels
  std::vector<std::string> talks;

  std::string param(const std::string& axis) const {
    const json& v = field(params, axis.c_str());
    return v.is_null() ? std::string() : value_text(v);
  }
};

CaseView view_of(const json& entry, size_t run) {
  const json& t = field(entry, "talklab");
  CaseView c;
  c.run = run;
  c.name = text(field(entry, "name"));
  c.experiment = text(field(t, "experiment"));
  c.implementation = text(field(t, "implementation"));
  c.device = text(field(t, "device"));
  c.status = text(field(t, "status"));
  c.reason = text(field(t, "reason"));
  c.params = field(t, "params").is_object() ? field(t, "params") : json::object();
  c.median_s = number(field(field(t, "time"), "median_s"));
  const json& rates = field(t, "rates");
  c.tflops = number(field(rates, "tflops"));
  c.gbps = number(field(rates, "gbps"));
  c.roofline = number(field(rates, "roofline_fraction"));
  c.peak_bytes = number(field(field(t, "memory"), "peak_bytes"));
  c.max_rel_error = number(field(field(t, "accuracy"), "max_rel_error"));
  c.sqnr_db = number(field(field(t, "accuracy"), "sqnr_db"));
  const json& work = field(t, "work");
  c.flops = number(field(work, "flops")).value_or(0);
  c.bytes = number(field(work, "bytes")).value_or(0);
  c.peak_kind = text(field(work, "peak"));
  c.counters = field(t, "counters").is_object() ? field(t, "counters") : json::object();
  // Labels (what a library chose, e.g. sdpa_backend) are shown as columns beside the counters.
  if (field(t, "labels").is_object()) {
    for (const auto& [k, v] : field(t, "labels").items()) c.counters[k] = v;
  }
  if (field(t, "talks").is_array()) {
    for (const json& k : field(t, "talks")) c.talks.push_back(text(k));
  }
  return c;
}

struct Run {
  std::string label;  // the file's stem, made unique
  const ResultDoc* doc = nullptr;
};

std::vector<Run> label_runs(const std::vector<ResultDoc>& docs) {
  std::vector<Run> runs;
  std::map<std::string, int> seen;
  for (const ResultDoc& d : docs) {
    std::string label = std::filesystem::path(d.path).stem().string();
    if (const int n = ++seen[label]; n > 1) label += fmt::format(" ({})", n);
    runs.push_back({label, &d});
  }
  return runs;
}

// ---- formatting ----------------------------------------------------------------------------------------------

std::string format_rate(const CaseView& c) {
  if (c.flops > 0 && c.tflops && *c.tflops > 0) {
    const char* unit = c.peak_kind == "int8" ? "OP/s" : "FLOP/s";
    return *c.tflops >= 1 ? fmt::format("{:.2f} T{}", *c.tflops, unit) : fmt::format("{:.1f} G{}", *c.tflops * 1e3, unit);
  }
  if (c.gbps && *c.gbps > 0) return fmt::format("{:.1f} GB/s", *c.gbps);
  return "-";
}

std::string format_counter(const std::string& name, const json& v) {
  const std::optional<double> x = number(v);
  if (!x) return v.is_null() ? "-" : value_text(v);
  if (name.ends_with("_s")) return format_seconds(*x);
  if (name.ends_with("_bytes")) return format_bytes(*x);
  return fmt::format("{:.4g}", *x);
}

// ---- tables: cells first, rendered to Markdown or HTML -------------------------------------------------------

// A table cell: text, optionally a link (a page name without extension, or an absolute URL).
struct Cell {
  std::string text, href;
  Cell(std::string t, std::string h = {}) : text(std::move(t)), href(std::move(h)) {}
  Cell(const char* t) : text(t) {}
};

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
};

// Links: "page" targets get the format's extension; absolute URLs are left as they are.
std::string link_target(const std::string& target, const char* ext) {
  return target.find("://") != std::string::npos ? target : target + ext;
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n') out += ' ';
    else out += ch;
  }
  return out.empty() ? " " : out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string to_markdown(const Table& t) {
  std::string out = "|";
  for (const auto& h : t.header) out += fmt::format(" {} |", md_cell(h));
  out += "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    for (const Cell& cell : row) {
      out += cell.href.empty() ? fmt::format(" {} |", md_cell(cell.text))
                               : fmt::format(" [{}]({}) |", md_cell(cell.text), link_target(cell.href, ".md"));
    }
    out += "\n";
  }
  return out;
}

std::string to_html(const Table& t) {
  std::string out = "<table>\n<thead><tr>";
  for (const auto& h : t.header) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (const Cell& cell : row) {
      out += "<td>" + (cell.href.empty() ? html_escape(cell.text)
                                         : fmt::format("<a href=\"{}\">{}</a>", html_escape(link_target(cell.href, ".html")),
                                                       html_escape(cell.text))) + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

// A page as blocks, each rendered to both formats: prose (Markdown source with its HTML twin), tables and charts.
struct Chart {
  std::string id, title, caption;
  json spec;
};

struct Block {
  enum Kind { heading, paragraph, list, table, chart } kind = paragraph;
  int level = 2;
  std::string text;                     // heading / paragraph: plain text
  std::vector<std::pair<std::string, std::string>> links;  // paragraph: (label, target) appended after text
  std::vector<std::string> items;       // list: plain text items
  Table tab;
  Chart ch;
};

struct Page {
  std::string file;  // without extension
  std::string title;
  std::vector<Block> blocks;
  Block& add(Block::Kind kind) {
    blocks.emplace_back();
    blocks.back().kind = kind;
    return blocks.back();
  }
  void heading(int level, std::string s) {
    Block& b = add(Block::heading);
    b.level = level;
    b.text = std::move(s);
  }
  void paragraph(std::string s, std::vector<std::pair<std::string, std::string>> links = {}) {
    Block& b = add(Block::paragraph);
    b.text = std::move(s);
    b.links = std::move(links);
  }
  void list(std::vector<std::string> items) { add(Block::list).items = std::move(items); }
  void table(Table t) { add(Block::table).tab = std::move(t); }
  void chart(Chart c) { add(Block::chart).ch = std::move(c); }
};

// The static picture of a chart, beside the Markdown page that shows it.
std::string svg_file(const Page& p, const Chart& c) { return p.file + "-" + c.id + ".svg"; }

std::string render_markdown(const Page& p) {
  std::string out = "# " + p.title + "\n\n";
  bool chart_note = false;
  for (const Block& b : p.blocks) {
    switch (b.kind) {
      case Block::heading: out += std::string(size_t(b.level), '#') + " " + b.text + "\n\n"; break;
      case Block::paragraph: {
        out += b.text;
        for (size_t i = 0; i < b.links.size(); ++i) {
          out += fmt::format("{}[{}]({})", i == 0 && b.text.empty() ? "" : (i == 0 ? " " : ", "), b.links[i].first,
                             link_target(b.links[i].second, ".md"));
        }
        out += "\n\n";
        break;
      }
      case Block::list:
        for (const auto& item : b.items) out += "- " + item + "\n";
        out += "\n";
        break;
      case Block::table: out += to_markdown(b.tab) + "\n"; break;
      case Block::chart:
        if (!chart_note) {
          out += fmt::format("Static pictures; [{0}.html]({0}.html) draws the same charts with tooltips.\n\n", p.file);
          chart_note = true;
        }
        out += fmt::format("### {}\n\n", b.ch.title);
        if (!b.ch.caption.empty()) out += b.ch.caption + "\n\n";
        out += fmt::format("![{}]({})\n\n", md_cell(b.ch.title), svg_file(p, b.ch));
        break;
    }
  }
  return out;
}

constexpr const char* kStyle = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#1b1b1b;line-height:1.45}table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.85rem}
th,td{border:1px solid #d0d7de;padding:0.2rem 0.5rem;text-align:left;vertical-align:top}th{background:#f3f5f7}
tbody tr:nth-child(even){background:#fafbfc}.chart{margin:0.5rem 0 2rem;overflow-x:auto}nav{font-size:0.9rem;margin-bottom:1rem}
footer{margin-top:3rem;font-size:0.75rem;color:#666}#report-status{white-space:pre-wrap}h1{font-size:1.6rem}
.caption{font-size:0.85rem;color:#444})";

// The page records its own verdict: how many charts rendered (an SVG with marks in it) and every error thrown or
// logged, so a headless browser can check it (tests/report/check_report.py).
constexpr const char* kChartScript = R"(
const status = {expected: Object.keys(TALKLAB_CHARTS).length, rendered: 0, errors: []};
window.addEventListener('error', (e) => status.errors.push(String(e.message || e)));
window.addEventListener('unhandledrejection', (e) => status.errors.push(String(e.reason)));
const consoleError = console.error.bind(console);
console.error = (...args) => { status.errors.push(args.map(String).join(' ')); consoleError(...args); };
function report() {
  document.body.dataset.chartsExpected = status.expected;
  document.body.dataset.chartsRendered = status.rendered;
  document.getElementById('report-status').textContent = JSON.stringify(status);
}
Promise.allSettled(Object.entries(TALKLAB_CHARTS).map(([id, spec]) =>
  vegaEmbed('#' + id, spec, {actions: false, renderer: 'svg'}).then(() => {
    const svg = document.querySelector('#' + id + ' svg');
    if (svg && svg.querySelectorAll('.role-mark > *').length > 0) status.rendered += 1;
    else status.errors.push(id + ': no marks were drawn');
  }))).then((results) => {
  results.forEach((r) => { if (r.status === 'rejected') status.errors.push(String(r.reason)); });
  report();
});
)";

std::string render_html(const Page& p) {
  std::string body;
  json charts = json::object();
  for (const Block& b : p.blocks) {
    switch (b.kind) {
      case Block::heading: body += fmt::format("<h{0}>{1}</h{0}>\n", b.level, html_escape(b.text)); break;
      case Block::paragraph: {
        body += "<p>" + html_escape(b.text);
        for (size_t i = 0; i < b.links.size(); ++i) {
          body += fmt::format("{}<a href=\"{}\">{}</a>", i == 0 && b.text.empty() ? "" : (i == 0 ? " " : ", "),
                              html_escape(link_target(b.links[i].second, ".html")), html_escape(b.links[i].first));
        }
        body += "</p>\n";
        break;
      }
      case Block::list:
        body += "<ul>\n";
        for (const auto& item : b.items) body += "<li>" + html_escape(item) + "</li>\n";
        body += "</ul>\n";
        break;
      case Block::table: body += to_html(b.tab); break;
      case Block::chart:
        body += fmt::format("<h3>{}</h3>\n", html_escape(b.ch.title));
        if (!b.ch.caption.empty()) body += fmt::format("<p class=\"caption\">{}</p>\n", html_escape(b.ch.caption));
        body += fmt::format("<div class=\"chart\" id=\"{}\"></div>\n", b.ch.id);
        charts[b.ch.id] = b.ch.spec;
        break;
    }
  }
  // "</" cannot appear inside the inline script: json escapes nothing, so split it.
  std::string data = charts.dump();
  for (size_t pos = 0; (pos = data.find("</", pos)) != std::string::npos; pos += 3) data.replace(pos, 2, "<\\/");
  return fmt::format(R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{0}</title>
<style>{1}</style>
<script src="vendor/vega-bundle.js"></script>
</head>
<body>
<nav><a href="index.html">talklab report</a></nav>
<h1>{0}</h1>
{2}<footer>Generated by <code>bench report</code> from the result files named above. Chart status:
<pre id="report-status">pending</pre></footer>
<script>
const TALKLAB_CHARTS = {3};
{4}</script>
</body>
</html>
)",
                     html_escape(p.title), kStyle, body, data, kChartScript);
}

// ---- the environment of a run --------------------------------------------------------------------------------

std::string ceilings_text(const json& roofline) {
  if (!roofline.is_object()) return "";
  std::vector<std::string> parts;
  for (const auto& [kind, ops] : field(roofline, "peak_ops_per_s").items()) {
    if (const auto v = number(ops)) parts.push_back(fmt::format("{} {:.0f} G{}/s", kind, *v / 1e9, kind == "int8" ? "OP" : "FLOP"));
  }
  if (const auto bw = number(field(roofline, "bandwidth_bytes_per_s"))) parts.push_back(fmt::format("memory {:.1f} GB/s", *bw / 1e9));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// The runs side by side: one row per property, one column per run.
Table environment_table(const std::vector<const Run*>& runs) {
  Table tab{{""}, {}};
  std::vector<std::string> keys;
  std::map<std::string, std::vector<std::string>> values;  // key -> one value per run
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& run = *runs[i];
    tab.header.push_back(run.label);
    const json& ctx = run.doc->context;
    const json& t = field(ctx, "talklab");
    auto add = [&](const std::string& k, const std::string& v) {
      if (v.empty()) return;
      if (!values.contains(k)) keys.push_back(k);
      std::vector<std::string>& row = values[k];
      row.resize(runs.size());
      row[i] += (row[i].empty() ? "" : "; ") + v;
    };
    add("file", run.doc->path);
    add("date", text(field(ctx, "date")));
    const json& git = field(t, "git");
    add("commit", text(field(git, "commit")).substr(0, 12) + (field(git, "dirty") == true ? " (uncommitted changes)" : ""));
    add("profile", text(field(t, "profile")));
    const json& cpu = field(t, "cpu");
    add("CPU", fmt::format("{} ({} logical CPUs, {} kernels)", text(field(cpu, "model")),
                           value_text(field(cpu, "logical_cpus")), text(field(cpu, "isa"))));
    add("threads", fmt::format("{} (LibTorch {})", value_text(field(t, "threads")), value_text(field(t, "torch_threads"))));
    const json& omp = field(t, "openmp");
    add("OpenMP wait", !omp.is_object()                       ? "not recorded"
                       : field(omp, "wait_policy").is_string() ? fmt::format("{} (set by {})", text(field(omp, "wait_policy")),
                                                                             text(field(omp, "set_by")))
                                                               : "libgomp's default");
    if (const auto passes = number(field(t, "passes")); passes && *passes > 1) {
      add("passes", fmt::format("{:.0f} (each time the median of the passes' medians)", *passes));
    }
    const json& gpu = field(t, "gpu");
    add("GPU", gpu.is_object() ? text(field(gpu, "name")) : "none: " + text(field(t, "gpu_unavailable_reason")));
    const json& versions = field(t, "versions");
    add("LibTorch", text(field(versions, "libtorch")));
    add("compiler", text(field(versions, "compiler")));
    add("seed", value_text(field(t, "seed")));
    add("CPU roofline", ceilings_text(field(field(t, "roofline"), "cpu")));
    add("GPU roofline", ceilings_text(field(field(t, "roofline"), "cuda")));
    for (const std::string& w : run.doc->warnings) add("warning", w);
  }
  for (const std::string& k : keys) {
    std::vector<Cell> row{Cell(k)};
    std::vector<std::string>& v = values[k];
    v.resize(runs.size());
    for (const std::string& x : v) row.emplace_back(x.empty() ? "-" : x);
    tab.rows.push_back(std::move(row));
  }
  return tab;
}

// ---- an experiment's table -----------------------------------------------------------------------------------

// Axes whose value differs between the cases (these name a case in a table), and the ones that do not.
struct AxisSplit {
  std::vector<std::string> varying;
  std::vector<std::pair<std::string, std::string>> fixed;
};

AxisSplit split_axes(const std::vector<const CaseView*>& cases) {
  std::vector<std::string> order;
  std::map<std::string, std::set<std::string>> values;
  for (const CaseView* c : cases) {
    for (const auto& [axis, v] : c->params.items()) {
      if (!values.contains(axis)) order.push_back(axis);
      values[axis].insert(value_text(v));
    }
  }
  std::set<std::string> devices;
  for (const CaseView* c : cases) devices.insert(c->device);
  AxisSplit s;
  for (const std::string& axis : order) {
    if (values[axis].size() > 1) s.varying.push_back(axis);
    else s.fixed.emplace_back(axis, *values[axis].begin());
  }
  if (devices.size() > 1) s.varying.push_back("device");
  else if (!devices.empty()) s.fixed.emplace_back("device", *devices.begin());
  return s;
}

std::string case_label(const CaseView& c, const std::vector<std::string>& axes) {
  std::string out;
  for (const std::string& axis : axes) {
    out += (out.empty() ? "" : " ") + axis + "=" + (axis == "device" ? c.device : c.param(axis));
  }
  return out.empty() ? "-" : out;
}

// A speed-up is quoted only between cases that declare the same useful work (a block-mask builder is not an
// attention call).
bool same_work(const CaseView& a, const CaseView& b) {
  return a.flops > 0 && std::abs(a.flops - b.flops) <= 1e-9 * a.flops;
}

std::string point_key(const CaseView& c) { return fmt::format("{}|{}|{}", c.run, c.device, c.params.dump()); }

void experiment_section(Page& page, const std::string& experiment, const std::vector<const CaseView*>& cases,
                        const std::vector<Run>& runs, const std::string& description) {
  page.heading(3, experiment);
  std::set<size_t> runs_here;
  for (const CaseView* c : cases) runs_here.insert(c->run);
  const bool run_column = runs_here.size() > 1;
  if (!description.empty()) page.paragraph(description);
  const AxisSplit axes = split_axes(cases);
  if (!axes.fixed.empty()) {
    std::string fixed;
    for (const auto& [k, v] : axes.fixed) fixed += (fixed.empty() ? "" : ", ") + k + "=" + v;
    page.paragraph("The same in every case below: " + fixed + ".");
  }
  // The fastest LibTorch implementation at each point: what ours is measured against.
  std::map<std::string, const CaseView*> best_torch;
  for (const CaseView* c : cases) {
    if (!is_libtorch(c->implementation) || c->status != "ok" || !c->median_s) continue;
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
                        "SQNR", "vs LibTorch"}) {
    t.header.push_back(h);
  }
  for (const std::string& k : counter_names) t.header.push_back(k);
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
      row.push_back(case_label(*c, axes.varying));
      row.push_back(c->implementation);
      row.push_back(c->status == "ok" ? "ok" : c->status + (c->reason.empty() ? "" : ": " + c->reason));
      row.push_back(c->median_s ? format_seconds(*c->median_s) : "-");
      row.push_back(format_rate(*c));
      row.push_back(c->roofline ? fmt::format("{:.0f}%", *c->roofline * 100) : "-");
      row.push_back(c->peak_bytes ? format_bytes(*c->peak_bytes) : "-");
      row.push_back(c->max_rel_error ? fmt::format("{:.1e}", *c->max_rel_error) : "-");
      row.push_back(c->sqnr_db ? fmt::format("{:.1f} dB", *c->sqnr_db) : "-");
      std::string vs = "-";
      if (const auto it = best_torch.find(key); it != best_torch.end() && !is_libtorch(c->implementation) &&
                                                c->status == "ok" && c->median_s && same_work(*c, *it->second)) {
        vs = fmt::format("{:.2f}x vs {}", *it->second->median_s / *c->median_s, it->second->implementation);
      }
      row.push_back(vs);
      for (const std::string& k : counter_names) row.push_back(format_counter(k, field(c->counters, k.c_str())));
      t.rows.push_back(std::move(row));
    }
  }
  if (!t.rows.empty()) page.table(std::move(t));
  if (!skipped.empty()) {
    std::vector<std::string> items;
    for (const auto& [what, n] : skipped) {
      items.push_back(fmt::format("{}: skipped in {} case{}: {}", what.first, n, n == 1 ? "" : "s", what.second));
    }
    page.paragraph("Skipped, with the reason each gave:");
    page.list(std::move(items));
  }
}

// ---- charts --------------------------------------------------------------------------------------------------

constexpr const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";

// "run" (several files) and the varying axes other than `used`, as one string: cases that differ only there
// stay on separate lines.
std::string variant(const CaseView& c, const AxisSplit& axes, std::initializer_list<const char*> used) {
  std::string out;
  for (const std::string& axis : axes.varying) {
    if (axis == "device" || std::find_if(used.begin(), used.end(), [&](const char* u) { return axis == u; }) != used.end()) continue;
    out += (out.empty() ? "" : " ") + axis + "=" + c.param(axis);
  }
  if (std::find(axes.varying.begin(), axes.varying.end(), "device") != axes.varying.end()) out += " " + c.device;
  return out.empty() ? "-" : out;
}

json facet_wrap(json data, const std::string& facet_title, json spec, int columns) {
  return {{"$schema", kSchema},
          {"data", {{"values", std::move(data)}}},
          {"facet", {{"field", "panel"}, {"type", "nominal"}, {"title", facet_title}}},
          {"columns", columns},
          {"spec", std::move(spec)},
          {"resolve", {{"scale", {{"y", "independent"}}}}}};
}

std::string panel_of(const std::string& base, const CaseView& c, const std::vector<Run>& runs) {
  return runs.size() > 1 ? base + " · " + runs[c.run].label : base;
}

std::optional<Chart> attention_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  const AxisSplit axes = split_axes(cases);
  json data = json::array();
  for (const CaseView* c : cases) {
    if (c->status != "ok" || !c->median_s || c->implementation.starts_with("blockmask")) continue;
    data.push_back({{"panel", panel_of(c->param("mask"), *c, runs)},
                    {"seq", c->params.value("seq", json(nullptr))},
                    {"dtype", c->param("dtype")},
                    {"implementation", c->implementation},
                    {"time_ms", *c->median_s * 1e3},
                    {"variant", variant(*c, axes, {"mask", "seq", "dtype"})}});
  }
  if (data.empty()) return std::nullopt;
  json enc = {
      {"x", {{"field", "seq"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "sequence length"}}},
      {"y", {{"field", "time_ms"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "median time (ms)"}}},
      {"color", {{"field", "implementation"}, {"type", "nominal"}}},
      {"strokeDash", {{"field", "dtype"}, {"type", "nominal"}}},
      {"detail", {{"field", "variant"}, {"type", "nominal"}}},
      {"tooltip", json::array({{{"field", "implementation"}}, {{"field", "dtype"}}, {{"field", "seq"}},
                               {{"field", "time_ms"}, {"format", ".3f"}}, {{"field", "variant"}}})}};
  json spec = {{"width", 220}, {"height", 170}, {"mark", {{"type", "line"}, {"point", true}}}, {"encoding", enc}};
  return Chart{"", "Attention time against sequence length, per mask and implementation",
               "Median time of one forward call, log-log; one panel per mask, dashes by dtype.",
               facet_wrap(std::move(data), "mask", std::move(spec), 4)};
}

std::vector<Chart> matmul_charts(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  std::vector<Chart> out;
  json rate = json::array(), sqnr = json::array();
  for (const CaseView* c : cases) {
    if (c->status != "ok") continue;
    const std::string shape = "K=" + c->param("K") + " N=" + c->param("N");
    if (c->tflops && *c->tflops > 0) {
      rate.push_back({{"panel", panel_of(shape, *c, runs)},
                      {"M", c->params.value("M", json(nullptr))},
                      {"implementation", c->implementation},
                      {"tflops", *c->tflops}});
    }
    if (c->sqnr_db) {
      sqnr.push_back({{"run", runs[c->run].label}, {"shape", shape}, {"M", c->params.value("M", json(nullptr))},
                      {"implementation", c->implementation}, {"sqnr_db", *c->sqnr_db}});
    }
  }
  if (!rate.empty()) {
    json enc = {
        {"x", {{"field", "M"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "M (tokens)"}}},
        {"y", {{"field", "tflops"}, {"type", "quantitative"}, {"title", "TFLOP/s (TOP/s for int8)"}}},
        {"color", {{"field", "implementation"}, {"type", "nominal"}}},
        {"tooltip", json::array({{{"field", "implementation"}}, {{"field", "M"}}, {{"field", "tflops"}, {"format", ".3f"}}})}};
    json spec = {{"width", 240}, {"height", 180}, {"mark", {{"type", "line"}, {"point", true}}}, {"encoding", enc}};
    out.push_back({"", "Matmul TFLOP/s against M, per recipe", "One panel per (K, N) weight shape.",
                   facet_wrap(std::move(rate), "weight shape", std::move(spec), 4)});
  }
  if (!sqnr.empty()) {
    json enc = {{"x", {{"field", "implementation"}, {"type", "nominal"}, {"title", "recipe"}, {"sort", nullptr}}},
                {"y", {{"field", "sqnr_db"}, {"type", "quantitative"}, {"title", "SQNR (dB) against the float64 product"}}},
                {"color", {{"field", "shape"}, {"type", "nominal"}, {"title", "weight shape"}}},
                {"tooltip", json::array({{{"field", "implementation"}}, {{"field", "shape"}}, {{"field", "M"}},
                                         {{"field", "sqnr_db"}, {"format", ".1f"}}})}};
    json spec = {{"$schema", kSchema},
                 {"data", {{"values", std::move(sqnr)}}},
                 {"width", 520},
                 {"height", 240},
                 {"mark", {{"type", "point"}, {"filled", true}}},
                 {"encoding", enc}};
    if (runs.size() > 1) {
      spec["encoding"]["shape"] = {{"field", "run"}, {"type", "nominal"}};
    }
    out.push_back({"", "SQNR per recipe", "Quantization error of each recipe on randn inputs, every shape measured.",
                   std::move(spec)});
  }
  return out;
}

// Solvers are the implementations swept over a budget; the fixed policies are single points.
std::optional<Chart> pareto_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  std::map<std::string, std::set<std::string>> budgets;
  for (const CaseView* c : cases) {
    if (const std::string b = c->param("budget"); !b.empty()) budgets[c->implementation].insert(b);
  }
  const AxisSplit axes = split_axes(cases);
  json data = json::array();
  for (const CaseView* c : cases) {
    if (c->status != "ok" || !c->median_s || !c->peak_bytes) continue;
    const bool solver = budgets[c->implementation].size() > 1;
    const std::string model = variant(*c, axes, {"budget"});
    data.push_back({{"panel", panel_of(model, *c, runs)},
                    {"implementation", c->implementation},
                    {"kind", solver ? "solver" : "policy"},
                    {"budget", solver ? json(std::stod(c->param("budget"))) : json(nullptr)},
                    {"step_ms", *c->median_s * 1e3},
                    {"peak_mib", *c->peak_bytes / (1024.0 * 1024.0)}});
  }
  if (data.empty()) return std::nullopt;
  const json x = {{"field", "step_ms"}, {"type", "quantitative"}, {"title", "step time (ms)"}, {"scale", {{"zero", false}}}};
  const json y = {{"field", "peak_mib"}, {"type", "quantitative"}, {"title", "measured peak (MiB)"}, {"scale", {{"zero", false}}}};
  const json color = {{"field", "implementation"}, {"type", "nominal"}};
  const json tooltip = json::array({{{"field", "implementation"}}, {{"field", "budget"}}, {{"field", "step_ms"}, {"format", ".2f"}},
                                    {{"field", "peak_mib"}, {"format", ".1f"}}});
  json lines = {{"transform", json::array({{{"filter", "datum.kind === 'solver'"}}})},
                {"mark", {{"type", "line"}, {"point", true}}},
                {"encoding", {{"x", x}, {"y", y}, {"color", color}, {"order", {{"field", "budget"}, {"type", "quantitative"}}},
                              {"tooltip", tooltip}}}};
  json points = {{"transform", json::array({{{"filter", "datum.kind === 'policy'"}}})},
                 {"mark", {{"type", "point"}, {"filled", true}, {"size", 90}}},
                 {"encoding", {{"x", x}, {"y", y}, {"color", color}, {"shape", color}, {"tooltip", tooltip}}}};
  json spec = {{"width", 360}, {"height", 260}, {"layer", json::array({lines, points})}};
  return Chart{"", "Checkpointing: peak memory against step time",
               "One line per budget solver (a point per budget), the fixed policies as points. Lower left is better.",
               facet_wrap(std::move(data), "model", std::move(spec), 2)};
}

// Each case at (arithmetic intensity, achieved rate) under its run's measured ceilings.
std::optional<Chart> roofline_chart(const std::vector<const CaseView*>& cases, const std::vector<Run>& runs) {
  json data = json::array();
  std::map<size_t, std::pair<double, double>> range;  // run -> intensity range of its cases
  std::map<size_t, std::set<std::string>> devices;
  for (const CaseView* c : cases) {
    if (c->status != "ok" || !c->median_s || c->flops <= 0 || c->bytes <= 0) continue;
    const double intensity = c->flops / c->bytes;
    data.push_back({{"panel", runs.size() > 1 ? runs[c->run].label : "this run"},
                    {"layer", "case"},
                    {"intensity", intensity},
                    {"gflops", c->flops / *c->median_s / 1e9},
                    {"experiment", c->experiment},
                    {"implementation", c->implementation},
                    {"case", c->name}});
    auto [it, inserted] = range.try_emplace(c->run, intensity, intensity);
    it->second.first = std::min(it->second.first, intensity);
    it->second.second = std::max(it->second.second, intensity);
    devices[c->run].insert(c->device);
  }
  if (data.empty()) return std::nullopt;
  for (const auto& [run, r] : range) {
    const json& roof = field(field(runs[run].doc->context, "talklab"), "roofline");
    for (const std::string& device : devices[run]) {
      const json& ceil = field(roof, device.c_str());
      const auto bw = number(field(ceil, "bandwidth_bytes_per_s"));
      if (!bw) continue;
      const double lo = std::log10(r.first / 8), hi = std::log10(r.second * 8);
      for (const auto& [kind, ops] : field(ceil, "peak_ops_per_s").items()) {
        const auto peak = number(ops);
        if (!peak) continue;
        constexpr int kSteps = 48;
        for (int i = 0; i <= kSteps; ++i) {
          const double x = std::pow(10.0, lo + (hi - lo) * i / kSteps);
          data.push_back({{"panel", runs.size() > 1 ? runs[run].label : "this run"},
                          {"layer", "ceiling"},
                          {"ceiling", device + " " + kind},
                          {"intensity", x},
                          {"gflops", std::min(*peak, *bw * x) / 1e9}});
        }
      }
    }
  }
  const json x = {{"field", "intensity"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}},
                  {"title", "arithmetic intensity (FLOP per byte of declared traffic)"}};
  const json y = {{"field", "gflops"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "GFLOP/s (GOP/s for int8)"}};
  json ceilings = {{"transform", json::array({{{"filter", "datum.layer === 'ceiling'"}}})},
                   {"mark", {{"type", "line"}, {"strokeWidth", 1.5}}},
                   {"encoding", {{"x", x}, {"y", y}, {"strokeDash", {{"field", "ceiling"}, {"type", "nominal"}, {"title", "ceiling"}}},
                                 {"color", {{"value", "#888"}}}}}};
  json points = {{"transform", json::array({{{"filter", "datum.layer === 'case'"}}})},
                 {"mark", {{"type", "point"}, {"filled", true}, {"opacity", 0.8}}},
                 {"encoding", {{"x", x}, {"y", y}, {"color", {{"field", "implementation"}, {"type", "nominal"}}},
                               {"shape", {{"field", "experiment"}, {"type", "nominal"}}},
                               {"tooltip", json::array({{{"field", "case"}}, {{"field", "gflops"}, {"format", ".1f"}},
                                                        {{"field", "intensity"}, {"format", ".2f"}}})}}}};
  json spec = {{"width", 520}, {"height", 320}, {"layer", json::array({ceilings, points})}};
  return Chart{"", "Roofline: each case against this machine's measured ceilings",
               "Ceilings are the peaks bench measured at the start of the run (min of compute peak and bandwidth x "
               "intensity); a case's intensity uses its declared FLOPs and fewest bytes.",
               facet_wrap(std::move(data), "run", std::move(spec), 1)};
}

// ---- pages ---------------------------------------------------------------------------------------------------

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

std::string default_python() {
  if (const char* env = std::getenv("TALKLAB_PYTHON"); env != nullptr && *env != '\0') return env;
  return TALKLAB_PYTHON;
}

std::filesystem::path chart_renderer() { return std::filesystem::path(TALKLAB_SOURCE_DIR) / "bench" / "render_charts.py"; }

}  // namespace talklab::bench
