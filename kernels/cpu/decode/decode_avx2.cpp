// decode_attention on AVX2 + FMA: decode_core.h over 8-lane ymm traits, with the KV codecs' widening in registers
// (bf16: 16 elements per load, even ones by a shift and odd ones by a mask, Q and O in that pair order; int8's quad
// tiles on int16 products, Q.K against Q's int16 codes (quad_words: QuadMadd) and P.V against int16 weights (I16Pv),
// a tile pair at a time (run_tiles); fp8 e4m3: its bits moved into float32's and one multiply by 2^120; int4's
// nibble tiles on byte products, vpmaddubsw + vpmaddwd: NibMadd).
// 16 ymm registers: Q.K^T 2 keys x 6 rows (12 accumulators + 2 keys + 1 query), P.V 4 rows x 2 vectors
// (8 accumulators + 2 values + 1 broadcast). Compute-bound on this host (decode_core.h, "Measured").
#include <immintrin.h>

#include <cstring>

#include "kernels/common/attention/exp2_poly.h"
#include "kernels/cpu/decode/decode_core.h"

namespace talklab::cpu::decode::avx2 {
namespace {

struct V {
  using R = __m256;
  static constexpr int L = 8;
  static constexpr int kQkRows = 6;
  static constexpr int kPvRows = 4, kPvVecs = 2;

