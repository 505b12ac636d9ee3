// Device-to-device copy for the memory-bandwidth ceiling of the roofline.
// Memory-bound: bytes counted = read + written = 2 * bytes; no arithmetic worth counting.
// Measured by: bench --filter roofline --device cuda
#pragma once

#include <cstddef>

namespace talklab::cuda {

// dst[0, bytes) = src[0, bytes) on `stream` (a cudaStream_t; nullptr = default stream); asynchronous.
// Any byte count, any alignment; the buffers must not overlap (throws std::invalid_argument if they do).
// Full speed (16-byte accesses) needs dst and src equally aligned modulo 16, as cudaMalloc'd buffers are;
// otherwise it falls back to the widest access both share (8, 4, 2 or 1 bytes). Throws std::runtime_error
// if the launch fails.
void launch_copy(void* dst, const void* src, size_t bytes, void* stream);

}  // namespace talklab::cuda
