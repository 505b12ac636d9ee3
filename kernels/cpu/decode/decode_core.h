// The decode_attention algorithm (decode_attention.h), once, generic over the ISA's vector traits V and the KV
// format's codec. Included only by decode_{avx2,avx512,scalar}.cpp; everything here is in an unnamed namespace, so
// each ISA file keeps its own copies and the linker never hands one ISA's code to another.
//
// One task = one (sequence b, group of heads_per_task kv heads, chunk of its visible tokens), its heads run page by
// page (run_task). A kv head's rows are its group's H / H_kv query heads times q_len: R rows of Q, consecutive in
// memory, packed once as float32 with the scale folded in. Per block of up to 16 tokens (never crossing a page):
//   scores  S[r][j] = q_r . k_j: two cache rows at a time (fp8) against up to kQkRows query rows held in
//           registers, each K vector dequantized ONCE in registers (codec.at) and used by every row of the group:
//           the K bytes are read once per group, which is what makes GQA decode memory-bound-efficient; bf16 keys
//           are tiles of the block's 16 tokens (qk_key_tile: a channel pair of all 16 per vector, the scores come
//           out as vectors), int8 keys the same by channel quads (qk_quad_tile, qk_half_tile, qk_quad_float),
//           int4 keys by channel octets (qk_nib_tile, qk_half_tile, qk_quad_float);
//   mods    only on blocks at a window edge or among the new tokens, or when a score mod is on (apply_block_mods);
//   softmax online, per row, 16 scores wide in vectors (exp2 polynomial), running max m and sum l in float32;
//   P.V     O[r] = alpha_r O[r] + sum_j p_rj v_j with kPvRows x kPvVecs accumulators; each V vector is dequantized
//           once per (row tile, token) in registers: for GQA 32:8 at q_len 1, R = 4 rows share one decode; int8
//           values are tiles by token quads (pv_quad_u8, pv_quad_i16, pv_quad_float: 16 or 8 channels of 4 tokens
//           per load, the sums in the channels' order), int4 values by token octets (pv_nib_block, pv_quad_float).
// No per-token call: row pointers are computed per block, the codec's at() inlines.
// Measured (issue 21, this 2-vCPU Zen 2 guest, batch 1, 32:8 heads, hd128, q_len 1, context 32k; `bench run --profile
// default --filter '^decode/decode_cpu/context=32768/batch=1/heads=32/kv_heads=8/head_dim=128/page_size=0/
// kv_dtype=(bf16|int8_token|int4_g32|int4_g64)/q_len=1/split=auto'`):
//   bf16 16.6-18.9 ms (8 GB/s), int8_token 14.2-14.4 ms: COMPUTE-bound, not bandwidth-bound. A 12-chain FMA loop
//   ran 2.48 ymm FMAs per ns per core (suspect: the same loop on Zen 5 kept its accumulators in memory and
//   understated the rate ~5x, docs/decode.md); a token and kv head costs 128 of them (4 rows x 16 vectors, Q.K and
//   P.V), a 52 ns floor, 6.8 ms at 32k on 2 cores, by that figure. In cache (<= 2 MiB, 1 thread) bf16 takes 74-87 ns
//   per token and kv head: the Q.K and P.V inner loops run at about the FMA rate (a third of the profile each), the
//   rest is per-block work (horizontal sums, softmax, O tiles); from DRAM 110 ns (1 thread), so memory stalls add
//   ~25-40% on top.
//   int4 KIVI: 26.1 / 22.6 ms (G 32 / 64), slower than bf16, before its rows became pair blocks (one byte widening
//   for 2 L nibbles instead of a broadcast, variable shift, mask per L) and its key-group and value folds went to
//   vectors (a scalar q . zero was a dependent chain of D adds per row and group): 18.3 / 16.1 ms after (1.42x /
//   1.40x; bf16 16.9 and int8_token 14.4 ms in the same run, unchanged).
//   Tried there, no change beyond that guest's +-1 ms run-to-run noise (driver runs alternated with main's kernel):
//   software prefetch of the K and V codes 16-128 tokens ahead; a 2 MiB transparent-huge-page pool; 8 horizontal
//   sums at once (hadd tree); block row pointers computed instead of loaded; Q.K tiles of 4 keys x 2 rows (int8 14.3
//   -> 16.2 ms, its keys widened twice). (A prefetch written as a function of its own may never have run: see Ahead.)
// Measured again on the Zen 5 guest (AVX-512 BF16, same shape, a standalone driver over decode_attention, 2 threads,
// runs alternated with the previous kernel): main's bf16 took 7.4-8.9 ms, 15-18 GB/s of a 42-52 GB/s read stream,
// while 1k tokens in cache took 20 ns per token and kv head on one thread: MEMORY-LATENCY-bound, stalled on the rows
// each block starts (Ahead below). Software prefetch one block ahead: 3.2-4.2 ms; then Q.K by vdpbf16ps on bf16 Q and
// four horizontal sums at once (hsum4): 15 ns per token in cache, 2.5-2.9 ms at 32k (47-53 GB/s). int8, fp8 and int4
// gained 0-10% (compute-bound: they widen every code to float32 for both products).
// int8 by int16 dot products (vpdpwssd, AVX-512 VNNI; since 2026-12-05 quad tiles, qk_quad_tile) and the softmax of
// four rows at once (online_softmax4), same driver, runs alternated with the previous kernel: 256 tokens in cache,
// one thread, int8_head 14 -> 12.7 ns per token and kv head (bf16 18.5 -> 17.6); 32k, 2 threads: int8_head 2.3-2.7 ->
// 1.8-2.3 ms, int8_token 2.5-2.8 -> 2.2-2.6 ms.
// What is left is not only the products: with both Q.K and P.V removed the kernel still took ~40% of the time
// (per-block work: row pointers, score scaling, the mods check, softmax, O tiles' loads and stores).
// int4 KIVI by int16 dot products too (until 2026-12-05: token rows of packed nibbles widened to int16, Q folded with
// a key group's scales as int16 codes, P.V weights per value channel group), same driver, 1k tokens in cache, one
// thread: G 32 0.189 -> 0.134 ms, G 64 0.156 -> 0.120 ms. One P.V step per row over all its value groups instead of
// per (group, row) was no faster and rounded coarser: not kept.
// int4 KIVI in nibble tiles on vpdpbusd (2026-12-05; NibDot, run_nib), same driver, alternated with the int16 rows:
// 1k tokens in cache, one thread, G 32 0.121-0.122 -> 0.067-0.070 ms, G 64 0.104-0.105 -> 0.053-0.058 (int8_head
// 0.052-0.055); 32k, two threads, G 32 2.07-2.14 -> 1.16-1.26 ms, G 64 1.71-2.40 -> 0.93-1.14, bf16 2.80-2.95 in the
// same minutes. Steps: the tiles with Q as int16 codes in two bytes (four vpdpbusd a line and row) 0.074; the fold
// with no member reloads 0.072; Q as one byte 0.062; the P.V codes centred (no time) and the Q codes' mean rounding
// put back (decode_tolerances.h's kInt4NibDotMaxRelDiff: +0.004 ms, SQNR within 0.1 dB of the int16 products
// instead of 0.35 below); the next pair's scale lines prefetched (Int4KiviCodec::prefetch_scales) and the fold four
// rows at once, 0.067-0.068 (32k: G 32 1.11-1.15 ms, G 64 0.94-1.00). What one tile pair costs (ablations, G 32, in cache, of 0.070 ms): the key group's fold
// 0.016, Q.K 0.015, P.V 0.014, the weights' encoding 0.012, the softmax 0.009. vpdpbusd issues two a cycle here (a
// 12-chain loop: 0.12 ns each), so neither product is at its bound; separate chains for the high nibbles (one
// vpdpbusd latency a step instead of two) changed nothing, nor did int8's conditional rescaling (kLazyMax).
// AVX2 (NibMadd, qk_half_tile) has the same byte products through vpmaddubsw + vpmaddwd, a block at a time: 1k in
// cache G 32 0.243 -> 0.183-0.192 ms, G 64 0.226-0.235 -> 0.151-0.154 against its float path on int16 rows.
// AVX2 on the Zen 3 guest (2026-12-05, same driver, 1k tokens in cache, one thread, medians of alternated runs, the
// host's disturbed runs left out): int8 was slower than bf16 (int8_head 0.303, int8_token 0.311 ms against 0.292),
// its Q.K in float32 on codes widened by 13 operations a line. Q.K on int16 products (QuadMadd: vpmaddwd issues two a
// cycle here, as the FMA does, with twice its products; three shifts a line), int8_head 0.237-0.238, int8_token
// 0.245; then hsum4 and hmax4 on AVX2, so its softmax takes four rows at once (online_softmax4; libm's exp2f was 2% of
// the profile): bf16 0.290 -> 0.282, fp8_head 0.358 -> 0.332, int4 G 64 0.256 -> 0.248, int8 -4%; then int8 by
// tile pairs (run_tiles, one softmax and one P.V pass for 32 tokens), int8_head 0.227 -> 0.217. All three against the
// start: int8_head 0.303 -> 0.218, int8_token 0.311 -> 0.222 (1.4x), bf16 0.292 -> 0.277, fp8_head 0.358 -> 0.332.
// int4's value-group sums and maxima four rows at once in run_block gained 1.5% (0.302 -> 0.297 ms) and were not
// kept; run_nib, which has them and the tile pairs, then took int4 to 0.199 ms (NibMadd).
// Then int8's P.V held in registers (decode_avx2.cpp's madd16; GCC had summed an unrolled tile pair's products as a
// tree, all 64 spilled to the stack): int8_head 0.216-0.221 -> 0.196-0.199 ms, int8_token 0.217-0.219 -> 0.199-0.203.
//
// Tried and not kept: bf16 P.V by vdpbf16ps along token pairs (P rounded to bf16 per block, two tokens' value rows
// zipped): 1k tokens in cache 0.114 -> 0.107 ms, 32k no change beyond noise, and the output's SQNR 49.8 -> 48.7 dB
// (the CI's quick comparison flags a drop over 1 dB), split and unsplit then differing by P's rounding (2.4e-3).
// Also: float P.V tiles twice as wide for 4 rows or fewer (each weight broadcast half as often): 1k in cache 0.104-
// 0.107 against 0.106-0.108 ms, no gain; the page's slot and row once per page part instead of a division per block:
// no gain (bf16 in cache 0.092-0.096 -> 0.100-0.102 ms, a layout effect).
//
// Split-KV: a chunk writes its unnormalized O, m and l to the workspace, merge_rows combines the chunks of a row:
//   M = max_s m_s,  L = sum_s 2^(m_s - M) l_s,  O = sum_s 2^(m_s - M) O_s / L   (m in log2 units).
#pragma once

#include <omp.h>

#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <utility>

#include "kernels/cpu/decode/decode_kernel.h"