  static R zero() { return _mm256_setzero_ps(); }
  static R set1(float x) { return _mm256_set1_ps(x); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R x) { _mm256_storeu_ps(p, x); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static float hsum(R x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(R x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // Four sums (maxima) at once (the softmax's 4 rows, fp8's Q.K 2 keys x 2 rows, int4's fold): 11 shuffles and ops
  // instead of 4 x 6.
  template <class Op>
  static void reduce4(R a, R b, R c, R d, float* out, Op op) {
    const R ab = op(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));  // per 128 bits: a b a b
    const R cd = op(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    const R t = op(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));  // a b c d | a b c d
    _mm_storeu_ps(out, op(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)));
  }
  // Lambdas, not function pointers (decode_avx512.cpp says why).
  static void hsum4(R a, R b, R c, R d, float* out) {
    reduce4(a, b, c, d, out, [](auto x, auto y) {
      if constexpr (sizeof(x) == 32) return _mm256_add_ps(x, y);
      else return _mm_add_ps(x, y);
    });
  }
  static void hmax4(R a, R b, R c, R d, float* out) {
    reduce4(a, b, c, d, out, [](auto x, auto y) {
      if constexpr (sizeof(x) == 32) return _mm256_max_ps(x, y);
      else return _mm_max_ps(x, y);
    });
  }
  // 2^x for x <= 0 (-inf included): 2^n built in the exponent bits, so x <= -127 gives exactly 0.
  static R exp2(R x) {
    x = _mm256_max_ps(x, set1(-127.0f));
    const R n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R p = ::talklab::attention::exp2_poly(_mm256_sub_ps(x, n), fma, set1);
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }

  static R load_bf16(const uint16_t* p) {
    const __m256i x = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
  }
  // 16 bf16 from one load: the even elements (shifted into the high half of each 32-bit lane) and the odd ones
  // (already there: masked).
  static R load_bf16_even(const uint16_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), 16));
  }
  static R load_bf16_odd(const uint16_t* p) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(int32_t(0xFFFF0000u))));
  }
  // int4's byte products (decode_core.h's NibMadd): two vpdpbusd as two vpmaddubsw (u8 x s8 pairs to int16), their
  // sum in int16, and one vpmaddwd against ones (pairs to int32), then an add.
  using I = __m256i;
  static I set1_u32(const void* p) {  // the 4 bytes at p in every int32 lane
    int32_t x;
    std::memcpy(&x, p, 4);
    return _mm256_set1_epi32(x);
  }
  static I iadd(I a, I b) { return _mm256_add_epi32(a, b); }
  static R to_float(I x) { return _mm256_cvtepi32_ps(x); }
  // Exact for int4's operands: the two pair sums' sum stays within int16 (Q.K 4 x 15 x 127, P.V 4 x 255 x 8).
  static I dot2_u8s8(I acc, I u0, I s0, I u1, I s1) {
    const I p = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
  }
  static void nibble_lines(const uint8_t* p, I& lo, I& hi) {  // 32 bytes' low and high nibbles, each byte 0 .. 15
    const I x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), mask = _mm256_set1_epi8(0x0F);
    lo = _mm256_and_si256(x, mask);
    hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
  }
  static void nibble_lines_centered(const uint8_t* p, I& lo, I& hi) {  // the same, minus 8: -8 .. 7
    nibble_lines(p, lo, hi);
    lo = _mm256_sub_epi8(lo, _mm256_set1_epi8(8));
    hi = _mm256_sub_epi8(hi, _mm256_set1_epi8(8));
  }
  // 8 floats in [-127, 127] rounded to signed bytes at p; returns the rounded values.
  static R store_i8(int8_t* p, R x) {
    const I c = _mm256_cvtps_epi32(x);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packs_epi16(w, w));
    return _mm256_cvtepi32_ps(c);
  }
  static void store_u8(uint8_t* p, R x) {  // 8 floats in [0, 255] rounded to bytes
    const I c = _mm256_cvtps_epi32(x);
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(w, w));
  }
  // int8 P.V on int16 products (decode_core.h's I16Pv): the values of 8 channels of a token quad (32 bytes of a quad
  // tile, channel c's 4 tokens at bytes 4 c .. 4 c + 3) sign-extended to int16, channels 0-3 in lo and 4-7 in hi;
  // vpmaddwd against the quad's 4 int16 weights broadcast sums two tokens per int32 lane (two lanes a channel), and
  // pair_sums adds each channel's two lanes and puts the 8 channels in order.
  static I izero() { return _mm256_setzero_si256(); }
  static void quad_pairs(const uint8_t* p, I& lo, I& hi) {
    lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
  }
  // int8 key quad tiles on int16 products (decode_core.h's QuadMadd): 8 tokens' quads (32 bytes, token t's 4 codes in
  // 32-bit lane t) as int16 pairs, channels 0 and 2 of each token in c02 (each 16-bit half's low byte, sign-extended
  // by a shift up and an arithmetic shift back), channels 1 and 3 in c13 (the high bytes, one arithmetic shift).
  static void quad_words(const uint8_t* p, I& c02, I& c13) {
    const I w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    c02 = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
    c13 = _mm256_srai_epi16(w, 8);
  }
  static I set1_u64(const int16_t* w) {  // 4 int16 weights in every 64-bit lane
    int64_t x;
    std::memcpy(&x, w, 8);
    return _mm256_set1_epi64x(x);
  }
  // acc + the pair products of x and w. The empty asm holds each sum as written: integer adds are associative, so
  // where a loop of them is unrolled whole (pv_quad_i16's 8 quads of a tile pair, in pv_i16_block) GCC otherwise sums
  // each accumulator's products as a tree, every product first: 64 vpmaddwd results stored to the stack and added
  // back from it, where the loop keeps its 8 accumulators in registers. Measured (Zen 3 guest, the standalone
  // driver, alternated with the kernel before; outputs bit-identical): 1k tokens in cache, one thread, int8_head
  // 0.216-0.221 -> 0.196-0.199 ms, int8_token 0.217-0.219 -> 0.199-0.203; 32k on two threads, int8_head 3.64-3.75 ->
  // 3.31-3.54 ms, int8_token 3.62-3.83 -> 3.37-3.41. Q.K (qk_half_tile, whose loop bounds are not constants) ran
  // the same with or without it. int4's dot2_u8s8 is left without it: there it cost 1-3%.
  static I madd16(I acc, I x, I w) {
    I sum = _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
    __asm__("" : "+x"(sum));
    return sum;
  }
  static R pair_sums(I lo, I hi) {
    const I h = _mm256_hadd_epi32(lo, hi);                          // channels 0 1 4 5 | 2 3 6 7
    return _mm256_cvtepi32_ps(_mm256_permute4x64_epi64(h, 0xD8));  // 0 1 2 3 | 4 5 6 7
  }
  static void store_i16(int16_t* p, R x) {  // 8 floats rounded to int16 (|x| <= 32767)
    const __m256i i = _mm256_cvtps_epi32(x);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1)));
  }
  static R load_i8(const int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  // e4m3fn as float32 bits: the code's 7 magnitude bits moved to bits 26 .. 20 and its sign to bit 31 (a signed
  // widening, a shift, a mask) read as a float32 with exponent field eeee are the code's value times 2^-120, for
  // normal codes (2^(e - 127) (1 + m/8)) and subnormal ones alike (e = 0: float32's own subnormal, 2^-126 m/8), so
  // one exact multiply by 2^120 rebiases both. NaN codes are never stored (saturating quantizer). Where the caller
  // runs with denormals-are-zero, subnormal codes read as 0: at most 2^-6 of a code unit, 1/28672 of the scale's
  // largest value, against e4m3's own 2^-4 rounding. Until 2026-12-05 an exponent rebias and a blend for the
  // subnormals, 11 operations per 8 codes instead of 4: 1k tokens in cache, one thread, fp8_head 0.522-0.525 ->
  // 0.358-0.359 ms per step; 32k on two threads 8.42-8.43 -> 5.75-5.88 ms (bf16 4.69-4.77 ms); outputs bit-identical.
  static R load_e4m3(const uint8_t* p) {
    const __m256i x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m256i bits = _mm256_and_si256(_mm256_slli_epi32(x, 20), _mm256_set1_epi32(int32_t(0x87F00000u)));
    return _mm256_mul_ps(_mm256_castsi256_ps(bits), set1(0x1p120f));
  }
};

// int4's byte products and int8's int16 Q.K must not fall back to float32 silently (a concept that stops matching
// would).
static_assert(core::NibMadd<V>);
static_assert(core::QuadMadd<V>);

}  // namespace

void decode(const KernelArgs& a) { core::decode<V>(a); }

}  // namespace talklab::cpu::decode::avx2
