// Signal-to-quantization-noise ratio of quantize -> dequantize on randn vectors of 4096 (one row of A, K = 4096):
// SQNR = 10 log10(sum x^2 / sum (x - dequant(x))^2). These are weight-quantization floors, set a few dB under
// what each format's step size predicts for N(0, 1) data, so that a wrong scale, a lost mantissa bit or a
// misrounded block fails while honest runs pass with room. (Matmul-output floors belong to the matmul tests.)
// The measured values go to the test's XML properties (--gtest_output=xml), not to stdout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/quant/scaling.h"

namespace talklab::cpu::quant {
namespace {

constexpr int64_t kK = 4096;
constexpr int kVectors = 8;  // independent draws; the floor must hold for each, not only on average

// Floors (dB). Measured minimum over the 8 vectors (seed 11): fp8 e4m3 tensorwise 31.4 (3 mantissa bits),
// mxfp8 30.4, int8 rowwise 40.1 (step amax / 127 with amax ~4), int4 groups of 128 18.3 (step ~2.6 / 7),
// mxfp4 18.7 (1 mantissa bit, but a power-of-two scale per 32).
constexpr double kFloorFp8E4m3Tensorwise = 24.0;
constexpr double kFloorMxfp8 = 24.0;
constexpr double kFloorInt8Rowwise = 30.0;
constexpr double kFloorInt4Group128 = 16.0;
constexpr double kFloorMxfp4 = 10.0;

double sqnr_db(const std::vector<float>& x, const std::vector<float>& y) {
  double signal = 0.0, noise = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    signal += double(x[i]) * x[i];
    noise += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
  }
  return 10.0 * std::log10(signal / noise);
}

template <class RoundTrip>
void check_floor(const char* name, double floor_db, RoundTrip&& round_trip) {
  std::mt19937 rng(11);
  std::normal_distribution<float> randn(0.0f, 1.0f);
  double worst = 1e9;
  for (int v = 0; v < kVectors; ++v) {
    std::vector<float> x(static_cast<size_t>(kK));
    for (float& e : x) e = randn(rng);
    const double db = sqnr_db(x, round_trip(x));
    worst = std::min(worst, db);
    EXPECT_GE(db, floor_db) << name << " vector " << v;
  }
  ::testing::Test::RecordProperty(std::string("sqnr_db_min_") + name, std::to_string(worst));
}

TEST(Sqnr, Fp8E4m3Tensorwise) {
  check_floor("fp8_e4m3_tensorwise", kFloorFp8E4m3Tensorwise, [](const std::vector<float>& x) {
    return dequantize(quantize_tensorwise(x.data(), Operand::A, 1, kK, ElemType::fp8_e4m3fn));
  });
}

TEST(Sqnr, Mxfp8) {
  check_floor("mxfp8_e4m3", kFloorMxfp8, [](const std::vector<float>& x) {
    return dequantize(quantize_mx(x.data(), Operand::A, 1, kK, MxElem::e4m3));
  });
}

TEST(Sqnr, Int8Rowwise) {
  check_floor("int8_rowwise", kFloorInt8Rowwise, [](const std::vector<float>& x) {
    return dequantize(quantize_rowwise(x.data(), Operand::A, 1, kK, ElemType::int8));
  });
}

TEST(Sqnr, Int4Group128) {
  check_floor("int4_group128", kFloorInt4Group128, [](const std::vector<float>& x) {
    return dequantize(quantize_groupwise(x.data(), Operand::A, 1, kK, 128, ElemType::int4));
  });
}

TEST(Sqnr, Mxfp4) {
  check_floor("mxfp4_e2m1", kFloorMxfp4, [](const std::vector<float>& x) {
    return dequantize(quantize_mx(x.data(), Operand::A, 1, kK, MxElem::e2m1));
  });
}

}  // namespace
}  // namespace talklab::cpu::quant