namespace talklab::cpu::decode::core {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int kTok = kTokBlock;
static_assert(kTok == kKeyTile, "a token block is one bf16 key tile (kv_cache.h)");

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline float maxf(float a, float b) { return a > b ? a : b; }
inline float bf16_bits_to_float(uint16_t x) {
  const uint32_t u = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t float_to_bf16_bits(float f) {  // round to nearest even; outputs are finite
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// ---- codecs: one cache row of K or V as float32 vectors of CODES, decoded in registers --------------------------
// k_row / v_row(ph, slot): ph = page * H_kv + kv head (bf16 keys: k_tile instead, kv_cache.h's key tiles).
// at(d): lanes d .. d + L of the row (d a multiple of L).
// Scales never enter the vector loops; they are folded where they cost least:
//   k_fold / v_fold   a per-head constant: into Q (keys) or the final normalization (values);
//   Fold::token       a per-token scale: K's multiplies the token's scores, V's the token's probabilities;
//   Fold::channel_group  KIVI: keys' per-channel scale multiplies Q once per key group (q' = q * s, the scores get
//                     + q . zero), values' per-(token, channel group) scale multiplies the probabilities per group
//                     and their zero adds sum_j p_j zero_j to the group's outputs.
enum class Fold { none, token, channel_group };

template <class V>
struct Bf16Codec {
  using R = typename V::R;
  static constexpr Fold kKFold = Fold::none, kVFold = Fold::none;
  static constexpr int kGroup = 0;
  const uint16_t *k, *v;
  int64_t ps, D;
  explicit Bf16Codec(const KvCacheView& c)
      : k(reinterpret_cast<const uint16_t*>(c.k)), v(reinterpret_cast<const uint16_t*>(c.v)), ps(c.page_size), D(c.D) {}
  struct Row {
    const uint16_t* p;
    R at(int d) const { return V::load_bf16(p + d); }
    // A pair block of 2 L elements from one load: even elements, odd elements (a shift or a mask each, no widening
    // shuffle); Q and O hold such blocks in that order (pair_order).
    R even(int d) const { return V::load_bf16_even(p + d); }
    R odd(int d) const { return V::load_bf16_odd(p + d); }
  };
  // Keys in tiles of kTok tokens (kv_cache.h): the tile holding (ph, slot), and slot's lane in it. Read by
  // qk_key_tile, never as rows.
  static constexpr bool kKeyTiles = true;
  struct KeyTile {
    const uint16_t* p;
    int lane;
  };
  KeyTile k_tile(int64_t ph, int64_t slot) const { return {k + (ph * ps + slot - slot % kTok) * D, int(slot % kTok)}; }
  Row v_row(int64_t ph, int64_t slot) const { return {v + (ph * ps + slot) * D}; }
  float k_fold(int64_t) const { return 1.0f; }
  float v_fold(int64_t) const { return 1.0f; }
};

// Rows read in pair blocks (bf16): Q is packed, and O accumulated, in pair order.
template <class Row>
concept PairRow = requires(const Row& r) { r.even(0); r.odd(0); };

// The element of a row that pair order stores at position pos: within every whole block of 2 L elements, the even
// elements first, then the odd ones; a tail shorter than 2 L keeps its order (L = 1: the identity).
template <class V>
inline int64_t pair_order(int64_t pos, int64_t D) {
  const int64_t P = 2 * V::L, b = pos / P * P, k = pos - b;
  if (b + P > D) return pos;
  return b + (k < V::L ? 2 * k : 2 * (k - V::L) + 1);
}

// Codecs whose keys are tiles (Bf16Codec): k_tile instead of k_row.
template <class C>
concept KeyTiles = C::kKeyTiles;
// Codecs whose keys and values are quad tiles (int8): k_quads and v_quads instead of k_row and v_row.
template <class C>
concept QuadTiles = C::kQuadTiles;
// Codecs whose keys and values are nibble tiles (int4 KIVI): k_octets and v_octets.
template <class C>
concept OctetTiles = C::kOctetTiles;

// int8 or int4 codes in tiles of kTok tokens (kv_cache.h's quad and nibble tiles): the tile holding a block's first
// slot, and that slot's lane in it.
struct QuadTile {
  const uint8_t* p;
  int lane;
};

template <class V>
struct Int8TokenCodec {
  using R = typename V::R;
  static constexpr Fold kKFold = Fold::token, kVFold = Fold::token;
  static constexpr int kGroup = 0;
  const int8_t *k, *v;
  const float *ks, *vs;
  int64_t ps, D;
  explicit Int8TokenCodec(const KvCacheView& c)
      : k(reinterpret_cast<const int8_t*>(c.k)), v(reinterpret_cast<const int8_t*>(c.v)), ks(c.k_scale),
        vs(c.v_scale), ps(c.page_size), D(c.D) {}
  struct Row {
    const int8_t* p;
    R at(int d) const { return V::load_i8(p + d); }
    const int8_t* codes() const { return p; }  // the integer dot product's operand (U8Dot)
  };
  // Keys and values in quad tiles (kv_cache.h): Q.K by qk_quad_tile / qk_quad_float, P.V by pv_quad_u8 /
  // pv_quad_float. Row is the type the concepts test (I16Dot, U8Dot), never built from the cache.
  static constexpr bool kQuadTiles = true;
  QuadTile k_quads(int64_t ph, int64_t slot) const {
    return {reinterpret_cast<const uint8_t*>(k) + (ph * ps + slot - slot % kTok) * D, int(slot % kTok)};
  }
  QuadTile v_quads(int64_t ph, int64_t slot) const {
    return {reinterpret_cast<const uint8_t*>(v) + (ph * ps + slot - slot % kTok) * D, int(slot % kTok)};
  }
  const float* k_scales(int64_t ph, int64_t slot) const { return ks + ph * ps + slot; }  // consecutive slots
  const float* v_scales(int64_t ph, int64_t slot) const { return vs + ph * ps + slot; }
  float k_fold(int64_t) const { return 1.0f; }
  float v_fold(int64_t) const { return 1.0f; }
};

// int8 per head, fp8 e4m3 per head or per tensor: codes only in the loop, the scale folded.
template <class V, bool kFp8>
struct StaticScaleCodec {
  using R = typename V::R;
  static constexpr Fold kKFold = Fold::none, kVFold = Fold::none;
  static constexpr int kGroup = 0;
  const uint8_t *k, *v;
  const float *ks, *vs;
  bool per_head;
  int64_t ps, D;
  explicit StaticScaleCodec(const KvCacheView& c)
      : k(c.k), v(c.v), ks(c.k_scale), vs(c.v_scale), per_head(c.format.scale == KvScale::per_head),
        ps(c.page_size), D(c.D) {}
  struct Row {
    const uint8_t* p;
    R at(int d) const {
      if constexpr (kFp8) return V::load_e4m3(p + d);
      else return V::load_i8(reinterpret_cast<const int8_t*>(p) + d);
    }
    const int8_t* codes() const
      requires(!kFp8)
    {
      return reinterpret_cast<const int8_t*>(p);
    }
  };
  Row k_row(int64_t ph, int64_t slot) const
    requires kFp8
  {
    return {k + (ph * ps + slot) * D};
  }
  Row v_row(int64_t ph, int64_t slot) const
    requires kFp8
  {
    return {v + (ph * ps + slot) * D};
  }
  // int8 keys and values in quad tiles (kv_cache.h), as Int8TokenCodec's; fp8's are token rows.
  static constexpr bool kQuadTiles = !kFp8;
  QuadTile k_quads(int64_t ph, int64_t slot) const
    requires(!kFp8)
  {
    return {k + (ph * ps + slot - slot % kTok) * D, int(slot % kTok)};
  }
  QuadTile v_quads(int64_t ph, int64_t slot) const
    requires(!kFp8)
  {
    return {v + (ph * ps + slot - slot % kTok) * D, int(slot % kTok)};
  }
  float k_fold(int64_t hk) const { return ks[per_head ? hk : 0]; }
  float v_fold(int64_t hk) const { return vs[per_head ? hk : 0]; }
};

// KIVI int4: keys x = u * scale[c] + zero[c] per channel c of the row's key group of kG tokens, values
// x = u * scale[g] + zero[g] per group g of kG channels of the token. Codes in nibble tiles (kv_cache.h): Q.K by
// qk_nib_tile / qk_quad_float, P.V by pv_nib_block / pv_quad_float.
template <class V, int kG>
struct Int4KiviCodec {
  using R = typename V::R;
  static constexpr Fold kKFold = Fold::channel_group, kVFold = Fold::channel_group;
  static constexpr int kGroup = kG;
  const uint8_t *k, *v;
  const uint16_t *kqs, *kqz, *vqs, *vqz;
  int64_t ps, D;
  explicit Int4KiviCodec(const KvCacheView& c)
      : k(c.k), v(c.v), kqs(c.k_qs), kqz(c.k_qz), vqs(c.v_qs), vqz(c.v_qz), ps(c.page_size), D(c.D) {}
  struct Row {  // the concepts' row type: never built from the cache (the codes are tiles)
    const uint8_t* p;
  };
  static constexpr bool kOctetTiles = true;
  QuadTile k_octets(int64_t ph, int64_t slot) const {
    return {k + (ph * ps + slot - slot % kTok) * (D / 2), int(slot % kTok)};
  }
  QuadTile v_octets(int64_t ph, int64_t slot) const {
    return {v + (ph * ps + slot - slot % kTok) * (D / 2), int(slot % kTok)};
  }
  // The key group of (ph, slot): an id, and its per-channel scale and zero (D each).
  int64_t key_group(int64_t ph, int64_t slot) const { return ph * (ps / kG) + slot / kG; }
  const uint16_t* k_group_scale(int64_t group) const { return kqs + group * D; }
  const uint16_t* k_group_zero(int64_t group) const { return kqz + group * D; }
  // The value scales and zeros of the tile holding (ph, slot): D / kG lines of kTok (the tile's lanes), group g's
  // at g * kTok; the next tile's v_tile_stride() further on.
  int64_t v_tile_at(int64_t ph, int64_t slot) const { return (ph * ps + slot - slot % kTok) * (D / kG); }
  const uint16_t* v_tile_scales(int64_t ph, int64_t slot) const { return vqs + v_tile_at(ph, slot); }
  const uint16_t* v_tile_zeros(int64_t ph, int64_t slot) const { return vqz + v_tile_at(ph, slot); }
  int64_t v_tile_stride() const { return kTok * (D / kG); }
  // The scale and zero lines of the key group and the `tiles` value tiles from pool row `row` (= ph * ps + slot, slot
  // a multiple of kTok): four small streams beside the codes. Prefetched a tile pair ahead (run_nib), alternated
  // driver runs at 32k (32:8, two threads), a slow memory state: G 32 1.27-1.33 -> 1.21-1.26 ms, G 64 1.07-1.30 ->
  // 1.00-1.02.
  [[gnu::always_inline]] void prefetch_scales(int64_t row, int tiles) const {
    const char* vs_line = reinterpret_cast<const char*>(vqs + row * (D / kG));
    const char* vz_line = reinterpret_cast<const char*>(vqz + row * (D / kG));
    for (int64_t i = 0; i < tiles * v_tile_stride() * 2; i += 64) {
      __builtin_prefetch(vs_line + i, 0, 3);
      __builtin_prefetch(vz_line + i, 0, 3);
    }
    const char* ks_line = reinterpret_cast<const char*>(k_group_scale(row / kG));
    const char* kz_line = reinterpret_cast<const char*>(k_group_zero(row / kG));
    for (int64_t i = 0; i < D * 2; i += 64) {
      __builtin_prefetch(ks_line + i, 0, 3);
      __builtin_prefetch(kz_line + i, 0, 3);
    }
  }
  float k_fold(int64_t) const { return 1.0f; }
  float v_fold(int64_t) const { return 1.0f; }
};

// ---- software prefetch of the rows ahead ------------------------------------------------------------------
// A block reads 16 K rows (Q.K), then 16 V rows (P.V): page-sized bursts of one stream after the other. The L2
// stream prefetcher stops at every 4 KiB page and the FMA-dense loops leave the out-of-order window room for only a
// dozen or so rows' loads, so from DRAM a thread streamed at a fraction of its bandwidth (bf16, 32k, 32:8, one thread
// on the Zen 5 guest: 15 ms, against 3.3 ms to merely read the same bytes in the same order). So the Q.K pass starts,
// per key pair, the loads of the K and V rows one block ahead, spread through the block rather than as one burst
// (a burst of the next block's 128 lines at the block's start did half as well): 15 -> 6-7 ms on one thread. The rows
// ahead may lie past the task's current part of a page (paged caches, pages in any order): run_task tells each
// head's pass what the task reads next (the next head's part of the page, or the next page), so a jump starts as
// warm as a step within a page (run_task says what that bought paged caches). Two blocks ahead was worse for a
// contiguous cache (4.0-4.1 against 3.1-3.8 ms, alternated bench runs); for paged ones, paired against contiguous
// (the decode experiment's paged_over_contiguous), two or four blocks changed nothing beyond the pairs' spread.
// Every line needs its own prefetch: one per 128 bytes (relying on an adjacent-line fetch) made bf16 32k 2-3x slower.
// bf16 key tiles prefetch their keys ahead in Q.K and their values ahead in P.V (qk_key_tile says why).
inline constexpr int kAheadTokens = kTok;
// Plain data with its prefetches as always-inlined members: GCC's IPA judges a function whose only effect is a
// prefetch free of side effects and deletes the calls to it, so they must be inlined before it looks (the Q.K loops
// wrote them out until 2026-12-05; the object files' prefetch instructions are the same count either way, except in
// qk_key_tile, which keeps its own).
struct Ahead {
  const char* k = nullptr;  // the K and V pools
  const char* v = nullptr;
  int64_t here = 0;  // byte offset of row kAheadTokens after the block's first, in this part of the page
  int64_t next = 0;  // the same row's offset counted in what the task reads next (used from key `split` on)
  int row_bytes = 0;
  int split = 0;  // keys j < split read ahead in this part, the rest in the next
  int keys = 0;   // keys j < keys have rows j + kAheadTokens and j + 1 + kAheadTokens still to be read by the task
  // Per-token scales (int8_token; else null): the K and V scale arrays and the byte offset of the first row
  // ahead's scale. A block's 16 fill one 64-byte line each, prefetched as qk_tile starts the block: without it
  // these two small streams stalled int8_token (32k, 32:8, 2 threads, driver runs alternated 6 times: best of 30
  // 1.87-2.01 -> 1.72-1.80 ms). KIVI's four scale and zero streams, prefetched the same way, showed no clear gain
  // (compute-bound; a noisy comparison) and are not.
  const char* ks = nullptr;
  const char* vs = nullptr;
  int64_t scale_at = 0;
  // The byte offset, in either pool, of the row ahead of key j (j < keys).
  int64_t row_at(int j) const { return (j < split ? here : next) + int64_t(j) * row_bytes; }
  // The block ahead's per-token scales, one line each (formats without them: nothing).
  [[gnu::always_inline]] void prefetch_scales() const {
    if (ks && keys > 0) {
      __builtin_prefetch(ks + scale_at, 0, 3);
      __builtin_prefetch(vs + scale_at, 0, 3);
    }
  }
  // The rows ahead of keys j and j + 1 (j < keys): their K and V lines (bf16's keys only, in qk_key_tile).
  [[gnu::always_inline]] void prefetch_pair(int j) const {
    const int64_t at = row_at(j);
    for (int i = 0; i < 2 * row_bytes; i += 64) {
      __builtin_prefetch(k + at + i, 0, 3);
      __builtin_prefetch(v + at + i, 0, 3);
    }
  }
};

// The value rows of the block ahead (bf16) as 64-byte lines in address order: the rows in this part of the page
// (keys j < split), then those in the next, each run contiguous in the pool. P.V requests them in this order, the
// block's pv_tile calls an equal share each, one line a token. Until 2026-12-05 each call requested the line of its
// own 32 channels in each of the 16 rows, so the next block's lines went out at a stride of one row (256 bytes at
// head dim 128), four passes over it. In address order (the same lines, the same number of prefetches) the hardware
// prefetcher follows: bf16 at 32k (32:8, two threads, each step alternated with a plain read of the same bytes,
// 5-minute runs of both binaries alternated) read at a median 0.96-0.97 of the plain read instead of 0.83-0.86, pages
// of 64 at 0.88-0.90 instead of 0.81-0.82, and 8k (mostly in L3) took 0.81-0.84 ms instead of 0.94-0.97; in cache
// (2k tokens, one thread) no change.
struct ValueLinesAhead {
  const char* start[2] = {nullptr, nullptr};  // each run's first line
  int lines[2] = {0, 0};
  ValueLinesAhead() = default;
  ValueLinesAhead(const Ahead& a, int n) {
    const int keys = int(min64(n, a.keys)), split = int(min64(a.split, keys));
    const int64_t first[2] = {a.here, a.next + int64_t(split) * a.row_bytes};
    const int rows[2] = {split, keys - split};
    for (int i = 0; i < 2; ++i) {
      if (rows[i] <= 0) continue;
      const int64_t lo = first[i] / 64 * 64, hi = (first[i] + int64_t(rows[i]) * a.row_bytes + 63) / 64 * 64;
      start[i] = a.v + lo;
      lines[i] = int((hi - lo) / 64);
    }
  }
  int count() const { return lines[0] + lines[1]; }
};

// ---- per-thread scratch ---------------------------------------------------------------------------------
// Rows: a view of the scratch for R rows (one kv head's group x q_len). The running state (qf, o, m, l, alpha, qk,
// bias, qb, qi, qinv) is per head; the block's temporaries (s, p, w, zs, wq, wsc) are shared by the heads of a task,
// which run their blocks one at a time.
template <class V>
struct Rows {
  float* qf = nullptr;     // (R, D) packed, scaled queries
  float* o = nullptr;      // (R, D) unnormalized output
  float* s = nullptr;      // (R, kTok) scores; run_nib's pairs (R, kMaxW)
  float* p = nullptr;      // (R, kTok) probabilities; run_nib's pairs (R, kMaxW)
  float* m = nullptr;      // (R) running max, log2 units
  float* l = nullptr;      // (R) running sum
  float* alpha = nullptr;  // (R) rescale of the last block
  float* qk = nullptr;     // (R, D) queries times the key group's channel scales (Fold::channel_group); bf16 key
                           // tiles without Bf16Dot: the scaled queries in natural order (qk_key_tile)
  float* bias = nullptr;   // (R) q . the key group's zeros
  float* w = nullptr;      // (kMaxGroups, R, kTok) P times the values' scales (Fold::token, channel_group)
  float* zs = nullptr;     // (kMaxGroups, R) sum_j P zero_j per value channel group
  uint16_t* qb = nullptr;  // (R, D) scaled queries rounded to bf16, natural order (the bf16 dot-product Q.K)
  int16_t* qi = nullptr;   // (R, D) scaled queries as int16 codes, natural order (I16Dot)
  float* qinv = nullptr;   // (R) qi's step: q = qi * qinv
  int8_t* qq = nullptr;    // (R, 2 D) qi split into bytes, hi then lo per row (QuadDot; int4: q times the key
                           // group's scales, NibDot)
  int32_t* qcor = nullptr; // (R) 128 sum_d qi_d per row (QuadDot)
  int16_t* wq = nullptr;   // (kMaxGroups, R, kTok) the block's P.V weights as int16 codes (I16Pv), or bytes (U8Dot;
                           // NibDot: (kMaxGroups, R, kMaxW) bytes)
  float* wsc = nullptr;    // (kMaxGroups, R) wq's step
  static constexpr size_t kMaxGroups = 8;  // D / G <= 256 / 32
  static constexpr int kMaxW = 2 * kTok;     // tokens a row of run_nib's pairs (run_tiles keeps its own in w)
};

// The owner: a buffer for R = heads_per_task x rows (the per-head state of every head of a task).
template <class V>
struct Scratch : Rows<V> {
  float* buf = nullptr;
  size_t cap = 0;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(buf); }
  // Head i's rows (each head `rows` of them): its state offset, the temporaries shared.
  Rows<V> head(int64_t i, int64_t rows, int64_t D) const {
    Rows<V> h = *this;
    const int64_t r = i * rows, rd = r * D;
    h.qf += rd;
    h.o += rd;
    h.qk += rd;
    h.qb += rd;
    h.qi += rd;
    h.m += r;
    h.l += r;
    h.alpha += r;
    h.bias += r;
    h.qinv += r;
    h.qq += 2 * rd;
    h.qcor += r;
    return h;
  }
  void reserve(int64_t rows, int64_t D) {
    constexpr size_t kMaxGroups = Rows<V>::kMaxGroups;
    Rows<V>& t = *this;
    const size_t r = size_t(rows);
    const size_t need = 3 * r * size_t(D) + 2 * r * Rows<V>::kMaxW + 5 * r + kMaxGroups * r * (kTok + 2) +
                        r * size_t(D) + kMaxGroups * r * kTok / 2 + r * size_t(D) / 2 + r + 160;
    if (need > cap) {
      std::free(buf);
      const size_t bytes = (need * 4 + 63) / 64 * 64;
      buf = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!buf) throw std::bad_alloc();
      cap = need;
    }
    t.qf = buf;
    t.o = t.qf + r * size_t(D);
    t.s = t.o + r * size_t(D);
    t.p = t.s + r * Rows<V>::kMaxW;
    t.m = t.p + r * Rows<V>::kMaxW;
    t.l = t.m + r;
    t.alpha = t.l + r;
    t.qk = t.alpha + r;
    t.bias = t.qk + r * size_t(D);
    t.w = t.bias + r;
    t.zs = t.w + kMaxGroups * r * kTok;
    t.qinv = t.zs + kMaxGroups * r;
    t.wsc = t.qinv + r;
    auto aligned = [&](const void* end) {  // the first 64-byte boundary at or after end
      return t.qf + (static_cast<const float*>(end) - t.qf + 15) / 16 * 16;
    };
    t.qb = reinterpret_cast<uint16_t*>(aligned(t.wsc + kMaxGroups * r));
    t.qi = reinterpret_cast<int16_t*>(aligned(t.qb + r * size_t(D)));
    t.wq = reinterpret_cast<int16_t*>(aligned(t.qi + r * size_t(D)));
    t.qq = reinterpret_cast<int8_t*>(aligned(t.wq + kMaxGroups * r * kTok));
    t.qcor = reinterpret_cast<int32_t*>(aligned(t.qq + 2 * r * size_t(D)));
  }
};

// Calls f(std::integral_constant<int, n>) for 1 <= n <= N: register tiles need their row count at compile time.
template <int N, class F>
inline void with_rows(int n, F&& f) {
  if constexpr (N > 0) {
    if (n == N) f(std::integral_constant<int, N>{});
    else with_rows<N - 1>(n, f);
  }
}

// bf16 keys on a CPU with a bf16 dot product (AVX-512 BF16's vdpbf16ps) and a tile's 16 tokens in one vector:
// Q.K multiplies the raw bf16 key pairs by Q rounded to bf16 (natural order), two products per float32 lane, half
// the instructions of widening the keys to float32 and no widening at all. Q's rounding (2^-9 relative per element,
// the scale folded in first) is what LibTorch's bf16 SDPA does to Q too; the bf16-KV bound of decode_tolerances.h
// holds it with margin.
template <class V>
concept Bf16Dot = V::L == kTok && requires(typename V::R acc, typename V::Raw x, const uint16_t* p) {
  { V::load_raw(p) } -> std::same_as<typename V::Raw>;
  { V::set1_raw_pair(p) } -> std::same_as<typename V::Raw>;
  { V::dot_bf16(acc, x, x) } -> std::same_as<typename V::R>;
};

// What int8's integer path needs besides its products: Q's int16 codes (store_i16), int32 -> float32.
template <class V>
concept Int16Products = requires(typename V::I acc, typename V::R x) {
  { V::izero() } -> std::same_as<typename V::I>;
  { V::to_float(acc) } -> std::same_as<typename V::R>;
  { V::store_i16(nullptr, x) };
};

// int8 key tiles on a CPU with an 8-bit dot product (AVX-512 VNNI's vpdpbusd: four u8 x s8 products summed into
// each int32 lane) and a tile's 16 tokens in one vector: per channel quad, one instruction multiplies the 16 tokens'
// 4 codes by Q's 4 codes broadcast, 16 partial scores with no widening and no horizontal sums (the token-major rows
// took per token 4 widenings, 16 vpdpwssd and a share of a 45-op add tree). vpdpbusd wants one unsigned operand:
// the keys, their sign bits flipped as loaded (code + 128, load_u8_flipped). Q keeps int16's precision in two
// signed bytes: the row's codes c on 15 bits (|c| <= kQuadMaxCode), c = 256 hi + lo, hi and lo in [-128, 127], each
// against the keys in its own accumulator; the score is 256 A_hi + A_lo - 128 sum_d c_d (hi_lo; the correction per
// row in qcor), exact in int32 (|score| <= 256 x 127 x 32639 < 2^31, and the intermediate wraps back into range).
template <class V>
concept QuadDot = V::L == kTok && requires(typename V::I i, const uint8_t* u) {
  { V::load_u8_flipped(u) } -> std::same_as<typename V::I>;
  { V::dot_u8s8_bcast(i, i, u) } -> std::same_as<typename V::I>;
  { V::iadd(i, i) } -> std::same_as<typename V::I>;
  { V::hi_lo(i, i, int32_t(0)) } -> std::same_as<typename V::I>;
  { V::to_float(i) } -> std::same_as<typename V::R>;
};
// Q's largest code on the quad path: 127 x 256 + 127, so hi = (c + 128) >> 8 stays a signed byte.
inline constexpr float kQuadMaxCode = 32639.0f;

// int8 caches on the integer products (AVX-512 VNNI): Q.K on the key quad tiles (QuadDot), P.V on bytes (U8Dot
// below). Q per row as int16 codes first, qi = round(q * kQuadMaxCode / amax |q|), so a score is qinv * sum_d qi_d
// k_d with qinv = amax / kQuadMaxCode, the row's step; Q's rounding is 2^-16 of the row's largest (~-96 dB) against
// int8's ~-41 dB. (Until 2026-12-05 the keys were token rows widened to int16 against qi by vpdpwssd, four keys'
// sums added by reduce16: see qk_quad_tile for what the tiles bought. Before that P.V ran on int16 too, weights per
// row and block against two tokens' rows zipped, until the 8-bit version: 9-10% faster, int8_token 32k 1.73-1.77 ->
// 1.57-1.61 ms.)
template <class V, class KRow>
concept I16Dot = Int16Products<V> && QuadDot<V> && requires(const KRow& r) {
  { r.codes() } -> std::same_as<const int8_t*>;
};

// int8 P.V by 8-bit dot products (AVX-512 VNNI's vpdpbusd: four u8 x s8 products summed into each int32 lane, 64
// multiply-adds an instruction, twice vpdpwssd's at the same issue rate here): the block's weights (P times the
// values' per-token scales, never negative) as unsigned bytes per row (step wmax / 255), against the value quad tiles
// (kv_cache.h: a 64-byte line holds 16 channels of 4 tokens, each channel's 4 codes in one int32 lane), so one
// instruction per row, 4 tokens and 16 channels, the sums in the channels' order (pv_quad_u8). |sum| <= 16 * 255 *
// 128 < 2^31. The weights' rounding is 2^-9 of the row's largest (int16: 2^-16): the output moves by ~1e-3 of its
// largest element against the float path, a tenth of int8's own error; the SQNR against float64 by ~0.1 dB
// (decode_tolerances.h).
template <class V, class VRow>
concept U8Dot = I16Dot<V, VRow> && requires(typename V::I i, const int8_t* c, const uint8_t* u, uint8_t* q,
                                            typename V::R r) {
  { V::load_i8x64(c) } -> std::same_as<typename V::I>;
  { V::set1_u32(u) } -> std::same_as<typename V::I>;
  { V::dot_u8s8(i, i, i) } -> std::same_as<typename V::I>;
  V::store_u8(q, r);
};

// x[0 .. n) (n % L == 0) as int16 codes of amax, its largest magnitude: out = round(x * 32767 / amax). Returns the
// step (amax / 32767) a code is multiplied by: int8's Q rows (max_code kQuadMaxCode) and AVX2's int8 P.V weights.
template <class V>
inline float encode_i16(const float* x, int64_t n, float amax, int16_t* out, float max_code = 32767.0f) {
  const typename V::R inv = V::set1(amax > 0.0f ? max_code / amax : 0.0f);
  for (int64_t i = 0; i < n; i += V::L) V::store_i16(out + i, V::mul(V::load(x + i), inv));
  return amax / max_code;
}

// acc, and the lanes' magnitudes of x, whichever is larger: a running largest magnitude.
template <class V>
inline typename V::R max_abs(typename V::R acc, typename V::R x) {
  return V::max(acc, V::max(x, V::sub(V::zero(), x)));
}

// S[r][j] for rows r0 .. r0 + NR and tokens j < n of token-major key rows (fp8): two keys per pass share the Q
// loads. bf16, int8 and int4 keys are tiles: qk_key_tile, qk_quad_tile, qk_nib_tile, qk_half_tile,
// qk_quad_float.
// (Until 2026-12-05 int4's rows ran here too, on int16 dot products with four keys a pass added by a 45-op tree,
// reduce16.)
template <class V, int NR, class KRow>
inline void qk_tile(float* s, const float* qf, int64_t D, const KRow* kr, int n, const Ahead& ahead) {
  using R = typename V::R;
  constexpr int KP = 2;
  ahead.prefetch_scales();
  for (int j = 0; j < n; j += KP) {
    KRow k[KP];
#pragma GCC unroll 4
    for (int i = 0; i < KP; ++i) k[i] = kr[j + i < n ? j + i : j];
#pragma GCC unroll 2
    for (int jj = j; jj < j + KP; jj += 2) {
      // Rows jj + kAheadTokens and the next one, K and V (both on one side of a page end when the block starts at
      // an even slot, as every block but a window's first does).
      if (jj < ahead.keys) ahead.prefetch_pair(jj);
    }
    R a[KP][NR];  // float sums per key and row
#pragma GCC unroll 4
    for (int i = 0; i < KP; ++i)
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) a[i][r] = V::zero();
    // The two keys' lanes x0, x1 against the rows' query lanes at q (one load per row, two FMAs).
    auto lanes = [&](R x0, R x1, const float* q) {
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) {
        const R qr = V::load(q + r * D);
        a[0][r] = V::fma(x0, qr, a[0][r]);
        a[1][r] = V::fma(x1, qr, a[1][r]);
      }
    };
    for (int d = 0; d < int(D); d += V::L) lanes(k[0].at(d), k[1].at(d), qf + d);
    // Score j + 1 past n is written too (j + 1 < kTok): run_block sets every score past n to -inf.
    int r = 0;
    if constexpr (requires(float* out) { V::hsum4(a[0][0], a[0][0], a[0][0], a[0][0], out); }) {
      for (; r + 1 < NR; r += 2) {
        float t[4];
        V::hsum4(a[0][r], a[1][r], a[0][r + 1], a[1][r + 1], t);
        s[r * kTok + j] = t[0];
        s[r * kTok + j + 1] = t[1];
        s[(r + 1) * kTok + j] = t[2];
        s[(r + 1) * kTok + j + 1] = t[3];
      }
    }
    for (; r < NR; ++r) {
      s[r * kTok + j] = V::hsum(a[0][r]);
      s[r * kTok + j + 1] = V::hsum(a[1][r]);
    }
  }
}

