// BlockMask: the closed-form builders agree exactly with the generic one (mask evaluated at every point) on every
// built-in mask, many shapes (no multiples of the block sizes) and several block sizes, on every ISA; broadcast
// storage; per-head masks; work order; and the pair counts behind useful FLOPs against brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/common/attention/block_mask.h"
#include "kernels/common/attention/mask_spec.h"
#include "kernels/cpu/attention/block_mask_from_mask_mod.h"

namespace talklab::attention {
namespace {

// The generic builder the closed forms are checked against is CPU code, run at every ISA this CPU has.
using cpu::best_isa;
using cpu::Isa;
using cpu::isa_name;
using cpu::supported_isas;
using cpu::attention::block_mask_from_mask_mod;

struct Blocks {
  int q, kv;
};
const Blocks kBlockSizes[] = {{16, 16}, {64, 64}, {128, 32}, {48, 80}, {1, 2}, {128, 256}, {7, 13}};

std::vector<int64_t> random_documents(int64_t S, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> len{1};  // always a one-token document
  for (int64_t left = S - 1; left > 0;) {
    const int64_t l = std::min<int64_t>(left, rng() % 4 == 0 ? 1 : 1 + int64_t(rng() % uint64_t(S / 3 + 1)));
    len.push_back(l);
    left -= l;
  }
  return len;
}

// Every closed-form mask for S_q x S_kv, with its mask_mod.
std::vector<MaskSpec> specs_for(int64_t S_q, int64_t S_kv, uint64_t seed) {
  std::vector<MaskSpec> v;
  for (const char* n : {"full", "causal", "sliding_window:1", "sliding_window:17", "sliding_window:512", "prefix_lm:0"})
    v.push_back(MaskSpec::parse(n));
  v.push_back(MaskSpec::parse("sliding_window:" + std::to_string(S_kv + 5)));
  v.push_back(MaskSpec::parse("prefix_lm:" + std::to_string(S_kv / 3)));
  v.push_back(MaskSpec::parse("prefix_lm:" + std::to_string(S_kv)));
  if (S_q == S_kv) {
    MaskSpec d = MaskSpec::parse("document");
    d.doc_lengths = random_documents(S_q, seed);
    v.push_back(d);
  }
  return v;
}

void expect_agree(int64_t S_q, int64_t S_kv, Blocks bs, const std::vector<Isa>& isas, uint64_t seed) {
  for (const MaskSpec& spec : specs_for(S_q, S_kv, seed)) {
    const BlockMask closed = block_mask_for(spec, S_q, S_kv, bs.q, bs.kv);
    EXPECT_EQ(closed.B, 1);
    EXPECT_EQ(closed.H, 1);
    const BuiltMods mods = build_mods(spec, 1, S_q, S_kv);
    for (Isa isa : isas) {
      visit_mods(mods, [&](const auto& mask, const auto&) {
        const BlockMask generic = block_mask_from_mask_mod(mask, 1, 1, S_q, S_kv, bs.q, bs.kv, isa);
        EXPECT_TRUE(generic == closed) << spec.name() << " S_q " << S_q << " S_kv " << S_kv << " blocks " << bs.q
                                       << "x" << bs.kv << " isa " << isa_name(isa);
        return 0;
      });
    }
  }
}

TEST(BlockMask, ClosedFormMatchesGenericSmallShapes) {
  uint64_t seed = 1;
  for (auto [S_q, S_kv] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 7}, {129, 129}, {100, 300}, {300, 100}})
    for (Blocks bs : kBlockSizes) expect_agree(S_q, S_kv, bs, supported_isas(), seed++);
}

TEST(BlockMask, ClosedFormMatchesGenericLargeShapes) {
  uint64_t seed = 100;
  for (Blocks bs : {Blocks{64, 64}, Blocks{48, 80}, Blocks{128, 256}}) expect_agree(1000, 1000, bs, {best_isa()}, seed++);
  for (Blocks bs : {Blocks{64, 64}, Blocks{128, 32}}) expect_agree(3001, 3001, bs, {best_isa()}, seed++);
}

// Brute-force classification of every block, independent of both builders.
TEST(BlockMask, GenericClassifiesEveryBlockCorrectly) {
  auto mask = [](int, int h, int q, int kv) { return ((q * 7 + kv * 3 + h) % 11 != 0) & (kv <= q + 20); };
  const int64_t S = 150;
  const BlockMask bm = block_mask_from_mask_mod(mask, 1, 2, S, S, 32, 16);
  ASSERT_EQ(bm.H, 2);
  for (int h = 0; h < 2; ++h)
    for (int qb = 0; qb < bm.num_q_blocks; ++qb) {
      const int64_t r = bm.row(5, h, qb);  // any batch index: B is broadcast
      for (int kb = 0; kb < bm.num_kv_blocks; ++kb) {
        int64_t vis = 0;
        for (int q = qb * 32; q < std::min<int64_t>(S, qb * 32 + 32); ++q)
          for (int kv = kb * 16; kv < std::min<int64_t>(S, kb * 16 + 16); ++kv) vis += mask(0, h, q, kv);
        const bool is_full = std::count(bm.full(r).begin(), bm.full(r).end(), kb) == 1;
        const bool is_partial = std::count(bm.partial(r).begin(), bm.partial(r).end(), kb) == 1;
        EXPECT_EQ(is_full, vis == bm.block_area(qb, kb)) << "h " << h << " qb " << qb << " kb " << kb;
        EXPECT_EQ(is_partial, vis > 0 && vis < bm.block_area(qb, kb)) << "h " << h << " qb " << qb << " kb " << kb;
      }
    }
}

