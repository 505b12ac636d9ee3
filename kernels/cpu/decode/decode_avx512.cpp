// decode_attention on AVX-512: decode_core.h over 16-lane zmm traits, the same codecs as decode_avx2.cpp one
// register wider (the flash kernel's zmm traits, vec_avx512.h, plus the cache widenings). 32 zmm registers: Q.K^T
// 2 keys x 12 rows (24 accumulators; bf16 key tiles: 12 rows x 2 chains), P.V 8 rows x 2 vectors (16 accumulators).
// Beyond the AVX2 path: bf16 key tiles' Q.K by vdpbf16ps against a broadcast pair of Q (Raw, set1_raw_pair,
// dot_bf16: decode_core.h's Bf16Dot), four score sums and maxima at once (hsum4, hmax4), and
// int8 caches' Q.K by vpdpbusd on their key quad tiles against Q's codes split in two bytes (load_u8_flipped, hi_lo:
// decode_core.h's QuadDot) and P.V by vpdpbusd on their value quad tiles (U8Dot), int4 KIVI's both by vpdpbusd on
// its nibble tiles (nibble_lines, store_i8: NibDot). The tests run it wherever the CPU has AVX-512 BF16 + VNNI
// (the Zen 4 / Zen 5 guests).
// GCC 12's _mm512_reduce_*_ps start from _mm512_undefined_ps(): a false positive, as vec_avx512.h says.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels/cpu/attention/vec_avx512.h"  // first: its pragma must precede <immintrin.h>

#include <cstring>

#include "kernels/cpu/decode/decode_core.h"

namespace talklab::cpu::decode::avx512 {
namespace {

struct V : ::talklab::cpu::attention::avx512::V {
  using Base = ::talklab::cpu::attention::avx512::V;
  static constexpr int kQkRows = 12;
  static constexpr int kPvRows = 8, kPvVecs = 2;