// Rows per qk_key_tile call: all of qk_tile's on the dot-product path (one accumulator vector per row and chain) and
// on one lane; the float vectors' path holds kTok / L of them per row, so AVX2 takes 4 rows (8 accumulators of its
// 16 registers).
template <class V>
inline constexpr int kKeyTileRows = Bf16Dot<V> || V::L == 1 ? V::kQkRows : 4;

// One row's 16 scores of a tile, kTok / L vectors, to s: all of them where lane is 0 (those past n are written too),
// else a window's first block: the tile's lanes lane .. lane + n, through a copy (a memcpy of variable size, a call:
// whole tiles never take it; qk_half_tile says what it cost them).
template <class V>
[[gnu::always_inline]] inline void store_scores(float* s, const typename V::R* score, int lane, int n) {
  constexpr int H = kTok / V::L;
  if (lane == 0) {
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h) V::store(s + h * V::L, score[h]);
  } else {
    alignas(64) float t[kTok];
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h) V::store(t + h * V::L, score[h]);
    std::memcpy(s, t + lane, size_t(n) * sizeof(float));
  }
}

// S[r][j] = q_r . k_{lane + j}, rows r < NR, tokens j < n of a bf16 key tile (kv_cache.h: channel pair c of the
// tile's 16 tokens is one 64-byte line, token t's pair in 32-bit lane t), lane + n <= kTok. Per pair, each row's two
// Q elements broadcast against the 16 tokens' pairs: the scores come out as vectors of 16 tokens, with no horizontal
// sums (the token-major rows took two keys x two rows per hsum4: 52 shuffles and adds per 16 scores).
//   Bf16Dot: one vdpbf16ps per (pair, row) against Q in bf16 (qb, natural order), P chains per row.
//   else:    float FMAs, the tokens' even and odd channels by a shift and a mask of the pair's line
//            (load_bf16_even / odd), Q's two floats broadcast from qn (float32, natural order: with Q in pair
//            order, finding a pair's two positions per step cost AVX2 16% in cache).
// The key rows ahead (Ahead: two per key pair, as qk_tile) are prefetched spread over the channel pairs' steps, the
// value rows by P.V in address order (ValueLinesAhead), so the next block's lines are requested all through this
// one, each stream in the order it lies in memory. Measured (driver: bf16, 32k, 32:8, two threads, each step
// alternated with a read of the same bytes, medians of 20): the next block's K and V as one burst when the block
// starts left bf16 half as fast (a prototype of this tile); spread over Q.K's
// steps (as qk_tile does) 0.75-0.79 -> 0.79-0.86 of the read, decided per run of steps rather than per step 3%
// faster in L3 (2k tokens, one thread); the values' part moved into P.V another +3% (0.75-0.83 -> 0.80-0.86 in 8
// pairs, 7 higher; paged 64: 0.73-0.77 -> 0.78-0.82); the values' lines in address order rather than a line of
// each row per channel tile, 0.83-0.86 -> 0.96-0.97 (ValueLinesAhead).
// Where AVX2's bf16 step goes (2026-12-06, Zen 3, driver: 1k tokens in cache, 32:8, one thread, 0.280-0.289 ms;
// each part measured by switching the others' work off, the prefetches kept, four runs): Q.K 0.107 ms, P.V 0.096,
// the rest (online softmax, block loop, the task's setup and output) 0.084. Both loops run 64 FMAs a token and kv
// head, 524,288 a step: at 3.15 GHz P.V takes 0.58 cycles an FMA and Q.K 0.64, where 0.56 is the rate of FMAs alone
// (scripts/simd_product_rates.cpp). Two changes to this loop's float path were slower (alternated with it, five
// runs; a sixth, disturbed, left out):
// - each step's two products summed before its accumulator (mul, fma, add; the chain on an accumulator 3 cycles
//   instead of two FMAs' 8): 0.279-0.281 -> 0.296-0.299 ms. The loop is not waiting on that chain.
// - Q's floats broadcast once per head into a buffer of 8-float vectors (16 KiB at 4 rows) that the FMAs read as
//   memory operands, so no broadcasts in the loop: 0.318-0.326 ms, bit-identical.
// At 34 ns a token and kv head, 32k tokens of 8 kv heads take ~4.4 ms of compute on two threads: about what reading
// their 134 MB takes on this guest (4.2-4.9 ms at 27.6-31.6 GB/s), which is why bf16's read fraction there moves with
// the host's memory state (docs/decode.md).
// Scores past n are written too where lane is 0 (run_block makes them -inf).
template <class V, int NR>
[[gnu::always_inline]] inline void qk_key_tile(float* s, const float* qn, const uint16_t* qb, int64_t D,
                                               const uint16_t* tile, int lane, int n, const Ahead& ahead) {
  using R = typename V::R;
  constexpr int H = kTok / V::L;  // vectors per row of 16 scores
  constexpr int P = Bf16Dot<V> ? (NR <= 2 ? 8 : NR <= 4 ? 4 : 2) : 1;  // pairs per step, one chain each
  const int steps = int(D) / 2 / P;  // D % 16 == 0, P <= 8
  // The steps in kTok / 2 runs, one per key pair ahead, that pair's rows prefetched as its run starts.
  constexpr int kRuns = kTok / 2;
  const int ahead_pairs = (int(min64(n, ahead.keys)) + 1) / 2, per_run = (steps + kRuns - 1) / kRuns;
  // Keys only, written out: through Ahead::prefetch_pair (with its values switched off) GCC scheduled this loop's
  // prefetches otherwise, and bf16 at 32k read at 0.85-0.90 of the read instead of 0.95-0.97 (driver, alternated).
  auto prefetch = [&](int run) {
    if (run >= ahead_pairs) return;
    const int64_t at = ahead.row_at(2 * run);
    for (int i = 0; i < 2 * ahead.row_bytes; i += 64) {
      __builtin_prefetch(ahead.k + at + i, 0, 3);
    }
  };
  R acc[NR][H * P];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 16
    for (int i = 0; i < H * P; ++i) acc[r][i] = V::zero();
  if constexpr (Bf16Dot<V>) {
    for (int run = 0; run < kRuns; ++run) {
      prefetch(run);
      for (int step = run * per_run; step < min64(steps, (run + 1) * per_run); ++step) {
#pragma GCC unroll 8
        for (int p = 0; p < P; ++p) {
          const int c = step * P + p;
          const typename V::Raw x = V::load_raw(tile + c * 2 * kTok);
#pragma GCC unroll 16
          for (int r = 0; r < NR; ++r) acc[r][p] = V::dot_bf16(acc[r][p], x, V::set1_raw_pair(qb + r * D + 2 * c));
        }
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r)
#pragma GCC unroll 8
      for (int p = 1; p < P; ++p) acc[r][0] = V::add(acc[r][0], acc[r][p]);
  } else if constexpr (V::L == 1) {
    // One lane: two tokens at a time against the rows (2 NR chains), the tile read with a stride: 17% slower in
    // cache than the token-major rows were (1k tokens, 2 threads); pairs outer, as below, held 16 NR accumulators
    // and ran 40% slower.
    for (int t = 0; t < kTok; t += 2) {
      prefetch(t / 2);
      R a0[NR], a1[NR];
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) a0[r] = a1[r] = V::zero();
      for (int c = 0; c < int(D) / 2; ++c) {
        const uint16_t* k = tile + (c * kTok + t) * 2;
        const R k0e = V::load_bf16_even(k), k0o = V::load_bf16_odd(k);
        const R k1e = V::load_bf16_even(k + 2), k1o = V::load_bf16_odd(k + 2);
#pragma GCC unroll 16
        for (int r = 0; r < NR; ++r) {
          const R q0 = V::set1(qn[r * D + 2 * c]), q1 = V::set1(qn[r * D + 2 * c + 1]);
          a0[r] = V::fma(k0o, q1, V::fma(k0e, q0, a0[r]));
          a1[r] = V::fma(k1o, q1, V::fma(k1e, q0, a1[r]));
        }
      }
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) {
        acc[r][t] = a0[r];
        acc[r][t + 1] = a1[r];
      }
    }
  } else {
    for (int run = 0; run < kRuns; ++run) {
      prefetch(run);
      for (int c = run * per_run; c < min64(steps, (run + 1) * per_run); ++c) {
        R e[H], o[H];
#pragma GCC unroll 16
        for (int h = 0; h < H; ++h) {
          const uint16_t* line = tile + c * 2 * kTok + h * 2 * V::L;
          e[h] = V::load_bf16_even(line);
          o[h] = V::load_bf16_odd(line);
        }
        // Row by row, so only one row's two broadcasts are live (AVX2: 8 accumulators, 4 key vectors, 2 of Q).
#pragma GCC unroll 16
        for (int r = 0; r < NR; ++r) {
          const R q0 = V::set1(qn[r * D + 2 * c]), q1 = V::set1(qn[r * D + 2 * c + 1]);
#pragma GCC unroll 16
          for (int h = 0; h < H; ++h) acc[r][h] = V::fma(o[h], q1, V::fma(e[h], q0, acc[r][h]));
        }
      }
    }
  }
  // Per row the H vectors of its 16 scores: acc[r][h], h < H (P == 1 there, or acc[r][0] the sum of the chains).
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) store_scores<V>(s + r * kTok, acc[r], lane, n);
}


