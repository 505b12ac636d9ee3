#include "harness/context.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <thread>

#include "harness/machine.h"
#include "harness/openmp.h"
#include "harness/presentation.h"
#include "harness/result.h"
#include "harness/torch_glue.h"
#if TALKLAB_HAVE_CUDA
#include "harness/cuda/device.h"
#endif

namespace talklab {
namespace {

double cpu_mhz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) == 0) return std::stod(line.substr(line.find(':') + 1));
  }
  return 0;
}

// As Google Benchmark decides it: a governor other than "performance" lets the clock move under a timer.
bool cpu_scaling_enabled() {
  const std::string governor = machine::read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  return !governor.empty() && governor != "performance";
}

nlohmann::json caches() {
  nlohmann::json out = nlohmann::json::array();
  for (int i = 0; i < 8; ++i) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", i);
    const std::string level = machine::read_first_line(dir + "level");
    if (level.empty()) break;
    std::string size = machine::read_first_line(dir + "size");
    int64_t bytes = 0;
    if (!size.empty()) {
      bytes = std::stoll(size);
      if (size.back() == 'K') bytes *= 1024;
      if (size.back() == 'M') bytes *= 1024 * 1024;
    }
    const std::string shared = machine::read_first_line(dir + "shared_cpu_list");
    int sharing = 1;
    for (char c : shared) sharing += (c == ',');
    if (const auto dash = shared.find('-'); dash != std::string::npos && shared.find(',') == std::string::npos) {
      sharing = std::stoi(shared.substr(dash + 1)) - std::stoi(shared.substr(0, dash)) + 1;
    }
    out.push_back({{"type", machine::read_first_line(dir + "type")},
                   {"level", std::stoi(level)},
                   {"size", bytes},
                   {"num_sharing", sharing}});
  }
  return out;
}

std::string iso_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

}  // namespace

GpuInfo probe_gpu() {
  GpuInfo g;
#if TALKLAB_HAVE_CUDA
  g.compiled = true;
  const cuda::DeviceInfo d = cuda::probe_device(0);
  g.available = d.available;
  g.reason = d.reason;
  g.name = d.name;
  g.driver_version = d.driver_version;
  g.runtime_version = d.runtime_version;
  g.cc_major = d.cc_major;
  g.cc_minor = d.cc_minor;
  g.sm_count = d.sm_count;
  g.sm_clock_khz = d.sm_clock_khz;
  g.mem_clock_khz = d.mem_clock_khz;
  g.l2_bytes = d.l2_bytes;
  g.memory_bytes = d.total_memory_bytes;
#else
  g.reason = "this build has no CUDA code (configure with -DTALKLAB_CUDA=ON where nvcc is installed)";
#endif
  return g;
}

int64_t gpu_memory_bytes() {
  static const int64_t bytes = [] {
    const GpuInfo g = probe_gpu();
    return g.available ? g.memory_bytes : int64_t(0);
  }();
  return bytes;
}

GitState git_state() {
  GitState g;
  const std::string dir = TALKLAB_SOURCE_DIR;
  const std::string commit = machine::command_output(fmt::format("git -C '{}' rev-parse HEAD 2>/dev/null", dir));
  if (commit.size() == 40) {
    g.commit = commit;
    g.dirty = !machine::command_output(fmt::format("git -C '{}' status --porcelain --untracked-files=no 2>/dev/null", dir)).empty();
  }
  return g;
}

nlohmann::json roofline_json(const Roofline& r) {
  nlohmann::json peaks = nlohmann::json::object();
  for (const auto& [k, v] : r.peak_ops_per_s) peaks[k] = v;
  nlohmann::json spread = nlohmann::json::object();
  for (const auto& [k, c] : r.spread) {
    spread[k] = {{"best", c.best}, {"median", c.median}, {"worst", c.worst}, {"samples", c.samples},
                 {"preempted_samples", c.preempted}, {"clean_samples", c.clean}};
  }
  return {{"threads", r.threads}, {"isa", r.isa}, {"peak_ops_per_s", peaks},
          {"bandwidth_bytes_per_s", r.bandwidth_bytes_per_s}, {"read_bandwidth_bytes_per_s", r.read_bandwidth_bytes_per_s},
          {"spread", spread}};
}

