// The low-precision matmuls (kernels/cpu/matmul/matmul.h) on every ISA this CPU supports, threads 1 and 2, odd
// shapes (M in {1, 2, 3, 5, 17, 64, 130}: the AVX2 stream driver (M <= 2) and the blocked one with 4- and 5-row
// micro-tiles and their remainders; N in {1, 33, 45, 100, 257}: panel and half-panel tails; K in {1, 7, 64, 1000,
// 4095}: K pair / quad tails), against a float64 reference on the same bf16 / int8 codes. C is poisoned with NaN
// before each call; no NaN may remain.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/quant/bf16.h"
#include "tests/kernels/cpu/matmul/tolerances.h"

namespace talklab::cpu::matmul {
namespace {

using test::kBf16NormwiseTol;
using test::kInt8MinSqnrDb;
using test::kInt8RelTol;

const int kNs[] = {1, 33, 45, 100, 257};
const int kKs[] = {1, 7, 64, 1000, 4095};
const int kThreads[] = {1, 2};

// Uniform in +-[0.1, 1] with a random sign: never zero, so a dropped term always shows.
std::vector<float> random_nonzero(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution neg(0.5);
  std::vector<float> v(n);
  for (float& x : v) x = neg(rng) ? -mag(rng) : mag(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = quant::float_to_bf16(v[i]);
  return b;
}

std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::nanf("")); }

class ThreadScope {
 public:
  explicit ThreadScope(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadScope() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

void check_bf16(int K, int N, std::initializer_list<int> Ms, std::mt19937& rng) {
    {
      const auto B = to_bf16(random_nonzero(size_t(K) * N, rng));
      const PackedBBf16 packed = pack_b_bf16(B.data(), K, N);
      for (int M : Ms) {
        const auto A = to_bf16(random_nonzero(size_t(M) * K, rng));
        std::vector<double> ref(size_t(M) * N, 0.0);
        for (int m = 0; m < M; ++m)
          for (int k = 0; k < K; ++k) {
            const double a = quant::bf16_to_float(A[size_t(m) * K + k]);
            for (int n = 0; n < N; ++n) ref[size_t(m) * N + n] += a * quant::bf16_to_float(B[size_t(k) * N + n]);
          }
        for (Isa isa : supported_isas())
          for (int threads : kThreads) {
            SCOPED_TRACE(testing::Message() << "M=" << M << " N=" << N << " K=" << K << " isa=" << isa_name(isa)
                                            << " threads=" << threads);
            ThreadScope scope(threads);
            auto C = poisoned(ref.size());
            matmul_bf16(C.data(), A.data(), packed, M, isa);
            double err2 = 0, ref2 = 0;
            size_t nans = 0;
            for (size_t i = 0; i < ref.size(); ++i) {
              nans += std::isnan(C[i]);
              err2 += (C[i] - ref[i]) * (C[i] - ref[i]);
              ref2 += ref[i] * ref[i];
            }
            ASSERT_EQ(nans, 0u);
            EXPECT_LE(std::sqrt(err2 / ref2), kBf16NormwiseTol);
          }
      }
    }
}

void check_int8(int K, int N, std::initializer_list<int> Ms, std::mt19937& rng) {
    {
      const auto Bf = random_nonzero(size_t(K) * N, rng);
      std::vector<int8_t> Bq(Bf.size());
      std::vector<float> b_scale(N);
      quantize_cols_int8(Bq.data(), b_scale.data(), Bf.data(), K, N);
      const PackedBInt8 packed = pack_b_int8(Bq.data(), b_scale.data(), K, N);
      for (int M : Ms) {
        const auto Af = random_nonzero(size_t(M) * K, rng);
        // Activation quantization: every ISA's codes and scales must equal the scalar path's exactly.
        std::vector<int8_t> Aq(Af.size());
        std::vector<float> a_scale(M);
        quantize_rows_int8(Aq.data(), a_scale.data(), Af.data(), M, K, Isa::scalar);
        for (Isa isa : supported_isas()) {
          std::vector<int8_t> Aq_isa(Af.size());
          std::vector<float> a_scale_isa(M);
          quantize_rows_int8(Aq_isa.data(), a_scale_isa.data(), Af.data(), M, K, isa);
          ASSERT_EQ(Aq_isa, Aq) << isa_name(isa);
          ASSERT_EQ(a_scale_isa, a_scale) << isa_name(isa);
        }
        std::vector<double> ref(size_t(M) * N);
        for (int m = 0; m < M; ++m)
          for (int n = 0; n < N; ++n) {
            int64_t acc = 0;
            for (int k = 0; k < K; ++k) acc += int64_t(Aq[size_t(m) * K + k]) * Bq[size_t(k) * N + n];
            ref[size_t(m) * N + n] = double(acc) * a_scale[m] * b_scale[n];
          }
        for (Isa isa : supported_isas())
          for (int threads : kThreads) {
            SCOPED_TRACE(testing::Message() << "M=" << M << " N=" << N << " K=" << K << " isa=" << isa_name(isa)
                                            << " threads=" << threads);
            ThreadScope scope(threads);
            auto C = poisoned(ref.size());
            matmul_int8(C.data(), Aq.data(), a_scale.data(), packed, M, isa);
            size_t nans = 0, bad = 0;
            for (size_t i = 0; i < ref.size(); ++i) {
              nans += std::isnan(C[i]);
              bad += !(std::fabs(C[i] - ref[i]) <= kInt8RelTol * std::fabs(ref[i]));
            }
            ASSERT_EQ(nans, 0u);
            EXPECT_EQ(bad, 0u);
          }
      }
    }
}

TEST(MatmulBf16, MatchesFloat64ReferenceOnEveryIsa) {
  std::mt19937 rng(42);
  for (int K : kKs)
    for (int N : kNs) check_bf16(K, N, {1, 2, 3, 5, 17, 64, 130}, rng);
}

TEST(MatmulInt8, MatchesFloat64ReferenceOnEveryIsa) {
  std::mt19937 rng(7);
  for (int K : kKs)
    for (int N : kNs) check_int8(K, N, {1, 2, 3, 5, 17, 64, 130}, rng);
}

// TALKLAB_MATMUL_BLOCKING for one scope (matmul_avx512.cpp's blocking_for reads it at every call).
class BlockingScope {
 public:
  explicit BlockingScope(const char* value) {
    if (const char* old = std::getenv(kVar)) saved_ = old;
    ::setenv(kVar, value, 1);
  }
  ~BlockingScope() { saved_ ? (void)::setenv(kVar, saved_->c_str(), 1) : (void)::unsetenv(kVar); }

 private:
  static constexpr const char* kVar = "TALKLAB_MATMUL_BLOCKING";
  std::optional<std::string> saved_;
};

// More than one M block and several K blocks per thread, with a short last K block, under every blocking: AVX-512
// Zen 4 168 rows and K blocks of 1024 bf16 / 2048 int8 elements, AVX-512 Zen 5 336 rows and 4096 / 8192
// (matmul_avx512.cpp's blocking_for, both forced here whatever the CPU), AVX2 160 rows and 512 / 1024. K = 8200:
// 3 + 2 K blocks under Zen 5's (bf16 / int8), 9 + 5 under Zen 4's.
TEST(MatmulBf16, CrossesEveryCacheBlock) {
  for (const char* blocking : {"zen4", "zen5"}) {
    SCOPED_TRACE(blocking);
    BlockingScope scope(blocking);
    std::mt19937 rng(5);
    check_bf16(8200, 65, {700}, rng);
  }
}

TEST(MatmulInt8, CrossesEveryCacheBlock) {
  for (const char* blocking : {"zen4", "zen5"}) {
    SCOPED_TRACE(blocking);
    BlockingScope scope(blocking);
    std::mt19937 rng(6);
    check_int8(8200, 65, {700}, rng);
  }
}

TEST(Matmul, RejectsAnUnknownBlockingByName) {
  if (supported_isas().back() != Isa::avx512) GTEST_SKIP() << "the blockings are the AVX-512 driver's";
  BlockingScope scope("zen9");
  const PackedBBf16 packed = pack_b_bf16(std::vector<uint16_t>(64 * 32, 0x3f80).data(), 64, 32);
  std::vector<float> C(32);
  try {
    matmul_bf16(C.data(), std::vector<uint16_t>(64, 0x3f80).data(), packed, 1, Isa::avx512);
    FAIL() << "an unknown blocking ran";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("TALKLAB_MATMUL_BLOCKING=zen9"), std::string::npos) << e.what();
  }
}

// End to end: quantized w8a8 against the float64 product of the unquantized randn inputs.
TEST(MatmulInt8, EndToEndSqnrOnRandn) {
  const int M = 64, N = 96, K = 4096;
  std::mt19937 rng(3);
  std::normal_distribution<float> randn;
  std::vector<float> A(size_t(M) * K), B(size_t(K) * N);
  for (float& x : A) x = randn(rng);
  for (float& x : B) x = randn(rng);
  std::vector<int8_t> Bq(B.size()), Aq(A.size());
  std::vector<float> b_scale(N), a_scale(M);
  quantize_cols_int8(Bq.data(), b_scale.data(), B.data(), K, N);
  const PackedBInt8 packed = pack_b_int8(Bq.data(), b_scale.data(), K, N);
  std::vector<double> ref(size_t(M) * N, 0.0);
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) ref[size_t(m) * N + n] += double(A[size_t(m) * K + k]) * B[size_t(k) * N + n];
  for (Isa isa : supported_isas()) {
    quantize_rows_int8(Aq.data(), a_scale.data(), A.data(), M, K, isa);
    auto C = poisoned(ref.size());
    matmul_int8(C.data(), Aq.data(), a_scale.data(), packed, M, isa);
    double sig = 0, noise = 0;
    for (size_t i = 0; i < ref.size(); ++i) sig += ref[i] * ref[i], noise += (C[i] - ref[i]) * (C[i] - ref[i]);
    const double sqnr_db = 10 * std::log10(sig / noise);
    EXPECT_GE(sqnr_db, kInt8MinSqnrDb) << isa_name(isa);
    RecordProperty(std::string("sqnr_db_") + isa_name(isa), std::to_string(sqnr_db));
  }
}

TEST(Matmul, RejectsUnsupportedIsa) {
  const auto isas = supported_isas();
  if (isas.back() == Isa::avx512) GTEST_SKIP() << "every ISA is supported here";
  const PackedBBf16 packed = pack_b_bf16(nullptr, 0, 0);
  EXPECT_THROW(matmul_bf16(nullptr, nullptr, packed, 0, Isa::avx512), std::invalid_argument);
}

}  // namespace
}  // namespace talklab::cpu::matmul
