// The fused activation path (emulate.h) against the unfused chain it replaces, bit for bit, on every ISA this CPU
// runs: float_to_bf16(dequantize(quantize_<scheme>(x))). Inputs: every finite bf16 value inside blocks pinned to
// chosen amaxes (from tiny scales clamped at 2^-126 to the largest float), every element code and every midpoint
// between codes mapped back through the block's scale (with neighbours a few float ulps away, so ties, just above
// and just below), float subnormals, saturating values, random fp32 over wide exponent ranges, ragged shapes, and
// non-finite input (fp8 schemes throw, MX blocks decode to NaN).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/emulate.h"
#include "kernels/cpu/quant/fp8.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::quant {
namespace {

struct Recipe {
  const char* name;
  bool mx;
  Scheme scheme;
  ElemType elem;
  MxElem mx_elem;
};

constexpr Recipe kRecipes[] = {
    {"tensorwise_e4m3fn", false, Scheme::tensorwise, ElemType::fp8_e4m3fn, MxElem::e4m3},
    {"rowwise_e4m3fn", false, Scheme::rowwise, ElemType::fp8_e4m3fn, MxElem::e4m3},
    {"blockwise_e4m3fn", false, Scheme::blockwise, ElemType::fp8_e4m3fn, MxElem::e4m3},
    {"tensorwise_e5m2", false, Scheme::tensorwise, ElemType::fp8_e5m2, MxElem::e4m3},
    {"rowwise_e5m2", false, Scheme::rowwise, ElemType::fp8_e5m2, MxElem::e4m3},
    {"blockwise_e5m2", false, Scheme::blockwise, ElemType::fp8_e5m2, MxElem::e4m3},
    {"mx_e4m3", true, Scheme::mx, ElemType::fp8_e4m3fn, MxElem::e4m3},
    {"mx_e5m2", true, Scheme::mx, ElemType::fp8_e4m3fn, MxElem::e5m2},
    {"mx_e2m1", true, Scheme::mx, ElemType::fp8_e4m3fn, MxElem::e2m1},
};

constexpr int64_t kCols = 256;  // two 1x128 blocks, eight MX blocks per row
constexpr float kFloatMax = std::numeric_limits<float>::max();
constexpr float kFloatMin = std::numeric_limits<float>::min();
constexpr float kFloatTrueMin = std::numeric_limits<float>::denorm_min();

// Amaxes: ordinary, exactly on the largest code, powers of two and just below the next (MX saturation), scales
// clamped at 2^-126 (amax < 448 * 2^-126), a subnormal amax, and the largest float.
const std::vector<float> kPins = {1.0f,      448.0f,   0.1f,        0.7731f, 12345.6f, 3.0f,       1.9999f,
                                  511.9f,    7.99f,    65536.0f,    1e-36f,  1e-40f,   kFloatMax,  5e-3f,
                                  kFloatMin, 2e38f,    57344.0f,    6.0f,    1e-20f,   kFloatTrueMin * 3};

std::vector<uint16_t> unfused(const Recipe& r, const float* x, int64_t rows, int64_t cols) {
  std::vector<float> d;
  if (r.mx) {
    d = dequantize(quantize_mx(x, Operand::A, rows, cols, r.mx_elem));
  } else if (r.scheme == Scheme::tensorwise) {
    d = dequantize(quantize_tensorwise(x, Operand::A, rows, cols, r.elem));
  } else if (r.scheme == Scheme::rowwise) {
    d = dequantize(quantize_rowwise(x, Operand::A, rows, cols, r.elem));
  } else {
    d = dequantize(quantize_blockwise(x, Operand::A, rows, cols, r.elem));
  }
  std::vector<uint16_t> out(d.size());
  for (size_t i = 0; i < d.size(); ++i) out[i] = float_to_bf16(d[i]);
  return out;
}

std::vector<uint16_t> fused(const Recipe& r, const float* x, int64_t rows, int64_t cols, Isa isa) {
  std::vector<uint16_t> out(size_t(rows * cols), 0xDEAD);
  if (r.mx) {
    quantize_decode_bf16(out.data(), x, rows, cols, r.mx_elem, isa);
  } else {
    quantize_decode_bf16(out.data(), x, rows, cols, r.scheme, r.elem, isa);
  }
  return out;
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// Every ISA's fused output equals the unfused chain's, bit for bit.
void expect_identical(const Recipe& r, const std::vector<float>& x, int64_t cols, const std::string& what) {
  const int64_t rows = int64_t(x.size()) / cols;
  const std::vector<uint16_t> want = unfused(r, x.data(), rows, cols);
  for (Isa isa : supported_isas()) {
    const std::vector<uint16_t> got = fused(r, x.data(), rows, cols, isa);
    int64_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (got[i] == want[i]) continue;
      if (++bad <= 5) {
        ADD_FAILURE() << r.name << " " << what << " isa " << isa_name(isa) << " at (" << int64_t(i) / cols << ", "
                      << int64_t(i) % cols << "): x " << x[i] << " (" << hex(std::bit_cast<uint32_t>(x[i]))
                      << ") want bf16 " << hex(want[i]) << " got " << hex(got[i]);
      }
    }
    EXPECT_EQ(bad, 0) << r.name << " " << what << " isa " << isa_name(isa) << ": " << bad << " of " << want.size();
  }
}

// Fills rows of kCols: position 0 of each 32-element block (so of every MX, 1x128 and row block) is the pin with
// alternating sign, the others take values in order, zeros after the last.
std::vector<float> pinned(const std::vector<float>& values, float pin) {
  constexpr int64_t kPerBlock = kMxBlock - 1;
  const int64_t blocks = (int64_t(values.size()) + kPerBlock - 1) / kPerBlock;
  const int64_t rows = std::max<int64_t>(1, (blocks * kMxBlock + kCols - 1) / kCols);
  std::vector<float> x(size_t(rows * kCols), 0.0f);
  size_t next = 0;
  for (int64_t b = 0; b < rows * kCols / kMxBlock; ++b) {
    x[size_t(b * kMxBlock)] = (b & 1) ? -pin : pin;
    for (int64_t i = 1; i < kMxBlock && next < values.size(); ++i) x[size_t(b * kMxBlock + i)] = values[next++];
  }
  return x;
}

float scale_of(const Recipe& r, float amax) {
  if (r.mx) return e8m0_to_float(mx_block_scale(&amax, 1, 1, r.mx_elem));
  return symmetric_scale(amax, elem_max(r.elem));
}

// Every code magnitude of the element type, every midpoint between neighbours, and the midpoint to (and the value
// of) the would-be code past the largest.
std::vector<double> element_points(const Recipe& r) {
  std::vector<double> codes;
  if (r.mx) {
    const int n = mx_elem_bits(r.mx_elem) == 4 ? 8 : 128;
    for (int c = 0; c < n; ++c) {
      const float v = mx_elem_decode(r.mx_elem, uint8_t(c));
      if (std::isfinite(v) && v <= mx_elem_max(r.mx_elem)) codes.push_back(v);
    }
  } else {
    for (int c = 0; c < 128; ++c) {
      const float v = r.elem == ElemType::fp8_e4m3fn ? e4m3fn_to_float(uint8_t(c)) : e5m2_to_float(uint8_t(c));
      if (std::isfinite(v) && v <= elem_max(r.elem)) codes.push_back(v);
    }
  }
  codes.push_back(2 * codes.back() - codes[codes.size() - 2]);
  std::vector<double> points;
  for (size_t i = 0; i < codes.size(); ++i) {
    points.push_back(codes[i]);
    if (i + 1 < codes.size()) points.push_back(0.5 * (codes[i] + codes[i + 1]));
  }
  return points;
}

TEST(Emulate, EveryBf16ValueUnderEveryPin) {
  for (const Recipe& r : kRecipes) {
    for (float pin : kPins) {
      std::vector<float> values;
      for (uint32_t b = 0; b < 0x10000; ++b) {
        const float v = bf16_to_float(uint16_t(b));
        if (std::isfinite(v) && std::fabs(v) <= pin) values.push_back(v);
      }
      expect_identical(r, pinned(values, pin), kCols, "bf16 values, pin " + std::to_string(pin));
    }
  }
}

TEST(Emulate, CodesMidpointsAndNeighboursThroughTheScale) {
  for (const Recipe& r : kRecipes) {
    const std::vector<double> points = element_points(r);
    for (float pin : kPins) {
      const double scale = scale_of(r, pin);
      std::vector<float> values;
      for (double p : points) {
        const float x = float(p * scale);
        float lo = x, hi = x;
        for (int step = 0; step < 3; ++step) {
          for (float v : {lo, hi}) {
            if (std::fabs(v) <= pin) {
              values.push_back(v);
              values.push_back(-v);
            }
          }
          lo = std::nextafter(lo, 0.0f);
          hi = std::nextafter(hi, kFloatMax);
        }
      }
      expect_identical(r, pinned(values, pin), kCols, "code points, pin " + std::to_string(pin));
    }
  }
}

TEST(Emulate, RandomFloatsOverWideExponentRanges) {
  std::mt19937_64 rng(20240917);
  constexpr int64_t kRows = 192, kK = 1024;  // 3 x emulate.cpp's kGrain: the threaded path
  for (const Recipe& r : kRecipes) {
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<float> x(size_t(kRows * kK));
      for (int64_t b = 0; b < kRows * kK / kMxBlock; ++b) {
        // Each block: a top exponent from float's whole range, values spread 40 binades below it (float
        // subnormals included), mantissas random.
        const int top = int(rng() % 254) + 1;
        for (int64_t i = 0; i < kMxBlock; ++i) {
          const int e = std::max(0, top - int(rng() % 40));
          const uint32_t bits = (uint32_t(rng() & 1) << 31) | (uint32_t(e) << 23) | uint32_t(rng() & 0x7FFFFF);
          x[size_t(b * kMxBlock + i)] = std::bit_cast<float>(bits);
        }
      }
      expect_identical(r, x, kK, "random trial " + std::to_string(trial));
      // randn-like activations at an ordinary scale too (the benchmark's inputs).
      std::normal_distribution<float> normal(0.0f, 1.0f);
      for (float& v : x) v = normal(rng);
      expect_identical(r, x, kK, "normal trial " + std::to_string(trial));
    }
  }
}

