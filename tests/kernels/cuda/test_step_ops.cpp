// kernels/cuda/checkpointing/step_ops.h. On a GPU, for every op and dtype: outputs against a float64 host loop on
// fresh random inputs (never zero) at odd sizes, with outputs poisoned (NaN) first so an unwritten element fails;
// the dropout mask and values bit for bit those of dropout_keep. On any machine: bad arguments throw
// std::invalid_argument naming the argument and its value, before any CUDA call.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/cuda/memory.h"
#include "kernels/common/dropout_hash.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cuda/checkpointing/step_ops.h"
#include "tests/kernels/cuda/require_gpu.h"
#include "tests/message_of.h"

namespace talklab::cuda::step_ops {
namespace {

using cpu::quant::bf16_to_float;
using cpu::quant::float_to_bf16;

// Tolerances: |got - ref| <= rel * |ref| + abs, ref the float64 loop on the very values the device holds.
//   f64: summation order only (a few ulp of 1e-16 over <= 1000-term sums).
//   f32: float accumulation (~1e-7 relative per step, a few steps deep) plus one rounding of the output.
//   bf16: the kernel computes in float from the bf16 inputs and rounds the output once to bf16. bf16 has 8
//     significant bits, so that rounding is at most half an ulp = 2^-8 of the value (the worst case just above a
//     power of two); float's own error before the rounding (~1e-6 at most here) is left to the absolute floor.
//   abs: a floor of rel x 1 (1e-5 for bf16) for results that cancel to near zero (rms backward r*g - x*c,
//     softmax backward dprob - dot): their error scales with the O(1) terms, not with the small result.
struct Tolerance {
  double rel, abs;
};
constexpr Tolerance kTolF64{1e-12, 1e-12};
constexpr Tolerance kTolF32{1e-5, 1e-5};
constexpr Tolerance kTolBf16{0x1p-8, 1e-5};
// An exactly representable scale (1 / sqrt(64)), so casting it to float changes nothing.
constexpr double kScale = 0.125;
constexpr double kEps = 1e-6;
constexpr double kDropoutP = 0.1;

const char* name_of(Dtype d) { return d == Dtype::f32 ? "f32" : d == Dtype::f64 ? "f64" : "bf16"; }
size_t bytes_of(Dtype d) { return d == Dtype::f64 ? 8 : d == Dtype::f32 ? 4 : 2; }
Tolerance tolerance_of(Dtype d) { return d == Dtype::f64 ? kTolF64 : d == Dtype::f32 ? kTolF32 : kTolBf16; }

// The value of type d nearest v (round to nearest even), as a double.
double round_to(Dtype d, double v) {
  switch (d) {
    case Dtype::f64: return v;
    case Dtype::f32: return double(float(v));
    case Dtype::bf16: return double(bf16_to_float(float_to_bf16(float(v))));
  }
  return v;
}

// n values of magnitude in [0.25, 2) with random signs (never zero), exactly representable in d.
std::vector<double> random_values(Dtype d, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mag(0.25, 2.0);
  std::vector<double> v(n);
  for (auto& x : v) x = round_to(d, (rng() & 1 ? 1.0 : -1.0) * mag(rng));
  return v;
}

DeviceBuffer upload(Dtype d, const std::vector<double>& v) {
  std::vector<unsigned char> bytes(v.size() * bytes_of(d));
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char* p = bytes.data() + i * bytes_of(d);
    if (d == Dtype::f64) std::memcpy(p, &v[i], 8);
    if (d == Dtype::f32) { const float f = float(v[i]); std::memcpy(p, &f, 4); }
    if (d == Dtype::bf16) { const uint16_t b = float_to_bf16(float(v[i])); std::memcpy(p, &b, 2); }
  }
  DeviceBuffer buf(bytes.size());
  buf.copy_from_host(bytes.data(), bytes.size());
  return buf;
}

std::vector<double> download(Dtype d, const DeviceBuffer& buf, size_t n) {
  synchronize_device();  // surfaces an asynchronous kernel fault here, with its message
  std::vector<unsigned char> bytes(n * bytes_of(d));
  buf.copy_to_host(bytes.data(), bytes.size());
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char* p = bytes.data() + i * bytes_of(d);
    if (d == Dtype::f64) std::memcpy(&v[i], p, 8);
    if (d == Dtype::f32) { float f; std::memcpy(&f, p, 4); v[i] = f; }
    if (d == Dtype::bf16) { uint16_t b; std::memcpy(&b, p, 2); v[i] = bf16_to_float(b); }
  }
  return v;
}

