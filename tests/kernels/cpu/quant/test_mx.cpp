// OCP MX: all e8m0 and e2m1 codes, the shared-exponent rule on hand-computed blocks (power of two, just below,
// zeros, NaN, inf, subnormal and huge amax), saturation, tail blocks, and the per-element error bound.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/quant/fp8.h"
#include "kernels/cpu/quant/mx.h"
#include "tests/kernels/cpu/quant/reference.h"

namespace talklab::cpu::quant {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr MxElem kElems[] = {MxElem::e4m3, MxElem::e5m2, MxElem::e2m1};

const ref::Format& format_of(MxElem e) {
  return e == MxElem::e4m3 ? ref::kE4m3fn : e == MxElem::e5m2 ? ref::kE5m2 : ref::kE2m1;
}

TEST(Mx, E8m0EveryCode) {
  for (int e = 0; e < 255; ++e) EXPECT_EQ(double(e8m0_to_float(uint8_t(e))), std::ldexp(1.0, e - 127)) << e;
  EXPECT_TRUE(std::isnan(e8m0_to_float(0xFF)));
  EXPECT_EQ(e8m0_to_float(127), 1.0f);
  EXPECT_EQ(e8m0_to_float(0), std::ldexp(1.0f, -127));
  EXPECT_EQ(e8m0_to_float(254), std::ldexp(1.0f, 127));
}

TEST(Mx, E2m1EveryCode) {
  const float magnitudes[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (uint32_t c = 0; c < 16; ++c) {
    const float want = (c & 8) ? -magnitudes[c & 7] : magnitudes[c & 7];
    EXPECT_EQ(e2m1_to_float(uint8_t(c)), want) << c;
    EXPECT_EQ(double(e2m1_to_float(uint8_t(c))), ref::value(ref::kE2m1, c)) << c;
    EXPECT_EQ(std::signbit(e2m1_to_float(uint8_t(c))), bool(c & 8)) << c;
    EXPECT_EQ(float_to_e2m1(e2m1_to_float(uint8_t(c))), c) << c;  // round trip, -0 included
  }
}

TEST(Mx, E2m1RoundsToEvenAndSaturates) {
  struct Case {
    float in;
    float out;
  };
  // Ties between neighbours go to the even code: 0 | 0.5 -> 0, 0.5 | 1 -> 1, 1 | 1.5 -> 1, 1.5 | 2 -> 2,
  // 2 | 3 -> 2, 3 | 4 -> 4, 4 | 6 -> 4; past 6 everything saturates.
  const Case cases[] = {{0.25f, 0.0f}, {0.75f, 1.0f}, {1.25f, 1.0f}, {1.75f, 2.0f}, {2.5f, 2.0f},
                        {3.5f, 4.0f},  {5.0f, 4.0f},  {5.0001f, 6.0f}, {0.2500001f, 0.5f}, {4.9999f, 4.0f},
                        {7.0f, 6.0f},  {1e30f, 6.0f}, {kInf, 6.0f},   {-kInf, -6.0f}, {-2.5f, -2.0f}};
  for (const Case& c : cases) EXPECT_EQ(e2m1_to_float(float_to_e2m1(c.in)), c.out) << c.in;
  EXPECT_EQ(float_to_e2m1(kNan), 0);
  EXPECT_EQ(float_to_e2m1(-0.0f), 0x8);
}

TEST(Mx, ElementMaxAndEmax) {
  EXPECT_EQ(mx_elem_emax(MxElem::e4m3), 8);  // 448 = 1.75 * 2^8
  EXPECT_EQ(mx_elem_emax(MxElem::e5m2), 15);  // 57344 = 1.75 * 2^15
  EXPECT_EQ(mx_elem_emax(MxElem::e2m1), 2);  // 6 = 1.5 * 2^2
  for (MxElem e : kElems) {
    EXPECT_EQ(std::ilogb(mx_elem_max(e)), mx_elem_emax(e));
    EXPECT_EQ(double(mx_elem_max(e)), ref::make_table(format_of(e)).values.back());
  }
}

std::vector<float> block_with_amax(float amax, int n = kMxBlock) {
  std::vector<float> x(size_t(n), 0.0f);
  // amax * (fraction <= 1) never overflows, even for amax = FLT_MAX.
  for (int i = 0; i < n; ++i) x[size_t(i)] = amax * (float(i % 7) / 8.0f) * ((i % 2) ? -1.0f : 1.0f);
  x[size_t(n / 2)] = -amax;
  return x;
}

TEST(Mx, ScaleRuleOnHandComputedBlocks) {
  // amax = 1 = 2^0: shared = 0 - emax; e4m3: 2^-8, code 119, and 1.0 becomes exactly 256.
  std::vector<float> x = block_with_amax(1.0f);
  std::vector<uint8_t> codes(kMxBlock);
  EXPECT_EQ(mx_block_scale(x.data(), kMxBlock, 1, MxElem::e4m3), 127 - 8);
  EXPECT_EQ(mx_block_scale(x.data(), kMxBlock, 1, MxElem::e5m2), 127 - 15);
  EXPECT_EQ(mx_block_scale(x.data(), kMxBlock, 1, MxElem::e2m1), 127 - 2);
  EXPECT_EQ(quantize_mx_block(codes.data(), x.data(), kMxBlock, 1, MxElem::e4m3), 119);
  EXPECT_EQ(e4m3fn_to_float(codes[kMxBlock / 2]), -256.0f);
  EXPECT_EQ(quantize_mx_block(codes.data(), x.data(), kMxBlock, 1, MxElem::e2m1), 125);
  EXPECT_EQ(e2m1_to_float(codes[kMxBlock / 2]), -4.0f);

  // amax just below 2^3: floor(log2) = 2. e4m3: shared -6, 7.9999995 * 64 = 511.99997 saturates to 448.
  const float below8 = std::nextafter(8.0f, 0.0f);
  x = block_with_amax(below8);
  EXPECT_EQ(quantize_mx_block(codes.data(), x.data(), kMxBlock, 1, MxElem::e4m3), 127 + 2 - 8);
  EXPECT_EQ(e4m3fn_to_float(codes[kMxBlock / 2]), -448.0f);
  EXPECT_EQ(quantize_mx_block(codes.data(), x.data(), kMxBlock, 1, MxElem::e2m1), 127 + 2 - 2);
  EXPECT_EQ(e2m1_to_float(codes[kMxBlock / 2]), -6.0f);  // 7.9999995 saturates to 6
  // The same block with amax exactly 8 moves up one binade.
  x = block_with_amax(8.0f);
  EXPECT_EQ(mx_block_scale(x.data(), kMxBlock, 1, MxElem::e4m3), 127 + 3 - 8);

  // All zeros (either sign): the smallest scale, code 0, zero elements.
  std::vector<float> zeros(kMxBlock, 0.0f);
  zeros[3] = -0.0f;
  for (MxElem e : kElems) {
    EXPECT_EQ(quantize_mx_block(codes.data(), zeros.data(), kMxBlock, 1, e), 0) << mx_elem_name(e);
    for (int i = 0; i < kMxBlock; ++i) EXPECT_EQ(mx_elem_decode(e, codes[size_t(i)]), 0.0f);
  }

  // A NaN or inf anywhere: scale NaN.
  for (float bad : {kNan, -kNan, kInf, -kInf}) {
    x = block_with_amax(1.0f);
    x[17] = bad;
    for (MxElem e : kElems) EXPECT_EQ(mx_block_scale(x.data(), kMxBlock, 1, e), kE8m0Nan) << bad;
  }

  // Subnormal amax 2^-149: floor(log2) - 8 = -157 clamps to -127, code 0. Huge amax: FLT_MAX, shared 127 - 8.
  x = block_with_amax(std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(mx_block_scale(x.data(), kMxBlock, 1, MxElem::e4m3), 0);
  x = block_with_amax(std::numeric_limits<float>::max());
  EXPECT_EQ(quantize_mx_block(codes.data(), x.data(), kMxBlock, 1, MxElem::e4m3), 127 + 127 - 8);
  EXPECT_EQ(e4m3fn_to_float(codes[kMxBlock / 2]), -448.0f);
  // Clamping at the bottom is at the scale, not the elements: 2^-130 * 2^127 = 2^-3 is exact in e4m3.
  x.assign(kMxBlock, 0.0f);
  x[0] = std::ldexp(1.0f, -130);
  EXPECT_EQ(quantize_mx_block(codes.data(), x.data(), kMxBlock, 1, MxElem::e4m3), 0);
  EXPECT_EQ(e4m3fn_to_float(codes[0]), 0.125f);
}

TEST(Mx, StrideAndTailBlock) {
  // A column of a row-major matrix (stride 3), a tail of 5 elements: only those 5 set the scale.
  std::vector<float> col(5 * 3, 100.0f);  // the 100s sit in the other columns
  for (int i = 0; i < 5; ++i) col[size_t(i * 3)] = 0.25f * float(i);  // amax 1.0
  std::vector<uint8_t> codes(5);
  EXPECT_EQ(quantize_mx_block(codes.data(), col.data(), 5, 3, MxElem::e2m1), 127 - 2);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(e2m1_to_float(codes[size_t(i)]), float(i));  // 0.25 i * 4
}

// Per element: |x - dequant| <= half the element spacing at |x| / 2^s, times 2^s, where the scaled value is within
// range; beyond the element max (saturation) the error is exactly |x| - max * 2^s.
double error_bound(MxElem e, double x, int shared) {
  const ref::Format& f = format_of(e);
  const double v = std::fabs(x) * std::ldexp(1.0, -shared);
  const double max = mx_elem_max(e);
  if (v > max) return (v - max) * std::ldexp(1.0, shared);
  const int binade = std::max(v > 0 ? std::ilogb(v) : 1 - f.bias, 1 - f.bias);
  return std::ldexp(1.0, binade - f.man_bits - 1 + shared);
}

TEST(Mx, QuantizeDequantizeErrorIsBoundedByHalfAnElementUlp) {
  std::mt19937 rng(7);
  std::normal_distribution<float> randn(0.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-30.0f, 30.0f);
  int saturated = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const int n = trial % 5 == 0 ? 1 + trial % kMxBlock : kMxBlock;  // some tails
    const float mult = std::exp2(log_scale(rng));
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = randn(rng) * mult;
    for (MxElem e : kElems) {
      std::vector<uint8_t> codes(static_cast<size_t>(n));
      const uint8_t scale = quantize_mx_block(codes.data(), x.data(), n, 1, e);
      ASSERT_NE(scale, kE8m0Nan);
      const int shared = int(scale) - 127;
      for (int i = 0; i < n; ++i) {
        const double deq = double(mx_elem_decode(e, codes[size_t(i)])) * std::ldexp(1.0, shared);
        const double err = std::fabs(deq - double(x[size_t(i)]));
        const double bound = error_bound(e, x[size_t(i)], shared);
        ASSERT_LE(err, bound) << mx_elem_name(e) << " x=" << x[size_t(i)] << " shared=" << shared;
        if (std::fabs(x[size_t(i)]) * std::ldexp(1.0, -shared) > mx_elem_max(e)) ++saturated;
      }
    }
  }
  EXPECT_GT(saturated, 0);  // the saturating branch of the bound was exercised
}

}  // namespace
}  // namespace talklab::cpu::quant
