#include "harness/openmp.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

namespace talklab::openmp {
namespace {
// Set together with OMP_WAIT_POLICY before the re-execution, so the new process knows who set it.
constexpr const char* kSetByBench = "TALKLAB_OMP_WAIT_POLICY_SET_BY_BENCH";

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
}  // namespace

std::string reexec_with_wait_policy(const char* policy, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return "";
  if (setenv("OMP_WAIT_POLICY", policy, 1) != 0 || setenv(kSetByBench, "1", 1) != 0) {
    return std::string("setenv: ") + std::strerror(errno);
  }
  // The binary's own path rather than /proc/self/exe, so the process keeps its name (ps, top, pgrep).
  char exe[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const char* path = n > 0 ? exe : "/proc/self/exe";
  execv(path, argv);
  const std::string why = std::string("execv(") + path + "): " + std::strerror(errno);
  // This process's libgomp keeps its default: say so in the context rather than claim the policy.
  unsetenv("OMP_WAIT_POLICY");
  unsetenv(kSetByBench);
  return why;
}

WaitPolicy wait_policy() {
  WaitPolicy w;
  w.policy = env_or_empty("OMP_WAIT_POLICY");
  if (!w.policy.empty()) w.set_by = env_or_empty(kSetByBench) == "1" ? "bench" : "environment";
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
