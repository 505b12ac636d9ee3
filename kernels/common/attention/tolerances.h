// Accuracy contract of flash_cpu against the float64 reference (kernels/common/attention/reference.h), used by the
// tests and by the run-time gate; flash_cuda's (kernels/cuda/attention/flash_cuda_tolerances.h) starts from its bf16
// bounds. Output error is normwise: max |out - ref| / max |ref| over the checked rows.
#pragma once

namespace talklab::attention {

// float32: each score is a D-term fp32 dot (D <= 256: ~sqrt(D) * 2^-24 ~ 1e-6 relative, as error in the exponent),
// exp2 by a degree-6 polynomial (1.2e-7 relative), and the softmax sum and P.V accumulate S_kv terms in fp32 across
// blocks (~1e-6 for S_kv ~ 3000 with random signs). The tests measure at most 1.8e-6 (seq 3001, every ISA), so 1e-5
// leaves ~5x margin and still catches any indexing or masking bug (those give O(1) errors).
inline constexpr double kOutTolF32 = 1e-5;
// bf16: the inputs are exact in bf16, but P is rounded to bf16 (8-bit mantissa: 2^-9 relative per weight) before
// P.V and the output is rounded to bf16 (2^-9 relative); together a few times 2^-9 ~ 4e-3 normwise in the worst
// rows; the tests measure at most 3.0e-3. 2e-2 is 2^-8 * 5: generous for rounding, far below a wrong block (O(1)).
inline constexpr double kOutTolBf16 = 2e-2;

// Log-sum-exp, absolute error in natural-log units. LSE is float32 for both dtypes and its error comes from the
// scores (fp32 dots; bf16 products accumulate exactly in fp32) plus one float32 rounding of a value of size |LSE|
// (~10 here, ulp ~1e-6): the tests measure at most 1.4e-6. 1e-4 covers LSEs up to ~100 (long rows, large biases).
inline constexpr double kLseTolF32 = 1e-4;
inline constexpr double kLseTolBf16 = 1e-4;

// Backward (flash_cpu_backward against reference_backward.h): normwise error of each of dQ, dK, dV.
// float32: the recomputed P carries the score and LSE errors above (~1e-6 relative), dS = P * (dP - D) subtracts
// two O(1) terms (D = dO.O from the forward's float32 O), and dQ / dK / dV sum up to S terms of random sign in
// fp32 (~sqrt(S) * 2^-24). The tests measure at most 3.2e-6 (every shape of the issue, scalar and AVX2), so 1e-4
// (the bound, ~30x that) still catches any indexing, masking or derivative bug (O(1) errors).
inline constexpr double kGradTolF32 = 1e-4;
// bf16: inputs exact in bf16, float32 arithmetic, but O arrives rounded to bf16 (2^-9 relative, moving D = dO.O by
// ~2^-9 * |D|, hence every dS of the row) and each gradient is rounded to bf16 on output (2^-9).
// The tests measure at most 6.5e-3. 3e-2 (the bound, ~15 * 2^-9, ~5x that) is generous for rounding and
// far below a wrong block (O(1)).
inline constexpr double kGradTolBf16 = 3e-2;

}  // namespace talklab::attention
