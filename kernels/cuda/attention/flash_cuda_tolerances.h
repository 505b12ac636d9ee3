// Accuracy contract of flash_cuda against the float64 reference (kernels/common/attention/reference.h), used by the
// tests and by the attention experiment's run-time gate. Output error is normwise, as for flash_cpu
// (kernels/common/attention/tolerances.h): max |out - ref| / max |ref| over the checked rows.
#pragma once

#include "kernels/common/attention/tolerances.h"

namespace talklab::cuda::attention {

// bf16: the kernel rounds where flash_cpu's bf16 path does, and nowhere else: P to bf16 before P.V (2^-9 relative
// per weight) and the output to bf16 (2^-9); scores and sums stay fp32 (mma accumulates in fp32, bf16 products are
// exact). So flash_cpu's bound applies unchanged: a few times 2^-9 ~ 4e-3 in the worst rows, 2e-2 allowed, far below
// what a wrong block or mask gives (O(1)).
inline constexpr double kOutTolBf16 = talklab::attention::kOutTolBf16;
// fp16: the same two roundings with an 11-bit significand (2^-11 each, 4x smaller than bf16): ~1e-3 expected in
// the worst rows; 5e-3 is ~10 * 2^-11. P below 2^-14 becomes subnormal, an absolute error under 2^-24: negligible.
inline constexpr double kOutTolFp16 = 5e-3;
// LSE, absolute in natural-log units, both dtypes: fp32 scores (D-term fp32 sums in the tensor cores) plus exp2f
// / log2f (2 ulp each) and one fp32 rounding of a value of size |LSE| ~ 10: ~1e-5 at worst; flash_cpu's 1e-4.
inline constexpr double kLseTol = talklab::attention::kLseTolBf16;

}  // namespace talklab::cuda::attention
