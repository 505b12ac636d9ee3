// Memory-bandwidth ceilings: STREAM copy (dst = src) and triad (a = b + scalar*c) over float32 arrays of
// n elements. Memory-bound: one FMA per 12 bytes at most. Bytes are counted as bytes read plus bytes
// written (copy 8 per element, triad 12), whatever extra traffic the hardware adds.
// And a read-only stream (read: the sum of one array, 4 bytes per element): what a decode step's GEMV does with
// its weights, which it reads and never writes. Copy and triad cannot stand for it: their writes cost a DRAM
// turnaround (and, with normal stores, a read of the line first), so a read stream goes faster than either.
//
// Conventions: the destination comes first; arrays must not overlap; any n and any float alignment work.
// The range is split statically across `threads` OpenMP threads at 64-byte boundaries of the destination,
// so no two threads write the same cache line.
//
// Stores: once a call moves more than kStreamNonTemporalMinBytes (its working set no longer fits in the
// last-level cache), the avx2/avx512 paths use non-temporal stores. A normal store first reads the line
// it writes (write-allocate), so a copy from DRAM moves 3 bytes for every 2 counted; a streaming store
// skips that read and goes to memory through write-combining buffers. A smaller working set stays in
// cache from one call to the next, and streaming stores would push it out to DRAM every time.
// Measured on the 2-core Zen 4 VM (32 MiB L3), GB/s cached vs streaming, 1 thread / 2 threads:
//   copy  of 8 MiB arrays (16 MiB moved)   85 / 189 vs 57 / 57    16 MiB arrays  58 / 113 vs 57 / 57
//   copy  of 32 MiB arrays (64 MiB moved)  44 / 52  vs 53 / 56
//   triad of 8 MiB arrays (24 MiB moved)   63 / 144 vs 82 / 86    16 MiB arrays  44 / 68  vs 58 / 85
// so the threshold is the L3 size, on bytes moved; 4 MiB of destination would cost up to 3x for arrays
// of 4 to 16 MiB.
// Scalar (baseline x86-64) always stores normally.
//
// Rounding: triad is one fused multiply-add on avx2/avx512 and multiply-then-add on scalar (baseline
// x86-64 has no FMA), so results may differ between ISAs in the last bit.
#pragma once

#include <cstddef>

#include "kernels/cpu/cpu_features.h"

namespace talklab::cpu::roofline {

inline constexpr size_t kStreamNonTemporalMinBytes = size_t(32) << 20;

// Bytes read plus written by one call; divide by its time for GB/s.
inline constexpr size_t stream_bytes_moved_copy(size_t n) { return 2 * n * sizeof(float); }
inline constexpr size_t stream_bytes_moved_triad(size_t n) { return 3 * n * sizeof(float); }
inline constexpr size_t stream_bytes_moved_read(size_t n) { return n * sizeof(float); }

// Whether a call that moves `bytes_moved` (stream_bytes_moved_*) at `isa` uses non-temporal stores.
bool stream_uses_non_temporal(size_t bytes_moved, Isa isa);

// dst[i] = src[i], i < n. dst and src are (n).
void stream_copy(float* dst, const float* src, size_t n, int threads, Isa isa);

// a[i] = b[i] + scalar * c[i], i < n. a, b, c are (n).
void stream_triad(float* a, const float* b, const float* c, float scalar, size_t n, int threads, Isa isa);

// The sum of src[0, n), every element read once, threads splitting the range at 64-byte lines of src; each
// thread's partial sum is a double, added in thread order (the result does not depend on scheduling). Lanes
// accumulate in float over blocks of a few KiB (detail/stream_read_core.h): within ~35 float ulps of sum |src[i]|
// of the exact sum (kStreamReadRelativeError), at any n. Past the last-level cache (bytes read above
// kStreamNonTemporalMinBytes) the loop prefetches ahead in software, as copy and triad do.
double stream_read(const float* src, size_t n, int threads, Isa isa);
// The bound on |stream_read - exact sum| / sum |src[i]|: 32 float adds per lane per block and a 3-level tree
// (35 roundings of 2^-24 each), then double.
inline constexpr double kStreamReadRelativeError = 35.0 / double(1 << 24);

}  // namespace talklab::cpu::roofline
