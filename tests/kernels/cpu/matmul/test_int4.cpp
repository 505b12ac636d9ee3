// int4 w4a16 (kernels/cpu/matmul/matmul_int4.h) on every ISA this CPU supports, threads 1 and 2, M in {1, 2, 3,
// 5, 17, 64, 130} (AVX2: 8-column tiles of 1 to 6 rows), N not a multiple of the 32-column panel nor of the
// 16-column half (7, 33, 45, 100, 257, 4097), K in {128, 384, 4096} with groups 32, 64 and 128, against a float64
// reference on the same bf16 activations (AVX2 at M = 1: as rounded to int16 per group) and the dequantized int4
// weights (code * scale, exact in float64). C is poisoned with NaN before each call; no NaN may remain.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "harness/check.h"
#include "kernels/cpu/matmul/matmul_int4.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/scaling.h"

namespace talklab::cpu::matmul {
namespace {

using talklab::Accuracy;
using talklab::compare;
using talklab::poison;
using talklab::Tolerance;

// Products bf16 x int4 code are exact in fp32, so the kernel's only error is fp32 accumulation (per group, then
// one FMA per group into the output), in another order than the reference. With random signs the rounding errors
// add like a random walk: normwise ||C - ref|| / ||ref|| stays under u * sqrt(K), u = 2^-24 (measured: at most
// 0.07 u sqrt(K) on the shapes with N >= 33, the sums being per group; under 0.25 u sqrt(K) on the 7 outputs of
// N = 7, M = 1). The AVX2 path sums a * (q + 8) and subtracts 8 * sum(a) per group (matmul_int4_avx2.cpp): the
// same exact products, larger sums; measured under 0.1 u sqrt(K) on every shape here. Headroom 2 over the bound;
// one wrong code (off by 1) moves the norm by >= 1e-4 at these sizes, over 10x the largest tolerance (7.6e-6 at
// K = 4096). AVX2 at M = 1 multiplies A rounded to int16 per group (round_a_int16; exact int32 sums, then one
// convert and FMA per group): held to the same bound against the product of that rounded A, which is checked
// against the exact one by the rounding's own bound (check_shape).
constexpr double kUnitRoundoff = 0x1p-24;
constexpr double kNormwiseHeadroom = 2.0;
// As the harness's SQNR floor: ||C - ref|| / ||ref|| <= e is SQNR >= -20 log10(e).
Tolerance normwise_tolerance(int K) {
  const double e = kNormwiseHeadroom * kUnitRoundoff * std::sqrt(double(K));
  return Tolerance{1.0, -20.0 * std::log10(e)};
}

struct Shape {
  int K, N;
  std::vector<int> Ms;
};
// The big N (4097: 129 panels, uneven over 2 threads) with small M and K, so the scalar path stays quick; N = 7
// (one panel for 2 threads: the M tiles are split between them).
const Shape kShapes[] = {{128, 33, {1, 3, 17, 130}},      {128, 4097, {1, 3, 17}}, {384, 33, {1, 3, 17, 130}},
                         {384, 257, {1, 3, 17, 130}},     {4096, 33, {1, 17}},     {4096, 257, {1, 3}},
                         {128, 45, {1, 2, 5, 64}},        {384, 100, {1, 2, 3, 5, 64}},
                         {4096, 100, {1, 2, 5}},          {128, 7, {1, 5, 17}}};
const int kGroups[] = {32, 64, 128};
const int kThreads[] = {1, 2};

void set_threads_for(int n) { omp_set_num_threads(n); }

// Uniform in +-[0.1, 1] with a random sign: never zero, so a dropped term always shows.
std::vector<float> nonzero_uniform(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution neg(0.5);
  std::vector<float> v(n);
  for (float& x : v) x = mag(rng) * (neg(rng) ? -1.0f : 1.0f);
  return v;
}

quant::Quantized quantize(const std::vector<float>& B, int K, int N, int group) {
  return quant::quantize_groupwise(B.data(), quant::Operand::B, K, N, group, quant::ElemType::int4);
}

int8_t code_of(const quant::Quantized& q, int k, int n) {
  const int N = int(q.grid.cols);
  return quant::int4_from_nibble(uint8_t(q.codes[size_t(k / 2) * N + n] >> (4 * (k % 2))));
}

void check_shape(const Shape& s, int group, std::mt19937& rng) {
  const int K = s.K, N = s.N;
  const quant::Quantized q = quantize(nonzero_uniform(size_t(K) * N, rng), K, N, group);
  const PackedBInt4 packed = pack_b_int4(q.codes.data(), q.scales.data(), K, N, group);
  // Dequantized weights, column-major for the reference's inner loop.
  std::vector<double> w(size_t(K) * N);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n)
      w[size_t(n) * K + k] = double(code_of(q, k, n)) * double(packed.scale(k, n));  // the scale as stored (bf16)
  for (int M : s.Ms) {
    std::vector<uint16_t> A(size_t(M) * K);
    const std::vector<float> af = nonzero_uniform(A.size(), rng);
    for (size_t i = 0; i < A.size(); ++i) A[i] = quant::float_to_bf16(af[i]);
    std::vector<double> ref(size_t(M) * N, 0.0);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double acc = 0;
        for (int k = 0; k < K; ++k) acc += double(quant::bf16_to_float(A[size_t(m) * K + k])) * w[size_t(n) * K + k];
        ref[size_t(m) * N + n] = acc;
      }
    // AVX2 at M = 1 multiplies A rounded to int16 per group (round_a_int16): its reference is that A's product, and
    // that product stays within the rounding's bound of the exact one: |ref16 - ref| <= sum_k (scale_g / 2) |w_kn|
    // (fp32's 2^-24 of each a_k on top: a factor 1 + 2^-20 covers it).
    std::vector<double> ref16;
    if (M == 1) {
      std::vector<int16_t> codes(static_cast<size_t>(K));
      std::vector<float> scales(static_cast<size_t>(K / group));
      round_a_int16(A.data(), K, group, codes.data(), scales.data());
      ref16.assign(size_t(N), 0.0);
      for (int n = 0; n < N; ++n) {
        double acc = 0, bound = 0;
        for (int k = 0; k < K; ++k) {
          acc += double(codes[size_t(k)]) * double(scales[size_t(k / group)]) * w[size_t(n) * K + k];
          bound += 0.5 * double(scales[size_t(k / group)]) * std::abs(w[size_t(n) * K + k]);
        }
        ref16[size_t(n)] = acc;
        EXPECT_LE(std::abs(acc - ref[size_t(n)]), bound * (1 + 0x1p-20)) << "n=" << n << " K=" << K;
      }
    }
    for (Isa isa : supported_isas())
      for (int threads : kThreads) {
        SCOPED_TRACE(testing::Message() << "M=" << M << " N=" << N << " K=" << K << " group=" << group
                                        << " isa=" << isa_name(isa) << " threads=" << threads);
        const int saved = omp_get_max_threads();
        set_threads_for(threads);
        std::vector<float> C(ref.size());
        poison(C);
        matmul_int4_w4a16(C.data(), A.data(), packed, M, isa);
        set_threads_for(saved);
        // The harness's gate: fails on any NaN left, and its SQNR is the normwise error in dB.
        const Accuracy acc = compare<float>(C, isa == Isa::avx2 && M == 1 ? ref16 : ref, normwise_tolerance(K));
        EXPECT_TRUE(acc.passed) << acc.error;
      }
  }
}