// Rows per qk_quad_tile call: two accumulators (hi, lo) per row and chain, 16 of the 32 registers at 8 rows (one
// chain) or at 4 (two).
inline constexpr int kQuadRows = 8;

// The same byte products on a CPU whose vectors hold half a tile line (AVX2, L = 8: vpdpbusd emulated by vpmaddubsw
// and vpmaddwd, decode_avx2.cpp), in run_nib as NibDot's: Q.K by qk_half_tile, P.V by pv_nib_block, pairs of tiles
// where no mask cuts them. Measured on Zen 3 (1k tokens in cache, one thread, alternated): the key group's fold four
// rows at once, as NibDot's, against a row at a time: G 32 0.304 -> 0.293 ms, G 64 0.247 -> 0.243; a line's low and
// high nibbles' products added in int16 and widened once (dot2_u8s8): G 32 0.292 -> 0.285, G 64 0.244 -> 0.235,
// bit-identical; then run_nib (until then run_block a block at a time, each value group's sums and maxima a row at a
// time): G 32 0.283-0.285 -> 0.199, G 64 0.234 -> 0.166; at 32k on two threads G 32 4.63-4.69 -> 3.21-3.27 ms, G 64
// 3.76-3.81 -> 2.66-2.79 (against the float path at most 1.14e-2 of the output's largest, as before).
template <class V>
concept NibMadd = V::L * 2 == kTok && requires(typename V::I i, const uint8_t* u, int8_t* q, uint8_t* b,
                                               typename V::R r, float* out) {
  V::hsum4(r, r, r, r, out);  // the key group's fold, four rows at once
  V::hmax4(r, r, r, r, out);
  { V::izero() } -> std::same_as<typename V::I>;
  V::nibble_lines(u, i, i);
  V::nibble_lines_centered(u, i, i);
  { V::store_i8(q, r) } -> std::same_as<typename V::R>;
  V::store_u8(b, r);
  { V::set1_u32(u) } -> std::same_as<typename V::I>;
  { V::dot2_u8s8(i, i, i, i, i) } -> std::same_as<typename V::I>;  // a line's low and high nibbles, one widening
  { V::to_float(i) } -> std::same_as<typename V::R>;
};

// S[r][j] = sum_d c_rd k_{lane + j, d} (in units of the row's step qinv), rows r < NR, tokens j < n of a tile whose
// 64-byte lines hold E codes of each of its 16 tokens (kv_cache.h), lane + n <= kTok:
//   E = 4, an int8 quad tile (channel quad c of the tile's tokens is one line): qq per row its hi codes (D bytes) then
//          its lo codes (D bytes), natural order, each against the keys in its own accumulator; qcor: 128 sum_d c_rd
//          per row (QuadDot);
//   E = 8, an int4 nibble tile (channel octet c, the low nibbles channels 8 c .. 8 c + 3, the high ones the next
//          four): qq per row its D codes, natural order; the low and the high nibbles each in its own accumulator
//          (NibDot).
// The K and V rows ahead are prefetched spread over the lines' steps, a key pair's two rows per run (as qk_key_tile),
// and the block ahead's per-token scales (int8_token) as it starts (as qk_tile). Scores past n are written too where
// lane is 0.
template <class V, int NR, int kD, int LD, int E>
[[gnu::always_inline]] inline void qk_byte_tile_d(float* s, const int8_t* qq, const int32_t* qcor, int64_t D_,
                                                  const uint8_t* tile, int lane, int n, const Ahead& ahead) {
  static_assert(V::L == kTok, "a row's 16 scores are one vector (store_scores reads one)");
  const int64_t D = kD ? kD : D_;
  using I = typename V::I;
  constexpr int P = NR <= 4 ? 2 : 1;  // lines per step, one chain each
  const int steps = int(D) / E / P;   // D % 16 == 0
  constexpr int kRuns = kTok / 2;
  const int ahead_pairs = (int(min64(n, ahead.keys)) + 1) / 2, per_run = (steps + kRuns - 1) / kRuns;
  ahead.prefetch_scales();
  I a0[NR][P], a1[NR][P];  // int8: Q's hi and lo bytes; int4: the low and the high nibbles
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) a0[r][p] = a1[r][p] = V::izero();
  for (int step = 0, run = 0; step < steps; ++step) {
    if (step == run * per_run) {
      if (run < ahead_pairs) ahead.prefetch_pair(2 * run);
      ++run;
    }
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) {
      const int c = step * P + p;
      if constexpr (E == 4) {
        const I x = V::load_u8_flipped(tile + c * 4 * kTok);
#pragma GCC unroll 16
        for (int r = 0; r < NR; ++r) {
          const int8_t* q = qq + r * 2 * D + 4 * c;
          a0[r][p] = V::dot_u8s8_bcast(a0[r][p], x, q);
          a1[r][p] = V::dot_u8s8_bcast(a1[r][p], x, q + D);
        }
      } else {
        I xl, xh;
        V::nibble_lines(tile + c * 4 * kTok, xl, xh);
#pragma GCC unroll 16
        for (int r = 0; r < NR; ++r) {
          const int8_t* q = qq + r * D + 8 * c;
          a0[r][p] = V::dot_u8s8_bcast(a0[r][p], xl, q);
          a1[r][p] = V::dot_u8s8_bcast(a1[r][p], xh, q + 4);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
#pragma GCC unroll 2
    for (int p = 1; p < P; ++p) {
      a0[r][0] = V::iadd(a0[r][0], a0[r][p]);
      a1[r][0] = V::iadd(a1[r][0], a1[r][p]);
    }
    const typename V::I sum = E == 4 ? V::hi_lo(a0[r][0], a1[r][0], qcor[r]) : V::iadd(a0[r][0], a1[r][0]);
    const typename V::R scores = V::to_float(sum);
    store_scores<V>(s + r * LD, &scores, lane, n);
  }
}

// qk_byte_tile_d on int8 quad tiles, with head dim 128 as a constant: Q's rows at constant offsets from one
// register, where a head dim known only at run time took a register per row and spilled (GCC copied the
// accumulators on every step). LD: the score rows' stride (kTok, or run_tiles' group).
template <class V, int NR, int LD = kTok>
inline void qk_quad_tile(float* s, const int8_t* qq, const int32_t* qcor, int64_t D, const uint8_t* tile, int lane,
                         int n, const Ahead& ahead) {
  if (D == 128) return qk_byte_tile_d<V, NR, 128, LD, 4>(s, qq, qcor, D, tile, lane, n, ahead);
  qk_byte_tile_d<V, NR, 0, LD, 4>(s, qq, qcor, D, tile, lane, n, ahead);
}

// int8 key quad tiles on a CPU whose vectors hold half a tile line and which has an int16 multiply-add but no 8-bit dot
// product (AVX2's vpmaddwd: 16 products an instruction, at the FMA's issue rate on Zen 3, twice its 8): per channel
// quad and 8 tokens, one load split into two vectors of int16 pairs, channels (0, 2) and (1, 3) of each token in its
// 32-bit lane (quad_words: three shifts, shared by the rows), and per row two multiply-adds against Q's int16 codes of
// the same pairs broadcast (qk_half_tile, E = 4). The score is qinv sum_d qi_d k_d in int32: |sum| <= D x 32767 x 128 <
// 2^31 for D <= 256 (kv_cache.cpp's limit). Q's rounding is 2^-16 of the row's largest, as I16Dot's.
template <class V>
concept QuadMadd = V::L * 2 == kTok && Int16Products<V> && requires(typename V::I i, const uint8_t* u) {
  V::quad_words(u, i, i);
  { V::set1_u32(u) } -> std::same_as<typename V::I>;
  { V::madd16(i, i, i) } -> std::same_as<typename V::I>;
};

// Whether Q.K runs on Q's int16 codes (scores in units of each row's step qinv): int8 keys on I16Dot (AVX-512 VNNI,
// the codes then split into bytes) or on QuadMadd (AVX2).
template <class V, class C>
inline constexpr bool kInt16Q = QuadTiles<C> && (I16Dot<V, typename C::Row> || QuadMadd<V>);

// S[r][j] = sum_d c_rd k_{lane + j, d} in units of the row's step, rows r < NR, tokens j < n of a tile on a CPU whose
// vectors hold half its line (AVX2): per line and half (8 tokens), the line's codes as two vectors, each against the
// row's codes of the same channels broadcast:
//   E = 4, an int8 quad tile on QuadMadd: qc per row its D int16 codes, each quad stored 0 2 1 3 (quad_words' pairs);
//   E = 8, an int4 nibble tile on NibMadd: qc per row its D byte codes, natural order, the low nibbles against
//          channels 8 c .. 8 c + 3, the high ones against the next four.
// The rows ahead and the per-token scales (int8_token) prefetched as qk_quad_float does. Scores past n are written
// too where lane is 0; the rows LD apart.
template <class V, int NR, int E, int LD = kTok, class Code>
inline void qk_half_tile(float* s, const Code* qc, int64_t D, const uint8_t* tile, int lane, int n,
                         const Ahead& ahead) {
  using I = typename V::I;
  constexpr int H = kTok / V::L;  // vectors per row of 16 scores
  const int lines = int(D) / E;
  constexpr int kRuns = kTok / 2;
  const int ahead_pairs = (int(min64(n, ahead.keys)) + 1) / 2, per_run = (lines + kRuns - 1) / kRuns;
  ahead.prefetch_scales();
  I acc[NR][H];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) acc[r][h] = V::izero();
  for (int run = 0; run < kRuns; ++run) {
    if (run < ahead_pairs) ahead.prefetch_pair(2 * run);
    for (int c = run * per_run; c < min64(lines, (run + 1) * per_run); ++c) {
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) {
        const uint8_t* line = tile + (c * kTok + h * V::L) * 4;
        I x0, x1;
        if constexpr (E == 4) V::quad_words(line, x0, x1);
        else V::nibble_lines(line, x0, x1);
#pragma GCC unroll 16
        for (int r = 0; r < NR; ++r) {
          const Code* q = qc + r * D + E * c;
          if constexpr (E == 4)
            acc[r][h] = V::madd16(V::madd16(acc[r][h], x0, V::set1_u32(q)), x1, V::set1_u32(q + 2));
          else
            acc[r][h] = V::dot2_u8s8(acc[r][h], x0, V::set1_u32(q), x1, V::set1_u32(q + 4));
        }
      }
    }
  }
  // Until 2026-12-06 every row went through store_scores' copy, a call to memcpy per row and tile (its size is not a
  // constant), whole tiles too: without it, 1k tokens in cache, one thread (driver, alternated), int8_head 0.198 ->
  // 0.190 ms, int8_token 0.203 -> 0.194, int4 G 64 0.165 -> 0.160, G 32 0.201 -> 0.194.
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
    typename V::R scores[H];
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) scores[h] = V::to_float(acc[r][h]);
    store_scores<V>(s + r * LD, scores, lane, n);
  }
}

// int8 quad tiles and int4 nibble tiles on CPUs without the 8-bit dot product or int16 products (the scalar ISA; AVX2
// has QuadMadd and NibMadd): per 32-bit lane of E codes (4: a quad, 8: an octet) and L tokens, one load gives the E
// channels' codes as E float vectors of L tokens (quad_channels, octet_channels), each multiplied by one broadcast
// element of Q (float32, natural order): the scores come out as vectors of tokens, no horizontal sums. The same reader
// gives a value tile's E tokens of L channels (pv_quad_float).
template <class V>
concept QuadFloat = requires(const uint8_t* p, typename V::R* x) { V::quad_channels(p, x); };
template <class V>
concept OctetFloat = requires(const uint8_t* p, typename V::R* x) { V::octet_channels(p, x); };
template <class V, int E>
inline void tile_codes(const uint8_t* p, typename V::R* x) {
  if constexpr (E == 4) V::quad_channels(p, x);
  else V::octet_channels(p, x);
}

