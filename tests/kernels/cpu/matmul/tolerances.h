// Tolerances of the matmul tests, beside the experiment. Inputs are already bf16 / int8 codes, and the float64
// reference uses the same codes, so the only error left is the kernel's accumulation.
#pragma once

namespace talklab::cpu::matmul::test {

// bf16 products are exact in fp32; fp32 accumulation over K <= 4095 in a different order than the reference:
// normwise ||C - ref|| / ||ref||.
inline constexpr double kBf16NormwiseTol = 1e-5;
// int8: exact int32 accumulation, then two fp32 multiplications by the scales: elementwise relative.
inline constexpr double kInt8RelTol = 1e-6;
// End to end, int8 codes vs the fp32 product of the unquantized randn inputs at K = 4096.
inline constexpr double kInt8MinSqnrDb = 30.0;

}  // namespace talklab::cpu::matmul::test