// n elements of NaN (all bytes 0xff): an element the kernel leaves unwritten fails every comparison.
DeviceBuffer poisoned(Dtype d, size_t n) {
  DeviceBuffer buf(n * bytes_of(d));
  buf.fill_bytes(0xff);
  return buf;
}

void expect_close(Dtype d, const std::vector<double>& got, const std::vector<double>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  const Tolerance tol = tolerance_of(d);
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - ref[i]) <= tol.rel * std::abs(ref[i]) + tol.abs) continue;  // false for NaN
    if (++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << ", want " << ref[i];
  }
  EXPECT_EQ(bad, 0u) << what << ": elements out of tolerance (" << name_of(d) << ")";
}

class StepOpsGpu : public ::testing::TestWithParam<Dtype> {};

struct RowShape {
  int64_t rows, cols;
};
// Odd sizes: fewer columns than a block's 256 threads, and more (the strided loop over a row).
constexpr RowShape kRowShapes[] = {{37, 70}, {3, 1000}};
// (G, S): S odd and below a block, and above one.
constexpr RowShape kSoftmaxShapes[] = {{3, 33}, {2, 301}};

TEST_P(StepOpsGpu, RmsNormalizeForwardAndBackward) {
  TALKLAB_REQUIRE_GPU();
  const Dtype d = GetParam();
  for (const auto [T, D] : kRowShapes) {
    const auto x = random_values(d, size_t(T * D), 1), g = random_values(d, size_t(T * D), 2);
    std::vector<double> y_ref(x.size()), dx_ref(x.size());
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0, dot = 0;
      for (int64_t j = 0; j < D; ++j) {
        ss += x[t * D + j] * x[t * D + j];
        dot += g[t * D + j] * x[t * D + j];
      }
      const double r = 1.0 / std::sqrt(ss / double(D) + kEps);
      for (int64_t j = 0; j < D; ++j) {
        y_ref[t * D + j] = x[t * D + j] * r;
        dx_ref[t * D + j] = r * g[t * D + j] - x[t * D + j] * r * r * r * dot / double(D);
      }
    }
    const DeviceBuffer x_d = upload(d, x), g_d = upload(d, g);
    DeviceBuffer y_d = poisoned(d, x.size()), dx_d = poisoned(d, x.size());
    rms_normalize_forward(d, x_d.data(), y_d.data(), T, D, kEps, nullptr);
    rms_normalize_backward(d, x_d.data(), g_d.data(), dx_d.data(), T, D, kEps, nullptr);
    const std::string at = " T=" + std::to_string(T) + " D=" + std::to_string(D);
    expect_close(d, download(d, y_d, x.size()), y_ref, "rms_normalize_forward" + at);
    expect_close(d, download(d, dx_d, x.size()), dx_ref, "rms_normalize_backward" + at);
  }
}

TEST_P(StepOpsGpu, CausalSoftmaxForwardAndBackward) {
  TALKLAB_REQUIRE_GPU();
  const Dtype d = GetParam();
  for (const auto [G, S] : kSoftmaxShapes) {
    const size_t n = size_t(G * S * S);
    const auto scores = random_values(d, n, 3), prob = random_values(d, n, 4), dprob = random_values(d, n, 5);
    std::vector<double> fwd_ref(n, 0.0), bwd_ref(n, 0.0);  // zeros above the diagonal
    for (int64_t r = 0; r < G * S; ++r) {
      const int64_t i = r % S;
      const double* s = &scores[r * S];
      double mx = -INFINITY, sum = 0, dot = 0;
      for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, kScale * s[j]);
      for (int64_t j = 0; j <= i; ++j) sum += std::exp(kScale * s[j] - mx);
      for (int64_t j = 0; j <= i; ++j) fwd_ref[r * S + j] = std::exp(kScale * s[j] - mx) / sum;
      for (int64_t j = 0; j <= i; ++j) dot += prob[r * S + j] * dprob[r * S + j];
      for (int64_t j = 0; j <= i; ++j) bwd_ref[r * S + j] = kScale * prob[r * S + j] * (dprob[r * S + j] - dot);
    }
    // Inputs above the diagonal are random and nonzero too, so the kernels must zero them.
    DeviceBuffer scores_d = upload(d, scores), dprob_d = upload(d, dprob);
    const DeviceBuffer prob_d = upload(d, prob);
    causal_softmax_forward(d, scores_d.data(), G, S, kScale, nullptr);
    causal_softmax_backward(d, prob_d.data(), dprob_d.data(), G, S, kScale, nullptr);
    const std::string at = " G=" + std::to_string(G) + " S=" + std::to_string(S);
    const auto fwd = download(d, scores_d, n), bwd = download(d, dprob_d, n);
    expect_close(d, fwd, fwd_ref, "causal_softmax_forward" + at);
    expect_close(d, bwd, bwd_ref, "causal_softmax_backward" + at);
    size_t nonzero_above = 0;
    for (int64_t r = 0; r < G * S; ++r) {
      for (int64_t j = r % S + 1; j < S; ++j) nonzero_above += (fwd[r * S + j] != 0.0) + (bwd[r * S + j] != 0.0);
    }
    EXPECT_EQ(nonzero_above, 0u) << "entries j > i must be exactly 0" << at;
  }
}