// S[r][j] = q_r . k_{lane + j} in float32 (qn: the scaled queries, natural order; int4: times the key group's
// scales), rows r < NR, tokens j < n of an int8 quad tile (E = 4) or int4 nibble tile (E = 8); the rows ahead
// prefetched as qk_quad_tile does. Scores past n are written too where lane is 0.
template <class V, int NR, int E>
inline void qk_quad_float(float* s, const float* qn, int64_t D, const uint8_t* tile, int lane, int n,
                          const Ahead& ahead) {
  using R = typename V::R;
  constexpr int H = kTok / V::L;  // vectors per row of 16 scores
  const int lines = int(D) / E;
  constexpr int kRuns = kTok / 2;
  const int ahead_pairs = (int(min64(n, ahead.keys)) + 1) / 2, per_run = (lines + kRuns - 1) / kRuns;
  ahead.prefetch_scales();
  R acc[NR][H];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) acc[r][h] = V::zero();
  for (int run = 0; run < kRuns; ++run) {
    if (run < ahead_pairs) ahead.prefetch_pair(2 * run);
    for (int c = run * per_run; c < min64(lines, (run + 1) * per_run); ++c) {
#pragma GCC unroll 4
      for (int h = 0; h < H; ++h) {  // h outer: E channel vectors live, one row's broadcast at a time
        R x[E];
        tile_codes<V, E>(tile + (c * kTok + h * V::L) * 4, x);
#pragma GCC unroll 16
        for (int r = 0; r < NR; ++r) {
          const float* q = qn + r * D + E * c;
#pragma GCC unroll 8
          for (int e = 0; e < E; ++e) acc[r][h] = V::fma(x[e], V::set1(q[e]), acc[r][h]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) store_scores<V>(s + r * kTok, acc[r], lane, n);
}

// O[r][d0 .. d0 + NV L] = alpha_r O[r] + sum_j w[r][j] v_j[d0 ..] for rows r0 .. r0 + NR of token rows (bf16, fp8;
// w: the probabilities, with the values' scales folded in). vla (bf16, or null): the
// value lines of the block ahead, of which this call requests lines pf_begin .. pf_end, token j line pf_begin + j
// (a share longer than n tokens loses its last lines: only rows that are not whole lines, by one), so a block's P.V
// spreads the next block's value lines over its loop (qk_key_tile).
template <class V, int NR, int NV, class VRow>
inline void pv_tile(float* o, const float* w, const float* alpha, int64_t D, int d0, const VRow* vr, int n,
                    const ValueLinesAhead* vla = nullptr, int pf_begin = 0, int pf_end = 0) {
  using R = typename V::R;
  R acc[NR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
    const R a = V::set1(alpha[r]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V::mul(V::load(o + r * D + d0 + v * V::L), a);
  }
  // pf: the address of line pf_begin + j, stepped a line a token, onto the second run after token pf_last_first.
  const int pf_lines = vla ? int(min64(pf_end - pf_begin, n)) : 0;
  const char* pf = nullptr;
  int pf_last_first = -1;
  int64_t pf_jump = 0;
  if (vla) {
    const int first = vla->lines[0] - pf_begin;  // the first of this call's lines in the second run
    pf = first > 0 ? vla->start[0] + 64 * int64_t(pf_begin) : vla->start[1] + 64 * int64_t(-first);
    if (first > 0 && first < pf_lines) {
      pf_last_first = first - 1;
      pf_jump = vla->start[1] - (vla->start[0] + 64 * int64_t(vla->lines[0]));
    }
  }
  for (int j = 0; j < n; ++j) {
    if (j < pf_lines) {
      __builtin_prefetch(pf, 0, 3);
      pf += 64 + (j == pf_last_first ? pf_jump : 0);
    }
    R x[NV];
    if constexpr (PairRow<VRow> && NV == 2) {  // a whole pair block (d0 is a multiple of 2 L)
      x[0] = vr[j].even(d0);
      x[1] = vr[j].odd(d0);
    } else {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) x[v] = vr[j].at(d0 + v * V::L);
    }
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) {
      const R pr = V::set1(w[r * kTok + j]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(pr, x[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) V::store(o + r * D + d0 + v * V::L, acc[r][v]);
}

// The lanes' maxima of one W-wide row (of scores or weights): a vector, reduced by the caller (hmax, hmax4).
template <class V, int W = kTok>
inline typename V::R block_max(const float* row) {
  typename V::R mx = V::load(row);
#pragma GCC unroll 16
  for (int j = V::L; j < W; j += V::L) mx = V::max(mx, V::load(row + j));
  return mx;
}

// The U8Dot P.V over a value quad tile: O[r][d0 .. d0 + NQ L] = alpha_r O[r] + wsc_r sum_j wb[r][j] v_j[d0 ..] for
// rows r < NR, NQ <= 4 vectors of L = 16 channels, tokens j of the tile's quads g0 .. g1 (wb indexed by the tile's
// lanes, 0 outside the block, rows LW apart; run_tiles' g1 = 4 NT - 1 runs on into the next tiles, 16 D bytes a
// tile). E = 8: the same over an int4 value tile's octets (pv_nib_block on NibDot, or on NibMadd with L = 8: 8 D
// bytes a tile, the codes centred, u - 8), the lanes of one value group, O gets + add_r too (its zero points). Until 2026-12-05 the int8 values were token rows,
// four tokens' 64 bytes interleaved byte by byte per instruction (4 loads, 8 unpacks) and the sums put back in
// element order per block (a 4 x 4 transpose of 128-bit blocks per row): what the quad tiles store already.
template <class V, int NR, int NQ, int LW = kTok, int E = 4>
inline void pv_quad_u8(float* o, const uint8_t* wb, const float* wsc, const float* alpha, int64_t D, int d0,
                       const uint8_t* tile, int g0, int g1, const float* add = nullptr) {
  using I = typename V::I;
  I acc[NR][NQ];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < NQ; ++q) acc[r][q] = V::izero();
  for (int g = g0; g <= g1; ++g) {
    if constexpr (E == 4) {
      I x[NQ];
#pragma GCC unroll 4
      for (int q = 0; q < NQ; ++q)
        x[q] = V::load_i8x64(reinterpret_cast<const int8_t*>(tile) + (g * D + d0 + q * V::L) * 4);
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) {
        const I w = V::set1_u32(wb + r * LW + 4 * g);
#pragma GCC unroll 4
        for (int q = 0; q < NQ; ++q) acc[r][q] = V::dot_u8s8(acc[r][q], w, x[q]);
      }
    } else {  // int4 (pv_nib_block): an octet's low nibbles are its first 4 tokens, the high ones the next 4
      I xl[NQ], xh[NQ];
#pragma GCC unroll 4
      for (int q = 0; q < NQ; ++q) V::nibble_lines_centered(tile + (g * D + d0 + q * V::L) * 4, xl[q], xh[q]);
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) {
        const I wl = V::set1_u32(wb + r * LW + 8 * g), wh = V::set1_u32(wb + r * LW + 8 * g + 4);
#pragma GCC unroll 4
        for (int q = 0; q < NQ; ++q) acc[r][q] = V::dot2_u8s8(acc[r][q], wl, xl[q], wh, xh[q]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
    const typename V::R a = V::set1(alpha[r]), step = V::set1(wsc[r]);
    float* dst = o + r * D + d0;
#pragma GCC unroll 4
    for (int q = 0; q < NQ; ++q) {
      const typename V::R old = E == 4 ? V::mul(V::load(dst + q * V::L), a)
                                       : V::fma(V::load(dst + q * V::L), a, V::set1(add[r]));
      V::store(dst + q * V::L, V::fma(V::to_float(acc[r][q]), step, old));
    }
  }
}

// int8 P.V on CPUs with an int16 multiply-add but no 8-bit dot product (AVX2's vpmaddwd): per token quad and 8
// channels, two sign-extensions of the values to int16 (shared by the rows) and per row two multiply-adds against the
// quad's 4 weights as int16 codes (per row and block, step wmax / 32767), each int32 lane the sum of two
// tokens; the channel's two lanes added once per block (pair_sums). |lane| <= 4 x 2 x 32767 x 127 < 2^31.
template <class V>
concept I16Pv = V::L == 8 && requires(typename V::I i, const uint8_t* p, const int16_t* w, int16_t* q,
                                      typename V::R r) {
  V::quad_pairs(p, i, i);
  { V::izero() } -> std::same_as<typename V::I>;
  { V::set1_u64(w) } -> std::same_as<typename V::I>;
  { V::madd16(i, i, i) } -> std::same_as<typename V::I>;
  { V::pair_sums(i, i) } -> std::same_as<typename V::R>;
  V::store_i16(q, r);
};

// The I16Pv P.V over a value quad tile: O[r][d0 .. d0 + 8] = alpha_r O[r] + wsc_r sum_j wq[r][j] v_j[d0 ..], rows
// r < NR, tokens of quads g0 .. g1 (wq indexed by the tile's lanes, 0 outside the block, rows LW apart; run_tiles'
// g1 = 4 NT - 1 runs on into the next tiles, as pv_quad_u8's).
template <class V, int NR, int LW = kTok>
inline void pv_quad_i16(float* o, const int16_t* wq, const float* wsc, const float* alpha, int64_t D, int d0,
                        const uint8_t* tile, int g0, int g1) {
  using I = typename V::I;
  I lo[NR], hi[NR];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) lo[r] = hi[r] = V::izero();
  for (int g = g0; g <= g1; ++g) {
    I xl, xh;
    V::quad_pairs(tile + (g * D + d0) * 4, xl, xh);
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) {
      const I w = V::set1_u64(wq + r * LW + 4 * g);
      lo[r] = V::madd16(lo[r], xl, w);
      hi[r] = V::madd16(hi[r], xh, w);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
    float* dst = o + r * D + d0;
    V::store(dst, V::fma(V::pair_sums(lo[r], hi[r]), V::set1(wsc[r]), V::mul(V::load(dst), V::set1(alpha[r]))));
  }
}

// The float P.V over a value quad tile (E = 4; AVX2 runs I16Pv instead) or nibble tile (E = 8): O[r][d0 .. d0 +
// NV L] = alpha_r O[r] + add_r + sum_j w[r][j] v_j[d0 ..], rows r < NR, tokens of the tile's quads or octets g0 ..
// g1 (w indexed by the tile's lanes, 0 outside the block; add: int4's zero points, or null). Per quad or octet and L
// channels one load gives its E tokens' vectors (tile_codes), each against its weight broadcast.
template <class V, int NR, int NV, int E>
inline void pv_quad_float(float* o, const float* w, const float* add, const float* alpha, int64_t D, int d0,
                          const uint8_t* tile, int g0, int g1) {
  using R = typename V::R;
  R acc[NR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
    const R a = V::set1(alpha[r]);
    const R z = V::set1(add ? add[r] : 0.0f);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(V::load(o + r * D + d0 + v * V::L), a, z);
  }
  for (int g = g0; g <= g1; ++g) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {  // v outer: E token vectors live, one broadcast at a time
      R x[E];
      tile_codes<V, E>(tile + (g * D + d0 + v * V::L) * 4, x);
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r)
#pragma GCC unroll 8
        for (int e = 0; e < E; ++e) acc[r][v] = V::fma(V::set1(w[r * kTok + E * g + e]), x[e], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) V::store(o + r * D + d0 + v * V::L, acc[r][v]);
}

// Online softmax of rows r0 .. r0 + 4 at once, on a CPU with four-at-once horizontal sums and maxima: the row
// maxima, the rescales alpha = 2^(m - m_new) and the row sums each take one vector pass instead of four (and no
// libm exp2f call per row). A row with nothing visible yet (m_new = -inf) gets P = 0 and alpha = 0 (exp2 of NaN),
// which leaves its O, l (both still 0) and m (-inf) as they are.
// kLazy (int8 caches): the running max moves only when a block's maximum exceeds it by more than kLazyMax (log2
// units), so P = 2^(S - m) may reach 2^kLazyMax (the weights' scale per block and the float sums take that as it
// comes: the output is O / l either way). The block's P then needs the old m only, not the block's maximum, so the
// exponentials start while the maxima are still reduced, instead of after them (FlashAttention-4's conditional
// rescaling); a block above the threshold, or a row with nothing visible yet, takes the exact path. Measured
// (driver, 1k tokens in cache, one thread, alternated): int8_head 0.075-0.076 -> 0.071-0.072 ms, int8_token
// 0.074-0.076 -> 0.072; bf16 no change (0.104-0.105), fp8 -2%, int4 G 64 -4% but G 32 +6% (0.129-0.131 ->
// 0.136-0.139, every one of four pairs), so only int8 takes it.
inline constexpr float kLazyMax = 8.0f;
// W: the rows' width (scores s and probabilities p, row r0 + i at r0 + i times W): kTok, or run_tiles' group.
template <class V, bool kLazy, int W = kTok>
inline void online_softmax4(Rows<V>& t, int64_t r0, const float* s_rows, float* p_rows) {
  using R = typename V::R;
  const float* s = s_rows + r0 * W;
  alignas(64) float m_new[V::L > 4 ? V::L : 4] = {}, delta[V::L > 4 ? V::L : 4] = {}, alpha[V::L > 4 ? V::L : 4];
  V::hmax4(block_max<V, W>(s), block_max<V, W>(s + W), block_max<V, W>(s + 2 * W), block_max<V, W>(s + 3 * W),
           m_new);
  if constexpr (kLazy) {
    R e[4][W / V::L], sum[4];
    const bool finite = t.m[r0] > kNegInf && t.m[r0 + 1] > kNegInf && t.m[r0 + 2] > kNegInf && t.m[r0 + 3] > kNegInf;
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const float* sr = s_rows + (r0 + i) * W;
      const R neg = V::set1(-t.m[r0 + i]);
      sum[i] = V::zero();
#pragma GCC unroll 16
      for (int j = 0; j < W; j += V::L) {
        e[i][j / V::L] = V::exp2(V::add(V::load(sr + j), neg));
        sum[i] = V::add(sum[i], e[i][j / V::L]);
      }
    }
    if (finite && m_new[0] <= t.m[r0] + kLazyMax && m_new[1] <= t.m[r0 + 1] + kLazyMax &&
        m_new[2] <= t.m[r0 + 2] + kLazyMax && m_new[3] <= t.m[r0 + 3] + kLazyMax) {
      float sums[4];
      V::hsum4(sum[0], sum[1], sum[2], sum[3], sums);
      for (int i = 0; i < 4; ++i) {
#pragma GCC unroll 16
        for (int j = 0; j < W; j += V::L) V::store(p_rows + (r0 + i) * W + j, e[i][j / V::L]);
        t.l[r0 + i] += sums[i];
        t.alpha[r0 + i] = 1.0f;
      }
      return;
    }
  }
  for (int i = 0; i < 4; ++i) {
    m_new[i] = maxf(t.m[r0 + i], m_new[i]);
    delta[i] = t.m[r0 + i] - m_new[i];
  }
  V::store(alpha, V::exp2(V::load(delta)));  // L >= 4 lanes; the others are 2^0
  R sum[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const float* sr = s_rows + (r0 + i) * W;
    float* pr = p_rows + (r0 + i) * W;
    const R neg = V::set1(-m_new[i]);
    sum[i] = V::zero();
#pragma GCC unroll 16
    for (int j = 0; j < W; j += V::L) {
      const R e = V::exp2(V::add(V::load(sr + j), neg));
      V::store(pr + j, e);
      sum[i] = V::add(sum[i], e);
    }
  }
  float sums[4];
  V::hsum4(sum[0], sum[1], sum[2], sum[3], sums);
  for (int i = 0; i < 4; ++i) {
    t.l[r0 + i] = t.l[r0 + i] * alpha[i] + sums[i];
    t.m[r0 + i] = m_new[i];
    t.alpha[r0 + i] = alpha[i];
  }
}

// Online softmax of one block for every row: P = 2^(S - m_new), l = alpha l + sum P. Scores past n are -inf.
// kLazy: online_softmax4's conditional rescaling (its four-row path only).
template <class V, bool kLazy = false>
inline void online_softmax(Rows<V>& t, int64_t rows) {
  using R = typename V::R;
  int64_t r = 0;
  if constexpr (requires(R x, float* out) {
                  V::hmax4(x, x, x, x, out);
                  V::hsum4(x, x, x, x, out);
                }) {
    for (; r + 4 <= rows; r += 4) online_softmax4<V, kLazy>(t, r, t.s, t.p);
  }
  for (; r < rows; ++r) {
    const float* sr = t.s + r * kTok;
    float* pr = t.p + r * kTok;
    const float m_new = maxf(t.m[r], V::hmax(block_max<V>(sr)));
    if (m_new == kNegInf) {  // nothing visible yet in this row
      t.alpha[r] = 1.0f;
#pragma GCC unroll 16
      for (int i = 0; i < kTok; i += V::L) V::store(pr + i, V::zero());
      continue;
    }
    const float alpha = std::exp2(t.m[r] - m_new);  // 0 while m was -inf
    const R neg = V::set1(-m_new);
    R sum = V::zero();
#pragma GCC unroll 16
    for (int i = 0; i < kTok; i += V::L) {
      const R e = V::exp2(V::add(V::load(sr + i), neg));
      V::store(pr + i, e);
      sum = V::add(sum, e);
    }
    t.l[r] = t.l[r] * alpha + V::hsum(sum);
    t.m[r] = m_new;
    t.alpha[r] = alpha;
  }
}

// A block's n per-token scales as kTok lanes, zeros past n (never read: the last page's array may end there).
template <class V>
inline void load_block(const float* src, int n, typename V::R* out) {
  if constexpr (requires(const float* p, int m) { V::load_masked(p, V::mask_first(m)); }) {
    for (int j = 0; j < kTok; j += V::L) {
      const int m = n - j;
      out[j / V::L] = m >= V::L ? V::load(src + j) : m > 0 ? V::load_masked(src + j, V::mask_first(m)) : V::zero();
    }
  } else {
    float padded[kTok];
    for (int j = 0; j < kTok; ++j) padded[j] = j < n ? src[j] : 0.0f;
    for (int j = 0; j < kTok; j += V::L) out[j / V::L] = V::load(padded + j);
  }
}

// The U8Dot P.V of a block (W = kTok) or of run_tiles' group (W = NT kTok) of an int8 cache: the weights w (rows x
// W, by the tiles' lanes) as unsigned bytes per row, step = the row's largest weight / 255 (P >= 0, scales > 0), then
// pv_quad_u8 over the value tile's quads g0 .. g1.
template <class V, int W>
inline void pv_u8_block(Rows<V>& sc, const float* w, int64_t rows, int64_t D, const uint8_t* tile, int g0, int g1) {
  using R = typename V::R;
  uint8_t* const wb = reinterpret_cast<uint8_t*>(sc.wq);
  float* const wsc = sc.wsc;
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    R mx[4];
    alignas(16) float wmax[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) mx[i] = r0 + i < rows ? block_max<V, W>(w + (r0 + i) * W) : V::zero();
    V::hmax4(mx[0], mx[1], mx[2], mx[3], wmax);
    for (int64_t i = 0; i < min64(4, rows - r0); ++i) {
      const R inv = V::set1(wmax[i] > 0.0f ? 255.0f / wmax[i] : 0.0f);
#pragma GCC unroll 2
      for (int j = 0; j < W; j += V::L) V::store_u8(wb + (r0 + i) * W + j, V::mul(V::load(w + (r0 + i) * W + j), inv));
      wsc[r0 + i] = wmax[i] / 255.0f;
    }
  }
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {  // 4 rows x 4 accumulators: 16 of the 32 registers
    with_rows<4>(int(min64(4, rows - r0)), [&](auto nr) {
      constexpr int NR = decltype(nr)::value;
      float* o = sc.o + r0 * D;
      const uint8_t* wr = wb + r0 * W;
      int d0 = 0;
      for (; d0 + 4 * V::L <= int(D); d0 += 4 * V::L)
        pv_quad_u8<V, NR, 4, W>(o, wr, wsc + r0, sc.alpha + r0, D, d0, tile, g0, g1);
      switch ((int(D) - d0) / V::L) {  // the head dim's tail: 1 to 3 vectors
        case 1: pv_quad_u8<V, NR, 1, W>(o, wr, wsc + r0, sc.alpha + r0, D, d0, tile, g0, g1); break;
        case 2: pv_quad_u8<V, NR, 2, W>(o, wr, wsc + r0, sc.alpha + r0, D, d0, tile, g0, g1); break;
        case 3: pv_quad_u8<V, NR, 3, W>(o, wr, wsc + r0, sc.alpha + r0, D, d0, tile, g0, g1); break;
        default: break;
      }
    });
  }
}

// The I16Pv P.V of a block (W = kTok) or of run_tiles' group (W = NT kTok) of an int8 cache: the weights w (rows x
// W, by the tiles' lanes) as int16 codes per row, step = the row's largest weight / 32767, then pv_quad_i16 over
// the value tile's quads g0 .. g1, 8 channels a call.
template <class V, int W>
inline void pv_i16_block(Rows<V>& sc, const float* w, int64_t rows, int64_t D, const uint8_t* tile, int g0, int g1) {
  int16_t* const wq = sc.wq;
  float* const wsc = sc.wsc;
  for (int64_t r = 0; r < rows; ++r)
    wsc[r] = encode_i16<V>(w + r * W, W, V::hmax(block_max<V, W>(w + r * W)), wq + r * W);
  for (int64_t r0 = 0; r0 < rows; r0 += V::kPvRows) {
    with_rows<V::kPvRows>(int(min64(V::kPvRows, rows - r0)), [&](auto nr) {
      for (int d0 = 0; d0 < int(D); d0 += V::L)
        pv_quad_i16<V, decltype(nr)::value, W>(sc.o + r0 * D, wq + r0 * W, wsc + r0, sc.alpha + r0, D, d0, tile, g0,
                                               g1);
    });
  }
}

// A window's first block: rows of n probabilities (or weights) put at lanes lane .. lane + n of kTok-wide rows at dst,
// zeros around them, so the P.V over a tile's lanes weighs the tokens before the block by 0.
inline void to_tile_lanes(float* dst, const float* src, int64_t rows, int lane, int n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = dst + r * kTok;
    for (int j = 0; j < kTok; ++j) row[j] = 0.0f;
    std::memcpy(row + lane, src + r * kTok, size_t(n) * sizeof(float));
  }
}

// dst[r][j] = src[r][j] x per_token[j] x per_row[r] (1 where per_row is null), rows r < rows of W floats, per_token
// as W / L vectors: the per-token scales (and the rows' steps) folded into a block's scores or probabilities
// (run_block's W = kTok, run_tiles' group). dst may be src.
template <class V, int W>
inline void scale_rows(float* dst, const float* src, int64_t rows, const typename V::R* per_token,
                       const float* per_row) {
  for (int64_t r = 0; r < rows; ++r) {
    const typename V::R step = V::set1(per_row ? per_row[r] : 1.0f);  // before the stores, which may alias per_row
#pragma GCC unroll 4
    for (int j = 0; j < W; j += V::L)
      V::store(dst + r * W + j, V::mul(V::load(src + r * W + j), V::mul(per_token[j / V::L], step)));
  }
}

// ---- int4 KIVI on 8-bit dot products (AVX-512 VNNI) ---------------------------------------------------------
// The nibble tiles (kv_cache.h) against vpdpbusd, as int8's quad tiles: a 64-byte line's 128 codes split by a mask
// and a shift (nibble_lines: the low nibbles, then the high ones, each byte 0 .. 15), and each half dotted with
// four bytes broadcast. No widening, no horizontal sums, no int16 and no pair order:
//   Q.K  per key group of G tokens, q' = q * the group's channel scales as signed bytes (step amax |q'| / 127), so
//        a line and a row take two instructions (the low and the high nibbles); score = step sum + q . zero, exact
//        in int32 (|sum| <= D x 15 x 127). Q's rounding adds to each score an error of rms step sqrt(D / 12) times
//        the codes' rms (~8), against the keys' own rounding, rms sqrt(sum q'^2 / 12) (the codes' half step): for
//        q' with amax / rms ~3, about 5% of it (+0.2 dB of noise); the int4 key is the error that counts.
//   P.V  per value channel group g, the weights P_j scale_jg as unsigned bytes of the (g, row)'s largest (step
//        wmax / 255, as int8's), the codes the signed operand (0 .. 15): a line (16 channels of a token octet) and a
//        row take two instructions; O gets step sum + sum_j P_j zero_jg.
// Until 2026-12-05 int4 was token rows of packed nibbles, widened to int16 for vpdpwssd against Q in nibble order
// and P.V weights on two tokens' rows zipped lane by lane (U4Dot).
inline constexpr float kNibQMaxCode = 127.0f, kNibMidCode = 7.5f;
// The byte folds' (NibDot, NibMadd) scale for q' codes of largest magnitude amax: 127 / amax, or 0 where that
// overflows. A key group whose keys are all equal has every scale at the quantizer's floor (FLT_MIN): its q' is 0 to
// float precision, so its codes are 0, not inf (which the rounding's residue made NaN).
inline float nib_code_inv(float amax) {
  const float k = kNibQMaxCode / amax;
  return k < std::numeric_limits<float>::max() ? k : 0.0f;
}
// A key group's bf16 channel scales and zeros widened to float32 once per fold (D % L == 0).
template <class V>
inline void widen_group(const uint16_t* ks, const uint16_t* kz, int64_t D, float* scale, float* zero) {
  for (int64_t d = 0; d < D; d += V::L) {
    V::store(scale + d, V::load_bf16(ks + d));
    V::store(zero + d, V::load_bf16(kz + d));
  }
}
template <class V>
concept NibDot = QuadDot<V> && requires(typename V::I i, const uint8_t* u, const int8_t* c, int8_t* q, uint8_t* b,
                                        typename V::R r) {
  V::nibble_lines(u, i, i);
  { V::store_i8(q, r) } -> std::same_as<typename V::R>;
  { V::set1_u32(u) } -> std::same_as<typename V::I>;
  { V::dot_u8s8(i, i, i) } -> std::same_as<typename V::I>;
  { V::dot2_u8s8(i, i, i, i, i) } -> std::same_as<typename V::I>;  // pv_quad_u8 on a line's low and high nibbles
  V::store_u8(b, r);
  { V::load_bf16(static_cast<const uint16_t*>(nullptr)) } -> std::same_as<typename V::R>;
};

// qk_byte_tile_d on int4 nibble tiles, head dim 128 a constant as for int8's.
template <class V, int NR, int LD = kTok>
inline void qk_nib_tile(float* s, const int8_t* qq, int64_t D, const uint8_t* tile, int lane, int n,
                        const Ahead& ahead) {
  if (D == 128) return qk_byte_tile_d<V, NR, 128, LD, 8>(s, qq, nullptr, D, tile, lane, n, ahead);
  qk_byte_tile_d<V, NR, 0, LD, 8>(s, qq, nullptr, D, tile, lane, n, ahead);
}

// The P.V of NT tiles (W = NT kTok weights a row, by the tiles' lanes) of an int4 cache: per value group g and row
// r, the weights P x the tiles' scales of g as bytes (wb, step wsc) and sum_j P_j zero_jg (zs), four rows' maxima and
// sums at once; then pv_quad_u8 over the tiles' octets g0 .. g1, per group.
template <class V, int NT, class C>
inline void pv_nib_block(Rows<V>& sc, const C& c, const float* p, int64_t rows, int64_t D, int64_t ph, int64_t slot,
                         int g0, int g1) {
  using R = typename V::R;
  constexpr int W = NT * kTok, G = C::kGroup, NW = W / V::L;
  // Vectors of L channels a pv_quad_u8 call: up to 4 of 16 (AVX-512), kPvVecs of 8 (AVX2: 4 rows x 2 accumulators,
  // 4 code and 2 weight vectors in its 16 registers).
  constexpr int NQ = V::L == kTok ? (G / 16 < 4 ? G / 16 : 4) : V::kPvVecs;
  static_assert(G % (V::L * NQ) == 0);
  const int64_t groups = D / G;
  const uint16_t* vs = c.v_tile_scales(ph, slot);
  const uint16_t* vz = c.v_tile_zeros(ph, slot);
  const int64_t stride = c.v_tile_stride();
  uint8_t* const wb = reinterpret_cast<uint8_t*>(sc.wq);
  float* const wsc = sc.wsc;
  float* const zs = sc.zs;
  for (int64_t g = 0; g < groups; ++g) {
    R sv[NW], zv[NW];  // vector i: the group's scales (zeros) of tokens i L .. i L + L, tile i L / kTok
#pragma GCC unroll 4
    for (int i = 0; i < NW; ++i) {
      const int64_t at = i * V::L / kTok * stride + g * kTok + i * V::L % kTok;
      sv[i] = V::load_bf16(vs + at);
      zv[i] = V::fma(V::set1(8.0f), sv[i], V::load_bf16(vz + at));  // the codes centred: u - 8
    }
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
      R mx[4], zz[4];
      alignas(16) float wmax[4], zsum[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        mx[k] = zz[k] = V::zero();
        if (r0 + k >= rows) continue;
#pragma GCC unroll 4
        for (int i = 0; i < NW; ++i) {
          const R pr = V::load(p + (r0 + k) * W + i * V::L);
          mx[k] = V::max(mx[k], V::mul(pr, sv[i]));
          zz[k] = V::fma(pr, zv[i], zz[k]);
        }
      }
      V::hmax4(mx[0], mx[1], mx[2], mx[3], wmax);
      V::hsum4(zz[0], zz[1], zz[2], zz[3], zsum);
      for (int64_t k = 0; k < min64(4, rows - r0); ++k) {
        const int64_t at = g * rows + r0 + k;
        const R inv = V::set1(wmax[k] > 0.0f ? 255.0f / wmax[k] : 0.0f);
#pragma GCC unroll 4
        for (int i = 0; i < NW; ++i)
          V::store_u8(wb + at * W + i * V::L, V::mul(V::mul(V::load(p + (r0 + k) * W + i * V::L), sv[i]), inv));
        wsc[at] = wmax[k] / 255.0f;
        zs[at] = zsum[k];
      }
    }
  }
  const uint8_t* tile = c.v_octets(ph, slot).p;
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {  // 4 rows x NQ accumulators
    with_rows<4>(int(min64(4, rows - r0)), [&](auto nr) {
      constexpr int NR = decltype(nr)::value;
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t at = g * rows + r0;
        for (int d0 = int(g * G); d0 < int((g + 1) * G); d0 += NQ * V::L)
          pv_quad_u8<V, NR, NQ, W, 8>(sc.o + r0 * D, wb + at * W, wsc + at, sc.alpha + r0, D, d0, tile, g0, g1,
                                      zs + at);
      }
    });
  }
}

