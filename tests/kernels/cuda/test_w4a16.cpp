// kernels/cuda/matmul/w4a16.h. On the CPU (always): the packing puts every nibble where the header's formula
// (and so the kernel's MMA fragments) says, unpacking inverts it, padding columns hold code 0, and bad arguments
// throw std::invalid_argument naming the value before any CUDA call. On a GPU: C against a float64 product of
// the same bf16 activations and dequantized weights (q * s), for M = 1, 3, 8, 9, 16, odd N, K a multiple of the
// group but not of the 8 warps' 1024, with C poisoned (NaN) before the run so an unwritten element fails.
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "harness/cuda/memory.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cuda/matmul/w4a16.h"
#include "tests/kernels/cuda/require_gpu.h"
#include "tests/message_of.h"

namespace talklab::cuda {
namespace {

// Codes in [-8, 7], K x N row-major, and the same in scaling.h's int4 layout (pairs along K, low nibble = even k).
struct Codes {
  int N = 0, K = 0;
  std::vector<int8_t> q;
  std::vector<uint8_t> packed_k;
  int at(int k, int n) const { return q[static_cast<size_t>(k) * N + n]; }
};

Codes random_codes(int N, int K, uint64_t seed) {
  Codes c;
  c.N = N;
  c.K = K;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> code(-8, 7);
  c.q.resize(static_cast<size_t>(K) * N);
  for (auto& v : c.q) v = static_cast<int8_t>(code(rng));
  c.packed_k.assign(static_cast<size_t>((K + 1) / 2) * N, 0);
  for (int k = 0; k < K; ++k) {
    for (int n = 0; n < N; ++n) {
      const auto nibble = static_cast<uint8_t>(c.at(k, n) & 0xF);
      c.packed_k[static_cast<size_t>(k / 2) * N + n] |= static_cast<uint8_t>(k % 2 == 0 ? nibble : nibble << 4);
    }
  }
  return c;
}

std::vector<uint8_t> pack(const Codes& c) {
  std::vector<uint8_t> out(w4a16_packed_bytes(c.N, c.K));
  w4a16_pack(out.data(), c.packed_k.data(), c.N, c.K);
  return out;
}

using test::message_of;

TEST(W4a16Pack, SizeIsPaddedTilesTimesHalfAByte) {
  EXPECT_EQ(w4a16_packed_bytes(16, 128), 16u * 128 / 2);
  EXPECT_EQ(w4a16_packed_bytes(37, 256), 48u * 256 / 2);  // N padded to 48
  EXPECT_EQ(w4a16_packed_bytes(14336, 4096), 14336u * 4096 / 2);
}

TEST(W4a16Pack, UnpackInvertsPackOnOddShapes) {
  for (const auto& [N, K] : {std::pair{37, 256}, std::pair{1, 128}, std::pair{203, 640}}) {
    const Codes c = random_codes(N, K, 11 + N);
    const std::vector<uint8_t> p = pack(c);
    int wrong = 0;
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) wrong += w4a16_packed_code(p.data(), N, K, k, n) != c.at(k, n);
    EXPECT_EQ(wrong, 0) << "N=" << N << " K=" << K;
  }
}

// The header's formula, walked forward: word j of lane (g, t) of (tile T, chunk c) holds at bits 4r + 16e the
// offset-binary code of n = 16T + g + 8(r & 1), k = 64c + 16t + 4j + 2(r >> 1) + e; columns past N hold 8 (q = 0).
TEST(W4a16Pack, EveryNibbleSitsWhereTheMmaFragmentsReadIt) {
  const int N = 45, K = 384;
  const Codes c = random_codes(N, K, 3);
  const std::vector<uint8_t> p = pack(c);
  const int tiles = (N + 15) / 16, chunks = K / 64;
  int checked = 0, wrong = 0;
  for (int T = 0; T < tiles; ++T)
    for (int ch = 0; ch < chunks; ++ch)
      for (int g = 0; g < 8; ++g)
        for (int t = 0; t < 4; ++t)
          for (int j = 0; j < 4; ++j) {
            const size_t byte = ((static_cast<size_t>(T) * chunks + ch) * 32 + 4 * g + t) * 16 + 4 * j;
            const uint32_t word = uint32_t(p[byte]) | uint32_t(p[byte + 1]) << 8 | uint32_t(p[byte + 2]) << 16 |
                                  uint32_t(p[byte + 3]) << 24;
            for (int r = 0; r < 4; ++r)
              for (int e = 0; e < 2; ++e) {
                const int n = 16 * T + g + 8 * (r & 1), k = 64 * ch + 16 * t + 4 * j + 2 * (r >> 1) + e;
                const int expected = (n < N ? c.at(k, n) : 0) + 8;
                wrong += static_cast<int>((word >> (4 * r + 16 * e)) & 0xF) != expected;
                ++checked;
              }
          }
  EXPECT_EQ(checked, tiles * 16 * K);
  EXPECT_EQ(wrong, 0);
}

// The kernel's arithmetic replayed on the CPU for one (n16 tile, k64 chunk): each lane's four words dequantized
// into the MMA A-operand registers and its 16 activations split into B-operand registers exactly as
// w4a16_kernel does, then D = A x B formed from the PTX ISA's m16n8k16 fragment layouts (which lane holds which
// element). D must equal the plain product over the chunk's 64 physical k: this checks the k permutation that
// lets a lane's activations be 16 consecutive values, independently of the packing formula above.
TEST(W4a16Pack, MmaFragmentsOfAChunkGiveThePlainProduct) {
  const int N = 16, K = 128, tokens = 8;  // the first chunk (k < 64) of tile 0: packed bytes [0, 512)
  const Codes c = random_codes(N, K, 8);
  const std::vector<uint8_t> p = pack(c);
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<int> act(-20, 20);
  std::vector<int> a(tokens * K);  // small integers: every sum below is exact
  for (auto& v : a) v = act(rng);
  // Registers per lane (g, t) = lane / 4, lane % 4, and step j: a-fragment element (r, e) and b-fragment (h, e).
  auto word_of = [&](int lane, int j) {
    const size_t byte = static_cast<size_t>(lane) * 16 + 4 * j;
    return uint32_t(p[byte]) | uint32_t(p[byte + 1]) << 8 | uint32_t(p[byte + 2]) << 16 | uint32_t(p[byte + 3]) << 24;
  };
  for (int j = 0; j < 4; ++j) {
    double A[16][16] = {}, B[16][8] = {};
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane / 4, t = lane % 4;
      const uint32_t w = word_of(lane, j);
      for (int r = 0; r < 4; ++r)
        for (int e = 0; e < 2; ++e) {
          // dequant_pair<r>: the low half is the nibble at 4r, the high half the nibble at 4r + 16, minus 8.
          const int q = static_cast<int>((w >> (4 * r + 16 * e)) & 0xF) - 8;
          // PTX m16n8k16 A fragment: reg r holds row g + 8 (r & 1), column 2t + e + 8 (r >> 1).
          A[g + 8 * (r & 1)][2 * t + e + 8 * (r >> 1)] = q;
        }
      // The lane's 16 activations of its token g are physical k = 16t .. 16t + 15; b_h of step j is word 2j + h.
      for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) {
          const int word = 2 * j + h, k = 16 * t + 2 * word + e;
          // PTX B fragment: b_h holds row 2t + e + 8h, column g.
          B[2 * t + e + 8 * h][g] = a[static_cast<size_t>(g) * K + k];
        }
    }
    // Step j alone covers the physical k = 16t + 4j + {0..3} over t: compare with those terms of the plain product.
    for (int n = 0; n < 16; ++n)
      for (int tok = 0; tok < tokens; ++tok) {
        double d = 0, ref = 0;
        for (int col = 0; col < 16; ++col) d += A[n][col] * B[col][tok];
        for (int t = 0; t < 4; ++t)
          for (int i = 0; i < 4; ++i) {
            const int k = 16 * t + 4 * j + i;
            ref += double(c.at(k, n)) * a[static_cast<size_t>(tok) * K + k];
          }
        EXPECT_EQ(d, ref) << "step " << j << " n " << n << " token " << tok;
      }
  }
}

