#include "harness/machine.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness/sampler.h"

namespace talklab::machine {
namespace {

// The value after "key<spaces>:" on the first /proc/cpuinfo line that starts with key.
std::string cpuinfo_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos || line.find_first_not_of(" \t", key.size()) != colon) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

int to_int(const std::string& s) {
  try {
    return s.empty() ? -1 : std::stoi(s, nullptr, 0);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// CONFIG_HZ from a kernel config's text, 0 when absent.
int config_hz(const std::string& config) {
  std::istringstream in(config);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CONFIG_HZ=", 0) == 0) return to_int(line.substr(10));
  }
  return 0;
}

double mean_mhz() {
  double sum = 0;
  int n = 0;
  for (unsigned cpu = 0;; ++cpu) {  // cpufreq where the kernel exposes it (not in most VMs)
    const std::string khz = read_first_line(fmt::format("/sys/devices/system/cpu/cpu{}/cpufreq/scaling_cur_freq", cpu));
    if (khz.empty()) break;
    sum += std::stod(khz) / 1000;
    ++n;
  }
  if (n > 0) return sum / n;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) != 0) continue;
    sum += std::stod(line.substr(line.find(':') + 1));
    ++n;
  }
  return n > 0 ? sum / n : 0;
}

// Names of the processes that build code: one of them running means a build is in progress.
const std::set<std::string>& build_tool_names() {
  static const std::set<std::string> names = {"cc1", "cc1plus", "cc1obj", "as", "ld", "ld.bfd", "ld.gold", "ld.lld",
                                              "mold", "collect2", "lto1", "lto-wrapper", "clang", "clang++", "ninja",
                                              "make", "gmake", "cmake", "ccache", "nvcc", "cicc", "ptxas", "fatbinary",
                                              "rustc", "cargo", "javac", "go"};
  return names;
}

struct ProcessTime {
  std::string comm;
  double cpu_s = 0;
};

// utime + stime of every process but this one, by pid.
std::map<int, ProcessTime> process_times() {
  std::map<int, ProcessTime> out;
  const long ticks = sysconf(_SC_CLK_TCK);
  const int self = getpid();
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (const dirent* e = readdir(dir)) {
    const int pid = to_int(e->d_name);
    if (pid <= 0 || pid == self) continue;
    const std::string stat = read_first_line(fmt::format("/proc/{}/stat", pid));
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15 (1-based) are utime and stime
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    out[pid] = {stat.substr(open + 1, close - open - 1), (utime + stime) / double(ticks)};
  }
  closedir(dir);
  return out;
}

}  // namespace