// NT tiles of an int4 cache on NibDot or NibMadd from (page row ph, slot), the key group's Q already folded
// (HeadPass::tokens): NT = 1, one block of n tokens from the tile's lane slot % 16 (mods where they apply); NT =
// kGroupTiles, whole tiles with no mask and no score mod (as run_tiles), one softmax step and one P.V pass for all.
// ahead: per tile.
template <class V, int NT, class C>
inline void run_nib(const KernelArgs& a, const C& c, Rows<V>& sc, int64_t rows, int64_t hk, int64_t len, int64_t t,
                    int64_t ph, int64_t slot, int n, bool natural, const Ahead* ahead) {
  using R = typename V::R;
  constexpr int W = NT * kTok;
  static_assert(W <= Rows<V>::kMaxW);
  const int64_t D = a.shape.D;
  float* const s = sc.s;
  float* const p = sc.p;
  const QuadTile kt = c.k_octets(ph, slot);
  const int lane = NT == 1 ? kt.lane : 0;
  if constexpr (NT > 1) {
    // The next group's scale lines (what ahead[0] reads first: this part of the page, or the next part's).
    if (const Ahead& next = ahead[0]; next.keys > 0)
      c.prefetch_scales((next.split > 0 ? next.here : next.next) / next.row_bytes, NT);
  }
  // NibDot: a tile line per vector, 8 rows a call; NibMadd (AVX2): half a line, kKeyTileRows.
  constexpr int TR = NibDot<V> ? kQuadRows : kKeyTileRows<V>;
  for (int64_t r0 = 0; r0 < rows; r0 += TR) {
    with_rows<TR>(int(min64(TR, rows - r0)), [&](auto nr) {
      constexpr int NR = decltype(nr)::value;
      const int8_t* qq = sc.qq + r0 * D;
#pragma GCC unroll 4
      for (int i = 0; i < NT; ++i) {
        const uint8_t* tile = kt.p + i * kTok * D / 2;
        if constexpr (NibDot<V>)
          qk_nib_tile<V, NR, W>(s + r0 * W + i * kTok, qq, D, tile, lane, NT == 1 ? n : kTok,
                                r0 == 0 ? ahead[i] : Ahead{});
        else
          qk_half_tile<V, NR, 8, W>(s + r0 * W + i * kTok, qq, D, tile, lane, NT == 1 ? n : kTok,
                                    r0 == 0 ? ahead[i] : Ahead{});
      }
    });
  }
  // Scores in units of the row's step to log2 units (or natural ones), plus q . zero.
  for (int64_t r = 0; r < rows; ++r) {
    const R step = V::set1(sc.qinv[r]), bias = V::set1(sc.bias[r]);
#pragma GCC unroll 4
    for (int j = 0; j < W; j += V::L) V::store(s + r * W + j, V::fma(V::load(s + r * W + j), step, bias));
  }
  if constexpr (NT == 1) {
    for (int64_t r = 0; r < rows; ++r)
      for (int j = n; j < kTok; ++j) s[r * kTok + j] = kNegInf;
    if (natural || block_needs_mask(a, len, t, n)) apply_block_mods(a, s, rows, hk, len, t, n);
    online_softmax<V>(sc, rows);
    if (lane > 0) to_tile_lanes(s, p, rows, lane, n);  // into the scores' buffer, free by now
    pv_nib_block<V, 1>(sc, c, lane > 0 ? s : p, rows, D, ph, slot, lane / 8, (lane + n - 1) / 8);
  } else {
    for (int64_t r0 = 0; r0 < rows; r0 += 4) online_softmax4<V, false, W>(sc, r0, s, p);
    pv_nib_block<V, NT>(sc, c, p, rows, D, ph, slot, 0, W / 8 - 1);
  }
}

