// bf16 and fp16 codecs against the enumeration oracle (reference.h), and fp16 also against two other
// implementations: the CPU's F16C vcvtps2ph (round to nearest) and the compiler's _Float16 conversion.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/fp16.h"
#include "tests/kernels/cpu/quant/reference.h"

namespace talklab::cpu::quant {
namespace {

constexpr int kRandomSamples = 200000;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }

// What the oracle says a 16-bit IEEE-style format must produce for a non-NaN float.
uint16_t expected_16(const ref::Format& f, const ref::Table& t, float x) {
  const uint16_t sign = std::signbit(x) ? uint16_t(f.sign_bit()) : 0;
  const uint16_t inf = uint16_t(((1u << f.exp_bits) - 1u) << f.man_bits);
  if (std::isinf(x)) return sign | inf;
  const ref::Rounded r = ref::round_nearest_even(t, std::fabs(double(x)));
  return sign | (r.overflow ? inf : uint16_t(r.code));
}

// Floats that probe a format: random bit patterns (every exponent, NaNs, infs), and random values whose binade lies
// within or near the format's range (-/+ 2 binades past its subnormals and its max).
template <class F>
void for_random_floats(uint32_t seed, int lo_exp, int hi_exp, F&& f) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_int_distribution<int> exp(lo_exp, hi_exp);
  for (int i = 0; i < kRandomSamples; ++i) {
    f(std::bit_cast<float>(any_bits(rng)));
    const float mant = std::bit_cast<float>(0x3F800000u | (any_bits(rng) & 0x7FFFFFu));  // [1, 2)
    const float v = std::ldexp(mant, exp(rng));
    f((any_bits(rng) & 1u) ? -v : v);
  }
}

TEST(Bf16, DecodeIsExactForAllCodes) {
  for (uint32_t c = 0; c < 0x10000u; ++c) {
    const double want = ref::value(ref::kBf16, c);
    const float got = bf16_to_float(uint16_t(c));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << c;
    } else {
      ASSERT_EQ(double(got), want) << c;
      ASSERT_EQ(std::signbit(got), bool(c & 0x8000u)) << c;
    }
  }
}

TEST(Bf16, RoundTripsEveryCode) {
  for (uint32_t c = 0; c < 0x10000u; ++c) {
    const uint16_t back = float_to_bf16(bf16_to_float(uint16_t(c)));
    if (ref::is_nan_code(ref::kBf16, c)) {
      ASSERT_TRUE(ref::is_nan_code(ref::kBf16, back)) << c;
      ASSERT_EQ(back & 0x8000u, c & 0x8000u) << c;
    } else {
      ASSERT_EQ(back, c) << c;
    }
  }
}

TEST(Bf16, EveryMidpointRoundsToEvenAndNeighboursRoundCorrectly) {
  const ref::Table t = ref::make_table(ref::kBf16);
  ASSERT_FALSE(t.values.empty());
  for (size_t i = 0; i + 1 < t.values.size(); ++i) {
    const float mid = float((t.values[i] + t.values[i + 1]) / 2);  // 9 significant bits: exact in float
    const uint32_t even = (t.codes[i] & 1u) ? t.codes[i + 1] : t.codes[i];
    ASSERT_EQ(float_to_bf16(mid), even) << mid;
    ASSERT_EQ(float_to_bf16(-mid), even | 0x8000u) << mid;
    ASSERT_EQ(float_to_bf16(std::nextafter(mid, kInf)), t.codes[i + 1]) << mid;
    ASSERT_EQ(float_to_bf16(std::nextafter(mid, 0.0f)), t.codes[i]) << mid;
  }
}

TEST(Bf16, SpecialsAndOverflow) {
  EXPECT_EQ(float_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_bf16(kInf), 0x7F80);
  EXPECT_EQ(float_to_bf16(-kInf), 0xFF80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // past max + half ulp: inf
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x7F7F7FFFu)), 0x7F7F);   // just under the midpoint
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x7F7F8000u)), 0x7F80);   // the midpoint; 0x7F7F is odd
  // bf16 keeps float's subnormals: 2^-133 is its smallest, 2^-134 the tie with 0.
  EXPECT_EQ(float_to_bf16(std::ldexp(1.0f, -133)), 0x0001);
  EXPECT_EQ(float_to_bf16(std::ldexp(1.0f, -134)), 0x0000);
  EXPECT_EQ(float_to_bf16(std::ldexp(3.0f, -134)), 0x0002);
  // NaN stays NaN and quiet, even when its payload sits only in the dropped low bits (that would be inf if
  // merely truncated), and keeps its sign.
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0xFF800001u)), 0xFFC0);
  EXPECT_EQ(float_to_bf16(kNan) & 0x7FC0u, 0x7FC0u);
}

TEST(Bf16, RandomFloatsMatchOracle) {
  const ref::Table t = ref::make_table(ref::kBf16);
  for_random_floats(1, -136, 129, [&](float x) {
    if (std::isnan(x)) {
      ASSERT_TRUE(ref::is_nan_code(ref::kBf16, float_to_bf16(x))) << bits(x);
    } else {
      ASSERT_EQ(float_to_bf16(x), expected_16(ref::kBf16, t, x)) << bits(x);
    }
  });
}

