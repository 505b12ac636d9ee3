// The context of a run, written once at the top of its result file: what machine, what software, what
// settings, and the roofline the run was measured against. Google Benchmark's own context fields come
// first (date, host_name, num_cpus, mhz_per_cpu, caches, ...) so its tools read the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/machine.h"
#include "harness/machine_probes.h"
#include "harness/openmp.h"
#include "harness/roofline.h"
#include "harness/shard.h"

namespace talklab {

struct GpuInfo {
  bool available = false;
  std::string reason;  // why not, when not available
  std::string name;
  int driver_version = 0, runtime_version = 0, cc_major = 0, cc_minor = 0, sm_count = 0;
  int sm_clock_khz = 0, mem_clock_khz = 0;
  int64_t l2_bytes = 0, memory_bytes = 0;
  bool compiled = false;  // this build has CUDA code
};

// Probes GPU 0 (never throws; a build without CUDA says so in reason).
GpuInfo probe_gpu();
// GPU 0's total memory, probed once per process; 0 without a usable GPU (the harness then skips every CUDA case
// with the reason, so a memory rule that reads it has nothing to say).
int64_t gpu_memory_bytes();

// A shard's place in its selection (bench run --shard): what bench merge checks the shards against.
struct ShardRecord {
  ShardSpec spec;
  std::vector<std::string> selection;  // every case of the whole selection, in plan order
  size_t cases = 0;                    // of them in this shard
};

struct RunSettings {
  std::string profile;
  uint64_t seed = 0;
  int threads = 0;
  std::vector<std::string> command_line;
  std::string cuda_cache_mode;  // "cold" or "hot"
  int passes = 1;               // bench run --passes
  int retries = 0;              // bench run --retries
  machine::BusyState busy;      // how busy the machine was just before the run
  openmp::Placement placement;  // where the OpenMP threads may run (bench run --pin)
  std::optional<Roofline> cpu_roofline;
  std::optional<Roofline> cuda_roofline;
  CpuDescription cpu;  // from the machine probes (harness/machine_probes.h); empty without them
  std::optional<ShardRecord> shard;
  // The embedded interpreter of the Python anchors (python::describe(), or {"error": why it did not start}); null
  // when no selected case needed it.
  nlohmann::json python;
};

struct GitState {
  std::string commit = "unknown";
  bool dirty = false;
};
GitState git_state();  // of the source tree this binary was built from

nlohmann::json make_context(const RunSettings& settings, const GpuInfo& gpu);

nlohmann::json roofline_json(const Roofline& roofline);

}  // namespace talklab