// One block of n tokens starting at cache token t (page row ph, slot): scores, mods, softmax, P.V. qk: the rows'
// queries (with a key group's channel scales folded in, for KIVI; bias then holds q . zero).
template <class V, class C>
inline void run_block(const KernelArgs& a, const C& c, Rows<V>& sc, int64_t rows, int64_t hk, int64_t len,
                      int64_t t, int64_t ph, int64_t slot, int n, bool natural, const float* qk, const Ahead& ahead) {
  const int64_t D = a.shape.D;
  using Row = typename C::Row;
  Row vr[kTok];
  if constexpr (!QuadTiles<C> && !OctetTiles<C>)
    for (int j = 0; j < n; ++j) vr[j] = c.v_row(ph, slot + j);
  if constexpr (KeyTiles<C>) {
    const auto tile = c.k_tile(ph, slot);
    constexpr int TR = kKeyTileRows<V>;
    for (int64_t r0 = 0; r0 < rows; r0 += TR) {
      with_rows<TR>(int(min64(TR, rows - r0)), [&](auto nr) {
        qk_key_tile<V, decltype(nr)::value>(sc.s + r0 * kTok, sc.qk + r0 * D, sc.qb + r0 * D, D, tile.p, tile.lane,
                                            n, r0 == 0 ? ahead : Ahead{});
      });
    }
  } else if constexpr (QuadTiles<C> && QuadDot<V>) {
    const QuadTile tile = c.k_quads(ph, slot);
    for (int64_t r0 = 0; r0 < rows; r0 += kQuadRows) {
      with_rows<kQuadRows>(int(min64(kQuadRows, rows - r0)), [&](auto nr) {
        qk_quad_tile<V, decltype(nr)::value>(sc.s + r0 * kTok, sc.qq + r0 * 2 * D, sc.qcor + r0, D, tile.p, tile.lane,
                                             n, r0 == 0 ? ahead : Ahead{});
      });
    }
  } else if constexpr (QuadTiles<C> && QuadMadd<V>) {
    const QuadTile tile = c.k_quads(ph, slot);
    constexpr int TR = kKeyTileRows<V>;
    for (int64_t r0 = 0; r0 < rows; r0 += TR) {
      with_rows<TR>(int(min64(TR, rows - r0)), [&](auto nr) {
        qk_half_tile<V, decltype(nr)::value, 4>(sc.s + r0 * kTok, sc.qi + r0 * D, D, tile.p, tile.lane, n,
                                                r0 == 0 ? ahead : Ahead{});
      });
    }
  } else if constexpr ((QuadTiles<C> && QuadFloat<V>) || (OctetTiles<C> && OctetFloat<V>)) {
    // int8 without QuadDot or QuadMadd, int4 without NibDot or NibMadd (the scalar ISA): in float32.
    constexpr int E = OctetTiles<C> ? 8 : 4;
    QuadTile tile;
    if constexpr (OctetTiles<C>) tile = c.k_octets(ph, slot);
    else tile = c.k_quads(ph, slot);
    constexpr int TR = kKeyTileRows<V>;
    for (int64_t r0 = 0; r0 < rows; r0 += TR) {
      with_rows<TR>(int(min64(TR, rows - r0)), [&](auto nr) {
        qk_quad_float<V, decltype(nr)::value, E>(sc.s + r0 * kTok, qk + r0 * D, D, tile.p, tile.lane, n,
                                                 r0 == 0 ? ahead : Ahead{});
      });
    }
  } else {
    static_assert(!QuadTiles<C> && !OctetTiles<C>, "int8 / int4 tiles need QuadDot / NibDot, NibMadd or QuadFloat");
    Row kr[kTok];
    for (int j = 0; j < n; ++j) kr[j] = c.k_row(ph, slot + j);
    for (int64_t r0 = 0; r0 < rows; r0 += V::kQkRows) {
      with_rows<V::kQkRows>(int(min64(V::kQkRows, rows - r0)), [&](auto nr) {
        qk_tile<V, decltype(nr)::value>(sc.s + r0 * kTok, qk + r0 * D, D, kr, n, r0 == 0 ? ahead : Ahead{});
      });
    }
  }
  // Per-block loops run the full 16 tokens (padded operands; scores past n become -inf below) so they vectorize.
  constexpr bool kInt = kInt16Q<V, C>;
  if constexpr (C::kKFold == Fold::token || kInt) {  // the keys' per-token scales, the rows' steps
    typename V::R ks[kTok / V::L];
    if constexpr (C::kKFold == Fold::token) load_block<V>(c.k_scales(ph, slot), n, ks);
    else
      for (auto& x : ks) x = V::set1(1.0f);
    scale_rows<V, kTok>(sc.s, sc.s, rows, ks, kInt ? sc.qinv : nullptr);
  } else if constexpr (C::kKFold == Fold::channel_group) {
    for (int64_t r = 0; r < rows; ++r) {
      const typename V::R bias = V::set1(sc.bias[r]);
      for (int j = 0; j < kTok; j += V::L) V::store(sc.s + r * kTok + j, V::add(V::load(sc.s + r * kTok + j), bias));
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int j = n; j < kTok; ++j) sc.s[r * kTok + j] = kNegInf;
  if (natural || block_needs_mask(a, len, t, n)) apply_block_mods(a, sc.s, rows, hk, len, t, n);
  online_softmax<V, QuadTiles<C>>(sc, rows);

  // The weights P.V multiplies the codes by (P, or P times the values' per-token scales; KIVI: per value group).
  const float* w = sc.p;
  if constexpr (C::kVFold == Fold::token) {
    typename V::R vs[kTok / V::L];
    load_block<V>(c.v_scales(ph, slot), n, vs);
    scale_rows<V, kTok>(sc.w, sc.p, rows, vs, nullptr);
    w = sc.w;
  } else if constexpr (C::kVFold == Fold::channel_group) {
    // int4 without byte products (the scalar ISA; NibDot and NibMadd run run_nib): per value group g and row, the
    // weights P x the tile's scales of g by the tile's lanes (a window's first block shifted into place, zeros
    // around it, in the scores' buffer), and sum_j P_j zero_jg; then P.V per group on the nibble tile in float32
    // (pv_quad_float).
    static_assert(OctetTiles<C> && !NibDot<V> && !NibMadd<V>);
    constexpr int G = C::kGroup, NV = V::kPvVecs;
    static_assert(G % (NV * V::L) == 0);
    const int64_t groups = D / G;
    const int lane = int(slot % kTok);
    const float* pl = sc.p;
    if (lane > 0) {
      to_tile_lanes(sc.s, sc.p, rows, lane, n);
      pl = sc.s;
    }
    const uint16_t* vs = c.v_tile_scales(ph, slot);
    const uint16_t* vz = c.v_tile_zeros(ph, slot);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t r = 0; r < rows; ++r) {
        // In vectors (kTok % L == 0): a scalar sum of p zero is a dependent chain that keeps the loop scalar.
        float* wr = sc.w + (g * rows + r) * kTok;
        typename V::R z = V::zero();
        for (int j = 0; j < kTok; j += V::L) {
          const typename V::R p = V::load(pl + r * kTok + j);
          V::store(wr + j, V::mul(p, V::load_bf16(vs + g * kTok + j)));
          z = V::fma(p, V::load_bf16(vz + g * kTok + j), z);
        }
        sc.zs[g * rows + r] = V::hsum(z);
      }
    const uint8_t* tile = c.v_octets(ph, slot).p;
    const int g0 = lane / 8, g1 = (lane + n - 1) / 8;
    for (int64_t r0 = 0; r0 < rows; r0 += V::kPvRows) {
      with_rows<V::kPvRows>(int(min64(V::kPvRows, rows - r0)), [&](auto nr) {
        constexpr int NR = decltype(nr)::value;
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t at = g * rows + r0;
          for (int d0 = int(g * G); d0 < int((g + 1) * G); d0 += NV * V::L)
            pv_quad_float<V, NR, NV, 8>(sc.o + r0 * D, sc.w + at * kTok, sc.zs + at, sc.alpha + r0, D, d0, tile, g0,
                                        g1);
        }
      });
    }
    return;
  }
  if constexpr (QuadTiles<C>) {
    // The weights by the tile's lanes: a window's first block (lane > 0) shifted into place, zeros around it.
    const QuadTile tile = c.v_quads(ph, slot);
    if (tile.lane > 0) {
      float* shifted = sc.w + rows * kTok;  // the second value group's weights: unused without groups
      to_tile_lanes(shifted, w, rows, tile.lane, n);
      w = shifted;
    }
    const int g0 = tile.lane / 4, g1 = (tile.lane + n - 1) / 4;
    if constexpr (U8Dot<V, Row>) {
      pv_u8_block<V, kTok>(sc, w, rows, D, tile.p, g0, g1);
    } else if constexpr (I16Pv<V>) {
      pv_i16_block<V, kTok>(sc, w, rows, D, tile.p, g0, g1);
    } else {
      static_assert(QuadFloat<V>, "quad tiles need QuadDot or QuadFloat");
      constexpr int NV = V::kPvVecs;
      for (int64_t r0 = 0; r0 < rows; r0 += V::kPvRows) {
        with_rows<V::kPvRows>(int(min64(V::kPvRows, rows - r0)), [&](auto nr) {
          constexpr int NR = decltype(nr)::value;
          float* o = sc.o + r0 * D;
          const float* wr = w + r0 * kTok;
          int d0 = 0;
          for (; d0 + NV * V::L <= int(D); d0 += NV * V::L)
            pv_quad_float<V, NR, NV, 4>(o, wr, nullptr, sc.alpha + r0, D, d0, tile.p, g0, g1);
          for (; d0 < int(D); d0 += V::L)
            pv_quad_float<V, NR, 1, 4>(o, wr, nullptr, sc.alpha + r0, D, d0, tile.p, g0, g1);
        });
      }
    }
    return;
  }
  // bf16: the value lines ahead, requested by the first rows' P.V calls, `per` lines each (ValueLinesAhead).
  if constexpr (!OctetTiles<C>) {  // (int4 returned above)
    const ValueLinesAhead vla = KeyTiles<C> ? ValueLinesAhead(ahead, n) : ValueLinesAhead();
    constexpr int NV = V::kPvVecs;
    const int pv_calls = int(D) / (NV * V::L) + int(D) % (NV * V::L) / V::L;
    const int per = (vla.count() + pv_calls - 1) / pv_calls;
    for (int64_t r0 = 0; r0 < rows; r0 += V::kPvRows) {
      with_rows<V::kPvRows>(int(min64(V::kPvRows, rows - r0)), [&](auto nr) {
        constexpr int NR = decltype(nr)::value;
        float* o = sc.o + r0 * D;
        const float* al = sc.alpha + r0;
        const float* wr = w + r0 * kTok;
        const ValueLinesAhead* pf = r0 == 0 && vla.count() > 0 ? &vla : nullptr;
        auto share = [&](int call) { return int(min64(int64_t(call) * per, vla.count())); };
        int d0 = 0, call = 0;
        for (; d0 + NV * V::L <= int(D); d0 += NV * V::L, ++call)
          pv_tile<V, NR, NV>(o, wr, al, D, d0, vr, n, pf, share(call), share(call + 1));
        for (; d0 < int(D); d0 += V::L, ++call)
          pv_tile<V, NR, 1>(o, wr, al, D, d0, vr, n, pf, share(call), share(call + 1));
      });
    }
  }
}

// NT whole tiles of one page part (NT kTok tokens from a multiple of that, no mask, no score mod) of an int8 cache on
// AVX-512 (QuadDot, U8Dot) or AVX2 (QuadMadd, I16Pv): one softmax step, one weight encoding and one P.V pass (one O
// update) for all, where run_block takes one tile at a time; the rows ahead are prefetched one group ahead. Groups
// start at multiples of NT kTok tokens and end where run_block's blocks would, so a contiguous cache and pages of NT
// kTok tokens or more still run the same steps in the same order (smaller pages take single blocks: the same result to
// rounding, not to the bit). The group's scores, probabilities and weights live in the value groups' weight buffer
// (sc.w: 8 kTok floats a row, 2 NT kTok used).
// Measured (driver, 32:8, hd128, alternated): pairs, 1k in cache on one thread, int8_head 0.070-0.072 -> 0.054-0.057
// ms, int8_token 0.072-0.080 -> 0.054-0.059; at 32k on two threads their prefetch one block ahead (the pair's own
// second tile, read right after the first) left the read fraction at 0.59-0.73 in the faster memory state, one pair
// ahead 0.70-0.82 (1.05-1.19 against 1.20-1.30 ms). Four tiles ran 8% faster in cache (0.051-0.053 ms) but read at
// 0.58-0.76 (fast) and 0.77-0.86 (slow state) against the pairs' 0.72-0.78 and 0.86-0.95, prefetched four or two
// tiles ahead alike: pairs it is. On AVX2 (Zen 3, 1k in cache, one thread) pairs took int8_head 0.226-0.227 ->
// 0.216-0.217 ms, int8_token 0.228-0.233 -> 0.221-0.222.
inline constexpr int kGroupTiles = 2;

template <class V, int NT, class C>
inline void run_tiles(const KernelArgs& a, const C& c, Rows<V>& sc, int64_t rows, int64_t ph, int64_t slot,
                      const Ahead* ahead) {
  using R = typename V::R;
  constexpr int W = NT * kTok, NW = W / V::L;
  static_assert(Rows<V>::kMaxGroups * kTok >= 2 * W);
  const int64_t D = a.shape.D;
  float* const s = sc.w;
  float* const p = s + rows * W;
  float* const wv = s;  // the weights where the scores were
  const QuadTile kt = c.k_quads(ph, slot);
  if constexpr (QuadDot<V>) {
    for (int64_t r0 = 0; r0 < rows; r0 += kQuadRows) {
      with_rows<kQuadRows>(int(min64(kQuadRows, rows - r0)), [&](auto nr) {
        constexpr int NR = decltype(nr)::value;
        const int8_t* qq = sc.qq + r0 * 2 * D;
#pragma GCC unroll 4
        for (int i = 0; i < NT; ++i)
          qk_quad_tile<V, NR, W>(s + r0 * W + i * kTok, qq, sc.qcor + r0, D, kt.p + i * kTok * D, 0, kTok,
                                 r0 == 0 ? ahead[i] : Ahead{});
      });
    }
  } else {
    constexpr int TR = kKeyTileRows<V>;
    for (int64_t r0 = 0; r0 < rows; r0 += TR) {
      with_rows<TR>(int(min64(TR, rows - r0)), [&](auto nr) {
        constexpr int NR = decltype(nr)::value;
#pragma GCC unroll 4
        for (int i = 0; i < NT; ++i)
          qk_half_tile<V, NR, 4, W>(s + r0 * W + i * kTok, sc.qi + r0 * D, D, kt.p + i * kTok * D, 0, kTok,
                                    r0 == 0 ? ahead[i] : Ahead{});
      });
    }
  }
  // Scores in units of the row's step (and, per token, of the key's scale) to log2 units. A group's tokens are
  // consecutive slots of one page part, their scales consecutive floats.
  R ks[NW];
#pragma GCC unroll 8
  for (int i = 0; i < NW; ++i) {
    if constexpr (C::kKFold == Fold::token) ks[i] = V::load(c.k_scales(ph, slot) + i * V::L);
    else ks[i] = V::set1(1.0f);
  }
  scale_rows<V, W>(s, s, rows, ks, sc.qinv);
  for (int64_t r0 = 0; r0 < rows; r0 += 4) online_softmax4<V, true, W>(sc, r0, s, p);
  const float* w = p;
  if constexpr (C::kVFold == Fold::token) {
    R vs[NW];
#pragma GCC unroll 8
    for (int i = 0; i < NW; ++i) vs[i] = V::load(c.v_scales(ph, slot) + i * V::L);
    scale_rows<V, W>(wv, p, rows, vs, nullptr);
    w = wv;
  }
  if constexpr (QuadDot<V>) pv_u8_block<V, W>(sc, w, rows, D, c.v_quads(ph, slot).p, 0, W / 4 - 1);
  else pv_i16_block<V, W>(sc, w, rows, D, c.v_quads(ph, slot).p, 0, W / 4 - 1);
}

// One kv head's share of a task: its rows' state in a Rows view, its pass over the task's tokens in page-sized
// parts (tokens), then its output (finish). run_task interleaves the heads of a group page by page.
template <class V, class C>
struct HeadPass {
  using Row = typename C::Row;  // the codec's rows (K and V), where its keys and values are rows
  // Pair-order rows (bf16 and int4 caches; V::kPvVecs == 2 or L == 1, so P.V's tiles are pair blocks): Q packed in
  // pair order, O accumulated in it and written back in the natural order.
  static constexpr bool kPaired = PairRow<Row> && (V::kPvVecs == 2 || V::L == 1);
  static_assert(!PairRow<Row> || kPaired, "pair-order rows need P.V tiles of one pair block");

  const KernelArgs& a;
  const C& c;
  Rows<V> sc;
  const int64_t b, hk, split;
  const DecodeShape& sh = a.shape;
  const int64_t D = sh.D, group = sh.H / sh.H_kv, rows = group * sh.q_len, H_kv = sh.H_kv;
  const int64_t len = a.seqs.lengths[b], lo = first_visible_token(a, len);
  const int64_t chunk = ((len - lo + a.splits - 1) / a.splits + kTok - 1) / kTok * kTok;
  const int64_t t0 = lo + split * chunk, t1 = min64(len, t0 + chunk);
  const int64_t qrow0 = (b * sh.H + hk * group) * sh.q_len;  // the group's rows are consecutive in Q and O
  const bool natural = a.softcap != 0.0f || a.alibi != nullptr;
  const float qk_mul = a.scale * c.k_fold(hk) * (natural ? 1.0f : kLog2e);
  const int64_t ps = a.cache.page_size;
  const int32_t* table = a.seqs.block_table + b * a.seqs.pages_per_seq;
  int64_t key_group = -1;  // KIVI: the key group whose channel scales are folded into sc.qk

  HeadPass(const KernelArgs& a_, const C& c_, const Rows<V>& rows_, int64_t b_, int64_t hk_, int64_t split_)
      : a(a_), c(c_), sc(rows_), b(b_), hk(hk_), split(split_) {}
  int64_t element(int64_t pos) const { return kPaired ? pair_order<V>(pos, D) : pos; }

