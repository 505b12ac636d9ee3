// run_peak() must report exactly the ops its loops execute, for every (op, ISA) this CPU runs, and
// peak_supported() must say why a pair cannot run.
#include "kernels/cpu/roofline/peak.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace talklab::cpu::roofline {
namespace {

constexpr PeakOp kOps[] = {PeakOp::fp32_fma, PeakOp::bf16_dot, PeakOp::int8_dot};
constexpr Isa kIsas[] = {Isa::scalar, Isa::avx2, Isa::avx512};
constexpr int64_t kIterations = 1000;

// Written out by hand from the loops (accumulators x lanes x ops per lane), not from the code under test.
int64_t expected_ops_per_iteration(PeakOp op, Isa isa) {
  switch (op) {
    case PeakOp::fp32_fma: return isa == Isa::avx512 ? 16 * 16 * 2 : isa == Isa::avx2 ? 12 * 8 * 2 : 14 * 4 * 2;
    case PeakOp::bf16_dot: return 16 * 16 * 4;         // avx512 only
    case PeakOp::int8_dot: return isa == Isa::avx512 ? 16 * 16 * 8 : 12 * 8 * 8;
  }
  return -1;
}

bool cpu_has(Isa isa) {
  for (Isa have : supported_isas()) {
    if (have == isa) return true;
  }
  return false;
}

TEST(Peak, RunPeakCountsEveryOpOnEveryThread) {
  int ran = 0;
  for (PeakOp op : kOps) {
    for (Isa isa : kIsas) {
      if (!peak_supported(op, isa)) continue;
      SCOPED_TRACE(std::string(peak_op_name(op)) + " at " + isa_name(isa));
      const int64_t per_iteration = expected_ops_per_iteration(op, isa);
      EXPECT_EQ(peak_ops_per_iteration(op, isa), per_iteration);
      for (int threads : {1, 2}) {
        EXPECT_EQ(run_peak(op, isa, kIterations, threads), threads * kIterations * per_iteration);
      }
      EXPECT_EQ(run_peak(op, isa, 0, 1), 0);
      ++ran;
    }
  }
  EXPECT_GE(ran, 1);  // fp32_fma at scalar runs everywhere
}

TEST(Peak, Fp32FmaRunsAtEveryIsaTheCpuHas) {
  for (Isa isa : supported_isas()) EXPECT_TRUE(peak_supported(PeakOp::fp32_fma, isa)) << isa_name(isa);
}

TEST(Peak, UnsupportedPairsSayWhy) {
  std::string why;
  EXPECT_FALSE(peak_supported(PeakOp::bf16_dot, Isa::avx2, &why));
  EXPECT_NE(why.find("AVX512_BF16"), std::string::npos) << why;
  EXPECT_FALSE(peak_supported(PeakOp::bf16_dot, Isa::scalar, &why));
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(peak_supported(PeakOp::int8_dot, Isa::scalar, &why));
  EXPECT_NE(why.find("VNNI"), std::string::npos) << why;
  if (cpu_has(Isa::avx2)) {
    why.clear();
    EXPECT_EQ(peak_supported(PeakOp::int8_dot, Isa::avx2, &why), cpu_features().avx_vnni);
    if (!cpu_features().avx_vnni) {
      EXPECT_NE(why.find("AVX-VNNI"), std::string::npos) << why;
    }
  }
  for (Isa isa : kIsas) {
    if (cpu_has(isa)) continue;
    EXPECT_FALSE(peak_supported(PeakOp::fp32_fma, isa, &why));
    EXPECT_NE(why.find(isa_name(isa)), std::string::npos) << why;
  }
  EXPECT_EQ(peak_ops_per_iteration(PeakOp::bf16_dot, Isa::scalar), 0);
}

TEST(Peak, RejectsBadArguments) {
  EXPECT_THROW(run_peak(PeakOp::bf16_dot, Isa::scalar, 1, 1), std::invalid_argument);
  EXPECT_THROW(run_peak(PeakOp::fp32_fma, Isa::scalar, -1, 1), std::invalid_argument);
  EXPECT_THROW(run_peak(PeakOp::fp32_fma, Isa::scalar, 1, 0), std::invalid_argument);
}

}  // namespace
}  // namespace talklab::cpu::roofline
