// KvCache: format names, bytes per token, what a bad format or table is told, the page table's shape, the pools'
// alignment; and the quantizers dequantized by hand against the stored values (the kernel-independent half of the
// SQNR floors).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "kernels/cpu/decode/kv_cache.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/int_quant.h"
#include "tests/message_of.h"

namespace talklab::cpu::decode {
namespace {

TEST(KvCache, FormatNamesRoundTrip) {
  for (const char* n : {"bf16", "int8_token", "int8_head", "fp8_tensor", "fp8_head", "int4_g32", "int4_g64"})
    EXPECT_EQ(format_name(format_from_name(n)), n);
  EXPECT_NE(test::message_of([] { format_from_name("int3"); }).find("unknown KV format 'int3'"), std::string::npos);
}

TEST(KvCache, BytesPerToken) {
  EXPECT_EQ(kv_bytes_per_token(format_from_name("bf16"), 128), 512.0);
  EXPECT_EQ(kv_bytes_per_token(format_from_name("int8_token"), 128), 264.0);
  EXPECT_EQ(kv_bytes_per_token(format_from_name("fp8_head"), 128), 256.0);
  EXPECT_EQ(kv_bytes_per_token(format_from_name("int4_g32"), 128), 160.0);  // 3.2x fewer than bf16
  EXPECT_EQ(kv_bytes_per_token(format_from_name("int4_g64"), 128), 144.0);
}

TEST(KvCache, BadFormatsNameTheValue) {
  EXPECT_NE(test::message_of([] { KvCache({KvDtype::int4_kivi, KvScale::per_group, 48}, 1, 64, 1, 128); })
                .find("group must be 32 or 64, got 48"),
            std::string::npos);
  EXPECT_NE(test::message_of([] { KvCache({KvDtype::int4_kivi, KvScale::per_group, 32}, 1, 16, 1, 128); })
                .find("page_size % group == 0 (page 16, group 32)"),
            std::string::npos);
  EXPECT_NE(test::message_of([] { KvCache({KvDtype::bf16, KvScale::none, 0}, 1, 16, 1, 72); })
                .find("multiple of 16 in [16, 256], got 72"),
            std::string::npos);
  EXPECT_NE(test::message_of([] { KvCache({KvDtype::fp8_e4m3, KvScale::per_token, 0}, 1, 16, 1, 64); })
                .find("scale granularity"),
            std::string::npos);
  EXPECT_NE(test::message_of([] { KvCache({KvDtype::bf16, KvScale::none, 0}, 1, 24, 1, 64); })
                .find("bf16 needs page_size % 16 == 0 (its key tiles; page 24)"),
            std::string::npos);
  EXPECT_NE(test::message_of([] { KvCache({KvDtype::int8, KvScale::per_token, 0}, 1, 40, 1, 64); })
                .find("int8_token needs page_size % 16 == 0 (its key tiles; page 40)"),
            std::string::npos);
}

// bf16 keys are tiles of 16 tokens (kv_cache.h): channel pair c of a tile's tokens is one 64-byte line, token t's
// pair in its 32-bit lane t; values stay token rows. Two pages of 32 slots, 2 heads, a length ending mid-tile, the
// pages swapped in the pool, every stored element found where the layout says.
TEST(KvCache, Bf16KeysAreTilesOf16Tokens) {
  const int64_t S = 45, D = 80, H = 2, ps = 32;
  std::vector<float> k(size_t(H * S * D)), v(k.size());
  for (size_t i = 0; i < k.size(); ++i) {  // exact in bf16: small integers
    k[i] = float(int(i % 251) - 125);
    v[i] = float(int(i % 241) - 120);
  }
  PageTable t = make_page_table(1, S, ps, 0);
  std::swap(t.block_table[0], t.block_table[1]);
  KvCache c(format_from_name("bf16"), t.num_pages, ps, H, D);
  const std::vector<int32_t> len = {int32_t(S)};
  c.fill(t.seqs(len), k.data(), v.data(), S);
  const KvCacheView w = c.view();
  const auto* kb = reinterpret_cast<const uint16_t*>(w.k);
  const auto* vb = reinterpret_cast<const uint16_t*>(w.v);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t tok = 0; tok < S; ++tok) {
      const int64_t page = t.block_table[size_t(tok / ps)], slot = tok % ps, lane = slot % kKeyTile;
      const int64_t tile = ((page * H + h) * ps + slot - lane) * D;
      for (int64_t d = 0; d < D; ++d) {
        const size_t at = size_t((h * S + tok) * D + d);
        const uint16_t key = kb[tile + (d / 2 * kKeyTile + lane) * 2 + d % 2];
        const uint16_t value = vb[((page * H + h) * ps + slot) * D + d];
        ASSERT_EQ(quant::bf16_to_float(key), k[at]) << h << " " << tok << " " << d;
        ASSERT_EQ(quant::bf16_to_float(value), v[at]) << h << " " << tok << " " << d;
      }
    }
}

// int8 keys and values are quad tiles of 16 tokens (kv_cache.h): channel quad c of a tile's keys is one 64-byte
// line, token t's 4 codes in its 32-bit lane t; 16 channels of a token quad's values are one line, channel d's 4
// codes in its lane d % 16. The same pages, heads and length as above, every code found where the layout says and
// equal to the quantizer's code under the stored per-token scale.
TEST(KvCache, Int8KeysAndValuesAreQuadTiles) {
  const int64_t S = 45, D = 80, H = 2, ps = 32;
  std::vector<float> k(size_t(H * S * D)), v(k.size());
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = normal(rng);
    v[i] = normal(rng);
  }
  PageTable t = make_page_table(1, S, ps, 0);
  std::swap(t.block_table[0], t.block_table[1]);
  KvCache c(format_from_name("int8_token"), t.num_pages, ps, H, D);
  const std::vector<int32_t> len = {int32_t(S)};
  c.fill(t.seqs(len), k.data(), v.data(), S);
  const KvCacheView w = c.view();
  const auto* kb = reinterpret_cast<const int8_t*>(w.k);
  const auto* vb = reinterpret_cast<const int8_t*>(w.v);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t tok = 0; tok < S; ++tok) {
      const int64_t page = t.block_table[size_t(tok / ps)], slot = tok % ps, lane = slot % kKeyTile;
      const int64_t row = (page * H + h) * ps + slot, tile = (row - lane) * D;
      for (int64_t d = 0; d < D; ++d) {
        const size_t at = size_t((h * S + tok) * D + d);
        const int8_t key = kb[tile + (d / 4 * kKeyTile + lane) * 4 + d % 4];
        ASSERT_EQ(key, quant::quantize_int8(k[at], w.k_scale[row])) << h << " " << tok << " " << d;
        const int8_t value = vb[tile + (lane / 4 * D + d) * 4 + lane % 4];
        ASSERT_EQ(value, quant::quantize_int8(v[at], w.v_scale[row])) << h << " " << tok << " " << d;
      }
    }
}

