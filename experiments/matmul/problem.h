// What the matmul recipes share: C(M x N) = A(M x K) x B(K x N), float32 inputs drawn from N(0, 1) (B is the
// weight, A the activation), and the gate: SQNR and normwise error of C against the float64 product of the
// UNQUANTIZED inputs, so every recipe's quantization error is measured on the same footing.
//
// Axes M, N, K; profiles may zip (K, N) to walk real linear layers instead of crossing them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
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

// Every recipe's contract, on whichever device it runs: one definition, so a CPU recipe and its CUDA or
// LibTorch counterpart are held to the same floor. SQNR on randn at K = 4096.
// fp32 accumulation of exact fp32 products: ~120 dB; anything under 100 dB is a wrong result.
inline constexpr RecipeTolerance kFp32Tolerance{100.0, 1e-5};
// tf32 rounds both inputs to 10 mantissa bits: relative error up to 2^-11 each, about 68 dB (62 dB if the
// conversion truncated). 55 dB leaves room and fails a product that ran on bf16 inputs (~50 dB).
inline constexpr RecipeTolerance kTf32Tolerance{55.0, 1e-2};
// bf16 rounds both inputs (2^-9 relative each), a bf16 output once more: about 48-50 dB; the floor is 45.
inline constexpr RecipeTolerance kBf16Tolerance{45.0, 5e-2};
// fp16 inputs and output: 3 more mantissa bits than bf16 on each rounding, about 66 dB (outputs of size
// sqrt(K) ~ 90 are far from fp16's 65504). 55 dB fails a product that silently ran in bf16.
inline constexpr RecipeTolerance kFp16Tolerance{55.0, 1e-2};
// int8 per-token x per-channel: a 127-level grid on each input, about 38 dB; floor 30 dB.
inline constexpr RecipeTolerance kInt8Tolerance{30.0, 1e-1};
// fp8 e4m3 (any scaling) and MXFP8 >= 24 dB, MXFP4 >= 10 dB (the floors). The normwise bound only
// catches gross faults: 4-bit elements move single outputs by tens of percent.
inline constexpr RecipeTolerance kFp8Tolerance{24.0, 0.2};
inline constexpr RecipeTolerance kFp4Tolerance{10.0, 1.0};
// int4 groups of 128: the floor is 16 dB (measured ~19: the grid step is amax / 7 of 128 normals, ~0.4,
// whose rounding noise is ~11% of the signal's rms). Normwise (max |err| / max |ref|) the same noise gives
// ~0.1-0.2: the largest error is ~4 noise sigmas against a largest output of 3-4 output sigmas. 0.5 leaves
// room for small shapes (few outputs) and still catches a wrong scale or group.
inline constexpr RecipeTolerance kInt4Tolerance{16.0, 0.5};

struct Inputs {
  Shape s;
  memory::Buffer<float> a, b;  // row-major
  void fill(uint64_t seed);
};

// 2MNK FLOPs, and the fewest bytes: A in the form the recipe reads it, B in its stored format, C as written
// (bytes per element of each). At M = 1 on the CPU (decode) the product reads its weights and writes one row:
// bound by the read-only stream (Work::bandwidth = "read"), not by copy, whose writes a GEMV does not make.
// (No GPU read ceiling is measured yet: on CUDA every M keeps the copy bandwidth.)
Work recipe_work(const CaseContext& ctx, double a_bytes, double b_bytes, double c_bytes, const char* peak);

// A decode step reads each layer's weights once, and a model's layers together are far larger than any cache:
// every weight byte comes from DRAM. One layer's low-precision weights can fit in the 32 MiB L3 of this machine
// kind (int4 4096 x 14336: 30 MiB), so repeated runs on one copy would read partly from cache and overstate the
// bandwidth. A case cycles through enough identical copies that together they exceed kColdBytes, so each run
// streams its weights from memory (the copies are made in setup). Weights under kColdBytes / 16 are left alone (at
// most 17 copies): there the other recipes' weights are cache-resident too, and a like-for-like comparison matters
// more than a cold figure. Used by every recipe of ours (bf16, int8_w8a8, int4_w4a16: ColdCopies) and by PyTorch's
// weight-only anchors alike. (Until 2026-12 bf16 and int8_w8a8 ran on one copy: int8 4096 x 14336, 56 MiB, read
// partly from the Zen 5 guest's L3 and showed 115-140% of the read ceiling.)
inline constexpr size_t kColdBytes = size_t(96) << 20;
// How many copies of weights of `bytes` a case cycles through (1: no copies).
size_t cold_weight_copies(size_t bytes);

// A case's packed weights and their cold copies: next() hands them out in turn, one per run.
template <class Packed>
class ColdCopies {
 public:
  void assign(Packed packed, size_t bytes) { copies_.assign(cold_weight_copies(bytes), std::move(packed)); }
  const Packed& next() { return copies_[next_++ % copies_.size()]; }
  const Packed& first() const { return copies_.front(); }
  size_t count() const { return copies_.size(); }

 private:
  std::vector<Packed> copies_;
  size_t next_ = 0;
};

// Our recipes' weight counters: weight_bytes (one packed copy) and weight_copies (the cold copies it cycles), and at
// M = 1 (decode-shaped: the product streams its weights) read_fraction and read_gbps_paired as the decode experiment
// reports them (harness/sampler.h's add_paired_read): the step against the roofline's read-only stream over as many
// bytes as its weights and as many cold copies as it cycles. So the "share of the read bandwidth" target is measured
// at the moments the step runs, not against the ceiling of the run's start (which put our M = 1 products at 84-170%
// of it on the shared Zen 5 guest).
void add_weight_counters(Counters& out, const Shape& s, const std::function<void()>& step, size_t weight_bytes,
                         size_t copies, int threads);

// Why our CPU recipes (bf16, int8_w8a8, int4_w4a16) are skipped here, or "" where they run: they have tuned
// AVX-512 (BF16 + VNNI) and AVX2 + FMA kernels; only the scalar fallback (no AVX2, or TALKLAB_ISA=scalar) is
// left out of timing.
std::string tuned_cpu_kernels_skip();

// The rows of C the gate compares: every row of a small C, else 24 sampled rows with the first and last.
std::vector<int64_t> rows_to_check(int64_t M, uint64_t seed);

// C (M x N, row-major floats, or bf16 bits when c_bf16) against the float64 product on the sampled rows.
Accuracy check_product(const Inputs& in, const void* c, bool c_bf16, const RecipeTolerance& tol, uint64_t seed);

}  // namespace talklab::experiments::matmul
