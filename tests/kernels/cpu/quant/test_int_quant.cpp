// Symmetric int8 / int4 codes: round-half-even, clamping (-128 never produced by int8), int4 nibble packing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::quant {
namespace {

TEST(IntQuant, RoundHalfEven) {
  struct Case {
    float in, out;
  };
  const Case cases[] = {{0.5f, 0.0f},   {1.5f, 2.0f},   {2.5f, 2.0f},   {3.5f, 4.0f},        {-0.5f, 0.0f},
                        {-1.5f, -2.0f}, {-2.5f, -2.0f}, {-3.5f, -4.0f}, {2.4999998f, 2.0f},  {2.5000002f, 3.0f},
                        {-2.5000002f, -3.0f}, {126.5f, 126.0f}, {0.0f, 0.0f}, {8388609.0f, 8388609.0f},
                        {1e30f, 1e30f}};
  for (const Case& c : cases) EXPECT_EQ(round_half_even(c.in), c.out) << c.in;
}

TEST(IntQuant, Int8RoundsAndClampsSymmetrically) {
  EXPECT_EQ(quantize_int8(126.5f, 1.0f), 126);
  EXPECT_EQ(quantize_int8(125.5f, 1.0f), 126);
  EXPECT_EQ(quantize_int8(-126.5f, 1.0f), -126);
  EXPECT_EQ(quantize_int8(127.5f, 1.0f), 127);
  EXPECT_EQ(quantize_int8(1e9f, 1.0f), 127);
  EXPECT_EQ(quantize_int8(-127.5f, 1.0f), -127);  // not -128: see int_quant.h
  EXPECT_EQ(quantize_int8(-1e9f, 1.0f), -127);
  EXPECT_EQ(quantize_int8(-std::numeric_limits<float>::infinity(), 1.0f), -127);
  EXPECT_EQ(quantize_int8(std::numeric_limits<float>::quiet_NaN(), 1.0f), 0);
  EXPECT_EQ(quantize_int8(0.75f, 0.5f), 2);  // 1.5 -> 2
  EXPECT_EQ(quantize_int8(1.25f, 0.5f), 2);  // 2.5 -> 2
  // With the scale of its own data, +-amax lands exactly on +-127 for any amax.
  for (float amax : {1.0f, 3.7f, 1e-20f, 123456.0f, 0.1f}) {
    const float s = symmetric_scale(amax, 127.0f);
    EXPECT_EQ(quantize_int8(amax, s), 127) << amax;
    EXPECT_EQ(quantize_int8(-amax, s), -127) << amax;
  }
}

TEST(IntQuant, Int4RoundsAndClamps) {
  EXPECT_EQ(quantize_int4(6.5f, 1.0f), 6);
  EXPECT_EQ(quantize_int4(5.5f, 1.0f), 6);
  EXPECT_EQ(quantize_int4(7.6f, 1.0f), 7);
  EXPECT_EQ(quantize_int4(-7.4f, 1.0f), -7);
  EXPECT_EQ(quantize_int4(-7.6f, 1.0f), -8);  // -8 exists in the code range, only amax / 7 scales never reach it
  EXPECT_EQ(quantize_int4(-100.0f, 1.0f), -8);
  for (float amax : {1.0f, 2.9f, 1e-20f, 5e6f}) {
    const float s = symmetric_scale(amax, 7.0f);
    EXPECT_EQ(quantize_int4(amax, s), 7) << amax;
    EXPECT_EQ(quantize_int4(-amax, s), -7) << amax;
  }
}

TEST(IntQuant, ZeroGroupScaleIsTheFloor) {
  EXPECT_EQ(symmetric_scale(0.0f, 127.0f), kMinScale);
  EXPECT_EQ(quantize_int8(0.0f, symmetric_scale(0.0f, 127.0f)), 0);
  EXPECT_EQ(symmetric_scale(254.0f, 127.0f), 2.0f);
}

TEST(IntQuant, NibblesAreTwosComplement) {
  for (int v = -8; v <= 7; ++v) EXPECT_EQ(int4_from_nibble(uint8_t(v & 0xF)), v);
  EXPECT_EQ(int4_from_nibble(0xF7), 7);  // high bits ignored
}

TEST(IntQuant, PackIsLowNibbleFirstAndRoundTripsEveryPair) {
  const int8_t q[] = {1, -2, 7};
  uint8_t packed[2] = {0xAA, 0xAA};
  pack_int4(packed, q, 3);
  EXPECT_EQ(packed[0], 0xE1);  // low nibble q[0] = 1, high nibble q[1] = -2 = 0xE
  EXPECT_EQ(packed[1], 0x07);  // odd count: high nibble 0
  for (int a = -8; a <= 7; ++a) {
    for (int b = -8; b <= 7; ++b) {
      const int8_t in[2] = {int8_t(a), int8_t(b)};
      uint8_t byte = 0;
      pack_int4(&byte, in, 2);
      int8_t out[2] = {0, 0};
      unpack_int4(out, &byte, 2);
      EXPECT_EQ(out[0], a);
      EXPECT_EQ(out[1], b);
    }
  }
  std::vector<int8_t> odd(7);
  for (int i = 0; i < 7; ++i) odd[i] = int8_t(i - 4);
  std::vector<uint8_t> bytes(4);
  pack_int4(bytes.data(), odd.data(), 7);
  std::vector<int8_t> back(7);
  unpack_int4(back.data(), bytes.data(), 7);
  EXPECT_EQ(back, odd);
}

}  // namespace
}  // namespace talklab::cpu::quant
