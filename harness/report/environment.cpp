// The runs' environments side by side: see environment.h.
#include "harness/report/environment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace talklab::report {

std::string ceilings_text(const json& roofline) {
  if (!roofline.is_object()) return "";
  std::vector<std::string> parts;
  for (const auto& [kind, ops] : field(roofline, "peak_ops_per_s").items()) {
    if (const auto v = number(ops)) parts.push_back(fmt::format("{} {:.0f} G{}/s", kind, *v / 1e9, kind == "int8" ? "OP" : "FLOP"));
  }
  if (const auto bw = number(field(roofline, "bandwidth_bytes_per_s"))) parts.push_back(fmt::format("memory {:.1f} GB/s", *bw / 1e9));
  if (const auto rd = number(field(roofline, "read_bandwidth_bytes_per_s")); rd && *rd > 0) {
    parts.push_back(fmt::format("read {:.1f} GB/s", *rd / 1e9));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

// The runs side by side: one row per property, one column per run.
Table environment_table(const std::vector<const Run*>& runs) {
  Table tab;
  tab.header = {""};
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
    // The interpreter bench embedded for the Python anchors (torch.compile'd FlexAttention, Inductor, ...).
    if (const json& py = field(t, "python"); py.is_object()) {
      add("Python anchors", field(py, "error").is_string()
                                ? "not run: " + text(field(py, "error"))
                                : fmt::format("Python {}, torch {}, Inductor cache {}", text(field(py, "python")),
                                              text(field(py, "torch")), text(field(py, "inductor_cache_dir"))));
    }
    add("seed", value_text(field(t, "seed")));
    // A shard's file, and a file bench merge made from shards: which part, and which machines ran the parts.
    if (const json& shard = field(t, "shard"); shard.is_object()) {
      add("shard", fmt::format("{} of {} ({} of the selection's {} cases)", value_text(field(shard, "index")),
                               value_text(field(shard, "count")), value_text(field(shard, "cases")),
                               field(shard, "selection").size()));
    }
    if (const json& merged = field(t, "merged"); merged.is_object()) {
      add("merged from", fmt::format("{} files", field(merged, "files").size()));
      for (const json& m : field(merged, "machines")) {
        const json& mt = field(m, "talklab");
        const json& visible = field(mt, "cuda_visible_devices");
        add("machines", fmt::format("{}: {} ({} kernels), {}{}", text(field(m, "host_name")),
                                    text(field(field(mt, "cpu"), "model")), text(field(field(mt, "cpu"), "isa")),
                                    field(mt, "gpu").is_object() ? text(field(field(mt, "gpu"), "name")) : "no GPU",
                                    visible.is_string() ? " (CUDA_VISIBLE_DEVICES=" + text(visible) + ")" : ""));
      }
    }
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
}  // namespace talklab::report
