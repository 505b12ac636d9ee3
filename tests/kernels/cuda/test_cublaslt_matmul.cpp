// kernels/cuda/cublaslt_matmul.h: every dtype's product matches a float64 dot product on sampled elements,
// within lt_error_tolerance(dtype) (each tolerance is justified beside its value in cublaslt_matmul.cu), on
// fresh random inputs, with the output poisoned before the run so an unwritten element fails.
#include <cmath>
#include <ostream>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cublaslt_matmul.h"
#include "tests/kernels/cuda/require_gpu.h"

namespace talklab::cuda {

// So that test names and failure messages show "bf16" rather than the enum's bytes (found by argument-dependent
// lookup, hence in LtDtype's namespace).
void PrintTo(LtDtype dtype, std::ostream* os) { *os << lt_dtype_name(dtype); }

namespace {

constexpr int kSamples = 64;

struct Shape {
  int64_t M, N, K;
};

bool device_supports(LtDtype dtype, std::string* why) {
  const DeviceInfo info = probe_device();
  const int cc = info.cc_major * 10 + info.cc_minor;
  const int need = dtype == LtDtype::fp8_e4m3 ? 89 : (dtype == LtDtype::bf16 || dtype == LtDtype::tf32) ? 80 : 0;
  if (cc >= need) return true;
  *why = std::string(lt_dtype_name(dtype)) + " needs compute capability " + std::to_string(need / 10) + "." +
         std::to_string(need % 10) + ", this device is " + std::to_string(info.cc_major) + "." +
         std::to_string(info.cc_minor);
  return false;
}

void check_product(LtDtype dtype, Shape shape, uint64_t seed) {
  LtMatmul mm(dtype, shape.M, shape.N, shape.K, nullptr);
  EXPECT_EQ(mm.flops(), 2.0 * shape.M * shape.N * shape.K);
  mm.fill_random(seed);
  mm.poison_output();
  mm.run();
  const double err = mm.max_rel_error_sampled(kSamples);
  EXPECT_LE(err, lt_error_tolerance(dtype))
      << lt_dtype_name(dtype) << " M=" << shape.M << " N=" << shape.N << " K=" << shape.K << " seed=" << seed;
}

class LtMatmulTest : public ::testing::TestWithParam<LtDtype> {};

TEST_P(LtMatmulTest, MatchesFloat64OnSampledElements) {
  TALKLAB_REQUIRE_GPU();
  std::string why;
  if (!device_supports(GetParam(), &why)) GTEST_SKIP() << why;
  // Rectangular and all different, so a swapped M/N or a wrong leading dimension cannot pass; two seeds so
  // a lucky input cannot either. Multiples of 16 because fp8 requires them.
  check_product(GetParam(), {256, 384, 512}, 1);
  check_product(GetParam(), {256, 384, 512}, 2);
  check_product(GetParam(), {1024, 512, 4096}, 3);
}

TEST_P(LtMatmulTest, OddShapesExceptFp8) {
  TALKLAB_REQUIRE_GPU();
  std::string why;
  if (!device_supports(GetParam(), &why)) GTEST_SKIP() << why;
  if (GetParam() == LtDtype::fp8_e4m3) {
    EXPECT_THROW(LtMatmul(GetParam(), 67, 45, 131, nullptr), std::invalid_argument);
    return;
  }
  check_product(GetParam(), {67, 45, 131}, 4);
  check_product(GetParam(), {1, 33, 7}, 5);
}

// The gate itself: an output nobody wrote must fail it.
TEST_P(LtMatmulTest, PoisonedOutputFailsTheCheck) {
  TALKLAB_REQUIRE_GPU();
  std::string why;
  if (!device_supports(GetParam(), &why)) GTEST_SKIP() << why;
  LtMatmul mm(GetParam(), 64, 32, 48, nullptr);
  mm.fill_random(7);
  mm.poison_output();
  EXPECT_TRUE(std::isinf(mm.max_rel_error_sampled(4)));
}

TEST_P(LtMatmulTest, ThrowsWithoutAGpu) {
  TALKLAB_REQUIRE_NO_GPU();
  EXPECT_THROW(LtMatmul(GetParam(), 64, 64, 64, nullptr), std::runtime_error);
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, LtMatmulTest,
                         ::testing::Values(LtDtype::fp32, LtDtype::tf32, LtDtype::bf16, LtDtype::fp16,
                                           LtDtype::fp8_e4m3),
                         [](const ::testing::TestParamInfo<LtDtype>& p) { return std::string(lt_dtype_name(p.param)); });

}  // namespace
}  // namespace talklab::cuda
