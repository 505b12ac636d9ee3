// The KV cache decode attention reads: a pool of pages, each holding page_size consecutive tokens of every kv head
// in one KV format, and a block table per sequence mapping its logical pages to pool pages (vLLM's PagedAttention).
// A contiguous cache is the same thing with one page per sequence (page_size = its capacity): one kernel serves both,
// so "paged vs contiguous" measures only the page-table indirection and the page-sized streams.
//
// Letters: B sequences, H_kv kv heads, D head dim, P pages in the pool, page_size tokens per page.
// Layout, K and V each in their own pool: the codes of (page p, kv head h) are page_size token rows of row_bytes,
// token-major, at ((p * H_kv + h) * page_size + slot) * row_bytes. Page 64 of bf16 hd128 is 16 KiB contiguous:
// the hardware prefetcher streams it whole.
//
// Formats (x: the value the kernel dequantizes in registers, inside its loop):
//   bf16                 raw bf16 bits; row_bytes 2 D. Keys in tiles of kKeyTile tokens (values stay token rows):
//                        the tile of slots 16 i .. 16 i + 15 takes those 16 rows' bytes, channel pair c of token
//                        t at element (c * 16 + t) * 2, so one 64-byte line holds a channel pair of all 16 tokens
//                        and a dot-product instruction against Q's broadcast pair yields 16 partial scores, with no
//                        horizontal sums (decode_core.h's qk_key_tile). Needs page_size % 16 == 0.
//   int8 per_token       x = code * scale[p][h][slot], one float per token and head (K and V each); row_bytes D.
//   int8 per_head        x = code * scale[h]: static scales from the amax of everything stored (symmetric, 127).
//                        Keys and values of both in QUAD TILES of kKeyTile tokens, so that an 8-bit dot-product
//                        instruction (vpdpbusd: 4 byte products per 32-bit lane) yields 16 sums with no shuffles:
//                        keys by channel quads, channel quad c of token t of the tile at byte (c * 16 + t) * 4 (a
//                        64-byte line holds 4 channels of all 16 tokens: against Q's broadcast quad, 16 partial
//                        scores; decode_core.h's qk_quad_tile); values by token quads, channel d of token t at
//                        byte ((t / 4) * D + d) * 4 + t % 4 (a line holds 16 channels of 4 tokens: against the 4
//                        tokens' weights broadcast, 16 channels' sums in order; pv_quad_u8). Needs page_size % 16
//                        == 0.
//   fp8_e4m3 per_tensor  x = e4m3(code) * scale (one for K, one for V); per_head: scale[h]. Saturating casts of
//                        kernels/cpu/quant/fp8.h, scale = amax / 448.
//   int4_kivi            KIVI (Liu et al., 2024): asymmetric 4-bit codes u in [0, 15], x = u * scale + zero,
//                        keys per CHANNEL (scale, zero per group of G consecutive tokens and channel: key outliers
//                        live in channels), values per TOKEN (per token and group of G channels). scale and zero
//                        are bf16 (4 bytes per group instead of 8: what brings int4 to 3.2x fewer bytes than bf16
//                        at G 32, hd128). KIVI also keeps the newest tokens of an unfinished key group in full
//                        precision; here an unfinished group is quantized over the tokens it has (its scales are
//                        recomputed when it is refilled). Paged int4 needs page_size % G == 0, so key groups never
//                        straddle pages.
//                        Codes in NIBBLE TILES of kKeyTile tokens (D / 2 bytes a token, as rows would take), for the
//                        same 8-bit dot product as int8's quad tiles, each 32-bit lane holding 8 codes: keys by
//                        channel octets, channels 8 c + i (low nibble) and 8 c + 4 + i (high) of token t at byte
//                        (c * 16 + t) * 4 + i (a 64-byte line holds 8 channels of all 16 tokens: against Q's bytes,
//                        16 partial scores); values by token octets, tokens 8 o + i (low) and 8 o + 4 + i (high) of
//                        channel d at byte (o * D + d) * 4 + i (a line holds 16 channels of 8 tokens: against the
//                        tokens' weights, 16 channels' sums in order). The values' scales and zeros per tile too:
//                        (P, H_kv, page_size / 16, D / G, 16), a group's 16 tokens in 32 consecutive bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace talklab::cpu::decode {

enum class KvDtype { bf16, int8, fp8_e4m3, int4_kivi };

// Tokens per bf16 key tile and per int8 or int4 tile (the layout above); the kernel's token block (decode_kernel.h's
// kTokBlock) is one tile.
inline constexpr int64_t kKeyTile = 16;
enum class KvScale { none, per_token, per_head, per_tensor, per_group };

struct KvFormat {
  KvDtype dtype = KvDtype::bf16;
  KvScale scale = KvScale::none;  // bf16: none; int8: per_token | per_head; fp8: per_tensor | per_head; int4: per_group
  int group = 32;                 // int4_kivi: G, 32 or 64
};

