// Scaling schemes: for every scheme, element type, operand and odd shape, the scales are exactly the documented
// rule over the documented blocks (block amax computed here independently), the codes sit where scaling.h says
// (decoded here by hand and compared with dequantize), and every element's error is within its bound. Plus the
// K rules, non-finite input, and small hand-checked layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/quant/fp8.h"
#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/mx.h"
#include "kernels/cpu/quant/scaling.h"
#include "tests/kernels/cpu/quant/reference.h"
#include "tests/message_of.h"

namespace talklab::cpu::quant {
namespace {

constexpr int64_t kMN[] = {1, 3, 17, 130};  // M of A; N of B is made odd: 1, 3, 17, 131
constexpr int64_t kLongK = 4096;
constexpr int64_t kOddK = 4095;
// Float rounding slack of x / scale and code * scale (a few float ulps of |x|) on top of the code-level bound.
constexpr double kFloatSlack = 4.0 * 0x1p-24;

std::vector<float> randn(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = d(rng);
  return x;
}

// Block shape of a scheme as scaling.h documents it, restated here.
struct Blocks {
  int64_t k, mn;
};

// Scale index of element (r, c), restated from scaling.h's layout table.
int64_t scale_index(Operand op, int64_t cols, Blocks b, int64_t r, int64_t c) {
  if (op == Operand::A) return (r / b.mn) * ((cols + b.k - 1) / b.k) + c / b.k;
  return (r / b.k) * ((cols + b.mn - 1) / b.mn) + c / b.mn;
}

// The code of element (r, c), read by hand from the documented layout.
uint8_t code_at(const std::vector<uint8_t>& codes, Operand op, int64_t cols, int bits, int64_t r, int64_t c) {
  if (bits == 8) return codes[size_t(r * cols + c)];
  const bool a = op == Operand::A;
  const uint8_t byte = a ? codes[size_t(r * ((cols + 1) / 2) + c / 2)] : codes[size_t((r / 2) * cols + c)];
  return uint8_t((byte >> (4 * ((a ? c : r) & 1))) & 0xF);
}

const ref::Format* fp_format(ElemType e) {
  return e == ElemType::fp8_e4m3fn ? &ref::kE4m3fn : e == ElemType::fp8_e5m2 ? &ref::kE5m2 : nullptr;
}

// Half the spacing of format f at magnitude v (its binade, or the subnormal range).
double half_ulp(const ref::Format& f, double v) {
  const int binade = std::max(v > 0 ? std::ilogb(v) : 1 - f.bias, 1 - f.bias);
  return std::ldexp(1.0, binade - f.man_bits - 1);
}

double decode_by_hand(ElemType e, uint8_t code) {
  switch (e) {
    case ElemType::fp8_e4m3fn: return ref::value(ref::kE4m3fn, code);
    case ElemType::fp8_e5m2: return ref::value(ref::kE5m2, code);
    case ElemType::int8: return double(int8_t(code));
    case ElemType::int4: return double(int(code & 7) - int(code & 8));
  }
  return 0.0;
}

struct Case {
  Scheme scheme;
  ElemType elem;
  int64_t group;  // groupwise only
};

Quantized run(const Case& c, const float* x, Operand op, int64_t rows, int64_t cols) {
  switch (c.scheme) {
    case Scheme::tensorwise: return quantize_tensorwise(x, op, rows, cols, c.elem);
    case Scheme::rowwise: return quantize_rowwise(x, op, rows, cols, c.elem);
    case Scheme::blockwise: return quantize_blockwise(x, op, rows, cols, c.elem);
    case Scheme::groupwise: return quantize_groupwise(x, op, rows, cols, c.group, c.elem);
    case Scheme::mx: break;
  }
  throw std::logic_error("not a float-scaled scheme");
}

Blocks blocks_of(const Case& c, Operand op, int64_t K, int64_t MN) {
  switch (c.scheme) {
    case Scheme::tensorwise: return {K, MN};
    case Scheme::rowwise: return {K, 1};
    case Scheme::blockwise: return {128, op == Operand::A ? 1 : 128};
    case Scheme::groupwise: return {c.group, 1};
    case Scheme::mx: return {32, 1};
  }
  return {1, 1};
}

bool allows_partial_k(Scheme s) { return s == Scheme::tensorwise || s == Scheme::rowwise || s == Scheme::mx; }

void check_float_scaled(const Case& c, Operand op, int64_t K, int64_t MN) {
  const int64_t rows = op == Operand::A ? MN : K, cols = op == Operand::A ? K : MN;
  const std::vector<float> x = randn(rows * cols, uint32_t(K * 131 + MN));
  const Quantized q = run(c, x.data(), op, rows, cols);
  const Blocks b = blocks_of(c, op, K, MN);
  const int64_t num_scales = ((K + b.k - 1) / b.k) * ((MN + b.mn - 1) / b.mn);
  const std::string where = std::string(scheme_name(c.scheme)) + " " + elem_name(c.elem) +
                            (op == Operand::A ? " A " : " B ") + std::to_string(rows) + "x" + std::to_string(cols);
  ASSERT_EQ(int64_t(q.scales.size()), num_scales) << where;
  const int bits = c.elem == ElemType::int4 ? 4 : 8;
  const int64_t code_bytes =
      bits == 8 ? rows * cols : (op == Operand::A ? rows * ((cols + 1) / 2) : ((rows + 1) / 2) * cols);
  ASSERT_EQ(int64_t(q.codes.size()), code_bytes) << where;

  std::vector<float> amax(size_t(num_scales), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t col = 0; col < cols; ++col) {
      float& a = amax[size_t(scale_index(op, cols, b, r, col))];
      a = std::max(a, std::fabs(x[size_t(r * cols + col)]));
    }
  const float max_code = elem_max(c.elem);
  for (int64_t i = 0; i < num_scales; ++i) {
    ASSERT_EQ(q.scales[size_t(i)], std::max(amax[size_t(i)] / max_code, std::numeric_limits<float>::min()))
        << where << " scale " << i;
  }

  const std::vector<float> deq = dequantize(q);
  ASSERT_EQ(deq.size(), x.size());
  const ref::Format* f = fp_format(c.elem);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t col = 0; col < cols; ++col) {
      const size_t i = size_t(r * cols + col);
      const double s = q.scales[size_t(scale_index(op, cols, b, r, col))];
      const uint8_t code = code_at(q.codes, op, cols, bits, r, col);
      ASSERT_EQ(deq[i], float(decode_by_hand(c.elem, code) * s)) << where << " (" << r << ", " << col << ")";
      const double ax = std::fabs(double(x[i]));
      const double code_err = f ? half_ulp(*f, ax / s) : 0.5;
      ASSERT_LE(std::fabs(double(deq[i]) - x[i]), code_err * s + kFloatSlack * ax)
          << where << " (" << r << ", " << col << ") x=" << x[i];
    }
  }
}

