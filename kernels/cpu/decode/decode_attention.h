// decode_attention: attention of a few new query tokens against a KV cache (kv_cache.h), the step an LLM runs
// once per generated token. Memory-bound: every call reads the whole visible cache once, and does only
// 4 * D flops per (query row, cached token) against 2 * D cache elements.
//   Q (B, H, q_len, D), O (B, H, q_len, D): float32 or bf16 (raw uint16_t bits), contiguous. q_len 1..16 (decode,
//   speculative verification): query i of sequence b sits at position lengths[b] - q_len + i, so its own K/V are
//   already in the cache, and it sees cache tokens <= its position (causal among the new tokens).
//   Query head h reads kv head h / (H / H_kv); the H / H_kv heads of a group and their q_len rows are processed
//   together, so each K/V byte is read once per group (GQA / MQA).
// Mods, as the forward kernel's (kernels/common/attention/mask.h): a sliding window of `window` keys including the
// query's own position (SlidingWindowMask; keys before the first query's window are not even read), softcap
// (SoftcapScore) and ALiBi (AlibiScore, one slope per query head).
// Work items: a sequence's kv heads in groups of heads_per_task (choose_heads_per_task), run page by page, so a
// paged cache is read in runs of several heads' pages. Split-KV (flash-decoding): when B x groups work items cannot
// keep every thread busy, each sequence's visible tokens are cut into `splits` chunks processed by different
// threads; partial (max, sum, unnormalized output) are merged by their log-sum-exp. choose_splits is the rule; the
// call returns what it chose.
// Files: decode_core.h (the algorithm, generic over vector traits and KV codecs), decode_avx2.cpp /
// decode_avx512.cpp / decode_scalar.cpp (the ISA traits), decode_attention.cpp (validation, split rule, dispatch).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/attention/shape.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/decode/kv_cache.h"

namespace talklab::cpu::decode {

using DType = talklab::attention::DType;

inline constexpr int64_t kMaxQLen = 16;
// Smallest chunk split-KV makes: below this the merge and the per-task start (packing Q) stop being negligible.
inline constexpr int64_t kMinSplitTokens = 512;
inline constexpr int kMaxSplits = 64;
// Most kv heads one task runs page by page (choose_heads_per_task).
inline constexpr int kMaxHeadsPerTask = 8;

struct DecodeShape {
  int64_t B = 1, H = 1, H_kv = 1, q_len = 1, D = 0;
};

struct DecodeOptions {
  float scale = 0.0f;               // 0 means 1/sqrt(D)
  int64_t window = 0;               // 0: no window; else keys q - window < kv <= q
  float softcap = 0.0f;             // 0: none
  const float* alibi_slopes = nullptr;  // (H) or null
  int splits = 0;                   // 0: choose_splits; >= 1: forced (1 = no split)
  Isa isa = best_isa();
  int num_threads = 0;              // 0: OpenMP's default
};

struct DecodeStats {
  int splits = 1;               // chunks per sequence
  int heads_per_task = 1;       // kv heads a task runs page by page
  int64_t chunk_tokens = 0;     // the longest chunk
  int64_t tasks = 0;            // B * (H_kv / heads_per_task) * splits
  double kv_bytes_read = 0;     // K and V bytes (codes and scales) the call read: the memory bound
};

// The split rule: work items W = B * H_kv. When W >= 2 * threads, every thread already has two or more items (and
// dynamic scheduling evens out ragged lengths): 1. Otherwise enough chunks for ~2 per thread, ceil(2 * threads / W),
// but no chunk under kMinSplitTokens and at most kMaxSplits. max_len: the longest visible length in the batch.
// paged (a block table of several pages per sequence): at least enough chunks that tasks of every head of a page
// (the largest divisor h of H_kv up to kMaxHeadsPerTask) give each thread one, ceil(threads / (B * H_kv / h)),
// so choose_heads_per_task can take all h and a page is read in runs of h heads' rows. Measured (standalone driver,
// bf16, 32k, 32:8, batch 1, pages of 64 shuffled, 2 threads, paged alternated with a contiguous cache of the same
// data, medians of 20): 8 heads in 2 chunks 1.09-1.21x of contiguous against 4 heads unsplit 1.14-1.34x in the
// same minutes (10 pairs, every one lower), 8 heads in 4 chunks 1.17-1.19x; at 1k-8k tokens no change beyond noise.
int choose_splits(int64_t B, int64_t H_kv, int threads, int64_t max_len, bool paged = false);

// KV heads per task, given the splits: a task runs its heads page by page, so a paged cache ((page, H_kv,
// page_size, D): a page holds its heads side by side) is read in runs of that many heads' rows instead of one
// head's page and a jump. The largest divisor h of H_kv, at most kMaxHeadsPerTask, that leaves a task for every
// thread, B * (H_kv / h) * splits >= threads; else 1. (Splitting further to group more heads was measured: all 8
// heads in 4 chunks read pages about as well as 4 heads in one, but the merge cost 1k-token steps 45%; measured
// again on 2026-12-05, 8 heads in 2 chunks read pages 4-10% faster than 4 heads in one, which choose_splits now
// does for paged caches.)
int choose_heads_per_task(int64_t B, int64_t H_kv, int splits, int threads);

// The splits a call with these options will use (opt.splits if forced, else choose_splits with the thread count
// and the longest visible length): size the workspace with it.
int resolve_splits(const DecodeShape& shape, const SeqTable& seqs, const DecodeOptions& opt);

// Caller scratch for the partial results of a split call ((B * H * q_len * splits) rows of D + 2 floats).
size_t decode_workspace_bytes(const DecodeShape& shape, int splits);

// Throws std::invalid_argument naming the bad value. q and o have dtype `dtype`.
DecodeStats decode_attention(const DecodeShape& shape, DType dtype, const void* q, const KvCacheView& cache,
                             const SeqTable& seqs, void* o, const DecodeOptions& opt, void* workspace,
                             size_t workspace_bytes);

}  // namespace talklab::cpu::decode
