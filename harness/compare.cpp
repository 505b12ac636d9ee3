#include "harness/compare.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "harness/config.h"
#include "harness/merge.h"

namespace talklab {
namespace {

using nlohmann::json;
constexpr size_t npos = std::string::npos;

// ---- Reading a file, and what can be saved of a truncated one ----

size_t skip_ws(const std::string& t, size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\n' || t[i] == '\r' || t[i] == '\t')) ++i;
  return i;
}

// One past the closing quote of the string that opens at i, or npos when the text ends first.
size_t skip_string(const std::string& t, size_t i) {
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      ++i;
    } else if (t[i] == '"') {
      return i + 1;
    }
  }
  return npos;
}

// One past the JSON value that starts at i, or npos when the text ends inside it. It only finds the
// value's extent (brackets outside strings); json::parse validates what it found.
size_t skip_value(const std::string& t, size_t i) {
  if (i >= t.size()) return npos;
  if (t[i] == '"') return skip_string(t, i);
  if (t[i] == '{' || t[i] == '[') {
    int depth = 0;
    while (i < t.size()) {
      const char c = t[i];
      if (c == '"') {
        i = skip_string(t, i);
        if (i == npos) return npos;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return npos;
  }
  // A number or literal ends at a delimiter; one cut by the end of the text ("1.2" of "1.25") is incomplete.
  while (i < t.size() && std::strchr(",]} \t\r\n", t[i]) == nullptr) ++i;
  return i < t.size() ? i : npos;
}

// Walks the top-level object of a text cut short and keeps every complete entry of "benchmarks" and a
// complete "context". Our writer sorts keys, so a cut file has lost its context; another writer's order
// may keep it. Throws json::parse_error when a piece that looked complete is not JSON.
void recover(const std::string& t, ResultDoc& doc) {
  size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '{') return;
  for (i = skip_ws(t, i + 1); i < t.size() && t[i] == '"';) {
    const size_t key_end = skip_string(t, i);
    if (key_end == npos) return;
    const std::string key = json::parse(t.substr(i, key_end - i)).get<std::string>();
    i = skip_ws(t, key_end);
    if (i >= t.size() || t[i] != ':') return;
    i = skip_ws(t, i + 1);
    if (key == "benchmarks" && i < t.size() && t[i] == '[') {
      for (i = skip_ws(t, i + 1); i < t.size() && t[i] != ']';) {
        const size_t end = skip_value(t, i);
        if (end == npos) return;  // cut inside this entry: the ones before it are what we have
        doc.entries.push_back(json::parse(t.substr(i, end - i)));
        i = skip_ws(t, end);
        if (i < t.size() && t[i] == ',') i = skip_ws(t, i + 1);
      }
      if (i >= t.size()) return;
      ++i;  // the array's ']'
    } else {
      const size_t end = skip_value(t, i);
      if (end == npos) return;
      if (key == "context") doc.context = json::parse(t.substr(i, end - i));
      i = end;
    }
    i = skip_ws(t, i);
    if (i >= t.size() || t[i] != ',') return;
    i = skip_ws(t, i + 1);
  }
}

void check_schema(const ResultDoc& doc) {
  const json* version = nullptr;
  if (doc.context.is_object() && doc.context.contains("talklab") && doc.context["talklab"].is_object() &&
      doc.context["talklab"].contains("schema_version")) {
    version = &doc.context["talklab"]["schema_version"];
  }
  if (version == nullptr) {
    throw InputError(fmt::format("{}: not a talklab result file (no context.talklab.schema_version)", doc.path));
  }
  if (*version != 1) {
    throw InputError(fmt::format("{}: schema_version {}, this bench reads schema_version 1", doc.path, version->dump()));
  }
}

// ---- Reading fields of an entry (missing or null fields read as absent) ----

const json* find(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    const auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::optional<double> number(const json& j, std::initializer_list<const char*> path) {
  const json* v = find(j, path);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::string text(const json& j, std::initializer_list<const char*> path, const std::string& fallback = "") {
  const json* v = find(j, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : fallback;
}

std::optional<int64_t> integer(const json& j, std::initializer_list<const char*> path) {
  const json* v = find(j, path);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

// The samples the run's statistics are over: with kept == "clean" the ones no involuntary context switch
// touched (samples_preempted == 0), else all. Its median_s is over the same ones, so the test and the ratio
// agree. A file without samples_preempted (older, or another writer) kept all.
std::vector<double> samples(const json& entry) {
  std::vector<double> out;
  const json* s = find(entry, {"talklab", "time", "samples_s"});
  if (s == nullptr || !s->is_array()) return out;
  const json* preempted = find(entry, {"talklab", "time", "samples_preempted"});
  const bool clean = text(entry, {"talklab", "time", "kept"}) == "clean" && preempted != nullptr &&
                     preempted->is_array() && preempted->size() == s->size();
  for (size_t i = 0; i < s->size(); ++i) {
    if (!(*s)[i].is_number()) continue;
    if (clean && !((*preempted)[i].is_number() && (*preempted)[i].get<double>() == 0)) continue;
    out.push_back((*s)[i].get<double>());
  }
  return out;
}

// What the time verdict compares of one side: seconds, or across machines multiples of the time the case
// would take at that run's own measured ceiling (roofline_fraction x median_s). Without a fraction the
// median is absent.
struct Timed {
  std::vector<double> samples;
  std::optional<double> median;
};

Timed timed(const json& entry, bool normalized) {
  Timed t{samples(entry), number(entry, {"talklab", "time", "median_s"})};
  if (!normalized || !t.median) return t;
  const std::optional<double> fraction = number(entry, {"talklab", "rates", "roofline_fraction"});
  if (!fraction || *fraction <= 0 || *t.median <= 0) return Timed{std::move(t.samples), std::nullopt};
  const double at_ceiling_s = *fraction * *t.median;
  for (double& v : t.samples) v /= at_ceiling_s;
  t.median = *t.median / at_ceiling_s;
  return t;
}

std::string status_of(const json& entry) { return text(entry, {"talklab", "status"}, "?"); }

std::string gpu_name(const json& context) {
  const json* gpu = find(context, {"talklab", "gpu"});
  if (gpu == nullptr || gpu->is_null()) return "none";
  return text(*gpu, {"name"}, "unnamed");
}

std::string fmt_g(double v) { return fmt::format("{:.3g}", v); }

// ---- Which machine a run came from ----

// Whether the context names the CPU as CPUID does. A VM's brand string ("AMD EPYC") covers several generations;
// vendor, family, model and stepping tell them apart.
bool has_cpuid(const json& context) {
  return !text(context, {"talklab", "cpu", "vendor"}).empty() && integer(context, {"talklab", "cpu", "family"}) &&
         integer(context, {"talklab", "cpu", "model_number"}) && integer(context, {"talklab", "cpu", "stepping"});
}

std::string cpuid_of(const json& context) {
  return fmt::format("{} family {} model {} stepping {}", text(context, {"talklab", "cpu", "vendor"}),
                     *integer(context, {"talklab", "cpu", "family"}), *integer(context, {"talklab", "cpu", "model_number"}),
                     *integer(context, {"talklab", "cpu", "stepping"}));
}

// The ISA our kernels used belongs to the machine: a VM can hide AVX-512 on one host and show it on another,
// and the kernels' paths (and what runs at all) differ with it. Microcode does not: it is shown, not compared.
std::string with_isa(const json& context, const std::string& cpu) {
  const std::string isa = text(context, {"talklab", "cpu", "isa"});
  return isa.empty() ? cpu : cpu + " with " + isa;
}

std::string cpu_key(const json& context, bool by_cpuid) {
  return with_isa(context, by_cpuid ? cpuid_of(context) : text(context, {"talklab", "cpu", "model"}, "unknown"));
}

std::string cpu_description(const json& context, bool by_cpuid) {
  std::string cpu = text(context, {"talklab", "cpu", "model"}, "unknown");
  if (by_cpuid) {
    const std::string microcode = text(context, {"talklab", "cpu", "microcode"});
    cpu += fmt::format(" ({}{})", cpuid_of(context), microcode.empty() ? "" : ", microcode " + microcode);
  }
  return with_isa(context, cpu);
}

}  // namespace

std::string machine_key(const json& context, bool by_cpuid) {
  return cpu_key(context, by_cpuid) + " / GPU " + gpu_name(context);
}

bool names_cpuid(const json& context) { return has_cpuid(context); }

namespace {

// ---- The rules ----

struct TimeVerdict {
  std::optional<double> ratio, p_value, p_plain;
  std::string verdict = "-";
};

TimeVerdict judge_time(const Timed& a, const Timed& b, const CompareOptions& o) {
  TimeVerdict v;
  if (!a.median || !b.median || *a.median <= 0 || *b.median <= 0) return v;
  const double ratio = *b.median / *a.median;
  v.ratio = ratio;
  const double scale = 1 + o.threshold_pct / 100;
  const bool slower = ratio > scale, faster = 1 / ratio > scale;
  if (a.samples.empty() || b.samples.empty()) {
    v.verdict = slower || faster ? "too few samples" : "same";
    return v;
  }
  v.p_plain = mann_whitney(b.samples, a.samples).p;
  v.p_value = v.p_plain;
  if (!slower && !faster) {
    v.verdict = "same";
    return v;
  }
  // Beyond the threshold, test whether the change itself exceeds it: the slower side's samples against the
  // faster side's scaled by the threshold. Testing only "any difference" would flag every small shift
  // that many samples make significant, and over dozens of cases an A/A pair would fail by chance.
  std::vector<double> scaled = slower ? a.samples : b.samples;
  for (double& x : scaled) x *= scale;
  v.p_value = slower ? mann_whitney(b.samples, scaled).p : mann_whitney(scaled, a.samples).p;
  if (min_p_value(a.samples.size(), b.samples.size()) > o.alpha) {
    v.verdict = "too few samples";  // no outcome of the test could be significant
  } else if (*v.p_value >= o.alpha) {
    v.verdict = "noisy";  // the medians moved beyond the threshold, but the samples overlap too much to tell
  } else {
    v.verdict = slower ? "slower" : "faster";
  }
  return v;
}

std::string slower_text(double ratio, double p) { return fmt::format("time {:.2f}x slower (p={:.2g})", ratio, p); }

// Files a slowdown of new/base `ratio` under regressions, or under warnings where the gate's options excuse
// it, and remembers the line for a confirmation to replace.
void file_slower(CaseComparison& c, const CompareOptions& o, double ratio, std::string what) {
  std::string excuse;
  if (o.fail_on_time_ratio && ratio <= *o.fail_on_time_ratio) {
    excuse = fmt::format("below --fail-on-time-ratio {}", *o.fail_on_time_ratio);
  } else if (o.fail_time_floor_s && c.base_median_s && *c.base_median_s < *o.fail_time_floor_s) {
    // The floor is there for the noise of short cases, which moves them by a few x, not by ten.
    if (o.fail_any_size_ratio && ratio > *o.fail_any_size_ratio) {
      what += fmt::format(", beyond --fail-any-size-ratio {} though BASE median under --fail-time-floor {}",
                          *o.fail_any_size_ratio, *o.fail_time_floor_s);
    } else {
      excuse = fmt::format("BASE median under --fail-time-floor {}", *o.fail_time_floor_s);
    }
  }
  c.time_finding = excuse.empty() ? what : what + ", " + excuse;
  (excuse.empty() ? c.regressions : c.warnings).push_back(c.time_finding);
}

void compare_time(const json& base, const json& now, const CompareOptions& o, bool normalized, CaseComparison& c) {
  const Timed a = timed(base, normalized), b = timed(now, normalized);
  c.base_samples = a.samples.size();
  c.new_samples = b.samples.size();
  c.base_median_s = number(base, {"talklab", "time", "median_s"});
  c.new_median_s = number(now, {"talklab", "time", "median_s"});
  if (normalized && c.base_median_s && c.new_median_s && (!a.median || !b.median)) {
    c.warnings.push_back("not comparable across machines: no roofline fraction");
    return;
  }
  const TimeVerdict v = judge_time(a, b, o);
  c.ratio = v.ratio;
  c.p_value = v.p_value;
  c.p_plain = v.p_plain;
  c.verdict = v.verdict;
  if (c.verdict == "slower") {
    file_slower(c, o, *v.ratio, slower_text(*v.ratio, *v.p_value));
  } else if (c.verdict == "faster") {
    c.notes.push_back(fmt::format("time {:.2f}x faster (p={:.2g})", 1 / *v.ratio, *v.p_value));
  }
}

// A run marks a case disturbed when too few samples escaped preemption, or when its kept ones still sit at
// whole scheduler ticks: its time is suspect, though still compared.
void note_disturbed(const json& entry, const std::string& side, CaseComparison& c) {
  const json* disturbed = find(entry, {"talklab", "time", "disturbed"});
  if (disturbed == nullptr || !disturbed->is_boolean() || !disturbed->get<bool>()) return;
  const std::string evidence = text(entry, {"talklab", "time", "disturbed_evidence"});
  c.warnings.push_back(fmt::format("disturbed in {}: {}", side, evidence.empty() ? "no evidence recorded" : evidence));
}

void compare_accuracy(const json& base, const json& now, CaseComparison& c) {
  const std::optional<double> e0 = number(base, {"talklab", "accuracy", "max_rel_error"});
  const json* e1_json = find(now, {"talklab", "accuracy", "max_rel_error"});
  const std::optional<double> e1 = number(now, {"talklab", "accuracy", "max_rel_error"});
  if (e0 && e1_json != nullptr && e1_json->is_null()) {
    c.regressions.push_back(fmt::format("max_rel_error {} -> not finite", fmt_g(*e0)));
  } else if (e0 && e1 && *e1 > kErrorGrowthFactor * *e0 && *e1 - *e0 > kErrorGrowthFloor) {
    c.regressions.push_back(fmt::format("max_rel_error {} -> {} (more than {}x and by more than {})", fmt_g(*e0),
                                        fmt_g(*e1), kErrorGrowthFactor, kErrorGrowthFloor));
  }
  // A null SQNR is an exact result (+inf) or a NaN, which max_rel_error already judges.
  const std::optional<double> s0 = number(base, {"talklab", "accuracy", "sqnr_db"});
  const std::optional<double> s1 = number(now, {"talklab", "accuracy", "sqnr_db"});
  if (s0 && s1 && *s0 - *s1 > kSqnrDropDb && *s1 < kSqnrIgnoreAboveDb) {
    c.regressions.push_back(fmt::format("sqnr_db {:.1f} -> {:.1f} (dropped more than {} dB)", *s0, *s1, kSqnrDropDb));
  }
}

void compare_memory(const json& base, const json& now, CaseComparison& c) {
  const std::optional<double> m0 = number(base, {"talklab", "memory", "peak_bytes"});
  const std::optional<double> m1 = number(now, {"talklab", "memory", "peak_bytes"});
  if (!m0 || !m1) return;
  if (*m1 > *m0 * (1 + kMemoryGrowthFraction) + kMemoryGrowthBytes) {
    c.regressions.push_back(fmt::format("peak_bytes {:.0f} -> {:.0f} (+{:.1f}%, more than {:.0f}% + {:.0f} KiB)", *m0,
                                        *m1, (*m1 / std::max(*m0, 1.0) - 1) * 100, kMemoryGrowthFraction * 100,
                                        kMemoryGrowthBytes / 1024));
  }
}

// Executed work is a function of the shapes: any increase is a regression, a decrease is worth a note.
void compare_exact(const std::string& metric, std::optional<double> v0, std::optional<double> v1, CaseComparison& c) {
  if (!v0 || !v1 || *v0 == *v1) return;
  const std::string change = fmt::format("{} {:.17g} -> {:.17g}", metric, *v0, *v1);
  if (*v1 > *v0) {
    c.regressions.push_back(change + " (must not grow)");
  } else {
    c.notes.push_back(change + " (less work)");
  }
}

void compare_work(const json& base, const json& now, CaseComparison& c) {
  compare_exact("work.flops", number(base, {"talklab", "work", "flops"}), number(now, {"talklab", "work", "flops"}), c);
  compare_exact("work.bytes", number(base, {"talklab", "work", "bytes"}), number(now, {"talklab", "work", "bytes"}), c);
  const json* counters = find(base, {"talklab", "counters"});
  if (counters == nullptr || !counters->is_object()) return;
  for (const auto& [name, value] : counters->items()) {
    if (name.find("flops") == npos && name.find("blocks") == npos) continue;
    // A plan_ counter describes a plan chosen from quantities measured in the run (e.g. op costs): it may
    // differ between two runs of one build, so it is not held to the shapes' exactness.
    if (name.starts_with("plan_")) continue;
    const std::optional<double> v1 = number(now, {"talklab", "counters", name.c_str()});
    if (value.is_number() && !v1) c.notes.push_back(fmt::format("counter {} no longer reported", name));
    compare_exact(name, value.is_number() ? std::optional<double>(value.get<double>()) : std::nullopt, v1, c);
  }
}

CaseComparison compare_case(const json& base, const json& now, const CompareOptions& o, bool normalized) {
  CaseComparison c;
  c.name = text(now, {"name"});
  c.base_status = status_of(base);
  c.new_status = status_of(now);
  const std::string why = text(now, {"talklab", "reason"});
  if (c.new_status == "failed") {
    if (c.base_status == "ok") {
      c.regressions.push_back("failed in NEW: " + why);
    } else {
      c.warnings.push_back(fmt::format("failed in NEW ({} in BASE): {}", c.base_status, why));
    }
  } else if (c.base_status == "ok" && c.new_status == "skipped") {
    // A case this machine cannot run today (no GPU) is not slower; --strict makes it count for CI.
    (o.strict ? c.regressions : c.warnings).push_back("skipped in NEW: " + why);
  } else if (c.base_status != "ok" && c.new_status == "ok") {
    c.notes.push_back(fmt::format("{} in BASE, ok in NEW", c.base_status));
  }
  if (c.base_status != "ok" || c.new_status != "ok") return c;
  note_disturbed(base, "BASE", c);
  note_disturbed(now, "NEW", c);
  compare_time(base, now, o, normalized, c);
  compare_accuracy(base, now, c);
  compare_memory(base, now, c);
  compare_work(base, now, c);
  return c;
}

}  // namespace

ResultDoc parse_result(const std::string& raw, const std::string& path) {
  ResultDoc doc;
  doc.path = path;
  // A file cut by a full disk may end in zero bytes; they are not part of what was written.
  std::string t = raw;
  while (!t.empty() && t.back() == '\0') t.pop_back();
  if (skip_ws(t, 0) == t.size()) throw InputError(fmt::format("{}: empty file, not a result file", path));
  try {
    json j = json::parse(t);
    if (!j.is_object() || !j.contains("benchmarks") || !j["benchmarks"].is_array()) {
      throw InputError(fmt::format("{}: not a result file (no \"benchmarks\" array)", path));
    }
    doc.context = j.contains("context") ? j["context"] : json();
    for (json& e : j["benchmarks"]) doc.entries.push_back(std::move(e));
    check_schema(doc);
    return doc;
  } catch (const json::parse_error& e) {
    // An error before the end of the text is bad JSON; only a text that ends too early is truncated.
    if (e.byte <= t.size()) throw InputError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  try {
    recover(t, doc);
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: truncated and not valid JSON before the cut: {}", path, e.what()));
  }
  if (doc.entries.empty()) {
    throw InputError(fmt::format("{}: truncated before its first complete case; nothing to read", path));
  }
  doc.truncated = true;
  doc.warnings.push_back(
      fmt::format("{}: truncated after {} complete cases; comparing those", path, doc.entries.size()));
  if (doc.context.is_null()) {
    doc.warnings.push_back(fmt::format("{}: its context was lost in the cut; schema version and machine not checked", path));
  } else {
    check_schema(doc);
  }
  return doc;
}

ResultDoc load_result(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(fmt::format("{}: cannot read: no such file", path.string()));
  if (std::filesystem::is_directory(path, ec)) throw InputError(fmt::format("{}: cannot read: is a folder", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_result(text.str(), path.string());
}

MannWhitney mann_whitney(std::span<const double> a, std::span<const double> b) {
  MannWhitney r;
  const size_t n1 = a.size(), n2 = b.size(), n = n1 + n2;
  if (n1 == 0 || n2 == 0) return r;
  std::vector<std::pair<double, bool>> all;  // (value, from a)
  for (double v : a) all.emplace_back(v, true);
  for (double v : b) all.emplace_back(v, false);
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  // Twice the mid-rank of each element keeps ranks integral: a tie over 1-based ranks i+1..j has 2*mid = i+1+j.
  std::vector<int64_t> rank2(n);
  double tie_term = 0;  // sum over tie groups of t^3 - t
  int64_t r1_2 = 0;     // twice the rank sum of a
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && all[j].first == all[i].first) ++j;
    const double t = double(j - i);
    tie_term += t * t * t - t;
    for (size_t k = i; k < j; ++k) {
      rank2[k] = int64_t(i + 1 + j);
      if (all[k].second) r1_2 += rank2[k];
    }
    i = j;
  }
  r.u = double(r1_2) / 2 - double(n1 * (n1 + 1)) / 2;
  const int64_t mean2 = int64_t(n1 * (n + 1));  // twice the expected rank sum of a
  if (n <= kMannWhitneyExactLimit) {
    // count[k][s]: subsets of k elements whose doubled ranks sum to s. Every subset of n1 elements is
    // equally likely under the null hypothesis; the p-value is the share at least as far from the mean.
    const int64_t max_sum = int64_t(n * (n + 1));
    std::vector<std::vector<double>> count(n1 + 1, std::vector<double>(size_t(max_sum + 1), 0.0));
    count[0][0] = 1;
    for (size_t e = 0; e < n; ++e) {
      for (size_t k = std::min(n1, e + 1); k >= 1; --k) {
        for (int64_t s = max_sum; s >= rank2[e]; --s) count[k][size_t(s)] += count[k - 1][size_t(s - rank2[e])];
      }
    }
    const int64_t observed = std::abs(r1_2 - mean2);
    double tail = 0, total = 0;
    for (int64_t s = 0; s <= max_sum; ++s) {
      total += count[n1][size_t(s)];
      if (std::abs(s - mean2) >= observed) tail += count[n1][size_t(s)];
    }
    r.p = std::min(1.0, tail / total);
    r.exact = true;
    return r;
  }
  const double mu = double(n1) * double(n2) / 2;
  const double var = double(n1) * double(n2) / 12 * (double(n + 1) - tie_term / (double(n) * double(n - 1)));
  if (var <= 0) return r;  // every value tied: no evidence of a difference
  const double z = std::max(0.0, std::abs(r.u - mu) - 0.5) / std::sqrt(var);
  r.p = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return r;
}

double min_p_value(size_t n1, size_t n2) {
  if (n1 == 0 || n2 == 0) return 1;
  double subsets = 1;  // C(n1 + n2, n1)
  for (size_t k = 1; k <= n1; ++k) subsets = subsets * double(n2 + k) / double(k);
  return std::min(1.0, 2 / subsets);
}

int Comparison::regression_count() const {
  int n = 0;
  for (const CaseComparison& c : cases) n += int(c.regressions.size());
  return n;
}

Comparison compare_results(const ResultDoc& base, const ResultDoc& now, const CompareOptions& o) {
  Comparison out;
  out.base_path = base.path;
  out.new_path = now.path;
  out.options = o;
  for (const ResultDoc* d : {&base, &now}) out.warnings.insert(out.warnings.end(), d->warnings.begin(), d->warnings.end());
  // A merged file (bench merge) holds cases of several machines: each pair is then checked on its own.
  const auto merged = [](const ResultDoc& d) {
    return std::any_of(d.entries.begin(), d.entries.end(), [](const json& e) { return find(e, {"talklab", "machine"}); });
  };
  const bool per_case_machines = merged(base) || merged(now);
  if (!base.context.is_null() && !now.context.is_null() && !per_case_machines) {
    const bool by_cpuid = has_cpuid(base.context) && has_cpuid(now.context);
    const std::string cpu0 = cpu_key(base.context, by_cpuid), cpu1 = cpu_key(now.context, by_cpuid);
    const std::string gpu0 = gpu_name(base.context), gpu1 = gpu_name(now.context);
    if (cpu0 != cpu1 || gpu0 != gpu1) {
      const std::string what = fmt::format("different machines: {} ran on CPU '{}', GPU '{}'; {} ran on CPU '{}', GPU '{}'",
                                           base.path, cpu_description(base.context, by_cpuid), gpu0, now.path,
                                           cpu_description(now.context, by_cpuid), gpu1);
      if (!o.allow_different_machines) throw InputError(what + " (--allow-different-machines compares them anyway)");
      out.warnings.push_back(what + "; times are compared as fractions of each run's own roofline");
      out.normalized_by_roofline = true;
    } else {
      const std::string mc0 = text(base.context, {"talklab", "cpu", "microcode"});
      const std::string mc1 = text(now.context, {"talklab", "cpu", "microcode"});
      if (!mc0.empty() && !mc1.empty() && mc0 != mc1) {
        out.warnings.push_back(fmt::format("same CPU, other microcode: BASE ran with {}, NEW with {}; an update can "
                                           "change times (new mitigations), so a slowdown may come from it", mc0, mc1));
      }
    }
    const json* t0 = find(base.context, {"talklab", "threads"});
    const json* t1 = find(now.context, {"talklab", "threads"});
    if (t0 != nullptr && t1 != nullptr && *t0 != *t1) {
      out.warnings.push_back(fmt::format("BASE ran with {} threads, NEW with {}: times may differ for that reason",
                                         t0->dump(), t1->dump()));
    }
  }

  std::map<std::string, const json*> base_by_name, new_by_name;
  for (const json& e : base.entries) base_by_name.emplace(text(e, {"name"}), &e);
  for (const json& e : now.entries) new_by_name.emplace(text(e, {"name"}), &e);
  double log_sum = 0;
  std::vector<std::string> unpaired;  // merged files: the same case on different hardware
  for (const json& e : base.entries) {
    const std::string name = text(e, {"name"});
    const auto it = new_by_name.find(name);
    if (it == new_by_name.end()) {
      out.removed.push_back(name);
      continue;
    }
    bool normalized = out.normalized_by_roofline;
    if (per_case_machines) {
      const json& m0 = machine_of(e, base.context);
      const json& m1 = machine_of(*it->second, now.context);
      const bool by_cpuid = has_cpuid(m0) && has_cpuid(m1);
      if (m0.is_object() && m1.is_object() &&
          (cpu_key(m0, by_cpuid) != cpu_key(m1, by_cpuid) || gpu_name(m0) != gpu_name(m1))) {
        if (!o.allow_different_machines) {
          unpaired.push_back(fmt::format("{} (CPU '{}', GPU '{}' in BASE; CPU '{}', GPU '{}' in NEW)", name,
                                         cpu_description(m0, by_cpuid), gpu_name(m0), cpu_description(m1, by_cpuid),
                                         gpu_name(m1)));
          continue;
        }
        normalized = true;
      }
    }
    CaseComparison c = compare_case(e, *it->second, o, normalized);
    if (c.ratio) {
      log_sum += std::log(*c.ratio);
      ++out.geomean_cases;
    }
    out.cases.push_back(std::move(c));
  }
  for (const json& e : now.entries) {
    if (!base_by_name.contains(text(e, {"name"}))) out.added.push_back(text(e, {"name"}));
  }
  if (!unpaired.empty()) {
    out.warnings.push_back(fmt::format("{} case{} ran on different hardware in BASE and NEW and {} not compared "
                                       "(--allow-different-machines compares them by roofline fraction): {}",
                                       unpaired.size(), unpaired.size() == 1 ? "" : "s",
                                       unpaired.size() == 1 ? "was" : "were", fmt::join(unpaired, "; ")));
  }
  if (out.geomean_cases > 0) out.geomean_ratio = std::exp(log_sum / out.geomean_cases);
  return out;
}

std::vector<std::string> slower_cases(const Comparison& c) {
  std::vector<std::string> out;
  for (const CaseComparison& k : c.cases) {
    if (k.verdict == "slower") out.push_back(k.name);
  }
  return out;
}

void apply_confirmation(Comparison& c, const ResultDoc& base, const ResultDoc& confirmation, int runs) {
  c.confirm_runs = runs;
  std::map<std::string, const json*> base_by_name, again_by_name;
  for (const json& e : base.entries) base_by_name.emplace(text(e, {"name"}), &e);
  for (const json& e : confirmation.entries) again_by_name.emplace(text(e, {"name"}), &e);
  for (CaseComparison& k : c.cases) {
    if (k.verdict != "slower" || !k.ratio) continue;
    const auto b = base_by_name.find(k.name);
    const auto again = again_by_name.find(k.name);
    if (b == base_by_name.end()) continue;  // cannot happen for a case compared from this BASE
    if (again == again_by_name.end()) {
      k.warnings.push_back(fmt::format("slower in NEW, unconfirmed: the re-run did not produce it ({}); the first "
                                       "verdict stands", confirmation.path));
      continue;
    }
    const json& e = *again->second;
    if (status_of(e) != "ok") {
      const std::string why = text(e, {"talklab", "reason"});
      k.warnings.push_back(fmt::format("slower in NEW, unconfirmed: the re-run {} it{}; the first verdict stands",
                                       status_of(e), why.empty() ? "" : ": " + why));
      continue;
    }
    note_disturbed(e, "the confirmation", k);
    const TimeVerdict v = judge_time(timed(*b->second, c.normalized_by_roofline), timed(e, c.normalized_by_roofline),
                                     c.options);
    k.confirmation = Confirmation{runs, number(e, {"talklab", "time", "median_s"}), v.ratio, v.p_value, v.verdict};
    // The re-run's samples replace NEW's for the time verdict: the first line goes, the confirmed one takes its place.
    for (std::vector<std::string>* lines : {&k.regressions, &k.warnings}) {
      std::erase(*lines, k.time_finding);
    }
    k.time_finding.clear();
    const std::string again_ratio = v.ratio ? fmt::format("{:.2f}x", *v.ratio) : "no time";
    const std::string reruns = fmt::format("{} re-run{}", runs, runs == 1 ? "" : "s");
    if (v.verdict == "slower") {
      file_slower(k, c.options, *v.ratio,
                  fmt::format("{} (confirmed: {}, {})", slower_text(*k.ratio, *k.p_value), reruns, again_ratio));
    } else {
      k.verdict = "not confirmed";
      k.warnings.push_back(fmt::format("slower in NEW ({:.2f}x) but not confirmed by {} ({}): not counted", *k.ratio,
                                       reruns, again_ratio));
    }
  }
}

void keep_unconfirmed(Comparison& c, int runs, const std::string& why) {
  c.confirm_runs = runs;
  for (CaseComparison& k : c.cases) {
    if (k.verdict == "slower") k.warnings.push_back(fmt::format("slower in NEW, unconfirmed: {}; the first verdict stands", why));
  }
}

}  // namespace talklab
