// FP8 e4m3fn / e5m2: all 256 codes of each format against the field formula (reference.h), every midpoint
// between neighbouring codes, the overflow boundary under both casts, specials, and random floats vs the oracle.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "kernels/cpu/quant/fp8.h"
#include "tests/kernels/cpu/quant/reference.h"

namespace talklab::cpu::quant {
namespace {

constexpr int kRandomSamples = 200000;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr Fp8Cast kCasts[] = {Fp8Cast::saturating, Fp8Cast::nonsaturating};

// One format under test: its codec, its oracle description, and what overflow becomes under each cast.
struct Fp8 {
  const char* name;
  ref::Format format;
  uint8_t (*encode)(float, Fp8Cast);
  float (*decode)(uint8_t);
  uint8_t max_code;
  uint8_t nonsat_overflow;  // e4m3fn: NaN (no inf); e5m2: inf
};

const Fp8 kFormats[] = {
    {"e4m3fn", ref::kE4m3fn, float_to_e4m3fn, e4m3fn_to_float, 0x7E, 0x7F},
    {"e5m2", ref::kE5m2, float_to_e5m2, e5m2_to_float, 0x7B, 0x7C},
};

uint8_t overflow_code(const Fp8& f, Fp8Cast cast) {
  return cast == Fp8Cast::saturating ? f.max_code : f.nonsat_overflow;
}

uint8_t expected(const Fp8& f, const ref::Table& t, float x, Fp8Cast cast) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  if (std::isinf(x)) return sign | overflow_code(f, cast);
  const ref::Rounded r = ref::round_nearest_even(t, std::fabs(double(x)));
  return sign | (r.overflow ? overflow_code(f, cast) : uint8_t(r.code));
}

TEST(Fp8, EveryCodeDecodesToItsFieldValue) {
  for (const Fp8& f : kFormats) {
    int nans = 0;
    for (uint32_t c = 0; c < 256; ++c) {
      const double want = ref::value(f.format, c);
      const float got = f.decode(uint8_t(c));
      if (std::isnan(want)) {
        ++nans;
        EXPECT_TRUE(std::isnan(got)) << f.name << " " << c;
      } else {
        EXPECT_EQ(double(got), want) << f.name << " " << c;
        EXPECT_EQ(std::signbit(got), bool(c & 0x80)) << f.name << " " << c;
      }
    }
    EXPECT_EQ(nans, f.format.specials == ref::Specials::fn ? 2 : 6) << f.name;  // S.1111.111 / S.11111.{01,10,11}
  }
}

TEST(Fp8, EveryCodeRoundTripsUnderBothCasts) {
  for (const Fp8& f : kFormats) {
    for (Fp8Cast cast : kCasts) {
      for (uint32_t c = 0; c < 256; ++c) {
        const float v = f.decode(uint8_t(c));
        const uint8_t back = f.encode(v, cast);
        if (std::isnan(v)) {
          EXPECT_TRUE(ref::is_nan_code(f.format, back)) << f.name << " " << c;
          EXPECT_EQ(back & 0x80, c & 0x80) << f.name << " " << c;
        } else if (std::isinf(v)) {  // e5m2 only
          EXPECT_EQ(back, (c & 0x80) | overflow_code(f, cast)) << f.name << " " << c;
        } else {
          EXPECT_EQ(back, c) << f.name << " " << c;
        }
      }
    }
  }
}

TEST(Fp8, NamedValues) {
  EXPECT_EQ(e4m3fn_to_float(0x7E), 448.0f);
  EXPECT_EQ(e4m3fn_to_float(0xFE), -448.0f);
  EXPECT_EQ(e4m3fn_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3fn_to_float(0x07), std::ldexp(7.0f, -9));  // largest subnormal
  EXPECT_EQ(e4m3fn_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(e4m3fn_to_float(0x38), 1.0f);
  EXPECT_EQ(e5m2_to_float(0x7B), 57344.0f);
  EXPECT_EQ(e5m2_to_float(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(e5m2_to_float(0x04), std::ldexp(1.0f, -14));
  EXPECT_EQ(e5m2_to_float(0x3C), 1.0f);
  EXPECT_EQ(e5m2_to_float(0x7C), kInf);
  EXPECT_EQ(e5m2_to_float(0xFC), -kInf);
  EXPECT_EQ(kE4m3fnMax, 448.0f);
  EXPECT_EQ(kE5m2Max, 57344.0f);
  for (Fp8Cast cast : kCasts) {
    EXPECT_EQ(float_to_e4m3fn(448.0f, cast), 0x7E);
    EXPECT_EQ(float_to_e4m3fn(std::ldexp(1.0f, -9), cast), 0x01);
    EXPECT_EQ(float_to_e5m2(57344.0f, cast), 0x7B);
    EXPECT_EQ(float_to_e5m2(std::ldexp(1.0f, -16), cast), 0x01);
  }
}

// Consecutive non-negative codes are consecutive values, so the midpoint of codes c and c+1 is a tie that must go
// to whichever is even; one float ulp either side must go to the nearer one. Includes 0 | smallest subnormal and
// largest subnormal | smallest normal. Then the tie past the largest finite value.
TEST(Fp8, EveryMidpointRoundsToEven) {
  for (const Fp8& f : kFormats) {
    const ref::Table t = ref::make_table(f.format);
    ASSERT_FALSE(t.values.empty());
    for (Fp8Cast cast : kCasts) {
      for (size_t i = 0; i + 1 < t.values.size(); ++i) {
        const float lo = float(t.values[i]), hi = float(t.values[i + 1]);
        const float mid = float((t.values[i] + t.values[i + 1]) / 2);
        ASSERT_EQ(double(mid), (t.values[i] + t.values[i + 1]) / 2);
        const uint8_t even = uint8_t((t.codes[i] & 1u) ? t.codes[i + 1] : t.codes[i]);
        EXPECT_EQ(f.encode(mid, cast), even) << f.name << " between " << lo << " and " << hi;
        EXPECT_EQ(f.encode(-mid, cast), even | 0x80) << f.name << " between " << -lo << " and " << -hi;
        EXPECT_EQ(f.encode(std::nextafter(mid, kInf), cast), t.codes[i + 1]) << f.name << " just above " << mid;
        EXPECT_EQ(f.encode(std::nextafter(mid, 0.0f), cast), t.codes[i]) << f.name << " just below " << mid;
      }
    }
  }
}

// e4m3fn: the tie past 448 is 464 (448 = S.1111.110 is even), so 464 -> 448 and anything above overflows.
// e5m2: the tie past 57344 is 61440 (57344 = S.11110.11 is odd), so 61440 itself overflows.
TEST(Fp8, OverflowBoundaryUnderBothCasts) {
  EXPECT_EQ(float_to_e4m3fn(464.0f, Fp8Cast::nonsaturating), 0x7E);
  EXPECT_EQ(float_to_e4m3fn(std::nextafter(464.0f, kInf), Fp8Cast::nonsaturating), 0x7F);
  EXPECT_EQ(float_to_e4m3fn(std::nextafter(464.0f, kInf), Fp8Cast::saturating), 0x7E);
  EXPECT_EQ(float_to_e4m3fn(-std::nextafter(464.0f, kInf), Fp8Cast::nonsaturating), 0xFF);
  EXPECT_EQ(float_to_e4m3fn(-std::nextafter(464.0f, kInf), Fp8Cast::saturating), 0xFE);
  EXPECT_EQ(float_to_e5m2(std::nextafter(61440.0f, 0.0f), Fp8Cast::nonsaturating), 0x7B);
  EXPECT_EQ(float_to_e5m2(61440.0f, Fp8Cast::nonsaturating), 0x7C);
  EXPECT_EQ(float_to_e5m2(61440.0f, Fp8Cast::saturating), 0x7B);
  EXPECT_EQ(float_to_e5m2(-61440.0f, Fp8Cast::nonsaturating), 0xFC);
  EXPECT_EQ(float_to_e5m2(-61440.0f, Fp8Cast::saturating), 0xFB);
}

// "max + 1 ulp" is the value the next code would have (480 / 65536), then huge values and the specials.
TEST(Fp8, SaturatingVersusNonsaturating) {
  for (const Fp8& f : kFormats) {
    const float max = f.decode(f.max_code);
    const float past_max = float(ref::make_table(f.format).next_value);
    const uint8_t nonsat = f.nonsat_overflow;
    for (float big : {past_max, 1e30f, std::numeric_limits<float>::max(), kInf}) {
      EXPECT_EQ(f.encode(big, Fp8Cast::saturating), f.max_code) << f.name << " " << big;
      EXPECT_EQ(f.encode(-big, Fp8Cast::saturating), f.max_code | 0x80) << f.name << " " << -big;
      EXPECT_EQ(f.encode(big, Fp8Cast::nonsaturating), nonsat) << f.name << " " << big;
      EXPECT_EQ(f.encode(-big, Fp8Cast::nonsaturating), nonsat | 0x80) << f.name << " " << -big;
    }
    EXPECT_EQ(f.decode(f.encode(past_max, Fp8Cast::saturating)), max);
    for (Fp8Cast cast : kCasts) {
      EXPECT_TRUE(ref::is_nan_code(f.format, f.encode(kNan, cast))) << f.name;
      EXPECT_EQ(f.encode(kNan, cast), 0x7F) << f.name;  // the code PyTorch emits
      EXPECT_EQ(f.encode(-kNan, cast), 0xFF) << f.name;
      EXPECT_EQ(f.encode(std::bit_cast<float>(0x7F800001u), cast), 0x7F) << f.name;  // signalling NaN
      EXPECT_EQ(f.encode(-0.0f, cast), 0x80) << f.name;
      EXPECT_TRUE(std::signbit(f.decode(0x80))) << f.name;
      EXPECT_EQ(f.encode(0.0f, cast), 0x00) << f.name;
      EXPECT_EQ(f.encode(-std::numeric_limits<float>::denorm_min(), cast), 0x80) << f.name;  // underflow keeps -
    }
  }
  // PyTorch's x.to(torch.float8_e4m3fn) (c10, CPU): between 464 and 480 it already gives NaN, not 448.
  EXPECT_EQ(float_to_e4m3fn(470.0f, Fp8Cast::nonsaturating), 0x7F);
  EXPECT_EQ(float_to_e4m3fn(470.0f, Fp8Cast::saturating), 0x7E);
  EXPECT_TRUE(e4m3fn_is_nan(0x7F) && e4m3fn_is_nan(0xFF) && !e4m3fn_is_nan(0x7E));
  EXPECT_TRUE(e5m2_is_nan(0x7D) && e5m2_is_nan(0xFE) && !e5m2_is_nan(0x7C) && !e5m2_is_nan(0xFC));
}

TEST(Fp8, RandomFloatsMatchOracle) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_int_distribution<int> exp(-20, 17);  // past e5m2's subnormals (2^-16) and both maxima
  for (const Fp8& f : kFormats) {
    const ref::Table t = ref::make_table(f.format);
    for (int i = 0; i < kRandomSamples; ++i) {
      const float mant = std::bit_cast<float>(0x3F800000u | (any_bits(rng) & 0x7FFFFFu));
      const float near = std::ldexp((any_bits(rng) & 1u) ? -mant : mant, exp(rng));
      for (float x : {near, std::bit_cast<float>(any_bits(rng))}) {
        for (Fp8Cast cast : kCasts) {
          const uint8_t got = f.encode(x, cast);
          if (std::isnan(x)) {
            ASSERT_TRUE(ref::is_nan_code(f.format, got)) << f.name << " " << x;
          } else {
            ASSERT_EQ(got, expected(f, t, x, cast)) << f.name << " " << x;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace talklab::cpu::quant
