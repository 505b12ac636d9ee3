// What every attention implementation of the experiment shares: the problem a case's axes describe, its
// random inputs, and the run-time gate against the float64 reference (kernels/cpu/attention/reference.h).
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
#include "kernels/cpu/attention/flash_cpu.h"
#include "kernels/cpu/attention/mask_spec.h"
#include "kernels/cpu/attention/reference.h"

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

// Compares output rows (B, H, S_q, D) in the problem's dtype with the float64 reference.
Accuracy check_output(const Inputs& in, const attn::MaskSpec& spec, const void* out, uint64_t seed);

}  // namespace talklab::experiments::attention
