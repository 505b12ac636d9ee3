#include "harness/openmp.h"

#include "harness/machine.h"

#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

namespace talklab::openmp {
namespace {
// Set together with a variable before the re-execution, so the new process knows who set it.
std::string set_by_bench_marker(const std::string& variable) { return "TALKLAB_" + variable + "_SET_BY_BENCH"; }

// "0-3,6": the CPUs a set allows.
std::string cpu_list(const cpu_set_t& set) {
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    out += (out.empty() ? "" : ",") + (last == c ? std::to_string(c) : std::to_string(c) + "-" + std::to_string(last));
    c = last;
  }
  return out;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
}  // namespace

std::string reexec_with_environment(const std::vector<std::pair<std::string, std::string>>& variables, char** argv) {
  std::vector<std::string> set;
  for (const auto& [name, value] : variables) {
    if (std::getenv(name.c_str()) != nullptr) continue;
    if (setenv(name.c_str(), value.c_str(), 1) != 0 || setenv(set_by_bench_marker(name).c_str(), "1", 1) != 0) {
      return std::string("setenv: ") + std::strerror(errno);
    }
    set.push_back(name);
  }
  if (set.empty()) return "";
  // The binary's own path rather than /proc/self/exe, so the process keeps its name (ps, top, pgrep).
  const std::string exe = machine::executable_path();
  const char* path = exe.empty() ? "/proc/self/exe" : exe.c_str();
  execv(path, argv);
  const std::string why = std::string("execv(") + path + "): " + std::strerror(errno);
  // This process's libgomp keeps its defaults: say so in the context rather than claim the settings.
  for (const std::string& name : set) {
    unsetenv(name.c_str());
    unsetenv(set_by_bench_marker(name).c_str());
  }
  return why;
}

std::string reexec_with_wait_policy(const char* policy, char** argv) {
  return reexec_with_environment({{"OMP_WAIT_POLICY", policy}}, argv);
}

std::string reexec_pinned(char** argv) {
  return reexec_with_environment({{"OMP_PROC_BIND", kPinBind}, {"OMP_PLACES", kPinPlaces}}, argv);
}

Placement placement(int threads) {
  Placement p;
  p.proc_bind = env_or_empty("OMP_PROC_BIND");
  p.places = env_or_empty("OMP_PLACES");
  if (!p.proc_bind.empty()) p.set_by = env_or_empty(set_by_bench_marker("OMP_PROC_BIND").c_str()) == "1" ? "bench" : "environment";
  p.thread_cpus.resize(size_t(std::max(1, threads)));
#pragma omp parallel num_threads(std::max(1, threads))
  {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && size_t(omp_get_thread_num()) < p.thread_cpus.size()) {
      p.thread_cpus[size_t(omp_get_thread_num())] = cpu_list(set);
    }
  }
  return p;
}

std::vector<double> thread_cpu_seconds(int threads) {
  std::vector<double> out(size_t(std::max(1, threads)), 0.0);
#pragma omp parallel num_threads(std::max(1, threads))
  {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    if (size_t(omp_get_thread_num()) < out.size()) out[size_t(omp_get_thread_num())] = double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  return out;
}

WaitPolicy wait_policy() {
  WaitPolicy w;
  w.policy = env_or_empty("OMP_WAIT_POLICY");
  if (!w.policy.empty()) w.set_by = env_or_empty(set_by_bench_marker("OMP_WAIT_POLICY").c_str()) == "1" ? "bench" : "environment";
  w.spin_count = env_or_empty("GOMP_SPINCOUNT");
  return w;
}

std::vector<std::string> mapped_runtimes() {
  static const std::regex runtime(R"(^lib(gomp|iomp5|omp)([-.].*)?\.so(\..*)?$)");
  std::set<std::string> found;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (std::regex_match(std::filesystem::path(path).filename().string(), runtime)) found.insert(path);
  }
  return {found.begin(), found.end()};
}

}  // namespace talklab::openmp
