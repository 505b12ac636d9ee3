// Per-ISA STREAM loops behind stream.h. Each covers one thread's range on the calling thread. With
// non_temporal set, the loop peels elements until dst is 64-byte aligned, streams whole lines, finishes
// the tail with normal stores and fences, so the stores are globally visible when it returns.
#pragma once

#include <cstddef>

namespace talklab::cpu::roofline {

// Start of thread t's range out of `parts` over dst[0, n): 0 for t = 0, n for t = parts, and in between
// the even share rounded up to where dst begins a 64-byte line, so no two threads write one line.
size_t stream_range_start(const float* dst, size_t n, int t, int parts);

// read: the sum of src[0, n) (detail/stream_read_core.h), with software prefetch when `prefetch` (from DRAM).
namespace scalar {
void copy(float* dst, const float* src, size_t n);
double read(const float* src, size_t n, bool prefetch);
void triad(float* a, const float* b, const float* c, float scalar, size_t n);
}  // namespace scalar

namespace avx2 {
void copy(float* dst, const float* src, size_t n, bool non_temporal);
void triad(float* a, const float* b, const float* c, float scalar, size_t n, bool non_temporal);
double read(const float* src, size_t n, bool prefetch);
}  // namespace avx2

namespace avx512 {
void copy(float* dst, const float* src, size_t n, bool non_temporal);
void triad(float* a, const float* b, const float* c, float scalar, size_t n, bool non_temporal);
double read(const float* src, size_t n, bool prefetch);
}  // namespace avx512

}  // namespace talklab::cpu::roofline