TEST(Emulate, RaggedShapes) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (const Recipe& r : kRecipes) {
    const std::vector<int64_t> widths = r.scheme == Scheme::blockwise ? std::vector<int64_t>{128, 384}
                                                                      : std::vector<int64_t>{1, 5, 31, 33, 45, 100};
    for (int64_t cols : widths) {
      for (int64_t rows : {1, 3, 400}) {
        std::vector<float> x(size_t(rows * cols));
        for (float& v : x) v = normal(rng);
        expect_identical(r, x, cols, std::to_string(rows) + " x " + std::to_string(cols));
      }
    }
  }
}

TEST(Emulate, NonFiniteInput) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  for (const Recipe& r : kRecipes) {
    for (float special : specials) {
      std::vector<float> x(size_t(4 * kCols), 0.5f);
      x[size_t(kCols + 40)] = special;
      if (r.mx) {
        expect_identical(r, x, kCols, "non-finite " + std::to_string(special));
        continue;
      }
      for (Isa isa : supported_isas()) {
        EXPECT_THROW(fused(r, x.data(), 4, kCols, isa), std::invalid_argument) << r.name << " " << isa_name(isa);
      }
    }
  }
}

TEST(Emulate, RejectsWhatTheSchemesReject) {
  std::vector<float> x(200, 1.0f);
  std::vector<uint16_t> out(200);
  const Isa isa = best_isa();
  EXPECT_THROW(quantize_decode_bf16(out.data(), x.data(), 2, 100, Scheme::blockwise, ElemType::fp8_e4m3fn, isa),
               std::invalid_argument);
  EXPECT_THROW(quantize_decode_bf16(out.data(), x.data(), 2, 100, Scheme::rowwise, ElemType::int8, isa),
               std::invalid_argument);
  EXPECT_THROW(quantize_decode_bf16(out.data(), x.data(), 2, 100, Scheme::groupwise, ElemType::fp8_e4m3fn, isa),
               std::invalid_argument);
  EXPECT_THROW(quantize_decode_bf16(out.data(), x.data(), 0, 100, Scheme::rowwise, ElemType::fp8_e4m3fn, isa),
               std::invalid_argument);
  EXPECT_THROW(quantize_decode_bf16(out.data(), x.data(), 2, 0, MxElem::e4m3, isa), std::invalid_argument);
}

}  // namespace
}  // namespace talklab::cpu::quant
