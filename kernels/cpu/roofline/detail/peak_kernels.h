// Per-ISA peak loops behind run_peak() (kernels/cpu/roofline/peak.h). Each runs on the calling thread
// only and returns a reduction of its accumulators, so the compiler has to keep every instruction.
// The accumulator counts are the single source for both the loops and the op counting.
#pragma once

#include <cstdint>

namespace talklab::cpu::roofline {

namespace scalar {
// SSE2 mulps + addps chains, 6 cycles deep on Zen 4, 2 per cycle: 12 in flight is the bare minimum; 14
// plus the 2 operands fill the 16 xmm registers.
inline constexpr int kAccumulators = 14;
float fp32_fma(int64_t iterations);
}  // namespace scalar

namespace avx2 {
// Only 16 ymm registers: 12 accumulators leave room for the loop-invariant operands.
inline constexpr int kAccumulators = 12;
float fp32_fma(int64_t iterations);
int32_t int8_dot(int64_t iterations);  // AVX-VNNI only: check cpu_features().avx_vnni first
}  // namespace avx2

namespace avx512 {
// Deepest chain is vdpbf16ps (~6 cycles) x 2 pipes = 12 in flight; 16 leaves headroom of 32 zmm.
inline constexpr int kAccumulators = 16;
float fp32_fma(int64_t iterations);
float bf16_dot(int64_t iterations);
int32_t int8_dot(int64_t iterations);
}  // namespace avx512

}  // namespace talklab::cpu::roofline