TEST(KvCache, PageTableShapes) {
  const PageTable c = make_page_table(3, 1000, 0, 0, 32);
  EXPECT_EQ(c.page_size, 1024);
  EXPECT_EQ(c.pages_per_seq, 1);
  const PageTable p = make_page_table(3, 1000, 64, 42);
  EXPECT_EQ(p.pages_per_seq, 16);
  EXPECT_EQ(p.num_pages, 48);
  const std::set<int32_t> distinct(p.block_table.begin(), p.block_table.end());
  EXPECT_EQ(distinct.size(), 48u);  // a permutation
  EXPECT_FALSE(std::is_sorted(p.block_table.begin(), p.block_table.end()));
}

// The code pools start a cache line (a small pool) and a 2 MiB huge page (a pool of 2 MiB or more, which the
// allocator advises as one): a row read never splits a cache line it need not. std::vector's 16 bytes failed it.
TEST(KvCache, PoolsAreAligned) {
  for (const int64_t pages : {int64_t(1), int64_t(1024)}) {  // K pool: 8 KiB, 8 MiB (pages x 2 heads x 16 x 256 B)
    KvCache c(format_from_name("bf16"), pages, 16, 2, 128);
    const KvCacheView v = c.view();
    const uintptr_t want = pages * 2 * 16 * 256 >= (int64_t(2) << 20) ? (uintptr_t(2) << 20) : 64;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.k) % want, 0u) << pages << " pages";
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.v) % want, 0u) << pages << " pages";
  }
  // int8's per-token scales: a tile's 16 are one cache line (the kernel prefetches one line per tile and stream).
  for (const int64_t pages : {int64_t(1), int64_t(1024)}) {  // scales: 64 floats, 64 Ki floats
    KvCache c(format_from_name("int8_token"), pages, 32, 2, 64);
    const KvCacheView v = c.view();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.k_scale) % 64, 0u) << pages << " pages";
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.v_scale) % 64, 0u) << pages << " pages";
  }
}

