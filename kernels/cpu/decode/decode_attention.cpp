// decode_attention dispatcher (decode_attention.h): validation, the split rule, the ISA path, the bytes read. No
// arithmetic of its own; compiled for baseline x86-64.
#include "kernels/cpu/decode/decode_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/decode/decode_kernel.h"

namespace talklab::cpu::decode {
namespace {

void check(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("decode_attention: " + what);
}

int threads_of(const DecodeOptions& opt) { return opt.num_threads > 0 ? opt.num_threads : omp_get_max_threads(); }

int64_t visible_tokens(const DecodeShape& s, const DecodeOptions& opt, int64_t len) {
  KernelArgs a;
  a.shape = s;
  a.window = opt.window;
  return len - first_visible_token(a, len);
}

bool isa_available(Isa isa) {
  const CpuFeatures& f = cpu_features();
  return isa == Isa::scalar || (isa == Isa::avx2 && f.has_avx2_kernels()) ||
         (isa == Isa::avx512 && f.has_avx512_kernels());
}

}  // namespace

int choose_splits(int64_t B, int64_t H_kv, int threads, int64_t max_len, bool paged) {
  const int64_t work = B * H_kv, T = threads;
  int64_t wanted = work >= 2 * T ? 1 : (2 * T + work - 1) / work;
  if (paged) {  // a task of every head of a page (up to kMaxHeadsPerTask) for each thread, cutting the sequence
    int64_t h = std::min<int64_t>(H_kv, kMaxHeadsPerTask);
    while (H_kv % h != 0) --h;
    const int64_t tasks = B * (H_kv / h);
    if (tasks < T) wanted = std::max(wanted, (T + tasks - 1) / tasks);
  }
  if (wanted == 1) return 1;
  const int64_t by_length = std::max<int64_t>(1, max_len / kMinSplitTokens);
  return int(std::clamp<int64_t>(std::min(wanted, by_length), 1, kMaxSplits));
}

int choose_heads_per_task(int64_t B, int64_t H_kv, int splits, int threads) {
  for (int64_t h = std::min<int64_t>(H_kv, kMaxHeadsPerTask); h > 1; --h)
    if (H_kv % h == 0 && B * (H_kv / h) * splits >= int64_t(threads)) return int(h);
  return 1;
}

int resolve_splits(const DecodeShape& shape, const SeqTable& seqs, const DecodeOptions& opt) {
  if (opt.splits > 0) return opt.splits;
  int64_t longest = 0;
  for (int64_t b = 0; b < seqs.B; ++b) longest = std::max(longest, visible_tokens(shape, opt, seqs.lengths[b]));
  return choose_splits(shape.B, shape.H_kv, threads_of(opt), longest, seqs.pages_per_seq > 1);
}

size_t decode_workspace_bytes(const DecodeShape& s, int splits) {
  if (splits <= 1) return 0;
  return size_t(s.B * s.H * s.q_len) * size_t(splits) * size_t(s.D + 2) * sizeof(float);
}

DecodeStats decode_attention(const DecodeShape& s, DType dtype, const void* q, const KvCacheView& cache,
                             const SeqTable& seqs, void* o, const DecodeOptions& opt, void* workspace,
                             size_t workspace_bytes) {
  check(s.B >= 1 && s.H >= 1 && s.H_kv >= 1, "B, H and H_kv must be >= 1");
  check(s.H % s.H_kv == 0, "H_kv " + std::to_string(s.H_kv) + " must divide H " + std::to_string(s.H));
  check(s.q_len >= 1 && s.q_len <= kMaxQLen, "q_len must be in [1, 16], got " + std::to_string(s.q_len));
  check(cache.D == s.D, "cache head dim " + std::to_string(cache.D) + " differs from D " + std::to_string(s.D));
  check(cache.H_kv == s.H_kv, "cache kv heads " + std::to_string(cache.H_kv) + " differ from H_kv " +
                                  std::to_string(s.H_kv));
  validate_format(cache.format, s.D);
  check(seqs.B == s.B, "sequence table has " + std::to_string(seqs.B) + " sequences, B is " + std::to_string(s.B));
  check(q && o && cache.k && cache.v && seqs.lengths && seqs.block_table, "null pointer");
  check(opt.window >= 0, "window must be >= 0, got " + std::to_string(opt.window));
  check(isa_available(opt.isa), std::string("this CPU lacks ISA ") + isa_name(opt.isa));
  check(opt.splits >= 0 && opt.splits <= kMaxSplits, "splits must be in [0, 64], got " + std::to_string(opt.splits));
  for (int64_t b = 0; b < s.B; ++b) {
    const int64_t len = seqs.lengths[b];
    check(len >= s.q_len && len <= seqs.pages_per_seq * cache.page_size,
          "sequence " + std::to_string(b) + " length " + std::to_string(len) + " must be in [q_len, pages * page_size]");
    for (int64_t i = 0; i < (len + cache.page_size - 1) / cache.page_size; ++i) {
      const int32_t p = seqs.block_table[b * seqs.pages_per_seq + i];
      check(p >= 0 && p < cache.num_pages, "sequence " + std::to_string(b) + " page " + std::to_string(i) +
                                               " maps to " + std::to_string(p) + ", outside the pool");
    }
  }
  KernelArgs a;
  a.shape = s;
  a.dtype = dtype;
  a.q = q;
  a.o = o;
  a.cache = cache;
  a.seqs = seqs;
  a.scale = opt.scale != 0.0f ? opt.scale : float(1.0 / std::sqrt(double(s.D)));
  a.window = opt.window;
  a.softcap = opt.softcap;
  a.alibi = opt.alibi_slopes;
  a.num_threads = threads_of(opt);
  a.splits = resolve_splits(s, seqs, opt);
  a.heads_per_task = choose_heads_per_task(s.B, s.H_kv, a.splits, a.num_threads);
  const size_t need = decode_workspace_bytes(s, a.splits);
  check(workspace_bytes >= need && (need == 0 || workspace),
        "workspace of " + std::to_string(workspace_bytes) + " bytes, " + std::to_string(need) + " needed for " +
            std::to_string(a.splits) + " splits");
  a.partial = static_cast<float*>(workspace);

  DecodeStats st;
  st.splits = a.splits;
  st.heads_per_task = a.heads_per_task;
  st.tasks = s.B * (s.H_kv / a.heads_per_task) * a.splits;
  const double per_token = kv_bytes_per_token(cache.format, s.D) * double(s.H_kv);
  for (int64_t b = 0; b < s.B; ++b) {
    const int64_t vis = visible_tokens(s, opt, seqs.lengths[b]);
    st.kv_bytes_read += double(vis) * per_token;
    const int64_t chunk = ((vis + a.splits - 1) / a.splits + kTokBlock - 1) / kTokBlock * kTokBlock;  // as run_task
    st.chunk_tokens = std::max(st.chunk_tokens, std::min(chunk, vis));
  }
  switch (opt.isa) {
    case Isa::avx512: avx512::decode(a); break;
    case Isa::avx2: avx2::decode(a); break;
    case Isa::scalar: scalar::decode(a); break;
  }
  return st;
}

}  // namespace talklab::cpu::decode