TEST(BlockMask, BroadcastIsStoredOnce) {
  const BlockMask bm = block_mask_causal(1000, 1000, 64, 64);
  const int nq = bm.num_q_blocks;
  EXPECT_EQ(bm.rows(), nq);
  EXPECT_EQ(bm.num_full() + bm.num_partial(), int64_t(nq) * (nq + 1) / 2);  // lower triangle, diagonal partial
  EXPECT_EQ(bm.num_partial(), nq);
  EXPECT_EQ(bm.row(3, 7, 5), 5);  // any (b, h) reads the same row
}

TEST(BlockMask, WorkOrderIsLongestRowsFirst) {
  const BlockMask bm = block_mask_sliding_window(5000, 5000, 700, 64, 64);
  std::vector<int32_t> order(bm.work_order.begin(), bm.work_order.end());
  std::vector<int32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> iota(size_t(bm.num_q_blocks));
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  for (size_t i = 1; i < order.size(); ++i) {
    auto work = [&](int qb) { return bm.kv_num_blocks[size_t(qb)] + bm.full_kv_num_blocks[size_t(qb)]; };
    EXPECT_GE(work(order[i - 1]), work(order[i]));
  }
}

TEST(BlockMask, ClosedFormPairCountsMatchBruteForce) {
  uint64_t seed = 7;
  for (auto [S_q, S_kv] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {129, 129}, {100, 300}, {300, 100}}) {
    for (const MaskSpec& spec : specs_for(S_q, S_kv, seed++)) {
      const BuiltMods mods = build_mods(spec, 1, S_q, S_kv);
      visit_mods(mods, [&](const auto& mask, const auto&) {
        int64_t brute = 0;
        for (int q = 0; q < S_q; ++q)
          for (int kv = 0; kv < S_kv; ++kv) brute += mask(0, 0, q, kv);
        EXPECT_EQ(visible_pairs(spec, S_q, S_kv), brute) << spec.name();
        const BlockMask bm = block_mask_for(spec, S_q, S_kv, 48, 80);
        EXPECT_EQ(count_visible_pairs(bm, mask, 3, 2), 6 * brute) << spec.name();
        return 0;
      });
    }
  }
}

// The backward's dK / dV pass walks the transposed block mask: transposing the closed form equals, exactly (work
// order included), the generic builder run on the mask with q and kv swapped, on every ISA.
TEST(BlockMask, TransposedClosedFormMatchesGenericOfSwappedMask) {
  uint64_t seed = 300;
  for (auto [S_q, S_kv] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 7}, {129, 129}, {100, 300}, {300, 100}, {1000, 1000}})
    for (Blocks bs : {Blocks{64, 64}, Blocks{48, 80}, Blocks{7, 13}, Blocks{128, 256}})
      for (const MaskSpec& spec : specs_for(S_q, S_kv, seed++)) {
        const BlockMask closed_t = transpose_block_mask(block_mask_for(spec, S_q, S_kv, bs.q, bs.kv));
        EXPECT_EQ(closed_t.S_q, S_kv);
        EXPECT_EQ(closed_t.q_block, bs.kv);
        const BuiltMods mods = build_mods(spec, 1, S_q, S_kv);
        for (Isa isa : supported_isas())
          visit_mods(mods, [&](const auto& mask, const auto&) {
            const auto swapped = [mask](int b, int h, int kv, int q) { return mask(b, h, q, kv); };
            const BlockMask generic = block_mask_from_mask_mod(swapped, 1, 1, S_kv, S_q, bs.kv, bs.q, isa);
            EXPECT_TRUE(generic == closed_t) << spec.name() << " S_q " << S_q << " S_kv " << S_kv << " blocks "
                                             << bs.q << "x" << bs.kv << " isa " << isa_name(isa);
            return 0;
          });
      }
}

// Per-head storage survives the transpose, and transposing twice gives the block mask back.
TEST(BlockMask, TransposeOfPerHeadMaskRoundTrips) {
  auto mask = [](int, int h, int q, int kv) { return ((q * 7 + kv * 3 + h) % 11 != 0) & (kv <= q + 20 * h); };
  const BlockMask bm = block_mask_from_mask_mod(mask, 1, 3, 150, 170, 32, 16);
  const BlockMask t = transpose_block_mask(bm);
  EXPECT_EQ(t.H, 3);
  EXPECT_EQ(t.num_partial(), bm.num_partial());
  EXPECT_EQ(t.num_full(), bm.num_full());
  const auto swapped = [mask](int b, int h, int kv, int q) { return mask(b, h, q, kv); };
  EXPECT_TRUE(t == block_mask_from_mask_mod(swapped, 1, 3, 170, 150, 16, 32));
  EXPECT_TRUE(transpose_block_mask(t) == bm);
}

TEST(BlockMask, RejectsBadArguments) {
  EXPECT_THROW(block_mask_causal(10, 10, 0, 64), std::invalid_argument);
  EXPECT_THROW(block_mask_sliding_window(10, 10, 0, 64, 64), std::invalid_argument);
  EXPECT_THROW(block_mask_document({3, 0, 2}, 64, 64), std::invalid_argument);
}

}  // namespace
}  // namespace talklab::attention
