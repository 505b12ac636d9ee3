// kernels/cuda/matmul/fp8_quant.h: on a GPU, codes and scales bit for bit those of the CPU codecs
// (kernels/cpu/quant/scaling.h) for every scheme, on randn with a few large outliers (so blocks differ in
// scale) and odd M; on the CPU, bad arguments throw std::invalid_argument before any CUDA call.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/cuda/memory.h"
#include "kernels/cpu/quant/scaling.h"
#include "kernels/cuda/matmul/fp8_quant.h"
#include "tests/kernels/cuda/require_gpu.h"

namespace talklab::cuda {
namespace {

namespace q = cpu::quant;

TEST(Fp8QuantArgs, RefusedBeforeAnyCudaCall) {
  alignas(16) static float a[4 * 256];
  alignas(16) static uint8_t codes[4 * 256];
  static float scales[8];
  static uint32_t amax;
  EXPECT_THROW(launch_quantize_fp8(codes, scales, a, 0, 256, LtScaling::rowwise, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(launch_quantize_fp8(codes, scales, a, 4, 250, LtScaling::rowwise, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(launch_quantize_fp8(codes, scales, a, 4, 192, LtScaling::blockwise, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(launch_quantize_fp8(codes, scales, a, 4, 256, LtScaling::tensorwise, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(launch_quantize_fp8(codes, scales, a + 1, 4, 128, LtScaling::rowwise, &amax, nullptr), std::invalid_argument);
  EXPECT_THROW(launch_quantize_fp8(nullptr, scales, a, 4, 256, LtScaling::rowwise, nullptr, nullptr), std::invalid_argument);
}

class Fp8QuantGpu : public ::testing::TestWithParam<LtScaling> {};

TEST_P(Fp8QuantGpu, MatchesTheCpuCodecBitForBit) {
  TALKLAB_REQUIRE_GPU();
  const int M = 37, K = 640;
  std::mt19937_64 rng(17);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> a(size_t(M) * K);
  for (auto& v : a) v = normal(rng);
  for (int i = 0; i < 20; ++i) a[rng() % a.size()] *= 50.0f;  // outliers: blocks of very different scale
  q::Quantized ref;
  switch (GetParam()) {
    case LtScaling::tensorwise: ref = q::quantize_tensorwise(a.data(), q::Operand::A, M, K, q::ElemType::fp8_e4m3fn); break;
    case LtScaling::rowwise: ref = q::quantize_rowwise(a.data(), q::Operand::A, M, K, q::ElemType::fp8_e4m3fn); break;
    case LtScaling::blockwise: ref = q::quantize_blockwise(a.data(), q::Operand::A, M, K, q::ElemType::fp8_e4m3fn); break;
  }
  DeviceBuffer a_d(a.size() * 4), codes_d(a.size()), scales_d(ref.scales.size() * 4), amax_d(4);
  a_d.copy_from_host(a.data(), a_d.bytes());
  codes_d.fill_bytes(0x7f);  // e4m3 NaN: an unwritten code differs from every CPU code
  scales_d.fill_bytes(0xff);
  launch_quantize_fp8(static_cast<uint8_t*>(codes_d.data()), static_cast<float*>(scales_d.data()),
                      static_cast<const float*>(a_d.data()), M, K, GetParam(), static_cast<uint32_t*>(amax_d.data()),
                      nullptr);
  synchronize_device();
  std::vector<uint8_t> codes(a.size());
  std::vector<float> scales(ref.scales.size());
  codes_d.copy_to_host(codes.data(), codes.size());
  scales_d.copy_to_host(scales.data(), scales.size() * 4);
  EXPECT_EQ(scales, ref.scales);
  int wrong = 0;
  for (size_t i = 0; i < codes.size(); ++i) wrong += codes[i] != ref.codes[i];
  EXPECT_EQ(wrong, 0);
}

INSTANTIATE_TEST_SUITE_P(Schemes, Fp8QuantGpu,
                         ::testing::Values(LtScaling::tensorwise, LtScaling::rowwise, LtScaling::blockwise),
                         [](const ::testing::TestParamInfo<LtScaling>& p) { return std::string(lt_scaling_name(p.param)); });

}  // namespace
}  // namespace talklab::cuda