// int4 KIVI: every stored value decodes within half a step of the original (per channel for keys, per token for
// values), plus the zero point's bf16 rounding (2^-9 relative; the codes are chosen against the rounded zero, so
// at most about that much survives at the clamped ends).
TEST(KvCache, Int4KiviWithinHalfAStep) {
  const int64_t S = 70, D = 64, G = 32;
  std::vector<float> k(size_t(S * D)), v(size_t(S * D));
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = std::sin(0.37f * float(i)) * (1.0f + float(i % D) / 8.0f);  // channel-dependent ranges, as keys have
    v[i] = std::cos(0.11f * float(i) + 1.0f);
  }
  const PageTable t = make_page_table(1, S, 64, 0);
  const std::vector<int32_t> len = {int32_t(S)};
  KvCache c({KvDtype::int4_kivi, KvScale::per_group, int(G)}, t.num_pages, 64, 1, D);
  c.fill(t.seqs(len), k.data(), v.data(), S);
  const KvCacheView w = c.view();
  auto bf = [](uint16_t b) {
    const uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  for (int64_t tok = 0; tok < S; ++tok) {
    const int64_t page = t.block_table[size_t(tok / 64)], slot = tok % 64;
    for (int64_t d = 0; d < D; ++d) {
      // The nibble tiles (kv_cache.h): keys by channel octets, values by token octets, 16 tokens a tile.
      const int64_t lane = slot % 16, tile = (page * 64 + slot - lane) * D / 2;
      const int kc = (w.k[tile + (d / 8 * 16 + lane) * 4 + d % 4] >> (4 * (d % 8 / 4))) & 0xF;
      const int64_t kq = (page * (64 / G) + slot / G) * D + d;
      const float kx = float(kc) * bf(w.k_qs[kq]) + bf(w.k_qz[kq]);
      EXPECT_LE(std::fabs(kx - k[size_t(tok * D + d)]), 0.5f * bf(w.k_qs[kq]) * 1.01f + std::fabs(bf(w.k_qz[kq])) * 4e-3f) << tok << "," << d;
      const int vc = (w.v[tile + (lane / 8 * D + d) * 4 + lane % 8 % 4] >> (4 * (lane % 8 / 4))) & 0xF;
      const int64_t vq = (page * 64 + slot - lane) * (D / G) + d / G * 16 + lane;  // per tile: (D / G, 16)
      const float vx = float(vc) * bf(w.v_qs[vq]) + bf(w.v_qz[vq]);
      EXPECT_LE(std::fabs(vx - v[size_t(tok * D + d)]), 0.5f * bf(w.v_qs[vq]) * 1.01f + std::fabs(bf(w.v_qz[vq])) * 4e-3f) << tok << "," << d;
    }
  }
}

}  // namespace
}  // namespace talklab::cpu::decode
