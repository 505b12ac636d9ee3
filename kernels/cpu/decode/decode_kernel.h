// Internal: what the dispatcher (decode_attention.cpp) hands to one ISA's kernel, the per-ISA entry points, and the
// score-mod pass they share (decode_mods.cpp).
#pragma once

#include <cstdint>

#include "kernels/cpu/decode/decode_attention.h"

namespace talklab::cpu::decode {

// Tokens per block: one score tile is (rows, kTokBlock); 16 divides every page size (16, 64, 128).
inline constexpr int kTokBlock = 16;

struct KernelArgs {
  DecodeShape shape;
  DType dtype = DType::f32;
  const void* q = nullptr;
  void* o = nullptr;
  KvCacheView cache;
  SeqTable seqs;
  float scale = 1.0f;
  int64_t window = 0;
  float softcap = 0.0f;
  const float* alibi = nullptr;
  int splits = 1;
  int heads_per_task = 1;  // kv heads one task runs page by page (choose_heads_per_task), <= kMaxHeadsPerTask
  int num_threads = 1;
  float* partial = nullptr;  // splits > 1: (B, H_kv, splits, rows, D + 2) floats: o unnormalized, then m, l
};

// First cache token any query of a sequence of length len can see: keys before the first query's window are
// never read.
inline int64_t first_visible_token(const KernelArgs& a, int64_t len) {
  const int64_t lo = a.window > 0 ? len - a.shape.q_len - a.window + 1 : 0;
  return lo > 0 ? lo : 0;
}
// Does a block of n tokens from t need masking (window edge, or the causal part among the new tokens)?
inline bool block_needs_mask(const KernelArgs& a, int64_t len, int64_t t, int n) {
  return (a.window > 0 && t < len - a.window) || (t + n - 1 > len - a.shape.q_len);
}

// The masks and score mods on one score tile s (rows r = gi * q_len + qi of kv head hk, kTokBlock floats each,
// keys t .. t + n): masked scores become -inf; with a score mod (softcap, ALiBi) the scores arrive in natural units
// (scale * q.k) and leave in log2 units. Compiled for baseline x86-64 (mask.h's inline functions must not be
// instantiated in an ISA file, where the linker could pick that copy for everyone); called once per 16-token block
// that needs it, never per token.
void apply_block_mods(const KernelArgs& a, float* s, int64_t rows, int64_t hk, int64_t len, int64_t t, int n);

namespace avx512 {
void decode(const KernelArgs& a);
}
namespace avx2 {
void decode(const KernelArgs& a);
}
namespace scalar {
void decode(const KernelArgs& a);
}

}  // namespace talklab::cpu::decode