TEST(Fp16, DecodeIsExactForAllCodes) {
  for (uint32_t c = 0; c < 0x10000u; ++c) {
    const double want = ref::value(ref::kFp16, c);
    const float got = fp16_to_float(uint16_t(c));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << c;
    } else {
      ASSERT_EQ(double(got), want) << c;
      ASSERT_EQ(std::signbit(got), bool(c & 0x8000u)) << c;
    }
  }
}

TEST(Fp16, RoundTripsEveryCode) {
  for (uint32_t c = 0; c < 0x10000u; ++c) {
    const uint16_t back = float_to_fp16(fp16_to_float(uint16_t(c)));
    if (ref::is_nan_code(ref::kFp16, c)) {
      ASSERT_TRUE(ref::is_nan_code(ref::kFp16, back)) << c;
      ASSERT_EQ(back & 0x8000u, c & 0x8000u) << c;
    } else {
      ASSERT_EQ(back, c) << c;
    }
  }
}

TEST(Fp16, EveryMidpointRoundsToEvenAndNeighboursRoundCorrectly) {
  const ref::Table t = ref::make_table(ref::kFp16);
  ASSERT_FALSE(t.values.empty());
  for (size_t i = 0; i + 1 < t.values.size(); ++i) {
    const float mid = float((t.values[i] + t.values[i + 1]) / 2);  // 12 significant bits: exact in float
    const uint32_t even = (t.codes[i] & 1u) ? t.codes[i + 1] : t.codes[i];
    ASSERT_EQ(float_to_fp16(mid), even) << mid;
    ASSERT_EQ(float_to_fp16(-mid), even | 0x8000u) << mid;
    ASSERT_EQ(float_to_fp16(std::nextafter(mid, kInf)), t.codes[i + 1]) << mid;
    ASSERT_EQ(float_to_fp16(std::nextafter(mid, 0.0f)), t.codes[i]) << mid;
  }
}

TEST(Fp16, SubnormalsSpecialsAndOverflow) {
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie with 0: 0 is even
  EXPECT_EQ(float_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(float_to_fp16(std::ldexp(3.0f, -25)), 0x0002);  // tie between 1 and 2 units: 2 is even
  EXPECT_EQ(float_to_fp16(std::ldexp(1023.0f, -24)), 0x03FF);  // largest subnormal
  EXPECT_EQ(float_to_fp16(std::ldexp(2047.0f, -25)), 0x0400);  // rounds up into the smallest normal 2^-14
  EXPECT_EQ(float_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(float_to_fp16(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(float_to_fp16(kFp16Max), kFp16MaxCode);
  EXPECT_EQ(float_to_fp16(std::nextafter(65520.0f, 0.0f)), kFp16MaxCode);
  EXPECT_EQ(float_to_fp16(65520.0f), kFp16Inf);  // the midpoint past 65504; 0x7BFF is odd
  EXPECT_EQ(float_to_fp16(1e10f), kFp16Inf);
  EXPECT_EQ(float_to_fp16(-1e10f), 0xFC00);
  EXPECT_EQ(float_to_fp16(kInf), kFp16Inf);
  EXPECT_EQ(float_to_fp16(-kInf), 0xFC00);
  EXPECT_EQ(float_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_fp16(std::bit_cast<float>(0x7F800001u)), 0x7E00);  // payload only in dropped bits
  EXPECT_EQ(float_to_fp16(std::bit_cast<float>(0xFFC00000u)), 0xFE00);
  EXPECT_TRUE(std::isinf(fp16_to_float(kFp16Inf)));
}

TEST(Fp16, RandomFloatsMatchOracle) {
  const ref::Table t = ref::make_table(ref::kFp16);
  for_random_floats(2, -27, 17, [&](float x) {
    if (std::isnan(x)) {
      ASSERT_TRUE(ref::is_nan_code(ref::kFp16, float_to_fp16(x))) << bits(x);
    } else {
      ASSERT_EQ(float_to_fp16(x), expected_16(ref::kFp16, t, x)) << bits(x);
    }
  });
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) uint16_t f16c_convert(float x) {
  return uint16_t(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}

TEST(Fp16, RandomFloatsMatchF16c) {
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "CPU has no F16C";
  for_random_floats(3, -27, 17, [&](float x) {
    ASSERT_EQ(float_to_fp16(x), f16c_convert(x)) << bits(x);  // NaNs included: same payload rule
  });
}
#endif

#if defined(__FLT16_MAX__)
TEST(Fp16, RandomFloatsMatchCompilerFloat16) {
  for_random_floats(4, -27, 17, [&](float x) {
    if (std::isnan(x)) return;  // the compiler's NaN payload is not specified
    const _Float16 h = static_cast<_Float16>(x);
    ASSERT_EQ(float_to_fp16(x), std::bit_cast<uint16_t>(h)) << bits(x);
  });
}
#endif

}  // namespace
}  // namespace talklab::cpu::quant