TEST(W4a16Args, BadShapesThrowNamingTheValue) {
  EXPECT_NE(message_of([] { w4a16_check_shape(0, 64, 128); }).find("M = 0"), std::string::npos);
  EXPECT_NE(message_of([] { w4a16_check_shape(17, 64, 128); }).find("M = 17"), std::string::npos);
  EXPECT_NE(message_of([] { w4a16_check_shape(1, 0, 128); }).find("N = 0"), std::string::npos);
  EXPECT_NE(message_of([] { w4a16_check_shape(1, 64, 200); }).find("K = 200"), std::string::npos);
  EXPECT_NE(message_of([] { w4a16_check_shape(1, 64, 0); }).find("K = 0"), std::string::npos);
  EXPECT_NO_THROW(w4a16_check_shape(16, 1, 128));
  EXPECT_NE(message_of([] { w4a16_packed_bytes(64, 100); }).find("K = 100"), std::string::npos);
  std::vector<uint8_t> codes(64 * 64), packed(64 * 64);
  EXPECT_NE(message_of([&] { w4a16_pack(packed.data(), codes.data(), 64, 130); }).find("K = 130"), std::string::npos);
}

// The launcher refuses before it touches the device, so these run without a GPU.
TEST(W4a16Args, LauncherChecksBeforeAnyCudaCall) {
  alignas(16) static float c[16];
  alignas(16) static uint16_t a[16 * 128];
  alignas(16) static uint8_t w[64 * 128];
  alignas(16) static float s[64];
  EXPECT_NE(message_of([] { launch_w4a16(c, a, w, s, 17, 64, 128, nullptr); }).find("M = 17"), std::string::npos);
  EXPECT_NE(message_of([] { launch_w4a16(c, a, w, s, 1, 64, 100, nullptr); }).find("K = 100"), std::string::npos);
  EXPECT_NE(message_of([] { launch_w4a16(nullptr, a, w, s, 1, 64, 128, nullptr); }).find("null"), std::string::npos);
  EXPECT_NE(message_of([] { launch_w4a16(c, a + 1, w, s, 1, 64, 128, nullptr); }).find("aligned"), std::string::npos);
  EXPECT_NE(message_of([] { launch_w4a16(c, a, w + 4, s, 1, 64, 128, nullptr); }).find("aligned"), std::string::npos);
}