  static float hsum(R x) { return _mm512_reduce_add_ps(x); }
  // Four sums (maxima) at once (Q.K's 2 keys x 2 rows; the softmax's 4 rows): 13 shuffles and ops instead of 4 x 8.
  template <class Op>
  static void reduce4(R a, R b, R c, R d, float* out, Op op) {
    const R ab = op(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));  // per 128 bits: a b a b
    const R cd = op(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    R t = op(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));  // a b c d
    t = op(t, _mm512_shuffle_f32x4(t, t, 0x4E));
    t = op(t, _mm512_shuffle_f32x4(t, t, 0xB1));
    _mm_storeu_ps(out, _mm512_castps512_ps128(t));
  }
  // The operations as lambdas, not function pointers: GCC kept reduce4 out of line for a pointer (and with it
  // re-split run_block's inlining, ~5% slower in cache).
  static void hsum4(R a, R b, R c, R d, float* out) {
    reduce4(a, b, c, d, out, [](R x, R y) { return _mm512_add_ps(x, y); });
  }
  static void hmax4(R a, R b, R c, R d, float* out) {
    reduce4(a, b, c, d, out, [](R x, R y) { return _mm512_max_ps(x, y); });
  }
  // bf16 dot products (decode_core.h's Bf16Dot): 32 raw bf16, two per float32 lane.
  using Raw = __m512bh;
  static Raw load_raw(const uint16_t* p) { return Raw(_mm512_loadu_si512(p)); }
  static Raw set1_raw_pair(const uint16_t* p) {  // the pair at p in every 32-bit lane (a broadcast load)
    int32_t x;
    std::memcpy(&x, p, 4);
    return Raw(_mm512_set1_epi32(x));
  }
  static R dot_bf16(R acc, Raw x, Raw y) { return _mm512_dpbf16_ps(acc, x, y); }
  // The integer paths (decode_core.h's QuadDot, U8Dot, NibDot): int32 lanes.
  using I = __m512i;
  static I izero() { return _mm512_setzero_si512(); }
  static I set1_u32(const void* p) {  // the 4 bytes at p in every int32 lane: four u8 P.V weights
    int32_t x;
    std::memcpy(&x, p, 4);
    return _mm512_set1_epi32(x);
  }
  static R to_float(I x) { return _mm512_cvtepi32_ps(x); }
  static void store_i16(int16_t* p, R x) {  // 16 floats rounded to int16 (|x| <= 32767)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(x)));
  }
  // int8 P.V by vpdpbusd (decode_core.h's U8Dot): P.V weights as unsigned bytes against the signed value bytes of a
  // quad tile's line, four tokens per int32 lane.
  static I load_i8x64(const int8_t* p) { return _mm512_loadu_si512(p); }
  static I dot_u8s8(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static I dot2_u8s8(I acc, I u0, I s0, I u1, I s1) { return dot_u8s8(dot_u8s8(acc, u0, s0), u1, s1); }  // int4 P.V
  // int8 key quad tiles (decode_core.h's QuadDot): a tile's 64-byte line with its sign bits flipped (code + 128,
  // unsigned), and a score from Q's hi and lo sums: 256 hi + lo - cor.
  static I load_u8_flipped(const uint8_t* p) {
    return _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_set1_epi8(char(0x80)));
  }
  static I iadd(I a, I b) { return _mm512_add_epi32(a, b); }
  // acc + x (unsigned) dotted with the 4 signed bytes at q broadcast, by inline assembly: through the intrinsic (and
  // a broadcast load) GCC 12 copied every accumulator twice per step, kept some on the stack, and the quad tiles ran no
  // faster than the rows they replaced (1k tokens in cache, one thread: 0.087-0.088 against 0.086-0.087 ms; with the
  // assembly 0.076-0.080 against 0.081-0.084). The other dot products' copies measured no cost (int4's vpdpwssd
  // through the same assembly: no change).
  static I dot_u8s8_bcast(I acc, I x, const void* q) {
    asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*static_cast<const int32_t*>(q)));
    return acc;
  }
  static I hi_lo(I hi, I lo, int32_t cor) {
    return _mm512_sub_epi32(_mm512_add_epi32(_mm512_slli_epi32(hi, 8), lo), _mm512_set1_epi32(cor));
  }
  static void store_u8(uint8_t* p, R x) {  // 16 floats in [0, 255] rounded to bytes
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtusepi32_epi8(_mm512_cvtps_epu32(x)));
  }
  // int4 nibble tiles (decode_core.h's NibDot): a 64-byte line's low nibbles and high nibbles, each byte 0 .. 15.
  static void nibble_lines(const uint8_t* p, I& lo, I& hi) {
    const I x = _mm512_loadu_si512(p), mask = _mm512_set1_epi8(0x0F);
    lo = _mm512_and_si512(x, mask);
    hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), mask);
  }
  static void nibble_lines_centered(const uint8_t* p, I& lo, I& hi) {  // the same, minus 8: -8 .. 7
    nibble_lines(p, lo, hi);
    lo = _mm512_sub_epi8(lo, _mm512_set1_epi8(8));
    hi = _mm512_sub_epi8(hi, _mm512_set1_epi8(8));
  }
  // 16 floats in [-127, 127] rounded to signed bytes at p; returns the rounded values.
  static R store_i8(int8_t* p, R x) {
    const I c = _mm512_cvtps_epi32(x);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(c));
    return _mm512_cvtepi32_ps(c);
  }
  static float hmax(R x) { return _mm512_reduce_max_ps(x); }
  static R load_bf16(const uint16_t* p) {
    const __m512i x = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
  }
  static R load_bf16_even(const uint16_t* p) {  // 32 bf16 from one load, as decode_avx2.cpp
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p), 16));
  }
  static R load_bf16_odd(const uint16_t* p) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_loadu_si512(p), _mm512_set1_epi32(int32_t(0xFFFF0000u))));
  }
  static R load_i8(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  // e4m3fn: a normal code s.eeee.mmm is (mag << 20) + (120 << 23) as float bits (exponent rebias 7 -> 127), a
  // subnormal (mag < 8) mag * 2^-9, by a blend. decode_avx2.cpp's 4-operation form (the bits moved into float32's,
  // one multiply by 2^120; 1.45x faster fp8 there) is not yet measured on AVX-512.
  static R load_e4m3(const uint8_t* p) {
    const __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m512i mag = _mm512_and_si512(x, _mm512_set1_epi32(0x7F));
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0x80)), 24);
    const R normal = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(mag, 20), _mm512_set1_epi32(120 << 23)));
    const R sub = _mm512_mul_ps(_mm512_cvtepi32_ps(mag), Base::set1(1.0f / 512.0f));
    const __mmask16 is_sub = _mm512_cmplt_epi32_mask(mag, _mm512_set1_epi32(8));
    const R v = _mm512_mask_blend_ps(is_sub, normal, sub);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(v), sign));
  }
};

// The integer paths must not fall back to float32 silently (a concept that stops matching would).
static_assert(core::I16Dot<V, core::Int8TokenCodec<V>::Row> && core::I16Dot<V, core::StaticScaleCodec<V, false>::Row>);
static_assert(core::U8Dot<V, core::Int8TokenCodec<V>::Row> && core::U8Dot<V, core::StaticScaleCodec<V, false>::Row>);
static_assert(!core::I16Dot<V, core::StaticScaleCodec<V, true>::Row>);
static_assert(core::NibDot<V>);
static_assert(core::Bf16Dot<V>);
static_assert(core::QuadDot<V>);

}  // namespace

void decode(const KernelArgs& a) { core::decode<V>(a); }

}  // namespace talklab::cpu::decode::avx512