TEST_P(StepOpsGpu, DropoutMatchesTheHashMaskBitForBit) {
  TALKLAB_REQUIRE_GPU();
  const Dtype d = GetParam();
  const int64_t n = 1000003;
  const uint64_t seed = 0x5eed1234abcdull;
  const auto x = random_values(d, size_t(n), 6);
  const DeviceBuffer x_d = upload(d, x);
  DeviceBuffer out_d = poisoned(d, size_t(n));
  dropout_apply(d, x_d.data(), out_d.data(), n, seed, kDropoutP, nullptr);
  const auto out = download(d, out_d, size_t(n));
  // The CPU's value: x times the scale cast to the accumulation type (float for f32 and bf16), one product,
  // then one rounding to the element type. A single IEEE product rounds the same on both sides, so every value
  // must match exactly (bf16 included: the same float product, the same round to nearest even).
  const double scale = 1.0 / (1.0 - kDropoutP);
  size_t wrong_mask = 0, wrong_value = 0, kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = kernels::dropout_keep(seed, uint64_t(i), kDropoutP);
    kept += keep;
    const double want = !keep ? 0.0 : d == Dtype::f64 ? x[i] * scale : round_to(d, double(float(x[i]) * float(scale)));
    wrong_mask += (out[i] != 0.0) != keep;  // inputs are never zero, so a kept element is nonzero
    wrong_value += !(out[i] == want);
  }
  EXPECT_EQ(wrong_mask, 0u);
  EXPECT_EQ(wrong_value, 0u);
  EXPECT_NEAR(double(kept) / double(n), 1.0 - kDropoutP, 0.002);  // the hash is not degenerate
}

TEST_P(StepOpsGpu, ColumnSumOfProduct) {
  TALKLAB_REQUIRE_GPU();
  const Dtype d = GetParam();
  for (const auto [T, C] : {RowShape{37, 70}, RowShape{1000, 33}}) {
    const auto a = random_values(d, size_t(T * C), 7), b = random_values(d, size_t(T * C), 8);
    std::vector<double> ref(size_t(C), 0.0);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t j = 0; j < C; ++j) ref[j] += a[t * C + j] * b[t * C + j];
    }
    const DeviceBuffer a_d = upload(d, a), b_d = upload(d, b);
    DeviceBuffer out_d = poisoned(d, size_t(C)), again_d = poisoned(d, size_t(C));
    column_sum_of_product(d, a_d.data(), b_d.data(), out_d.data(), T, C, nullptr);
    column_sum_of_product(d, a_d.data(), b_d.data(), again_d.data(), T, C, nullptr);
    const auto out = download(d, out_d, size_t(C));
    expect_close(d, out, ref, "column_sum_of_product T=" + std::to_string(T) + " C=" + std::to_string(C));
    EXPECT_EQ(out, download(d, again_d, size_t(C))) << "not deterministic";
  }
}

