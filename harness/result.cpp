#include "harness/result.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "harness/roofline.h"

namespace talklab {
namespace {

// JSON has no infinity or NaN: an exact result's SQNR is written as null, and so is any non-finite value.
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json optional_number(const std::optional<double>& v) { return v ? number(*v) : nlohmann::json(nullptr); }

nlohmann::json axis_json(const AxisValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::get<std::string>(v);
}

// A probe that could not read its value writes 0: null in the file.
nlohmann::json positive_or_null(double v) { return v > 0 ? number(v) : nlohmann::json(nullptr); }

nlohmann::json timing_json(const Timing& timing) {
  const SampleStats& s = timing.stats;
  const machine::Interference& i = timing.interference;
  return {{"median_s", s.median},
          {"min_s", s.min},
          {"max_s", s.max},
          {"rel_spread", s.rel_spread},
          {"samples_s", timing.samples_s},
          {"samples_preempted", timing.preemptions},
          {"kept", timing.kept_clean ? "clean" : "all"},
          {"dropped_samples", timing.dropped},
          {"dropped_reason", timing.dropped_reason},
          {"disturbed", timing.disturbed},
          {"disturbed_evidence", timing.disturbed_evidence},
          {"interference", {{"seconds", i.seconds},
                            {"others_cpu_s", i.others_cpu_s},
                            {"steal_s", i.steal_s},
                            {"runnable_before", i.runnable_before},
                            {"runnable_after", i.runnable_after},
                            {"load_before", i.load_before},
                            {"load_after", i.load_after},
                            {"mhz_before", positive_or_null(i.mhz_before)},
                            {"mhz_after", positive_or_null(i.mhz_after)},
                            {"capacity_before", positive_or_null(i.capacity_before)},
                            {"capacity_after", positive_or_null(i.capacity_after)}}},
          {"runs_per_sample", timing.runs_per_sample},
          {"stop_reason", timing.stop_reason},
          {"pass_medians_s", timing.pass_medians_s},
          {"attempt_numbers", timing.attempt_numbers},
          {"cpu_s_per_run", timing.cpu_s_per_run}};
}

}  // namespace

nlohmann::json to_json(const CaseResult& r) {
  using nlohmann::json;
  const double median = r.timing ? r.timing->stats.median : 0.0;
  json entry = {
      {"name", r.name},
      {"family_index", r.family_index},
      {"per_family_instance_index", 0},
      {"run_name", r.name},
      {"run_type", "iteration"},
      {"repetitions", 1},
      {"repetition_index", 0},
      {"threads", 1},
      {"iterations", r.timing ? int64_t(r.timing->samples_s.size()) * r.timing->runs_per_sample : 0},
      {"real_time", median * 1e9},
      {"cpu_time", r.timing ? r.timing->cpu_s_per_run * 1e9 : 0.0},
      {"time_unit", "ns"},
  };
  if (r.status != "ok") {
    entry["error_occurred"] = true;
    entry["error_message"] = r.status + ": " + r.reason;
  }

  json params = json::object();
  for (const auto& [k, v] : r.params.items()) params[k] = axis_json(v);
  json t = {
      {"experiment", r.experiment},
      {"implementation", r.implementation},
      {"device", device_name(r.device)},
      {"params", params},
      {"talks", r.talks},
      {"status", r.status},
      {"reason", r.reason},
      {"work", {{"flops", r.work.flops}, {"bytes", r.work.bytes}, {"peak", r.work.peak}, {"bandwidth", r.work.bandwidth}}},
      {"time", nullptr},
      {"rates", nullptr},
      {"memory", {{"peak_bytes", r.peak_bytes ? json(*r.peak_bytes) : json(nullptr)}}},
      {"accuracy", nullptr},
      {"counters", json::object()},
      {"labels", json::object()},
  };
  if (r.timing) {
    t["time"] = timing_json(*r.timing);
    t["time"]["attempts"] = json::array();
    for (const Timing& earlier : r.earlier_attempts) t["time"]["attempts"].push_back(timing_json(earlier));
    const double tflops = median > 0 ? r.work.flops / median / 1e12 : 0;
    const double gbps = median > 0 ? r.work.bytes / median / 1e9 : 0;
    t["rates"] = {{"tflops", number(tflops)}, {"gbps", number(gbps)},
                  {"roofline_fraction", optional_number(r.roofline_fraction)},
                  {"above_roofline", above_roofline(r.roofline_fraction)}};
    // Flat counters, as Google Benchmark writes its user counters.
    entry["flops"] = r.work.flops;
    entry["bytes"] = r.work.bytes;
    entry["tflops"] = number(tflops);
    entry["gbps"] = number(gbps);
    if (r.roofline_fraction) entry["roofline_fraction"] = number(*r.roofline_fraction);
  }
  if (r.peak_bytes) entry["peak_bytes"] = *r.peak_bytes;
  if (r.accuracy) {
    t["accuracy"] = {{"max_abs_error", number(r.accuracy->max_abs_error)},
                     {"max_rel_error", number(r.accuracy->max_rel_error)},
                     {"sqnr_db", number(r.accuracy->sqnr_db)},
                     {"checked_elements", r.accuracy->checked_elements},
                     {"passed", r.accuracy->passed}};
    entry["max_rel_error"] = number(r.accuracy->max_rel_error);
    entry["sqnr_db"] = number(r.accuracy->sqnr_db);
  }
  for (const auto& [k, v] : r.counters) {
    t["counters"][k] = number(v);
    if (!entry.contains(k)) entry[k] = number(v);
  }
  for (const auto& [k, v] : r.labels) t["labels"][k] = v;
  entry["talklab"] = std::move(t);
  return entry;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path parent = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  const std::filesystem::path tmp = parent / fmt::format(".{}.{}.tmp", path.filename().string(), getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                    fsync(fileno(f)) == 0;
    const int saved = errno;
    std::fclose(f);
    if (!ok) {
      std::filesystem::remove(tmp, ec);
      throw std::runtime_error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(saved)));
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error(fmt::format("cannot replace {}: {}", path.string(), ec.message()));
  }
}

ResultFile::ResultFile(std::filesystem::path path, const nlohmann::json& context)
    : path_(std::move(path)), context_text_(context.dump(2)) {
  write();
}

void ResultFile::add(const CaseResult& result) {
  entry_texts_.push_back(to_json(result).dump(2));
  write();
}

void ResultFile::replace(size_t index, const CaseResult& result) {
  entry_texts_.at(index) = to_json(result).dump(2);
  write();
}

// {"context": ..., "benchmarks": [...]} in that order (nlohmann's objects sort their keys, which would put
// the benchmarks first); each case is serialized once, when it finishes.
void ResultFile::write() const {
  std::string text = "{\n\"context\": " + context_text_ + ",\n\"benchmarks\": [";
  for (size_t i = 0; i < entry_texts_.size(); ++i) text += (i == 0 ? "\n" : ",\n") + entry_texts_[i];
  text += "\n]\n}\n";
  write_file_atomically(path_, text);
}

}  // namespace talklab