  // Q packed and scaled, the running state cleared.
  void start() {
    for (int64_t r = 0; r < rows; ++r) {
      float* dst = sc.qf + r * D;
      if (a.dtype == DType::f32) {
        const float* src = static_cast<const float*>(a.q) + (qrow0 + r) * D;
        for (int64_t d = 0; d < D; ++d) dst[d] = src[element(d)] * qk_mul;
      } else {
        const uint16_t* src = static_cast<const uint16_t*>(a.q) + (qrow0 + r) * D;
        for (int64_t d = 0; d < D; ++d) dst[d] = bf16_bits_to_float(src[element(d)]) * qk_mul;
      }
      if constexpr (KeyTiles<C> && Bf16Dot<V>) {
        uint16_t* qb = sc.qb + r * D;
        for (int64_t d = 0; d < D; ++d) qb[element(d)] = float_to_bf16_bits(dst[d]);  // back to natural order
      } else if constexpr (KeyTiles<C>) {
        float* qn = sc.qk + r * D;  // qk_key_tile's float32 Q, natural order
        for (int64_t d = 0; d < D; ++d) qn[element(d)] = dst[d];
      }
      if constexpr (kInt16Q<V, C>) {  // int16 codes (natural order: int8 rows are never paired; D % L == 0)
        constexpr bool kBytes = I16Dot<V, Row>;
        typename V::R mx = V::zero();
        for (int64_t d = 0; d < D; d += V::L) mx = max_abs<V>(mx, V::load(dst + d));
        int16_t* qi = sc.qi + r * D;
        sc.qinv[r] = encode_i16<V>(dst, D, V::hmax(mx), qi, kBytes ? kQuadMaxCode : 32767.0f);
        if constexpr (kBytes) {  // split into bytes, c = 256 hi + lo, for qk_quad_tile
          int8_t* qq = sc.qq + r * 2 * D;
          int32_t sum = 0;
          for (int64_t d = 0; d < D; ++d) {
            const int32_t hi = (int32_t(qi[d]) + 128) >> 8;
            qq[d] = int8_t(hi);
            qq[D + d] = int8_t(qi[d] - 256 * hi);
            sum += qi[d];
          }
          sc.qcor[r] = 128 * sum;
        } else {  // each quad as 0 2 1 3, for qk_half_tile
          for (int64_t d = 0; d < D; d += 4) std::swap(qi[d + 1], qi[d + 2]);
        }
      }
      sc.m[r] = kNegInf;
      sc.l[r] = 0.0f;
    }
    for (int64_t i = 0; i < rows * D; ++i) sc.o[i] = 0.0f;
  }

  // Tokens [from, to) of the task's chunk [t0, t1), in blocks. The rows read next after `to`, in the task's order,
  // are those of page row next_ph from slot next_slot (another head's part of this page, or the next page), or
  // none (next_ph < 0): the prefetch (Ahead) follows the order the task reads, not the head's own sequence.
  void tokens(int64_t from, int64_t to, int64_t next_ph, int64_t next_slot) {
    for (int64_t t = from; t < to;) {
      // Blocks end at multiples of 16 tokens and at page ends (multiples of 16 for every page size the tests use),
      // so a paged and a contiguous cache run the same blocks in the same order: bit-identical outputs.
      const int64_t slot = t % ps;
      const int n = int(min64(min64(kTok - t % kTok, ps - slot), to - t));
      const int64_t ph = int64_t(table[t / ps]) * H_kv + hk;
      // The rows ahead of the block of n tokens from t (slot s of page row ph).
      auto ahead_of = [&](int64_t t, int64_t s, int n) {
        Ahead ahead;
        // Keys j < split have their row ahead in this part; the others in the next one.
        const int64_t split = to - t - kAheadTokens;
        if (const int64_t keys = next_ph >= 0 ? n : min64(n, split - 1); keys > 0) {
          const int64_t rb = a.cache.row_bytes;
          ahead.k = reinterpret_cast<const char*>(a.cache.k);
          ahead.v = reinterpret_cast<const char*>(a.cache.v);
          ahead.row_bytes = int(rb);
          ahead.keys = int(keys);
          ahead.split = int(split < 0 ? 0 : min64(split, keys));
          ahead.here = (ph * ps + s + kAheadTokens) * rb;
          if (split < keys) ahead.next = (next_ph * ps + next_slot + t + kAheadTokens - to) * rb;
          if (a.cache.format.scale == KvScale::per_token) {
            ahead.ks = reinterpret_cast<const char*>(a.cache.k_scale);
            ahead.vs = reinterpret_cast<const char*>(a.cache.v_scale);
            ahead.scale_at = (ahead.split > 0 ? ahead.here : ahead.next) / rb * int64_t(sizeof(float));
          }
        }
        return ahead;
      };
      if constexpr (C::kKFold == Fold::channel_group) fold_key_group(ph, slot);
      // kGroupTiles whole tiles from a multiple of their tokens within this part, no mask, no score mod: run_tiles
      // (int8) or run_nib (int4) on the 8-bit dot products, their rows ahead one group ahead.
      constexpr int NT = kGroupTiles;
      auto group_of_tiles = [&](Ahead* ahead) {
        if (t % (NT * kTok) != 0 || t + NT * kTok > to || slot + NT * kTok > ps || rows % 4 != 0 || natural ||
            block_needs_mask(a, len, t, NT * kTok))
          return false;
        for (int i = 0; i < NT; ++i) {
          const int64_t d = (NT + i) * kTok - kAheadTokens;
          ahead[i] = ahead_of(t + d, slot + d, kTok);
        }
        return true;
      };
      if constexpr (QuadTiles<C> && (U8Dot<V, Row> || (QuadMadd<V> && I16Pv<V>))) {
        if (Ahead ahead[NT]; group_of_tiles(ahead)) {
          run_tiles<V, NT>(a, c, sc, rows, ph, slot, ahead);
          t += NT * kTok;
          continue;
        }
      }
      if constexpr (OctetTiles<C> && (NibDot<V> || NibMadd<V>)) {
        if (Ahead ahead[NT]; group_of_tiles(ahead)) {
          run_nib<V, NT>(a, c, sc, rows, hk, len, t, ph, slot, NT * kTok, natural, ahead);
          t += NT * kTok;
          continue;
        }
        const Ahead ahead = ahead_of(t, slot, n);
        run_nib<V, 1>(a, c, sc, rows, hk, len, t, ph, slot, n, natural, &ahead);
      } else {
        const Ahead ahead = ahead_of(t, slot, n);
        run_block<V>(a, c, sc, rows, hk, len, t, ph, slot, n, natural,
                     C::kKFold == Fold::channel_group ? sc.qk : sc.qf, ahead);
      }
      t += n;
    }
  }

  // KIVI, once per key group (every G / 16 blocks): q' = q * the group's channel scales (sc.qk; NibDot: as codes on
  // 15 bits split into two bytes, sc.qq, step qinv), bias = q . the group's zeros. Four rows at once where V sums
  // and maxes four vectors at once.
  void fold_key_group(int64_t ph, int64_t slot)
    requires(C::kKFold == Fold::channel_group)
  {
    const int64_t g = c.key_group(ph, slot);
    if (g == key_group) return;
    key_group = g;
    const uint16_t* ks = c.k_group_scale(g);
    const uint16_t* kz = c.k_group_zero(g);
    if constexpr (NibDot<V> || NibMadd<V>) {
      // Everything the loops use in locals: the byte stores may alias any member, which GCC then reloads after
      // each. q' is computed twice (for its largest magnitude, then for its codes) rather than stored between.
      const int64_t D = this->D, R = rows;
      const float* const qf = sc.qf;
      int8_t* const qq = sc.qq;
      float* const bias_rows = sc.bias;
      float* const qinv = sc.qinv;
      alignas(64) float scale[256], zero[256];
      alignas(64) int8_t scratch[256];  // the codes of rows past the last (a group of rows not a multiple of 4)
      widen_group<V>(ks, kz, D, scale, zero);
      // Four rows at once, the rows innermost: four independent chains per step (row by row, each row's D / L
      // steps were one dependent chain of fma / max latencies, and the fold took ~0.25 of 1.2 ms at 32k).
      for (int64_t r0 = 0; r0 < R; r0 += 4) {
        const int m = int(min64(4, R - r0));
        const float* q[4];
        for (int i = 0; i < 4; ++i) q[i] = qf + (r0 + (i < m ? i : 0)) * D;  // rows past m repeat the first
        typename V::R bias[4], amax[4], residue[4];
        alignas(16) float b4[4], mx[4], res4[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) bias[i] = amax[i] = residue[i] = V::zero();
        for (int64_t d = 0; d < D; d += V::L) {
          const typename V::R sd = V::load(scale + d), zd = V::load(zero + d);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            const typename V::R x = V::load(q[i] + d);
            bias[i] = V::fma(x, zd, bias[i]);
            amax[i] = max_abs<V>(amax[i], V::mul(x, sd));
          }
        }
        V::hsum4(bias[0], bias[1], bias[2], bias[3], b4);
        V::hmax4(amax[0], amax[1], amax[2], amax[3], mx);
        typename V::R inv[4];
        int8_t* out[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
          inv[i] = V::set1(nib_code_inv(mx[i]));
          out[i] = i < m ? qq + (r0 + i) * D : scratch;
        }
        for (int64_t d = 0; d < D; d += V::L) {
          const typename V::R sd = V::load(scale + d);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            const typename V::R y = V::mul(V::mul(V::load(q[i] + d), sd), inv[i]);
            residue[i] = V::add(residue[i], V::sub(y, V::store_i8(out[i] + d, y)));
          }
        }
        V::hsum4(residue[0], residue[1], residue[2], residue[3], res4);
        for (int i = 0; i < m; ++i) {
          qinv[r0 + i] = mx[i] / kNibQMaxCode;
          bias_rows[r0 + i] = b4[i] + kNibMidCode * qinv[r0 + i] * res4[i];
        }
      }
    } else {
      // In vectors (D % L == 0): a scalar q . zero is one dependent chain of D adds, per row and key group.
      for (int64_t r = 0; r < rows; ++r) {
        typename V::R bias = V::zero();
        for (int64_t d = 0; d < D; d += V::L) {
          const typename V::R q = V::load(sc.qf + r * D + d);
          V::store(sc.qk + r * D + d, V::mul(q, V::load_bf16(ks + d)));
          bias = V::fma(q, V::load_bf16(kz + d), bias);
        }
        sc.bias[r] = V::hsum(bias);
      }
    }
  }

  // The normalized output (one split) or the partials.
  void finish() {
    const float v_fold = c.v_fold(hk);
    if (a.splits == 1) {
      for (int64_t r = 0; r < rows; ++r) {
        const float inv = sc.l[r] > 0.0f ? v_fold / sc.l[r] : 0.0f;
        const float* acc = sc.o + r * D;
        if (a.dtype == DType::f32) {
          float* out = static_cast<float*>(a.o) + (qrow0 + r) * D;
          for (int64_t d = 0; d < D; ++d) out[element(d)] = acc[d] * inv;
        } else {
          uint16_t* out = static_cast<uint16_t*>(a.o) + (qrow0 + r) * D;
          for (int64_t d = 0; d < D; ++d) out[element(d)] = float_to_bf16_bits(acc[d] * inv);
        }
      }
      return;
    }
    float* part = a.partial + ((b * H_kv + hk) * a.splits + split) * rows * (D + 2);
    for (int64_t r = 0; r < rows; ++r) {
      float* dst = part + r * (D + 2);
      for (int64_t d = 0; d < D; ++d) dst[element(d)] = sc.o[r * D + d] * v_fold;
      dst[D] = sc.m[r];
      dst[D + 1] = sc.l[r];
    }
  }
};

// Task (b, head group hg, split): the group's heads_per_task kv heads over their chunk of visible tokens, page by
// page: within a page every head's rows in turn, the prefetch following that order (HeadPass::tokens). A cache's
// pages hold their kv heads side by side ((page, H_kv, page_size, D)), so a task of several heads reads each page as
// one run of heads_per_task x page_size rows, where one head alone reads page_size rows and jumps. Why (Zen 5 guest,
// 32k, 32:8, pages of 64 shuffled, bf16, paired against a contiguous cache of the same data): one head per task ran
// at 1.22-1.55x contiguous (a plain read of shuffled 16 KiB runs goes at ~70% of a sequential one here, 64 KiB runs
// at ~95%, and prefetching further ahead or to L2 did not help); with the heads of a page read in one run but each
// head prefetching its own next page, 1.39x; with the prefetch in the order read, 1.17x on one thread (8 heads),
// and on two, 4 heads per task: 1.13-1.21x bf16 (8 heads in 4 chunks: 1.08-1.17x, but the merge cost short
// contexts 45%). In cache the paged kernel costs ~4% (1k-2k tokens). A contiguous cache is one page: each head's
// whole chunk in turn, as before.
template <class V, class C>
void run_task(const KernelArgs& a, const C& c, Scratch<V>& sc, int64_t b, int64_t hg, int64_t split) {
  const int64_t nh = a.heads_per_task, rows = a.shape.H / a.shape.H_kv * a.shape.q_len, D = a.shape.D;
  std::optional<HeadPass<V, C>> heads[kMaxHeadsPerTask];
  for (int64_t i = 0; i < nh; ++i) {
    heads[i].emplace(a, c, sc.head(i, rows, D), b, hg * nh + i, split);
    heads[i]->start();
  }
  const int64_t ps = a.cache.page_size, t0 = heads[0]->t0, t1 = heads[0]->t1, H_kv = a.shape.H_kv;
  const int32_t* table = a.seqs.block_table + b * a.seqs.pages_per_seq;
  for (int64_t t = t0; t < t1;) {
    const int64_t end = min64(t1, (t / ps + 1) * ps);  // this page's part of the chunk
    const int64_t page_row = int64_t(table[t / ps]) * H_kv;
    for (int64_t i = 0; i < nh; ++i) {
      // What the task reads next: the next head's part of this page, else the next page's first head.
      if (i + 1 < nh) heads[i]->tokens(t, end, page_row + heads[i + 1]->hk, t % ps);
      else if (end < t1) heads[i]->tokens(t, end, int64_t(table[end / ps]) * H_kv + heads[0]->hk, 0);
      else heads[i]->tokens(t, end, -1, 0);
    }
    t = end;
  }
  for (int64_t i = 0; i < nh; ++i) heads[i]->finish();
}

// Row r of kv head hk of sequence b from its splits' partials (log-sum-exp merge).
inline void merge_row(const KernelArgs& a, int64_t b, int64_t hk, int64_t r) {
  const DecodeShape& sh = a.shape;
  const int64_t D = sh.D, group = sh.H / sh.H_kv, rows = group * sh.q_len, S = a.splits;
  const float* base = a.partial + (b * sh.H_kv + hk) * S * rows * (D + 2) + r * (D + 2);
  const int64_t stride = rows * (D + 2);
  float M = kNegInf;
  for (int64_t s = 0; s < S; ++s) M = maxf(M, base[s * stride + D]);
  float acc[256];
  for (int64_t d = 0; d < D; ++d) acc[d] = 0.0f;
  float L = 0.0f;
  if (M != kNegInf) {
    for (int64_t s = 0; s < S; ++s) {
      const float* p = base + s * stride;
      if (p[D] == kNegInf) continue;
      const float w = std::exp2(p[D] - M);
      L += w * p[D + 1];
      for (int64_t d = 0; d < D; ++d) acc[d] += w * p[d];
    }
  }
  const float inv = L > 0.0f ? 1.0f / L : 0.0f;
  const int64_t orow = (b * sh.H + hk * group) * sh.q_len + r;
  if (a.dtype == DType::f32) {
    float* out = static_cast<float*>(a.o) + orow * D;
    for (int64_t d = 0; d < D; ++d) out[d] = acc[d] * inv;
  } else {
    uint16_t* out = static_cast<uint16_t*>(a.o) + orow * D;
    for (int64_t d = 0; d < D; ++d) out[d] = float_to_bf16_bits(acc[d] * inv);
  }
}

template <class V, class C>
void run_all(const KernelArgs& a) {
  const C c(a.cache);
  const DecodeShape& sh = a.shape;
  const int64_t rows = sh.H / sh.H_kv * sh.q_len, head_groups = sh.H_kv / a.heads_per_task;
  const int64_t tasks = sh.B * head_groups * a.splits;
#pragma omp parallel num_threads(a.num_threads)
  {
    static thread_local Scratch<V> sc;
    sc.reserve(rows * a.heads_per_task, sh.D);
    // Splits of one (b, head group) are consecutive, so a dynamic schedule hands them to different threads.
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < tasks; ++i) run_task<V>(a, c, sc, i / a.splits / head_groups, i / a.splits % head_groups,
                                                    i % a.splits);
    if (a.splits > 1) {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < sh.B * sh.H_kv * rows; ++i) merge_row(a, i / rows / sh.H_kv, i / rows % sh.H_kv, i % rows);
    }
  }
}

// The format's codec, then the kernel.
template <class V>
void decode(const KernelArgs& a) {
  const KvFormat& f = a.cache.format;
  switch (f.dtype) {
    case KvDtype::bf16: run_all<V, Bf16Codec<V>>(a); return;
    case KvDtype::int8:
      if (f.scale == KvScale::per_token) run_all<V, Int8TokenCodec<V>>(a);
      else run_all<V, StaticScaleCodec<V, false>>(a);
      return;
    case KvDtype::fp8_e4m3: run_all<V, StaticScaleCodec<V, true>>(a); return;
    case KvDtype::int4_kivi:
      if (f.group == 32) run_all<V, Int4KiviCodec<V, 32>>(a);
      else run_all<V, Int4KiviCodec<V, 64>>(a);
      return;
  }
}

}  // namespace
}  // namespace talklab::cpu::decode::core
