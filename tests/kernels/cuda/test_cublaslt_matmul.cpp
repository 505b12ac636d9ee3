// kernels/cuda/matmul/cublaslt_matmul.h: every dtype's product matches a float64 dot product on sampled elements,
// within lt_error_tolerance(dtype) (each tolerance is justified beside its value in cublaslt_matmul.cu), on
// fresh random inputs, with the output poisoned before the run so an unwritten element fails. fp8 rowwise and
// blockwise scales: random scales through fill_random and caller-uploaded codes and scales, against the float64
// product of the dequantized operands (skipped with cuBLASLt's reason where a mode is unsupported). On the CPU:
// the scale layout conversions, the scale counts and the argument checks.
#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/fp8.h"

#include "kernels/cuda/matmul/cublaslt_matmul.h"
#include "tests/kernels/cuda/require_gpu.h"

namespace talklab::cuda {

// So that test names and failure messages show "bf16" rather than the enum's bytes (found by argument-dependent
// lookup, hence in LtDtype's namespace).
void PrintTo(LtDtype dtype, std::ostream* os) { *os << lt_dtype_name(dtype); }
void PrintTo(LtScaling scaling, std::ostream* os) { *os << lt_scaling_name(scaling); }

namespace {

constexpr int kSamples = 64;
constexpr float kUnitScale = 1.0f;

struct Shape {
  int64_t M, N, K;
};

// Every element of D (M x N, row-major) against its float64 sum over k of term(i, j, k), within tol times the
// sum of |term| (the size of a K-term sum of random signs, so an output that cancels to near zero is not judged
// against itself): how many fall outside, the first five reported.
template <class Term>
int count_bad_elements(const std::vector<float>& d, int64_t M, int64_t N, int64_t K, double tol, Term term) {
  int bad = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double ref = 0, abs_sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double t = term(i, j, k);
        ref += t;
        abs_sum += std::abs(t);
      }
      const double got = d[i * N + j];
      if (!(std::abs(got - ref) <= tol * abs_sum) && ++bad <= 5) {
        ADD_FAILURE() << "D[" << i << "][" << j << "] = " << got << ", float64 " << ref;
      }
    }
  }
  return bad;
}

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


// --- scale layouts and argument checks: no GPU needed -------------------------------------------------------------

TEST(LtScales, CountsFollowTheScaleGrids) {
  EXPECT_EQ(lt_a_scale_count(LtScaling::tensorwise, 64, 256), 1u);
  EXPECT_EQ(lt_b_scale_count(LtScaling::tensorwise, 48, 256), 1u);
  EXPECT_EQ(lt_a_scale_count(LtScaling::rowwise, 64, 256), 64u);
  EXPECT_EQ(lt_b_scale_count(LtScaling::rowwise, 48, 256), 48u);
  EXPECT_EQ(lt_a_scale_count(LtScaling::blockwise, 64, 384), 64u * 3);
  EXPECT_EQ(lt_b_scale_count(LtScaling::blockwise, 300, 384), 3u * 3);  // ceil(300 / 128) = 3 column blocks
  EXPECT_THROW(lt_a_scale_count(LtScaling::blockwise, 64, 200), std::invalid_argument);
  EXPECT_THROW(lt_b_scale_count(LtScaling::blockwise, 64, 200), std::invalid_argument);
}

TEST(LtScales, BlockwiseAIsMMajorForCublasLt) {
  const int64_t M = 3, K = 256;  // L = 2 blocks along K
  const std::vector<float> ours = {0, 1, 10, 11, 20, 21};  // row-major (M, L): (i, b) at [i*L + b] = 10 i + b
  EXPECT_EQ(lt_device_a_scales(LtScaling::blockwise, ours.data(), M, K), (std::vector<float>{0, 10, 20, 1, 11, 21}));
  EXPECT_EQ(lt_device_a_scales(LtScaling::rowwise, ours.data(), M, K), (std::vector<float>{0, 1, 10}));
}