TEST(MatmulInt4, MatchesFloat64ReferenceOnEveryIsa) {
  std::mt19937 rng(44);
  for (const Shape& s : kShapes)
    for (int group : kGroups) check_shape(s, group, rng);
}

TEST(MatmulInt4, PackingRoundTripsCodesAndScales) {
  std::mt19937 rng(4);
  const int K = 384, N = 45;
  for (int group : kGroups) {
    const quant::Quantized q = quantize(nonzero_uniform(size_t(K) * N, rng), K, N, group);
    const PackedBInt4 packed = pack_b_int4(q.codes.data(), q.scales.data(), K, N, group);
    EXPECT_EQ(packed.groups, K / group);
    EXPECT_EQ(packed.panels, 2);
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) {
        ASSERT_EQ(packed.code(k, n), code_of(q, k, n)) << "k=" << k << " n=" << n;
        // The scale rounded to bf16 (nearest even): exactly its bf16 value, within 2^-8 (relative) of it.
        const float s = q.scales[size_t(k / group) * N + n];
        ASSERT_EQ(packed.scale(k, n), quant::bf16_to_float(quant::float_to_bf16(s))) << "k=" << k << " n=" << n;
        ASSERT_LE(std::abs(packed.scale(k, n) - s), s * 0x1p-8f) << "k=" << k << " n=" << n;
      }
    // The panel tail (columns N..63) is zero: code 0 and scale 0.
    for (int k = 0; k < K; ++k) EXPECT_EQ(packed.code(k, 2 * kPanelN - 1), 0);
  }
  // quantize_pack_b_int4 is the same two steps.
  const std::vector<float> B = nonzero_uniform(size_t(K) * N, rng);
  const quant::Quantized q = quantize(B, K, N, 64);
  const PackedBInt4 direct = quantize_pack_b_int4(B.data(), K, N, 64);
  const PackedBInt4 two_step = pack_b_int4(q.codes.data(), q.scales.data(), K, N, 64);
  EXPECT_EQ(direct.codes, two_step.codes);
  EXPECT_EQ(direct.scales, two_step.scales);
}

TEST(MatmulInt4, RejectsKNotAMultipleOfTheGroupAndUnsupportedGroups) {
  const std::vector<float> B(size_t(200) * 8, 1.0f);
  try {
    quantize_pack_b_int4(B.data(), 200, 8, 128);
    FAIL() << "K = 200, group 128 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("K = 200"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("128"), std::string::npos) << e.what();
  }
  for (int group : {0, 16, 48, 96, 256}) {
    SCOPED_TRACE(group);
    EXPECT_THROW(quantize_pack_b_int4(B.data(), 192, 8, group), std::invalid_argument);
    EXPECT_THROW(check_int4_group(768, group), std::invalid_argument);
  }
  EXPECT_NO_THROW(check_int4_group(192, 64));
  EXPECT_THROW(check_int4_group(0, 32), std::invalid_argument);
}

// Every output element is written even where the reference is exactly zero (A = 0), on every ISA.
TEST(MatmulInt4, OverwritesEveryPoisonedOutput) {
  std::mt19937 rng(9);
  const int M = 7, K = 256, N = 70;
  const PackedBInt4 packed = quantize_pack_b_int4(nonzero_uniform(size_t(K) * N, rng).data(), K, N, 32);
  const std::vector<uint16_t> A(size_t(M) * K, 0);
  for (Isa isa : supported_isas()) {
    std::vector<float> C(size_t(M) * N, std::nanf(""));
    matmul_int4_w4a16(C.data(), A.data(), packed, M, isa);
    for (size_t i = 0; i < C.size(); ++i) ASSERT_EQ(C[i], 0.0f) << isa_name(isa) << " element " << i;
  }
}

}  // namespace
}  // namespace talklab::cpu::matmul
