// AVX-512 STREAM copy and triad for one thread's range (see stream.h). Memory-bound. Masked loads and
// stores cover the unaligned head and the tail, so every full-vector store in between is 64-byte
// aligned: a streaming store writes whole lines, and a normal one never splits a line.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/roofline/detail/stream_kernels.h"
#include "kernels/cpu/roofline/detail/stream_read_core.h"

namespace talklab::cpu::roofline::avx512 {
namespace {

constexpr size_t kLanes = 16;
constexpr size_t kUnroll = 4;  // 4 zmm = 256 bytes per step: enough loads in flight to cover latency

__mmask16 first(size_t count) { return __mmask16((1u << count) - 1u); }

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
  __m512 at(size_t i) const { return _mm512_loadu_ps(src + i); }
  __m512 at(size_t i, __mmask16 m) const { return _mm512_maskz_loadu_ps(m, src + i); }
};

struct TriadSource {
  const float* b;
  const float* c;
  __m512 scalar;
  void prefetch(size_t i) const {
    prefetch_ahead(b + i);
    prefetch_ahead(c + i);
  }
  __m512 at(size_t i) const { return _mm512_fmadd_ps(scalar, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i)); }
  __m512 at(size_t i, __mmask16 m) const {
    return _mm512_fmadd_ps(scalar, _mm512_maskz_loadu_ps(m, c + i), _mm512_maskz_loadu_ps(m, b + i));
  }
};

// `source` by value: vector stores may alias anything, so through a reference GCC reloads the source
// pointers after every store, and that cost one core ~10% of its bandwidth.
template <bool kNonTemporal, typename Source>
void fill(float* dst, size_t n, const Source source) {
  const size_t head = std::min(n, elements_to_line(dst));
  if (head > 0) _mm512_mask_storeu_ps(dst, first(head), source.at(0, first(head)));
  auto store = [&](size_t i, __m512 v) {
    if constexpr (kNonTemporal) {
      _mm512_stream_ps(dst + i, v);
    } else {
      _mm512_store_ps(dst + i, v);
    }
  };
  size_t i = head;
  for (; i + kUnroll * kLanes <= n; i += kUnroll * kLanes) {
    __m512 v[kUnroll];
    if constexpr (kNonTemporal) {
      for (size_t line = 0; line < kUnroll * kLanes; line += kLineFloats) source.prefetch(i + line);
    }
    for (size_t u = 0; u < kUnroll; ++u) v[u] = source.at(i + u * kLanes);
    for (size_t u = 0; u < kUnroll; ++u) store(i + u * kLanes, v[u]);
  }
  for (; i + kLanes <= n; i += kLanes) store(i, source.at(i));
  if (i < n) _mm512_mask_storeu_ps(dst + i, first(n - i), source.at(i, first(n - i)));
  if constexpr (kNonTemporal) _mm_sfence();
}

}  // namespace

void copy(float* dst, const float* src, size_t n, bool non_temporal) {
  const CopySource source{src};
  non_temporal ? fill<true>(dst, n, source) : fill<false>(dst, n, source);
}

void triad(float* a, const float* b, const float* c, float scalar, size_t n, bool non_temporal) {
  const TriadSource source{b, c, _mm512_set1_ps(scalar)};
  non_temporal ? fill<true>(a, n, source) : fill<false>(a, n, source);
}

namespace {
struct Vec {
  using R = __m512;
  static constexpr size_t kLanes = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static void store(float* p, R a) { _mm512_storeu_ps(p, a); }
};
}  // namespace

double read(const float* src, size_t n, bool prefetch) {
  return prefetch ? read_sum<Vec, kUnroll, true>(src, n) : read_sum<Vec, kUnroll, false>(src, n);
}

}  // namespace talklab::cpu::roofline::avx512
