// The read-only stream's loop (stream.h, stream_read) for one thread's range, written once over a vector type and
// instantiated by each ISA's file (stream.cpp's scalar, stream_avx2.cpp, stream_avx512.cpp), so the AVX-512 path
// runs the very code the tests run on an AVX2 machine. Include only from those files: the anonymous namespace
// gives each translation unit its own copy, compiled with its own ISA flags.
//
// V provides: R (a register of kLanes floats), zero(), load(const float*) and store(float*, R) (unaligned),
// add(R, R).
//
// Memory-bound: one add per 4 bytes read, kUnroll independent accumulators (256 bytes per step on every vector
// ISA) so the loads' latency is covered and the adds never wait on each other.
//
// Precision: each lane adds kAddsPerBlock values in float, then the block's sum joins a double. A lane's rounding
// error is thus at most ~kAddsPerBlock ulps of what it summed, wherever the block sits in a 1 GiB buffer; a plain
// float accumulator over 2^28 elements would lose everything past 2^24 of them.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace talklab::cpu::roofline {
namespace {

inline constexpr size_t kReadAddsPerBlock = 32;

// Streaming from DRAM, software prefetch this far ahead of the loads, as copy and triad do (stream_avx2.cpp: the
// hardware prefetcher alone left one Zen 4 core ~15% short). From cache it only costs, so the caller decides.
// Integer arithmetic: the address may lie past the array (a prefetch never faults).
inline void read_prefetch_ahead(const float* p) {
  constexpr uintptr_t kPrefetchBytes = 1024;
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + kPrefetchBytes), _MM_HINT_T0);
}

template <class V, size_t kUnroll, bool kPrefetch>
double read_sum(const float* src, size_t n) {
  constexpr size_t kStep = V::kLanes * kUnroll;
  constexpr size_t kBlock = kStep * kReadAddsPerBlock;
  constexpr size_t kLineFloats = 64 / sizeof(float);
  double total = 0;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    typename V::R acc[kUnroll];
    for (size_t u = 0; u < kUnroll; ++u) acc[u] = V::zero();
    for (size_t j = i; j < i + kBlock; j += kStep) {
      if constexpr (kPrefetch) {
        for (size_t line = 0; line < kStep; line += kLineFloats) read_prefetch_ahead(src + j + line);
      }
      for (size_t u = 0; u < kUnroll; ++u) acc[u] = V::add(acc[u], V::load(src + j + u * V::kLanes));
    }
    for (size_t width = kUnroll / 2; width > 0; width /= 2) {
      for (size_t u = 0; u < width; ++u) acc[u] = V::add(acc[u], acc[u + width]);
    }
    float lanes[V::kLanes];
    V::store(lanes, acc[0]);
    for (const float x : lanes) total += double(x);
  }
  for (; i < n; ++i) total += double(src[i]);  // under one block: a few KiB at most
  return total;
}

}  // namespace
}  // namespace talklab::cpu::roofline
