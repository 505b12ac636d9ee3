// What every attention implementation of the experiment shares: the problem a case's axes describe, its
// random inputs, and the run-time gate against the float64 reference (kernels/common/attention/reference.h).
//
// Axes: mask, seq (S_q = S_kv), window (sliding_window's W), heads, kv_heads, head_dim, batch, dtype.
// prefix_lm uses a prefix of seq / 4; document packs documents whose lengths are drawn from a generator seeded
// by seq alone (so the work of a case does not change between runs), between 1 and seq / 3 tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/check.h"
#include "harness/experiment.h"
#include "harness/memory.h"
#include "kernels/common/attention/mask_spec.h"
#include "kernels/common/attention/reference.h"
#include "kernels/cpu/attention/flash_cpu.h"

namespace talklab::experiments::attention {

namespace attn = talklab::cpu::attention;

attn::AttnShape shape_of(const Params& p);
attn::DType dtype_of(const Params& p);
attn::MaskSpec mask_spec_of(const Params& p);  // doc lengths and prefix derived from seq, as above
std::vector<int64_t> document_lengths(int64_t seq);
size_t element_bytes(attn::DType dtype);

// Q, K, V filled from a seed with normal values (bf16: rounded to nearest even), tracked memory.
struct Inputs {
  attn::AttnShape shape;
  attn::DType dtype = attn::DType::f32;
  memory::Buffer<std::byte> q, k, v;
  void fill(uint64_t seed);
  attn::AttnTensors tensors(void* out, float* lse) const;
};

// The rows the gate checks: all of a small problem, else a random sample (with the first and last rows of
// every head group's first batch) of about kSampledRows rows.
std::vector<attn::RowId> rows_to_check(const attn::AttnShape& s, uint64_t seed);
inline constexpr int kSampledRows = 96;

// The axes every attention experiment shares (mask, seq, window, heads, kv_heads, head_dim, batch, dtype), and
// the points none of their implementations can run (sizes, heads, window), with the reason.
std::vector<Axis> problem_axes();
std::string problem_skip(const Params& p);

// The points of the block-mask builders (blockmask_closed, blockmask_generic, torch_create_block_mask): masks with
// blocks to skip, f32 only, since a block mask depends on the mask and the sequence alone.
bool is_block_mask_point(const Params& p);

// Output tolerance for flash_cpu: the kernel's contract (kernels/common/attention/tolerances.h).
double flash_tolerance(attn::DType dtype);

// Output tolerance for LibTorch's eager and SDPA paths. In bf16 these round three intermediates to bf16 that
// flash_cpu keeps in fp32: the scores (a score s moves by up to |s| * 2^-9 in the exponent, ~1% of a weight for
// |s| ~ 4), the softmax output and the scaled scores before the mask is added. Over 40 seeds of the quick
// profile the largest normwise error measured was 2.1e-2 (torch_eager, full mask, seq 257), against 3e-3 for
// flash_cpu; 6e-2 (~30 * 2^-9) keeps ~3x margin over that and stays far below a wrong mask or block (O(1)).
// float32 keeps the kernel's 1e-5 (measured at most 1e-6).
double torch_tolerance(attn::DType dtype);

// The counters every block-sparse kernel reports, whatever its device: executed FLOPs (whole tiles), full and
// partial tile counts, density (useful over dense FLOPs) and the time the plan took to build.
void add_block_counters(Counters& out, const attn::MaskSpec& spec, const attn::AttnShape& s, double executed_flops,
                        int64_t full_blocks, int64_t partial_blocks, double plan_build_s);

// Compares output rows (B, H, S_q, D) in the problem's dtype with the float64 reference, normwise.
Accuracy check_output(const Inputs& in, const attn::MaskSpec& spec, const void* out, uint64_t seed,
                      double tolerance);

}  // namespace talklab::experiments::attention
