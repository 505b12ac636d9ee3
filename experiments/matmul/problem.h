// What the matmul recipes share: C(M x N) = A(M x K) x B(K x N), float32 inputs drawn from N(0, 1) (B is the
// weight, A the activation), and the gate: SQNR and normwise error of C against the float64 product of the
// UNQUANTIZED inputs, so every recipe's quantization error is measured on the same footing.
//
// Axes M, N, K; profiles may zip (K, N) to walk real linear layers instead of crossing them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/check.h"
#include "harness/experiment.h"
#include "harness/memory.h"

namespace talklab::experiments::matmul {

struct Shape {
  int64_t M = 0, N = 0, K = 0;
};
Shape shape_of(const Params& p);

// The accuracy contract of a recipe: the SQNR floor (dB) on randn inputs and a normwise bound that catches
// what SQNR averages away (one wrong row).
struct RecipeTolerance {
  double min_sqnr_db;
  double max_rel_error;
};

struct Inputs {
  Shape s;
  memory::Buffer<float> a, b;  // row-major
  void fill(uint64_t seed);
};

// 2MNK FLOPs, and the fewest bytes: A in the form the recipe reads it, B in its stored format, C as written
// (bytes per element of each).
Work recipe_work(const CaseContext& ctx, double a_bytes, double b_bytes, double c_bytes, const char* peak);

// The rows of C the gate compares: every row of a small C, else 24 sampled rows with the first and last.
std::vector<int64_t> rows_to_check(int64_t M, uint64_t seed);

// C (M x N, row-major floats, or bf16 bits when c_bf16) against the float64 product on the sampled rows.
Accuracy check_product(const Inputs& in, const void* c, bool c_bf16, const RecipeTolerance& tol, uint64_t seed);

}  // namespace talklab::experiments::matmul
