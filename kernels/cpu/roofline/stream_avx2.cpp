// AVX2 STREAM copy and triad for one thread's range (see stream.h). Memory-bound. A scalar head brings
// dst to a 64-byte boundary so every ymm store is aligned (streaming stores require 32) and pairs of
// them fill whole lines; a scalar tail finishes. std::fma in the tails rounds like the vector body.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/roofline/detail/stream_kernels.h"
#include "kernels/cpu/roofline/detail/stream_read_core.h"

namespace talklab::cpu::roofline::avx2 {
namespace {

constexpr size_t kLanes = 8;
constexpr size_t kUnroll = 8;  // 8 ymm = 256 bytes per step, as on the AVX-512 path

constexpr size_t kLineFloats = 64 / sizeof(float);

size_t elements_to_line(const float* p) { return ((64 - (uintptr_t(p) & 63)) & 63) / sizeof(float); }

// Streaming from DRAM, software prefetch this far ahead of the loads: the hardware prefetcher alone
// left one Zen 4 core ~15% short on copy (42 -> 48 GB/s with 1-4 KiB ahead; triad unchanged; 8 KiB and
// more help less). From cache it only costs (-15% at 8 MiB arrays), so the cached path skips it.
// Integer arithmetic: the address may lie past the array (a prefetch never faults).
constexpr uintptr_t kPrefetchBytes = 1024;

void prefetch_ahead(const float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + kPrefetchBytes), _MM_HINT_T0);
}

struct CopySource {
  const float* src;
  void prefetch(size_t i) const { prefetch_ahead(src + i); }
  __m256 at(size_t i) const { return _mm256_loadu_ps(src + i); }
  float one(size_t i) const { return src[i]; }
};

struct TriadSource {
  const float* b;
  const float* c;
  float scalar;
  void prefetch(size_t i) const {
    prefetch_ahead(b + i);
    prefetch_ahead(c + i);
  }
  __m256 at(size_t i) const {
    return _mm256_fmadd_ps(_mm256_set1_ps(scalar), _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i));
  }
  float one(size_t i) const { return std::fma(scalar, c[i], b[i]); }
};

// `source` by value: vector stores may alias anything, so through a reference GCC reloads the source
// pointers after every store, and that cost one core ~10% of its bandwidth.
template <bool kNonTemporal, typename Source>
void fill(float* dst, size_t n, const Source source) {
  const size_t head = std::min(n, elements_to_line(dst));
  for (size_t i = 0; i < head; ++i) dst[i] = source.one(i);
  auto store = [&](size_t i, __m256 v) {
    if constexpr (kNonTemporal) {
      _mm256_stream_ps(dst + i, v);
    } else {
      _mm256_store_ps(dst + i, v);
    }
  };
  size_t i = head;
  for (; i + kUnroll * kLanes <= n; i += kUnroll * kLanes) {
    __m256 v[kUnroll];
    if constexpr (kNonTemporal) {
      for (size_t line = 0; line < kUnroll * kLanes; line += kLineFloats) source.prefetch(i + line);
    }
    for (size_t u = 0; u < kUnroll; ++u) v[u] = source.at(i + u * kLanes);
    for (size_t u = 0; u < kUnroll; ++u) store(i + u * kLanes, v[u]);
  }
  for (; i + kLanes <= n; i += kLanes) store(i, source.at(i));
  for (; i < n; ++i) dst[i] = source.one(i);
  if constexpr (kNonTemporal) _mm_sfence();
}

}  // namespace

void copy(float* dst, const float* src, size_t n, bool non_temporal) {
  const CopySource source{src};
  non_temporal ? fill<true>(dst, n, source) : fill<false>(dst, n, source);
}

void triad(float* a, const float* b, const float* c, float scalar, size_t n, bool non_temporal) {
  const TriadSource source{b, c, scalar};
  non_temporal ? fill<true>(a, n, source) : fill<false>(a, n, source);
}

namespace {
struct Vec {
  using R = __m256;
  static constexpr size_t kLanes = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static void store(float* p, R a) { _mm256_storeu_ps(p, a); }
};
}  // namespace

double read(const float* src, size_t n, bool prefetch) {
  return prefetch ? read_sum<Vec, kUnroll, true>(src, n) : read_sum<Vec, kUnroll, false>(src, n);
}

}  // namespace talklab::cpu::roofline::avx2
