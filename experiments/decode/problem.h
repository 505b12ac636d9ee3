// What every decode implementation shares: the problem a case's axes describe, its random inputs (the logical,
// unquantized cache and bf16 queries), and the gate against the float64 reference on that unquantized cache
// (kernels/cpu/decode/decode_reference.h), so every KV format's error is measured against the same truth.
//
// Axes: context (tokens in the cache, every sequence of the batch), batch, heads, kv_heads, head_dim,
// page_size (0 = contiguous; else pages of that many tokens, shuffled in the pool), kv_dtype (a format name of
// kernels/cpu/decode/kv_cache.h), q_len (new tokens per step: 1 decode, > 1 speculative verification), split
// (auto = the kernel's rule, off = forced to 1 chunk per sequence, what split-KV is measured against).
// Queries and outputs are bf16, as a bf16 model's decode step has them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/check.h"
#include "harness/experiment.h"
#include "harness/memory.h"
#include "kernels/cpu/decode/decode_attention.h"
#include "kernels/cpu/decode/kv_cache.h"

namespace talklab::experiments::decode {

namespace dec = talklab::cpu::decode;

struct Problem {
  dec::DecodeShape shape;
  int64_t context = 0;
  int64_t page_size = 0;
  dec::KvFormat format;
  bool split_off = false;
};
Problem problem_of(const Params& p);

// The pool's pages are shuffled with this fixed seed: paged and contiguous cases hold the same data in the same
// logical order whatever the case seed, so their time difference is the page table's.
inline constexpr uint64_t kPageShuffleSeed = 0x5EEDu;

// Logical K, V (B, H_kv, context, D) float32 N(0, 1); Q (B, H, q_len, D) bf16 N(0, 1); tracked memory.
struct Inputs {
  memory::Buffer<float> k, v;
  memory::Buffer<uint16_t> q;
  std::vector<int32_t> lengths;  // every sequence holds `context` tokens
  void fill(const Problem& p, uint64_t seed);
};

// Bytes of K and V one token occupies across all kv heads (scales included): the memory side of the trade-off.
double kv_bytes_per_token(const Problem& p);
// The bound: K and V bytes of every cached token, read once per step.
double kv_bytes_read(const Problem& p);
// Useful flops: 4 D per (query row, cached token) (the causal part among q_len new tokens is negligible).
double useful_flops(const Problem& p);

// The gate: output rows (bf16, (B, H, q_len, D)) against the float64 reference, all rows of a small problem or a
// sample. Tolerances per format: kernels/cpu/decode/decode_tolerances.h (ours), torch_tolerance (LibTorch's bf16).
Accuracy check_output(const Problem& p, const Inputs& in, const uint16_t* out, uint64_t seed, const Tolerance& tol);
Tolerance our_tolerance(const dec::KvFormat& f);
// LibTorch's bf16 paths round the scores and the probabilities to bf16 (flash_cpu keeps them fp32); the attention
// experiment measured up to 2.1e-2 normwise for them and allows 6e-2 (experiments/attention/problem.h): the same.
Tolerance torch_tolerance();

}  // namespace talklab::experiments::decode