std::string executable_path() {
  char exe[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  return n > 0 ? std::string(exe, size_t(n)) : std::string();
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string command_output(const std::string& command) {
  std::string out;
  if (std::FILE* p = popen(command.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

CpuIdentity cpu_identity() {
  const std::string info = slurp("/proc/cpuinfo");
  CpuIdentity id;
  id.vendor = cpuinfo_field(info, "vendor_id");
  id.brand = cpuinfo_field(info, "model name");
  id.family = to_int(cpuinfo_field(info, "cpu family"));
  id.model = to_int(cpuinfo_field(info, "model"));
  id.stepping = to_int(cpuinfo_field(info, "stepping"));
  id.microcode = cpuinfo_field(info, "microcode");
  return id;
}

int64_t involuntary_switches() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_nivcsw;
}

const Tick& scheduler_tick() {
  static const Tick tick = [] {
    Tick t;
    utsname u{};
    uname(&u);
    const std::string boot = std::string("/boot/config-") + u.release;
    int hz = config_hz(slurp(boot));
    t.source = boot;
    if (hz <= 0) {
      hz = config_hz(command_output("gzip -dc /proc/config.gz 2>/dev/null | grep '^CONFIG_HZ='"));
      t.source = "/proc/config.gz";
    }
    if (hz <= 0) {
      hz = 250;
      t.source = "assumed: Debian's CONFIG_HZ=250 (no kernel config readable)";
    }
    t.seconds = 1.0 / hz;
    return t;
  }();
  return tick;
}

Snapshot snapshot() {
  Snapshot s;
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::ifstream in("/proc/stat");
  std::string line;
  const double ticks = double(sysconf(_SC_CLK_TCK));
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "cpu") {  // user nice system idle iowait irq softirq steal guest guest_nice
      double v[8] = {};
      for (double& x : v) fields >> x;
      s.busy_s = (v[0] + v[1] + v[2] + v[5] + v[6]) / ticks;
      s.steal_s = v[7] / ticks;
    } else if (key == "procs_running") {
      fields >> s.runnable;
    }
  }
  s.process_cpu_s = process_cpu_seconds();
  std::istringstream load(read_first_line("/proc/loadavg"));
  load >> s.load1;
  s.mhz = mean_mhz();
  return s;
}

Interference between(const Snapshot& before, const Snapshot& after) {
  Interference i;
  i.seconds = after.wall_s - before.wall_s;
  // /proc/stat counts in USER_HZ ticks (10 ms), our own time in nanoseconds: a short case can read slightly
  // negative, which means "nothing measurable".
  i.others_cpu_s = std::max(0.0, (after.busy_s - before.busy_s) - (after.process_cpu_s - before.process_cpu_s));
  i.steal_s = after.steal_s - before.steal_s;
  i.runnable_before = before.runnable;
  i.runnable_after = after.runnable;
  i.load_before = before.load1;
  i.load_after = after.load1;
  i.mhz_before = before.mhz;
  i.mhz_after = after.mhz;
  return i;
}

BusyState busy_state(double window_s) {
  BusyState b;
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const std::map<int, ProcessTime> t0 = process_times();
  const Snapshot s0 = snapshot();
  // procs_running counts this thread while it reads: the median of several reads over the window, less one.
  std::vector<int> runnable;
  const auto start = std::chrono::steady_clock::now();
  const auto step = std::chrono::duration<double>(window_s / 10);
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(step * (i + 1)));
    runnable.push_back(snapshot().runnable - 1);
  }
  const Snapshot s1 = snapshot();
  const std::map<int, ProcessTime> t1 = process_times();
  std::sort(runnable.begin(), runnable.end());
  b.others_runnable = std::max(0, runnable[runnable.size() / 2]);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  b.others_cpu_fraction = between(s0, s1).others_cpu_s / (elapsed * cpus);
  b.load1 = s1.load1;

  std::vector<std::pair<double, std::string>> used;
  for (const auto& [pid, p] : t1) {
    if (build_tool_names().contains(p.comm)) b.build_tools.push_back(fmt::format("{} (pid {})", p.comm, pid));
    const auto it = t0.find(pid);
    const double cpu = p.cpu_s - (it == t0.end() ? 0.0 : it->second.cpu_s);
    if (cpu / elapsed >= 0.1) used.emplace_back(cpu / elapsed, fmt::format("{} (pid {}, {:.0f}% of a CPU)", p.comm, pid, 100 * cpu / elapsed));
  }
  std::sort(used.rbegin(), used.rend());
  for (size_t i = 0; i < std::min<size_t>(used.size(), 5); ++i) b.busiest.push_back(used[i].second);

  std::vector<std::string> reasons;
  if (b.others_cpu_fraction >= 0.1) {
    reasons.push_back(fmt::format("other processes used {:.0f}% of the {} CPUs", 100 * b.others_cpu_fraction, cpus));
  }
  if (b.others_runnable > 0) reasons.push_back(fmt::format("{} other tasks ready to run", b.others_runnable));
  if (!b.build_tools.empty()) reasons.push_back(fmt::format("a build is running ({})", b.build_tools.front()));
  b.busy = !reasons.empty();
  for (size_t i = 0; i < reasons.size(); ++i) b.why += (i ? "; " : "") + reasons[i];
  if (b.busy && !b.busiest.empty()) b.why += "; busiest: " + b.busiest.front();
  if (b.busy && b.load1 > cpus) b.why += fmt::format("; load average {:.2f}", b.load1);
  return b;
}

}  // namespace talklab::machine
