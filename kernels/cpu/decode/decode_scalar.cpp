// decode_attention portable path (x86-64 baseline): decode_core.h over one-float "vectors". For machines without
// AVX2, and as a second implementation of the same generic source, tested on every machine.
#include <cmath>
#include <cstring>

#include "kernels/common/attention/exp2_poly.h"
#include "kernels/cpu/decode/decode_core.h"
#include "kernels/cpu/quant/fp8.h"

namespace talklab::cpu::decode::scalar {
namespace {

struct V {
  using R = float;
  static constexpr int L = 1;
  static constexpr int kQkRows = 4;
  static constexpr int kPvRows = 4, kPvVecs = 4;

  static R zero() { return 0.0f; }
  static R set1(float x) { return x; }
  static R load(const float* p) { return *p; }
  static void store(float* p, R x) { *p = x; }
  static R fma(R a, R b, R c) { return a * b + c; }
  static R mul(R a, R b) { return a * b; }
  static R add(R a, R b) { return a + b; }
  static R max(R a, R b) { return a > b ? a : b; }
  static float hsum(R x) { return x; }
  static float hmax(R x) { return x; }
  static R exp2(R x) {
    x = x > -127.0f ? x : -127.0f;
    const float n = std::nearbyint(x);
    const float p = ::talklab::attention::exp2_poly(x - n);
    const uint32_t e = uint32_t(int32_t(n) + 127) << 23;
    float s;
    std::memcpy(&s, &e, 4);
    return p * s;
  }
  static R load_bf16(const uint16_t* p) { return core::bf16_bits_to_float(*p); }
  static R load_bf16_even(const uint16_t* p) { return core::bf16_bits_to_float(p[0]); }  // L = 1: pairs in order
  static R load_bf16_odd(const uint16_t* p) { return core::bf16_bits_to_float(p[1]); }
  static R load_i8(const int8_t* p) { return float(*p); }
  static void quad_channels(const uint8_t* p, R* x) {  // int8 quad tiles (decode_core.h's QuadFloat): one lane
    for (int e = 0; e < 4; ++e) x[e] = float(int8_t(p[e]));
  }
  static R load_e4m3(const uint8_t* p) { return quant::e4m3fn_to_float(*p); }
  static void octet_channels(const uint8_t* p, R* x) {  // int4 nibble tiles: low nibbles, then high ones
    for (int e = 0; e < 8; ++e) x[e] = float((p[e % 4] >> (4 * (e / 4))) & 0xF);
  }
};

}  // namespace

void decode(const KernelArgs& a) { core::decode<V>(a); }

}  // namespace talklab::cpu::decode::scalar