TEST_P(StepOpsGpu, MeanSquaredError) {
  TALKLAB_REQUIRE_GPU();
  const Dtype d = GetParam();
  const int64_t n = 1000003;
  const auto h = random_values(d, size_t(n), 9), y = random_values(d, size_t(n), 10);
  // Long double: a sequential sum of 1e6 positive doubles can itself be off by ~1e-11 relative, above kTolF64.
  long double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (long double)(h[i] - y[i]) * (long double)(h[i] - y[i]);
  const double ref = double(sum / n);
  const DeviceBuffer h_d = upload(d, h), y_d = upload(d, y);
  DeviceBuffer out_d = poisoned(d, 1), again_d = poisoned(d, 1);
  mean_squared_error(d, h_d.data(), y_d.data(), out_d.data(), n, nullptr);
  mean_squared_error(d, h_d.data(), y_d.data(), again_d.data(), n, nullptr);
  const auto out = download(d, out_d, 1);
  expect_close(d, out, {ref}, "mean_squared_error");
  EXPECT_EQ(out, download(d, again_d, 1)) << "not deterministic";
}

INSTANTIATE_TEST_SUITE_P(StepOps, StepOpsGpu, ::testing::Values(Dtype::f32, Dtype::f64, Dtype::bf16),
                         [](const ::testing::TestParamInfo<Dtype>& p) { return std::string(name_of(p.param)); });

using test::message_of;

#define EXPECT_REFUSED(call, text) EXPECT_NE(message_of([&] { call; }).find(text), std::string::npos) << #call

// Host pointers stand in for device ones: every call below must throw before touching them or the GPU.
TEST(StepOpsArgs, RefusedBeforeAnyCudaCall) {
  static double buf[64];
  void* p = buf;
  const Dtype f = Dtype::f32;
  EXPECT_REFUSED(rms_normalize_forward(f, p, p, 0, 8, kEps, nullptr), "T must be >= 1, got 0");
  EXPECT_REFUSED(rms_normalize_forward(f, p, p, 4, -3, kEps, nullptr), "D must be >= 1, got -3");
  EXPECT_REFUSED(rms_normalize_forward(f, nullptr, p, 4, 8, kEps, nullptr), "x is a null pointer");
  EXPECT_REFUSED(rms_normalize_backward(f, p, p, p, 0, 8, kEps, nullptr), "T must be >= 1, got 0");
  EXPECT_REFUSED(rms_normalize_backward(f, p, nullptr, p, 4, 8, kEps, nullptr), "grad_y is a null pointer");
  EXPECT_REFUSED(causal_softmax_forward(f, p, 0, 4, kScale, nullptr), "G must be >= 1, got 0");
  EXPECT_REFUSED(causal_softmax_forward(f, p, 2, 0, kScale, nullptr), "S must be >= 1, got 0");
  EXPECT_REFUSED(causal_softmax_forward(f, nullptr, 2, 4, kScale, nullptr), "scores is a null pointer");
  EXPECT_REFUSED(causal_softmax_backward(f, p, p, 0, 4, kScale, nullptr), "G must be >= 1, got 0");
  EXPECT_REFUSED(causal_softmax_backward(f, p, nullptr, 2, 4, kScale, nullptr), "dprob is a null pointer");
  EXPECT_REFUSED(dropout_apply(f, p, p, 0, 1, kDropoutP, nullptr), "n must be >= 1, got 0");
  EXPECT_REFUSED(dropout_apply(f, p, nullptr, 8, 1, kDropoutP, nullptr), "out is a null pointer");
  EXPECT_REFUSED(dropout_apply(f, p, p, 8, 1, 1.0, nullptr), "p must be in [0, 1)");
  EXPECT_REFUSED(column_sum_of_product(f, p, p, p, 0, 8, nullptr), "T must be >= 1, got 0");
  EXPECT_REFUSED(column_sum_of_product(f, p, p, p, 4, 0, nullptr), "C must be >= 1, got 0");
  EXPECT_REFUSED(column_sum_of_product(f, p, nullptr, p, 4, 8, nullptr), "b is a null pointer");
  EXPECT_REFUSED(mean_squared_error(f, p, p, p, 0, nullptr), "n must be >= 1, got 0");
  EXPECT_REFUSED(mean_squared_error(f, p, p, nullptr, 8, nullptr), "out is a null pointer");
  EXPECT_REFUSED(mean_squared_error(static_cast<Dtype>(7), p, p, p, 8, nullptr), "unknown dtype 7");
}

}  // namespace
}  // namespace talklab::cuda::step_ops