TEST(Scaling, FloatScaledSchemesScalesLayoutsAndErrorBounds) {
  const std::vector<Case> cases = {
      {Scheme::tensorwise, ElemType::fp8_e4m3fn, 0}, {Scheme::tensorwise, ElemType::fp8_e5m2, 0},
      {Scheme::tensorwise, ElemType::int8, 0},       {Scheme::tensorwise, ElemType::int4, 0},
      {Scheme::rowwise, ElemType::fp8_e4m3fn, 0},    {Scheme::rowwise, ElemType::int8, 0},
      {Scheme::rowwise, ElemType::int4, 0},          {Scheme::blockwise, ElemType::fp8_e4m3fn, 0},
      {Scheme::blockwise, ElemType::int8, 0},        {Scheme::groupwise, ElemType::int4, 32},
      {Scheme::groupwise, ElemType::int4, 64},       {Scheme::groupwise, ElemType::int4, 128},
  };
  for (const Case& c : cases) {
    for (Operand op : {Operand::A, Operand::B}) {
      for (int64_t mn : kMN) {
        const int64_t MN = op == Operand::B && mn % 2 == 0 ? mn + 1 : mn;  // B: odd N
        check_float_scaled(c, op, kLongK, MN);
        if (allows_partial_k(c.scheme)) check_float_scaled(c, op, kOddK, MN);
      }
    }
  }
}