nlohmann::json make_context(const RunSettings& s, const GpuInfo& gpu) {
  using nlohmann::json;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  const GitState git = git_state();
  const machine::CpuIdentity id = machine::cpu_identity();
  const machine::Tick& tick = machine::scheduler_tick();
  const auto or_null = [](int v) { return v >= 0 ? json(v) : json(nullptr); };
  const openmp::WaitPolicy wait = openmp::wait_policy();
  const char* cuda_visible = std::getenv("CUDA_VISIBLE_DEVICES");

  json gpu_json = nullptr;
  if (gpu.available) {
    gpu_json = {{"name", gpu.name},
                {"compute_capability", fmt::format("{}.{}", gpu.cc_major, gpu.cc_minor)},
                {"sm_count", gpu.sm_count},
                {"sm_clock_mhz", gpu.sm_clock_khz / 1000},
                {"memory_clock_mhz", gpu.mem_clock_khz / 1000},
                {"l2_bytes", gpu.l2_bytes},
                {"memory_bytes", gpu.memory_bytes},
                {"driver_version", gpu.driver_version},
                {"cuda_runtime_version", gpu.runtime_version}};
  }
  json talklab = {
      {"schema_version", kSchemaVersion},
      {"git", {{"commit", git.commit}, {"dirty", git.dirty}}},
      // The brand and vendor as /proc/cpuinfo says where no machine probes describe the CPU (a binary without the
      // roofline experiment): flags and ISA need our kernels, the CPU's name does not.
      {"cpu", {{"model", s.cpu.model.empty() ? id.brand : s.cpu.model},
               {"vendor", s.cpu.vendor.empty() ? id.vendor : s.cpu.vendor}, {"family", or_null(id.family)},
               {"model_number", or_null(id.model)}, {"stepping", or_null(id.stepping)},
               {"microcode", id.microcode.empty() ? json(nullptr) : json(id.microcode)}, {"flags", s.cpu.flags},
               {"isa", s.cpu.isa}, {"logical_cpus", std::thread::hardware_concurrency()}}},
      {"machine_state", {{"busy", s.busy.busy}, {"why", s.busy.why},
                         {"others_cpu_fraction", s.busy.others_cpu_fraction},
                         {"others_runnable", s.busy.others_runnable}, {"load_avg_1m", s.busy.load1},
                         {"build_tools", s.busy.build_tools}, {"busiest", s.busy.busiest},
                         {"scheduler_tick_s", tick.seconds}, {"scheduler_tick_source", tick.source}}},
      {"gpu", gpu_json},
      {"gpu_unavailable_reason", gpu.available ? std::string() : gpu.reason},
      {"versions", {{"libtorch", torch_version()},
                    {"cuda_compiled", gpu.compiled},
                    {"cuda_runtime", gpu.runtime_version},
                    {"cuda_driver", gpu.driver_version},
                    {"compiler", fmt::format("{} {}", "g++", __VERSION__)}}},
      {"threads", s.threads},
      {"torch_threads", torch_threads()},
      {"libtorch", torch_build_info()},
      {"openmp", {{"wait_policy", wait.policy.empty() ? json(nullptr) : json(wait.policy)},
                  {"set_by", wait.set_by.empty() ? json(nullptr) : json(wait.set_by)},
                  {"gomp_spincount", wait.spin_count.empty() ? json(nullptr) : json(wait.spin_count)},
                  {"runtimes", openmp::mapped_runtimes()},
                  {"proc_bind", s.placement.proc_bind.empty() ? json(nullptr) : json(s.placement.proc_bind)},
                  {"places", s.placement.places.empty() ? json(nullptr) : json(s.placement.places)},
                  {"placement_set_by", s.placement.set_by.empty() ? json(nullptr) : json(s.placement.set_by)},
                  {"thread_cpus", s.placement.thread_cpus}}},
      {"retries", s.retries},
      {"profile", s.profile},
      {"seed", s.seed},
      {"command_line", s.command_line},
      {"cuda_cache_mode", s.cuda_cache_mode},
      {"passes", s.passes},
      {"shard", s.shard ? json{{"index", s.shard->spec.index}, {"count", s.shard->spec.count},
                               {"source", s.shard->spec.source}, {"cases", s.shard->cases},
                               {"selection", s.shard->selection}}
                        : json(nullptr)},
      // Which GPUs this process was given (Slurm's --gres sets it per task): a CUDA case ran on the first of them.
      {"cuda_visible_devices", cuda_visible ? json(cuda_visible) : json(nullptr)},
      {"python", s.python},
      {"experiments", registered_declarations_json()},  // what a report of this file shows (harness/presentation.h)
      {"roofline", {{"cpu", s.cpu_roofline ? roofline_json(*s.cpu_roofline) : json(nullptr)}, {"cuda", s.cuda_roofline ? roofline_json(*s.cuda_roofline) : json(nullptr)}}},
  };
  return {
      {"date", iso_date()},
      {"host_name", host},
      {"executable", machine::executable_path()},
      {"num_cpus", std::thread::hardware_concurrency()},
      {"mhz_per_cpu", int(cpu_mhz())},
      {"cpu_scaling_enabled", cpu_scaling_enabled()},
      {"caches", caches()},
      {"load_avg", {load[0], load[1], load[2]}},
#ifdef NDEBUG
      {"library_build_type", "release"},
#else
      {"library_build_type", "debug"},
#endif
      {"talklab", talklab},
  };
}

}  // namespace talklab
