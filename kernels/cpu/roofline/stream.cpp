// STREAM dispatch (stream.h) and the scalar path: splits [0, n) across OpenMP threads at 64-byte
// boundaries of the destination (the source, for read), picks streaming or normal stores by size, and runs the per-ISA loop
// (detail/stream_kernels.h) on each thread's range. The scalar loops are plain C++: in the baseline
// build -O3 turns them into SSE2 (movups, mulps + addps), which is what Isa::scalar code gets.
#include "kernels/cpu/roofline/stream.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/roofline/detail/stream_kernels.h"
#include "kernels/cpu/roofline/detail/stream_read_core.h"

namespace talklab::cpu::roofline {

namespace scalar {

void copy(float* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = src[i];
}

void triad(float* a, const float* b, const float* c, float scalar, size_t n) {
  for (size_t i = 0; i < n; ++i) a[i] = b[i] + scalar * c[i];
}

namespace {
struct Lane {
  using R = float;
  static constexpr size_t kLanes = 1;
  static R zero() { return 0.0f; }
  static R load(const float* p) { return *p; }
  static R add(R a, R b) { return a + b; }
  static void store(float* p, R a) { *p = a; }
};
}  // namespace

double read(const float* src, size_t n, bool prefetch) {
  constexpr size_t kUnroll = 8;  // independent adds: one dependent chain would run at the add's latency
  return prefetch ? read_sum<Lane, kUnroll, true>(src, n) : read_sum<Lane, kUnroll, false>(src, n);
}

}  // namespace scalar

namespace {

constexpr size_t kLineFloats = 64 / sizeof(float);

template <typename Body>
void split(const float* dst, size_t n, int threads, const Body& body) {
  if (threads < 1) throw std::invalid_argument("stream: threads < 1");
  if (threads == 1) {
    body(size_t(0), n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int parts = omp_get_num_threads();
    const size_t lo = stream_range_start(dst, n, t, parts);
    const size_t hi = stream_range_start(dst, n, t + 1, parts);
    if (hi > lo) body(lo, hi - lo);
  }
}

void check_isa(Isa isa) {
  static const std::vector<Isa> have = supported_isas();  // once: small calls are timed too
  if (std::find(have.begin(), have.end(), isa) != have.end()) return;
  throw std::invalid_argument(std::string("stream: this CPU cannot run the ") + isa_name(isa) + " kernels");
}

}  // namespace

size_t stream_range_start(const float* dst, size_t n, int t, int parts) {
  if (t <= 0) return 0;
  if (t >= parts) return n;
  const size_t share = size_t((unsigned __int128)n * unsigned(t) / unsigned(parts));
  const size_t first_line = ((64 - (uintptr_t(dst) & 63)) & 63) / sizeof(float);
  if (share <= first_line) return std::min(n, first_line);
  const size_t lines = (share - first_line + kLineFloats - 1) / kLineFloats;
  return std::min(n, first_line + lines * kLineFloats);
}

bool stream_uses_non_temporal(size_t bytes_moved, Isa isa) {
  return isa != Isa::scalar && bytes_moved > kStreamNonTemporalMinBytes;
}

void stream_copy(float* dst, const float* src, size_t n, int threads, Isa isa) {
  check_isa(isa);
  const bool nt = stream_uses_non_temporal(stream_bytes_moved_copy(n), isa);
  split(dst, n, threads, [&](size_t lo, size_t count) {
    switch (isa) {
      case Isa::avx512: return avx512::copy(dst + lo, src + lo, count, nt);
      case Isa::avx2: return avx2::copy(dst + lo, src + lo, count, nt);
      case Isa::scalar: return scalar::copy(dst + lo, src + lo, count);
    }
  });
}

void stream_triad(float* a, const float* b, const float* c, float scalar, size_t n, int threads, Isa isa) {
  check_isa(isa);
  const bool nt = stream_uses_non_temporal(stream_bytes_moved_triad(n), isa);
  split(a, n, threads, [&](size_t lo, size_t count) {
    switch (isa) {
      case Isa::avx512: return avx512::triad(a + lo, b + lo, c + lo, scalar, count, nt);
      case Isa::avx2: return avx2::triad(a + lo, b + lo, c + lo, scalar, count, nt);
      case Isa::scalar: return scalar::triad(a + lo, b + lo, c + lo, scalar, count);
    }
  });
}

double stream_read(const float* src, size_t n, int threads, Isa isa) {
  check_isa(isa);
  const bool prefetch = stream_bytes_moved_read(n) > kStreamNonTemporalMinBytes;
  std::vector<double> partial(size_t(std::max(threads, 1)), 0.0);
  split(src, n, threads, [&](size_t lo, size_t count) {
    const int t = threads == 1 ? 0 : omp_get_thread_num();
    switch (isa) {
      case Isa::avx512: partial[size_t(t)] = avx512::read(src + lo, count, prefetch); return;
      case Isa::avx2: partial[size_t(t)] = avx2::read(src + lo, count, prefetch); return;
      case Isa::scalar: partial[size_t(t)] = scalar::read(src + lo, count, prefetch); return;
    }
  });
  double total = 0;
  for (const double p : partial) total += p;
  return total;
}

}  // namespace talklab::cpu::roofline
