#include "kernels/cpu/cpu_features.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace talklab::cpu {
namespace {

// The kernel of Linux reports the same CPUID bits (masked by what the OS enables) in /proc/cpuinfo:
// our detection must agree with it on every flag both know.
TEST(CpuFeatures, AgreesWithProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  if (!in) GTEST_SKIP() << "no /proc/cpuinfo on this system";
  std::string line, flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      flags = " " + line.substr(line.find(':') + 1) + " ";
      break;
    }
  }
  ASSERT_FALSE(flags.empty());
  auto has = [&](const std::string& name) { return flags.find(" " + name + " ") != std::string::npos; };
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(f.avx2, has("avx2"));
  EXPECT_EQ(f.fma, has("fma"));
  EXPECT_EQ(f.avx512f, has("avx512f"));
  EXPECT_EQ(f.avx512bw, has("avx512bw"));
  EXPECT_EQ(f.avx512_bf16, has("avx512_bf16"));
  EXPECT_EQ(f.avx512_vnni, has("avx512_vnni"));
  EXPECT_FALSE(f.vendor.empty());
}

TEST(CpuFeatures, SupportedIsasStartWithScalarAndEndWithBest) {
  const std::vector<Isa> isas = supported_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::scalar);
  EXPECT_TRUE(std::is_sorted(isas.begin(), isas.end()));
  EXPECT_NE(std::find(isas.begin(), isas.end(), best_isa()), isas.end());
}

TEST(CpuFeatures, FlagNamesListEveryDetectedFeature) {
  const CpuFeatures& f = cpu_features();
  const auto names = f.flag_names();
  auto listed = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_EQ(listed("avx2"), f.avx2);
  EXPECT_EQ(listed("avx512_bf16"), f.avx512_bf16);
}

}  // namespace
}  // namespace talklab::cpu