// Per element, |C - ref| <= kRelTolerance * sum_k |a_k q_kn s_n|. bf16 x int4 products are exact in fp32; what is
// left is the tensor cores' fp32 accumulation of 128 terms per group (each addition off by at most ~2^-23 of the
// running magnitude) and one fp32 FMA per group: well under 1e-5 of the absolute sum. One misplaced code moves an
// element by |a s| >= ~1e-3 of that sum at K = 384, so a layout error cannot hide under 1e-4.
constexpr double kRelTolerance = 1e-4;

void check_w4a16(int M, int N, int K, uint64_t seed) {
  SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
  const Codes c = random_codes(N, K, seed);
  std::mt19937_64 rng(seed ^ 0xA5A5);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> scale(0.01f, 0.1f);
  std::vector<uint16_t> a(static_cast<size_t>(M) * K);
  for (auto& v : a) v = cpu::quant::float_to_bf16(normal(rng));
  std::vector<float> s(static_cast<size_t>(K / kW4a16Group) * N);
  for (auto& v : s) v = scale(rng);
  const std::vector<uint8_t> w = pack(c);

  DeviceBuffer a_d(a.size() * 2), w_d(w.size()), s_d(s.size() * 4), c_d(static_cast<size_t>(M) * N * 4);
  a_d.copy_from_host(a.data(), a_d.bytes());
  w_d.copy_from_host(w.data(), w_d.bytes());
  s_d.copy_from_host(s.data(), s_d.bytes());
  c_d.fill_bytes(0xff);  // NaN: an element the kernel does not write fails below
  launch_w4a16(static_cast<float*>(c_d.data()), static_cast<const uint16_t*>(a_d.data()), w_d.data(),
               static_cast<const float*>(s_d.data()), M, N, K, nullptr);
  synchronize_device();
  std::vector<float> out(static_cast<size_t>(M) * N);
  c_d.copy_to_host(out.data(), c_d.bytes());

  int bad = 0;
  for (int m = 0; m < M; ++m) {
    for (int n = 0; n < N; ++n) {
      double ref = 0, abs_sum = 0;
      for (int k = 0; k < K; ++k) {
        const double term = double(cpu::quant::bf16_to_float(a[static_cast<size_t>(m) * K + k])) * c.at(k, n) *
                            double(s[static_cast<size_t>(k / kW4a16Group) * N + n]);
        ref += term;
        abs_sum += std::abs(term);
      }
      const double got = out[static_cast<size_t>(m) * N + n];
      if (!(std::abs(got - ref) <= kRelTolerance * abs_sum)) {
        if (++bad <= 5) ADD_FAILURE() << "C[" << m << "][" << n << "] = " << got << ", float64 " << ref;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(W4a16Gpu, MatchesFloat64OnTheDequantizedWeights) {
  TALKLAB_REQUIRE_GPU();
  check_w4a16(1, 333, 384, 1);
  check_w4a16(3, 333, 384, 2);
  check_w4a16(8, 77, 1152, 3);   // one 8-token tile, full
  check_w4a16(9, 77, 1152, 4);   // two tiles, the second with one token
  check_w4a16(16, 1001, 256, 5);
  check_w4a16(16, 130, 4096, 6);  // every warp takes several groups
}

}  // namespace
}  // namespace talklab::cuda
