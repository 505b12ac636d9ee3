// The decode experiment: one decode step (q_len new tokens per sequence) against a KV cache, ours against LibTorch.
// Talks: "Understanding the LLM Inference Workload" (decode is memory-bound: each token reads the whole cache),
// "vLLM: Easy, Fast, and Cheap LLM Serving" (paged KV), "Optimizing AI Inference for Large Language Models" (KV
// quantization, GQA), "FlexAttention" (its decode path, compiled: decode_torch.cpp).
//
// Implementations:
//   decode_cpu   ours (kernels/cpu/decode/): GQA groups read each K/V byte once, paged or contiguous, KV in bf16 /
//                int8 / fp8 / int4 KIVI dequantized in registers, split-KV when B x kv_heads is small
//   torch_sdpa   LibTorch's scaled_dot_product_attention with enable_gqa on a contiguous bf16 cache
//   torch_eager  LibTorch: K, V repeated to the query heads, matmul, softmax, matmul
//   torch_flex   torch.compile(flex_attention) run by the embedded CPython on the same cache (torch_flex.py)
// Work: the bytes of K and V the step must read (codes and scales), a memory-only roofline: on the CPU the fraction
// is of the measured read-only stream (a decode step reads its cache and writes a few rows, as a GEMV reads its
// weights; copy counts writes it does not make), elsewhere of the copy bandwidth. Useful FLOPs (4 D per query row
// and token) are a counter.
//   bench --filter decode
#include <fmt/format.h>

#include <memory>

#include "experiments/decode/decode_torch.h"
#include "experiments/decode/problem.h"
#include "harness/registry.h"
#include "harness/sampler.h"
#include "kernels/cpu/roofline/stream.h"

namespace talklab::experiments::decode {
Presentation presentation();  // presentation.cpp
namespace {

const std::vector<std::string> kKvDtypes = {"bf16",     "int8_token", "int8_head", "fp8_tensor",
                                            "fp8_head", "int4_g32",   "int4_g64"};

class OursCase final : public Case {
 public:
  explicit OursCase(const CaseContext& ctx) : p_(problem_of(ctx.params)), seed_(ctx.seed), threads_(ctx.threads) {}
  void setup() override {
    in_.fill(p_, seed_);
    const dec::DecodeShape& s = p_.shape;
    table_ = dec::make_page_table(s.B, p_.context, p_.page_size, p_.page_size ? kPageShuffleSeed : 0, align());
    cache_ = filled(p_.format, table_);
    out_ = memory::Buffer<uint16_t>(size_t(s.B * s.H * s.q_len * s.D));
    options_.num_threads = threads_;
    options_.splits = p_.split_off ? 1 : 0;
    workspace_ = memory::Buffer<std::byte>(
        dec::decode_workspace_bytes(s, dec::resolve_splits(s, table_.seqs(in_.lengths), options_)));
  }
  void poison() override { talklab::poison_bf16(out_.span()); }
  void run() override { stats_ = step(*cache_, table_); }
  Accuracy check() override { return check_output(p_, in_, out_.data(), seed_, our_tolerance(p_.format)); }
  void add_counters(Counters& out) override {
    out.emplace_back("kv_bytes_per_token", kv_bytes_per_token(p_));
    out.emplace_back("kv_read_bytes", stats_.kv_bytes_read);
    out.emplace_back("useful_flops", useful_flops(p_));
    out.emplace_back("splits", double(stats_.splits));
    out.emplace_back("chunk_tokens", double(stats_.chunk_tokens));
    out.emplace_back("tasks", double(stats_.tasks));
    // Page-table overhead in memory: the block table, and the pool's unused tail of each sequence's last page.
    out.emplace_back("page_table_bytes", double(table_.block_table.size() * sizeof(int32_t)));
    out.emplace_back("kv_cache_bytes", double(cache_->storage_bytes()));
    if (p_.page_size > 0) out.emplace_back("paged_over_contiguous", paged_over_contiguous());
    if (p_.format.dtype != dec::KvDtype::bf16) out.emplace_back("speedup_vs_bf16", speedup_vs_bf16());
    paired_read(out);
  }
  void add_labels(Labels& out) override {
    out.emplace_back("split_choice",
                     fmt::format("{} chunk(s) of <= {} tokens, {} kv head(s) per task, {} tasks on {} threads",
                                 stats_.splits, stats_.chunk_tokens, stats_.heads_per_task, stats_.tasks, threads_));
    out.emplace_back("isa", cpu::isa_name(options_.isa));
  }

 private:
  int64_t align() const { return p_.format.dtype == dec::KvDtype::int4_kivi ? p_.format.group : 16; }
  // The case's K and V in `format` behind `table`'s pages.
  std::unique_ptr<dec::KvCache> filled(const dec::KvFormat& format, const dec::PageTable& table) const {
    const dec::DecodeShape& s = p_.shape;
    auto cache = std::make_unique<dec::KvCache>(format, table.num_pages, table.page_size, s.H_kv, s.D);
    cache->fill(table.seqs(in_.lengths), in_.k.data(), in_.v.data(), p_.context);
    return cache;
  }
  dec::DecodeStats step(const dec::KvCache& cache, const dec::PageTable& table) {
    return dec::decode_attention(p_.shape, dec::DType::bf16, in_.q.data(), cache.view(), table.seqs(in_.lengths),
                                 out_.data(), options_, workspace_.data(), workspace_.size());
  }