// MX through the matrix API: scale rule restated with ilogb, a partial last block when K % 32 != 0, e2m1 packed
// along K, error within half an element ulp (or the saturation distance) times the scale.
void check_mx(MxElem e, Operand op, int64_t K, int64_t MN) {
  const int64_t rows = op == Operand::A ? MN : K, cols = op == Operand::A ? K : MN;
  const std::vector<float> x = randn(rows * cols, uint32_t(K * 7 + MN));
  const MxQuantized q = quantize_mx(x.data(), op, rows, cols, e);
  const Blocks b{kMxBlock, 1};
  const int64_t num_scales = ((K + 31) / 32) * MN;
  ASSERT_EQ(int64_t(q.scales.size()), num_scales);
  std::vector<float> amax(size_t(num_scales), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float& a = amax[size_t(scale_index(op, cols, b, r, c))];
      a = std::max(a, std::fabs(x[size_t(r * cols + c)]));
    }
  for (int64_t i = 0; i < num_scales; ++i) {
    ASSERT_EQ(int(q.scales[size_t(i)]) - 127, std::clamp(std::ilogb(amax[size_t(i)]) - mx_elem_emax(e), -127, 127));
  }
  const std::vector<float> deq = dequantize(q);
  const int bits = mx_elem_bits(e);
  const ref::Format& f = e == MxElem::e4m3 ? ref::kE4m3fn : e == MxElem::e5m2 ? ref::kE5m2 : ref::kE2m1;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      const double s = std::ldexp(1.0, int(q.scales[size_t(scale_index(op, cols, b, r, c))]) - 127);
      const uint8_t code = code_at(q.codes, op, cols, bits, r, c);
      ASSERT_EQ(double(deq[i]), ref::value(f, code) * s) << mx_elem_name(e) << " (" << r << ", " << c << ")";
      const double v = std::fabs(double(x[i])) / s;
      const double max = mx_elem_max(e);
      const double bound = v > max ? (v - max) * s : half_ulp(f, v) * s;
      ASSERT_LE(std::fabs(double(deq[i]) - x[i]), bound) << mx_elem_name(e) << " x=" << x[i];
    }
  }
}

TEST(Scaling, MxScalesLayoutsTailBlocksAndErrorBounds) {
  for (MxElem e : {MxElem::e4m3, MxElem::e5m2, MxElem::e2m1}) {
    for (Operand op : {Operand::A, Operand::B}) {
      for (int64_t mn : kMN) {
        const int64_t MN = op == Operand::B && mn % 2 == 0 ? mn + 1 : mn;
        check_mx(e, op, kLongK, MN);
        check_mx(e, op, kOddK, MN);  // 127 full blocks and one of 31
        check_mx(e, op, 5, MN);      // a single partial block
      }
    }
  }
}