TEST(LtScales, BlockwiseBIsKMajorWithColumnsPaddedToFour) {
  const int64_t N = 300, K = 640;  // L = 5 blocks along K (L4 = 8), 3 column blocks
  std::vector<float> ours;         // row-major (L, 3): (b, jb) at [b*3 + jb] = 10 b + jb + 1
  for (int b = 0; b < 5; ++b)
    for (int jb = 0; jb < 3; ++jb) ours.push_back(float(10 * b + jb + 1));
  const std::vector<float> lt = lt_device_b_scales(LtScaling::blockwise, ours.data(), N, K);
  ASSERT_EQ(lt.size(), 3u * 8);
  for (int jb = 0; jb < 3; ++jb) {
    for (int b = 0; b < 8; ++b) EXPECT_EQ(lt[jb * 8 + b], b < 5 ? float(10 * b + jb + 1) : 0.0f) << jb << " " << b;
  }
}

TEST(LtArgs, ShapeAndScalingErrorsNeedNoDevice) {
  EXPECT_THROW(LtMatmul(LtDtype::bf16, 64, 64, 64, nullptr, LtScaling::rowwise), std::invalid_argument);
  EXPECT_THROW(LtMatmul(LtDtype::fp8_e4m3, 64, 64, 144, nullptr, LtScaling::blockwise), std::invalid_argument);
  EXPECT_THROW(LtMatmul(LtDtype::fp8_e4m3, 17, 64, 64, nullptr, LtScaling::rowwise), std::invalid_argument);
  EXPECT_NE(lt_unsupported_reason(LtDtype::fp8_e4m3, LtScaling::blockwise, 64, 64, 144).find("multiple of 128"),
            std::string::npos);
  EXPECT_NE(lt_unsupported_reason(LtDtype::fp8_e4m3, LtScaling::rowwise, 17, 64, 64).find("multiples of 16"),
            std::string::npos);
}

TEST(LtArgs, UnsupportedReasonWithoutAGpuNamesTheRuntimeCall) {
  TALKLAB_REQUIRE_NO_GPU();
  const std::string why = lt_unsupported_reason(LtDtype::fp8_e4m3, LtScaling::rowwise, 64, 64, 64);
  EXPECT_NE(why.find("cuda"), std::string::npos) << why;
}

// --- fp8 scale modes on a GPU -----------------------------------------------------------------------------------

class LtScaledFp8Test : public ::testing::TestWithParam<LtScaling> {};

#define TALKLAB_REQUIRE_LT(scaling, M, N, K)                                                          \
  do {                                                                                               \
    TALKLAB_REQUIRE_GPU();                                                                           \
    const std::string talklab_why_ = lt_unsupported_reason(LtDtype::fp8_e4m3, (scaling), (M), (N), (K)); \
    if (!talklab_why_.empty()) GTEST_SKIP() << talklab_why_;                                         \
  } while (0)

TEST_P(LtScaledFp8Test, RandomScalesMatchFloat64OnSampledElements) {
  TALKLAB_REQUIRE_LT(GetParam(), 256, 384, 512);
  // N = 272: a partial 128-column block of B's 128 x 128 scales.
  for (const Shape shape : {Shape{256, 384, 512}, Shape{128, 272, 1024}}) {
    LtMatmul mm(LtDtype::fp8_e4m3, shape.M, shape.N, shape.K, nullptr, GetParam());
    mm.fill_random(21);
    mm.poison_output();
    mm.run();
    EXPECT_LE(mm.max_rel_error_sampled(kSamples), lt_error_tolerance(LtDtype::fp8_e4m3))
        << "M=" << shape.M << " N=" << shape.N << " K=" << shape.K;
  }
}