// "bf16", "int8_token", "int8_head", "fp8_tensor", "fp8_head", "int4_g32", "int4_g64" (the experiment's kv_dtype).
std::string format_name(const KvFormat& f);
KvFormat format_from_name(const std::string& name);  // throws std::invalid_argument naming the value
// Throws std::invalid_argument naming what does not fit (dtype/scale pair, group, D).
void validate_format(const KvFormat& f, int64_t D);

// Bytes of K and V one token of one kv head occupies, scales included (static scales excluded: they are per head).
double kv_bytes_per_token(const KvFormat& f, int64_t D);

// Which pages hold each sequence: block_table (B, pages_per_seq) of pool page indices, lengths (B) in tokens.
struct SeqTable {
  int64_t B = 0;
  int64_t pages_per_seq = 0;
  const int32_t* block_table = nullptr;
  const int32_t* lengths = nullptr;
};

// A block table for B sequences of up to S_max tokens. page_size 0: contiguous, one page per sequence of S_max tokens
// rounded up to `align` (int4_kivi: its group). Else ceil(S_max / page_size) pages per sequence, their pool indices
// permuted by shuffle_seed (0: in order), as an allocator that hands out whatever page is free does.
struct PageTable {
  int64_t page_size = 0, pages_per_seq = 0, num_pages = 0;
  std::vector<int32_t> block_table;  // (B, pages_per_seq)
  SeqTable seqs(const std::vector<int32_t>& lengths) const {
    return {int64_t(lengths.size()), pages_per_seq, block_table.data(), lengths.data()};
  }
};
PageTable make_page_table(int64_t B, int64_t S_max, int64_t page_size, uint64_t shuffle_seed, int64_t align = 16);

// What the kernel reads, as raw pointers (the kernel calls no member of a std::vector).
struct KvCacheView {
  KvFormat format;
  int64_t num_pages = 0, page_size = 0, H_kv = 0, D = 0, row_bytes = 0;
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  const float* k_scale = nullptr;  // int8 / fp8: per token (P, H_kv, page_size), per head (H_kv) or per tensor (1)
  const float* v_scale = nullptr;
  const uint16_t* k_qs = nullptr;  // int4_kivi keys: bf16 scale and zero, (P, H_kv, page_size / G, D)
  const uint16_t* k_qz = nullptr;
  const uint16_t* v_qs = nullptr;  // int4_kivi values: bf16 scale and zero, (P, H_kv, page_size / 16, D / G, 16)
  const uint16_t* v_qz = nullptr;
};

// Storage of the code pools: 64-byte aligned (a row of 64, 128 or 256 bytes starts a cache line; std::vector's were
// 16-byte aligned, so every vector load of a row split two lines), and a pool of 2 MiB or more 2 MiB-aligned and
// advised as transparent huge pages (madvise; honoured in the kernel's "always" and "madvise" THP modes). Measured on
// the Zen 5 guest (bf16, 32k, 32:8, 2 threads, bench runs alternated with the previous binary): contiguous
// 4.5-4.7 -> 3.1-4.0 ms; paged (64, shuffled) unchanged at 4.4-4.8 ms.
void* pool_allocate(size_t bytes);
void pool_deallocate(void* p, size_t bytes);
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { pool_deallocate(p, n * sizeof(T)); }
  bool operator==(const PoolAllocator&) const { return true; }
};
using PoolBytes = std::vector<uint8_t, PoolAllocator<uint8_t>>;

class KvCache {
 public:
  KvCache(const KvFormat& format, int64_t num_pages, int64_t page_size, int64_t H_kv, int64_t D);

  // Quantizes the logical cache k, v (float32, (B, H_kv, S_max, D)): tokens [0, lengths[b]) of sequence b go to
  // pages block_table[b][t / page_size]. Static scales (per_head, per_tensor) come from the amax of all of them.
  void fill(const SeqTable& seqs, const float* k, const float* v, int64_t S_max);

  KvCacheView view() const;
  const KvFormat& format() const { return format_; }
  int64_t page_size() const { return page_size_; }
  // Bytes the pool holds (codes and scales of every page, used or not).
  size_t storage_bytes() const;

 private:
  void quantize_rows(int64_t page, int64_t h, int64_t slot0, int64_t n, const float* k, const float* v);
  KvFormat format_;
  int64_t num_pages_, page_size_, H_kv_, D_, row_bytes_;
  PoolBytes k_, v_;
  // Per-token scales 64-byte aligned too: a tile's 16 are then one line, which the kernel prefetches as one.
  std::vector<float, PoolAllocator<float>> k_scale_, v_scale_;
  std::vector<uint16_t> k_qs_, k_qz_, v_qs_, v_qz_;
};

}  // namespace talklab::cpu::decode
