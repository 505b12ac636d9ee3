#include "harness/dashboards.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "harness/config.h"
#include "harness/json_access.h"
#include "harness/stats.h"

namespace talklab {

using json = nlohmann::json;

json github_smaller_is_better(const ResultDoc& doc, const std::string& unit) {
  const double scale = unit == "ns" ? 1e9 : unit == "us" ? 1e6 : unit == "ms" ? 1e3 : unit == "s" ? 1.0 : 0.0;
  if (scale == 0) throw InputError(fmt::format("time unit '{}': expected ns, us, ms or s", unit));
  json out = json::array();
  for (const json& e : doc.entries) {
    const json& t = member(e, "talklab");
    if (member(t, "status") != "ok") continue;
    const json& time = member(t, "time");
    if (member(time, "median_s").is_number()) {
      std::vector<double> samples;
      for (const json& v : member(time, "samples_s")) {
        if (v.is_number()) samples.push_back(v.get<double>());
      }
      const SampleStats s = summarize(samples);
      out.push_back({{"name", member(e, "name")},
                     {"unit", unit},
                     {"value", time["median_s"].get<double>() * scale},
                     {"range", fmt::format("± {:.4g}", (s.q3 - s.q1) / 2 * scale)},
                     {"extra", fmt::format("{} samples, IQR/median {:.1f}%, {}", samples.size(), s.rel_spread * 100,
                                           time.value("stop_reason", "?"))}});
    }
    if (const json& peak = member(member(t, "memory"), "peak_bytes"); peak.is_number()) {
      out.push_back({{"name", member(e, "name").get<std::string>() + " (peak memory)"},
                     {"unit", "MiB"},
                     {"value", peak.get<double>() / (1024.0 * 1024.0)},
                     {"extra", "live bytes at the case's peak, inputs and workspaces included"}});
    }
  }
  return out;
}

json github_bigger_is_better(const ResultDoc& doc) {
  json out = json::array();
  for (const json& e : doc.entries) {
    const json& t = member(e, "talklab");
    if (member(t, "status") != "ok") continue;
    const json& rates = member(t, "rates");
    const json& flops = member(member(t, "work"), "flops");
    const bool by_flops = flops.is_number() && flops.get<double>() > 0 && member(rates, "tflops").is_number();
    const json& rate = member(rates, by_flops ? "tflops" : "gbps");
    if (rate.is_number() && rate.get<double>() > 0) {
      const std::string unit = !by_flops ? "GB/s" : member(member(t, "work"), "peak") == "int8" ? "TOP/s" : "TFLOP/s";
      json entry = {{"name", member(e, "name")}, {"unit", unit}, {"value", rate}};
      if (const json& f = member(rates, "roofline_fraction"); f.is_number()) {
        entry["extra"] = fmt::format("{:.0f}% of this machine's roofline", f.get<double>() * 100);
      }
      out.push_back(entry);
    }
    if (const json& sqnr = member(member(t, "accuracy"), "sqnr_db"); sqnr.is_number() && std::isfinite(sqnr.get<double>())) {
      out.push_back({{"name", member(e, "name").get<std::string>() + " (SQNR)"},
                     {"unit", "dB"},
                     {"value", sqnr},
                     {"extra", "signal to quantization noise against the float64 reference"}});
    }
  }
  return out;
}

}  // namespace talklab