  // The page table's cost in time: this case's paged cache against a contiguous one holding the same data, timed
  // in alternation (harness/sampler.h's paired_times): two cases minutes apart cannot resolve the 3% on a
  // host whose memory bandwidth moves 20-40% between them. Built here, after the samples, so the case's memory and
  // samples are the paged cache's alone. Each resolves its own splits (choose_splits may cut a paged cache's
  // sequence more, never less, than a contiguous one's), so this case's workspace serves both.
  double paged_over_contiguous() {
    const dec::PageTable flat_table = dec::make_page_table(p_.shape.B, p_.context, 0, 0, align());
    const std::unique_ptr<dec::KvCache> flat = filled(p_.format, flat_table);
    return paired_times([&] { step(*cache_, table_); }, [&] { step(*flat, flat_table); }).ratio;
  }

  // The format's speedup over a bf16 cache of the same data and page table, paired as paged_over_contiguous: the
  // issue's int8 and int4 targets are ratios to our bf16, and bf16 (memory-bound) and the quantized formats
  // (compute-bound here) move differently with the host's bandwidth, so two cases apart gave 1.35x-1.97x for int8.
  double speedup_vs_bf16() {
    const std::unique_ptr<dec::KvCache> bf16 = filled({dec::KvDtype::bf16, dec::KvScale::none, 0}, table_);
    return paired_times([&] { step(*bf16, table_); }, [&] { step(*cache_, table_); }).ratio;
  }

  // The bandwidth bound, paired: a plain read (the roofline's read stream, same threads) of as many bytes as the
  // step reads, timed in alternation with the step. read_fraction = read time / step time is the fraction of what
  // this machine reads at those moments; the roofline column divides by a ceiling measured once at the run's start,
  // which moved 56-89 GB/s between runs here.
  void paired_read(Counters& out) {
    const size_t floats = size_t(stats_.kv_bytes_read / sizeof(float));
    dec::PoolBytes bytes(floats * sizeof(float), 1);  // huge pages where the system gives them, as the cache
    const float* src = reinterpret_cast<const float*>(bytes.data());
    const cpu::Isa isa = options_.isa;
    add_paired_read(out, [&] { cpu::roofline::stream_read(src, floats, threads_, isa); },
                    [&] { step(*cache_, table_); }, double(floats * sizeof(float)));
  }

  Problem p_;
  uint64_t seed_;
  int threads_;
  Inputs in_;
  dec::PageTable table_;
  std::unique_ptr<dec::KvCache> cache_;
  memory::Buffer<uint16_t> out_;
  memory::Buffer<std::byte> workspace_;
  dec::DecodeOptions options_;
  dec::DecodeStats stats_;
};

Work declare_work(const CaseContext& ctx) {
  return Work{0.0, kv_bytes_read(problem_of(ctx.params)), "", ctx.device == Device::cpu ? "read" : ""};
}

std::string declare_skip(const Params& p) {
  const int64_t heads = p.integer("heads"), kv = p.integer("kv_heads"), D = p.integer("head_dim");
  if (kv < 1 || heads % kv != 0) return fmt::format("kv_heads {} does not divide heads {}", kv, heads);
  if (D < 16 || D > 256 || D % 16 != 0) return fmt::format("head_dim {} is not a multiple of 16 in [16, 256]", D);
  const int64_t q_len = p.integer("q_len");
  if (q_len < 1 || q_len > dec::kMaxQLen) return fmt::format("q_len {} outside [1, {}]", q_len, dec::kMaxQLen);
  if (p.integer("context") < q_len) return "context shorter than q_len";
  if (p.integer("batch") < 1) return "batch must be >= 1";
  const int64_t page = p.integer("page_size");
  if (page < 0 || (page > 0 && page % 16 != 0)) return fmt::format("page_size {} is not 0 or a multiple of 16", page);
  const dec::KvFormat f = dec::format_from_name(p.str("kv_dtype"));
  if (f.dtype == dec::KvDtype::int4_kivi) {
    if (D % f.group != 0) return fmt::format("int4 group {} does not divide head_dim {}", f.group, D);
    if (page > 0 && page % f.group != 0)
      return fmt::format("int4 key groups of {} tokens would straddle pages of {}", f.group, page);
  }
  return "";
}

Experiment declare() {
  Experiment e;
  e.name = "decode";
  e.description = "decode attention over a KV cache (paged, quantized, split-KV): ours against LibTorch";
  e.talks = {"llm-inference-workload", "vllm-paged-attention", "optimizing-llm-inference", "flexattention"};
  e.axes = {int_axis("context", "tokens in the cache per sequence"),
            int_axis("batch", "B: sequences decoded together"),
            int_axis("heads", "query heads"),
            int_axis("kv_heads", "key/value heads (GQA when fewer than heads, MQA at 1)"),
            int_axis("head_dim", "D"),
            int_axis("page_size", "tokens per KV page, pages shuffled in the pool; 0 = contiguous"),
            string_axis("kv_dtype", kKvDtypes, "KV cache format (kernels/cpu/decode/kv_cache.h)"),
            int_axis("q_len", "new tokens per sequence (1 = decode, > 1 = speculative verification)"),
            string_axis("split", {"auto", "off"}, "split-KV: the kernel's rule, or one chunk per sequence")};
  e.work = declare_work;
  e.skip = declare_skip;
  e.presentation = presentation();

  Implementation ours;
  ours.name = "decode_cpu";
  ours.description = "ours: GQA-grouped decode attention, paged / quantized KV, split-KV; AVX-512 / AVX2 / scalar";
  ours.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> { return std::make_unique<OursCase>(ctx); };
  e.implementations.push_back(ours);
  for (Implementation& impl : torch_implementations()) e.implementations.push_back(std::move(impl));
  return e;
}

TALKLAB_REGISTER_EXPERIMENT(declare);

}  // namespace
}  // namespace talklab::experiments::decode
