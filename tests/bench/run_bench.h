// Runs the bench binary as a user would, from the tests of its command line.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace talklab::testing {

struct Outcome {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// `bench ARGS` through the shell (so quoting works as on a command line); the exit code and all output.
inline Outcome run_bench(const std::string& args) {
  Outcome o;
  const std::string command = std::string(TALKLAB_BENCH_BINARY) + " " + args + " 2>&1";
  std::FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int status = pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

}  // namespace talklab::testing