TEST(Scaling, KThatBlocksDoNotTileIsAClearError) {
  const std::vector<float> x(4097 * 3, 1.0f);
  std::string msg = test::message_of([&] { quantize_blockwise(x.data(), Operand::A, 3, 4095, ElemType::fp8_e4m3fn); });
  EXPECT_NE(msg.find("quantize_blockwise"), std::string::npos) << msg;
  EXPECT_NE(msg.find("K = 4095"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block size 128"), std::string::npos) << msg;
  msg = test::message_of([&] { quantize_blockwise(x.data(), Operand::B, 4097, 3, ElemType::fp8_e4m3fn); });
  EXPECT_NE(msg.find("K = 4097"), std::string::npos) << msg;  // B's K is its row count
  msg = test::message_of([&] { quantize_groupwise(x.data(), Operand::A, 3, 100, 64); });
  EXPECT_NE(msg.find("quantize_groupwise"), std::string::npos) << msg;
  EXPECT_NE(msg.find("K = 100"), std::string::npos) << msg;
  EXPECT_NE(msg.find("group size 64"), std::string::npos) << msg;
  msg = test::message_of([&] { quantize_groupwise(x.data(), Operand::B, 4095, 1, 128); });
  EXPECT_NE(msg.find("K = 4095"), std::string::npos) << msg;
  msg = test::message_of([&] { quantize_groupwise(x.data(), Operand::A, 3, 128, 0); });
  EXPECT_NE(msg.find("group size must be >= 1"), std::string::npos) << msg;
  msg = test::message_of([&] { quantize_rowwise(x.data(), Operand::A, 0, 128, ElemType::int8); });
  EXPECT_NE(msg.find("rows and cols must be >= 1"), std::string::npos) << msg;
  // A partial block along N is fine: B (128 x 30) is one K block by one 30-wide (of 128) column block.
  EXPECT_EQ(quantize_blockwise(x.data(), Operand::B, 128, 30, ElemType::fp8_e4m3fn).scales.size(), 1u);
  EXPECT_NO_THROW(quantize_mx(x.data(), Operand::A, 3, 4095, MxElem::e2m1));
}

TEST(Scaling, NonFiniteInput) {
  std::vector<float> x(4 * 64, 0.5f);
  x[70] = std::numeric_limits<float>::quiet_NaN();  // row 1 (A: 4 x 64), k = 6
  const std::string msg = test::message_of([&] { quantize_rowwise(x.data(), Operand::A, 4, 64, ElemType::int8); });
  EXPECT_NE(msg.find("non-finite input at (1, 6)"), std::string::npos) << msg;
  x[70] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(quantize_tensorwise(x.data(), Operand::A, 4, 64, ElemType::fp8_e4m3fn), std::invalid_argument);
  // MX: the block holding it gets a NaN scale and only that block dequantizes to NaN.
  const MxQuantized q = quantize_mx(x.data(), Operand::A, 4, 64, MxElem::e4m3);
  ASSERT_EQ(q.scales.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(q.scales[i] == kE8m0Nan, i == 2) << i;
  const std::vector<float> deq = dequantize(q);
  for (size_t i = 0; i < deq.size(); ++i) EXPECT_EQ(std::isnan(deq[i]), i >= 64 && i < 96) << i;
}

TEST(Scaling, ZeroBlocksGetTheFloorScaleAndDequantizeToZero) {
  std::vector<float> x(3 * 256, 0.25f);
  std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // row 1 of A (3 x 256) is zero
  x[300] = -0.0f;
  for (ElemType e : {ElemType::fp8_e4m3fn, ElemType::fp8_e5m2, ElemType::int8, ElemType::int4}) {
    const Quantized q = quantize_rowwise(x.data(), Operand::A, 3, 256, e);
    EXPECT_EQ(q.scales[1], std::numeric_limits<float>::min()) << elem_name(e);
    const std::vector<float> deq = dequantize(q);
    for (size_t i = 256; i < 512; ++i) ASSERT_EQ(deq[i], 0.0f) << elem_name(e);
    EXPECT_EQ(deq[0], 0.25f) << elem_name(e);
  }
  const MxQuantized q = quantize_mx(x.data(), Operand::A, 3, 256, MxElem::e2m1);
  for (size_t i = 8; i < 16; ++i) EXPECT_EQ(q.scales[i], 0) << i;  // row 1's 8 blocks: the smallest scale
}

TEST(Scaling, BlockwiseScaleGridOfB) {
  // B is 256 x 300: scales are 2 (K blocks) x 3 (N blocks, the last 44 wide), row-major. Block (kb, nb) has
  // amax 1 + 10 kb + nb.
  const int64_t K = 256, N = 300;
  std::vector<float> x(size_t(K * N), 0.0f);
  for (int64_t kb = 0; kb < 2; ++kb)
    for (int64_t nb = 0; nb < 3; ++nb) x[size_t((kb * 128 + 5) * N + nb * 128 + 7)] = -float(1 + 10 * kb + nb);
  const Quantized q = quantize_blockwise(x.data(), Operand::B, K, N);
  ASSERT_EQ(q.scales.size(), 6u);
  for (int64_t kb = 0; kb < 2; ++kb)
    for (int64_t nb = 0; nb < 3; ++nb) EXPECT_EQ(q.scales[size_t(kb * 3 + nb)], float(1 + 10 * kb + nb) / 448.0f);
  EXPECT_EQ(q.codes[size_t(5 * N + 7)], 0xFE);  // -448
}

TEST(Scaling, Int4PairsAlongKForBothOperands) {
  // Integers with amax 7 per row / column get scale 1, so codes are the integers themselves.
  // A (2 x 3): row 0 = {1, -2, 7}, row 1 = {-7, 0, 3}; K = 3 is odd, so each row's last high nibble is 0.
  const float a[] = {1, -2, 7, -7, 0, 3};
  const Quantized qa = quantize_rowwise(a, Operand::A, 2, 3, ElemType::int4);
  EXPECT_EQ(qa.scales, (std::vector<float>{1.0f, 1.0f}));
  EXPECT_EQ(qa.codes, (std::vector<uint8_t>{0xE1, 0x07, 0x09, 0x03}));
  // B (3 x 2), K = 3 rows: column 0 = {1, -2, 7}, column 1 = {-7, 0, 3}; bytes pair rows (0, 1), then row 2 alone.
  const float b[] = {1, -7, -2, 0, 7, 3};
  const Quantized qb = quantize_rowwise(b, Operand::B, 3, 2, ElemType::int4);
  EXPECT_EQ(qb.codes, (std::vector<uint8_t>{0xE1, 0x09, 0x07, 0x03}));
  EXPECT_EQ(dequantize(qb), std::vector<float>(b, b + 6));
}

}  // namespace
}  // namespace talklab::cpu::quant