// Caller-provided e4m3 codes and scales in our layout, every element of D against the float64 product of the
// dequantized operands: |D - ref| <= lt_error_tolerance(fp8) * sum_k |terms|. The absolute sum is larger than the
// sampled check's denominator, so this bound is looser on accumulation, but it covers every element and so the
// position of every scale (a scale of the wrong row, column or block is off by up to 16x).
TEST_P(LtScaledFp8Test, UploadedCodesAndScalesMatchFloat64Everywhere) {
  const int64_t M = 128, N = 272, K = 384;
  TALKLAB_REQUIRE_LT(GetParam(), M, N, K);
  std::mt19937_64 rng(5);
  auto code = [&] {  // a normal e4m3 code (2^-6 .. 448): no NaN (0x7F, 0xFF), no subnormal
    for (;;) {
      const auto c = static_cast<uint8_t>(rng());
      if ((c & 0x7F) != 0x7F && (c & 0x78) != 0) return c;
    }
  };
  std::uniform_real_distribution<float> scale(0.25f, 4.0f);
  std::vector<uint8_t> a(M * K), b_kn(K * N), b_col(K * N);
  for (auto& v : a) v = code();
  for (auto& v : b_kn) v = code();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) b_col[n * K + k] = b_kn[k * N + n];
  std::vector<float> sa(lt_a_scale_count(GetParam(), M, K)), sb(lt_b_scale_count(GetParam(), N, K));
  for (auto& v : sa) v = scale(rng);
  for (auto& v : sb) v = scale(rng);
  auto a_scale = [&](int64_t i, int64_t k) {
    return GetParam() == LtScaling::rowwise ? sa[i] : sa[i * (K / kLtBlock) + k / kLtBlock];
  };
  auto b_scale = [&](int64_t k, int64_t j) {
    return GetParam() == LtScaling::rowwise ? sb[j] : sb[(k / kLtBlock) * ((N + kLtBlock - 1) / kLtBlock) + j / kLtBlock];
  };

  LtMatmul mm(LtDtype::fp8_e4m3, M, N, K, nullptr, GetParam());
  mm.upload(a.data(), b_col.data(), sa.data(), sb.data());
  mm.poison_output();
  mm.run();
  std::vector<float> d(M * N);
  mm.download_output(d.data());
  EXPECT_EQ(count_bad_elements(d, M, N, K, lt_error_tolerance(LtDtype::fp8_e4m3),
                               [&](int64_t i, int64_t j, int64_t k) {
                                 return double(cpu::quant::e4m3fn_to_float(a[i * K + k])) * a_scale(i, k) *
                                        double(cpu::quant::e4m3fn_to_float(b_kn[k * N + j])) * b_scale(k, j);
                               }),
            0);
}

INSTANTIATE_TEST_SUITE_P(ScaleModes, LtScaledFp8Test, ::testing::Values(LtScaling::rowwise, LtScaling::blockwise),
                         [](const ::testing::TestParamInfo<LtScaling>& p) {
                           return std::string(lt_scaling_name(p.param));
                         });

// The upload path of a non-fp8 dtype on an odd shape: bf16 in, bf16 out, every element.
TEST(LtUpload, Bf16OddShapeMatchesFloat64Everywhere) {
  TALKLAB_REQUIRE_GPU();
  std::string why;
  if (!device_supports(LtDtype::bf16, &why)) GTEST_SKIP() << why;
  const int64_t M = 67, N = 45, K = 131;
  std::mt19937_64 rng(9);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<uint16_t> a(M * K), b_col(K * N);
  for (auto& v : a) v = cpu::quant::float_to_bf16(normal(rng));
  for (auto& v : b_col) v = cpu::quant::float_to_bf16(normal(rng));
  LtMatmul mm(LtDtype::bf16, M, N, K, nullptr);
  EXPECT_THROW(mm.upload(a.data(), b_col.data(), &kUnitScale, &kUnitScale), std::invalid_argument);
  mm.upload(a.data(), b_col.data());
  mm.poison_output();
  mm.run();
  std::vector<float> d(M * N);
  mm.download_output(d.data());
  EXPECT_EQ(count_bad_elements(d, M, N, K, lt_error_tolerance(LtDtype::bf16),
                               [&](int64_t i, int64_t j, int64_t k) {
                                 return double(cpu::quant::bf16_to_float(a[i * K + k])) *
                                        double(cpu::quant::bf16_to_float(b_col[j * K + k]));
                               }),
            0);
}

}  // namespace
}  // namespace talklab::cuda
