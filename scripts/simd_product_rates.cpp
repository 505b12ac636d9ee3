// Cycles per vector product on an AVX2 core, the way decode's inner loops issue them: eight accumulators, operands
// loaded from L1, each product with the add that accumulates it. What docs/decode.md ("Why int8 and int4 still miss")
// rests on: on the Zen 3 guest `vpmaddwd` issues two a cycle in dependent chains alone, but with its `vpaddd` a pair
// takes ~0.77 cycles, against ~0.56 for a float FMA in the same loop.
// Not part of the build (a measurement of the machine, not of talklab); the clock comes from a chain of dependent
// integer adds (one a cycle), so the figures are cycles only where the core holds one clock throughout.
//
//     g++ -O3 -mavx2 -mfma -o /tmp/simd_product_rates scripts/simd_product_rates.cpp && /tmp/simd_product_rates
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

alignas(64) int32_t operands[64 * 64 + 64];

#define EACH8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

enum Kind { kMaddAdd, kFma, kMaddubsMaddAdd, kDot2, kMaddXor };

// Per iteration 4 rounds x 8 products, every product distinct (two operand vectors x four multipliers), so the
// compiler can neither fold nor hoist one. 8 accumulators + 2 operands + 4 multipliers + ones = 15 ymm registers.
template <Kind K>
[[gnu::noinline]] int32_t run(long iterations) {
  const __m256i w0 = _mm256_set1_epi16(3), w1 = _mm256_set1_epi16(5), w2 = _mm256_set1_epi16(7),
                w3 = _mm256_set1_epi16(9), ones = _mm256_set1_epi16(1);
  const __m256 f0 = _mm256_set1_ps(0.5f), f1 = _mm256_set1_ps(0.25f), f2 = _mm256_set1_ps(0.125f),
               f3 = _mm256_set1_ps(0.0625f);
#define DECLARE(i) __m256i a##i = _mm256_setzero_si256();
  EACH8(DECLARE)
  for (long n = 0; n < iterations; ++n) {
    const int32_t* base = operands + (n & 63) * 64;
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(base + r * 16));
      const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(base + r * 16 + 8));
#define X(i) (i % 2 ? x1 : x0)
#define W(i) (i / 2 == 0 ? w0 : i / 2 == 1 ? w1 : i / 2 == 2 ? w2 : w3)
#define F(i) (i / 2 == 0 ? f0 : i / 2 == 1 ? f1 : i / 2 == 2 ? f2 : f3)
      if constexpr (K == kMaddAdd) {
#define STEP(i) a##i = _mm256_add_epi32(a##i, _mm256_madd_epi16(X(i), W(i)));
        EACH8(STEP)
#undef STEP
      } else if constexpr (K == kFma) {
#define STEP(i) \
  a##i = _mm256_castps_si256(_mm256_fmadd_ps(_mm256_castsi256_ps(X(i)), F(i), _mm256_castsi256_ps(a##i)));
        EACH8(STEP)
#undef STEP
      } else if constexpr (K == kMaddubsMaddAdd) {
#define STEP(i) a##i = _mm256_add_epi32(a##i, _mm256_madd_epi16(_mm256_maddubs_epi16(X(i), W(i)), ones));
        EACH8(STEP)
#undef STEP
      } else if constexpr (K == kDot2) {  // decode_avx2.cpp's dot2_u8s8 (int4's NibMadd): 64 products
#define STEP(i)                                                                                               \
  a##i = _mm256_add_epi32(a##i, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(x0, W(i)),             \
                                                                   _mm256_maddubs_epi16(x1, i % 2 ? w0 : w2)), \
                                                  ones));
        EACH8(STEP)
#undef STEP
      } else {  // the products alone, combined by a vpxor instead of a vpaddd
#define STEP(i) a##i = _mm256_xor_si256(a##i, _mm256_madd_epi16(X(i), W(i)));
        EACH8(STEP)
#undef STEP
      }
    }
  }
  __m256i s = _mm256_setzero_si256();
#define SUM(i) s = _mm256_add_epi32(s, a##i);
  EACH8(SUM)
  int32_t out[8];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), s);
  return out[0] ^ out[5];
}

double clock_ghz() {
  const long n = 400000000;
  long x = 1;
  const double t = now();
  for (long i = 0; i < n; ++i) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
  return double(n) * 4 / (now() - t) / 1e9;
}

}  // namespace

int main() {
  for (int i = 0; i < 64 * 64 + 64; ++i) operands[i] = i * 7 + 1;
  const double ghz = clock_ghz();
  std::printf("clock (dependent adds): %.2f GHz\n", ghz);
  struct Row {
    const char* name;
    int products;
    int32_t (*fn)(long);
  } rows[] = {
      {"vpmaddwd + vpaddd (int8 Q.K, P.V)", 16, run<kMaddAdd>},
      {"vfmadd231ps (bf16, fp8 after widening)", 8, run<kFma>},
      {"vpmaddubsw + vpmaddwd + vpaddd", 32, run<kMaddubsMaddAdd>},
      {"2 vpmaddubsw + vpaddw + vpmaddwd + vpaddd", 64, run<kDot2>},
      {"vpmaddwd + vpxor (no accumulating add)", 16, run<kMaddXor>},
  };
  const long iterations = 50000000;
  for (int pass = 0; pass < 3; ++pass)
    for (const Row& r : rows) {
      const double t = now();
      const int32_t sink = r.fn(iterations);
      const double cycles = (now() - t) * ghz * 1e9 / (double(iterations) * 32);
      std::printf("%-44s %.3f cycles each, %.1f products a cycle  [%d]\n", r.name, cycles, r.products / cycles,
                  sink & 1);
    }
}
