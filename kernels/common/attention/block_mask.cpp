// BlockMask builders (kernels/common/attention/block_mask.h). The closed forms classify a block from its corners:
// every built-in mask is, per query row, one interval of keys [lo(q), hi(q)] whose ends never decrease with q, and
// whose union over a block's rows is one interval, so "any visible" and "all visible" are read at the corners.
#include "kernels/common/attention/block_mask.h"

#include <omp.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace talklab::attention {
namespace {

void init_shape(BlockMask& bm, int B, int H, int64_t S_q, int64_t S_kv, int q_block, int kv_block) {
  if (q_block < 1 || kv_block < 1) throw std::invalid_argument("BlockMask: block sizes must be >= 1");
  if (S_q < 0 || S_kv < 0 || S_q > INT32_MAX || S_kv > INT32_MAX)
    throw std::invalid_argument("BlockMask: sequence lengths must be in [0, 2^31)");
  bm.B = B;
  bm.H = H;
  bm.S_q = S_q;
  bm.S_kv = S_kv;
  bm.q_block = q_block;
  bm.kv_block = kv_block;
  bm.num_q_blocks = int((S_q + q_block - 1) / q_block);
  bm.num_kv_blocks = int((S_kv + kv_block - 1) / kv_block);
}

// Sorts each stored row's query blocks by descending visited-block count (counting sort: counts <= num_kv_blocks).
void fill_work_order(BlockMask& bm) {
  const int nq = bm.num_q_blocks;
  bm.work_order.resize(size_t(bm.rows()));
  std::vector<int32_t> start(size_t(bm.num_kv_blocks) + 2);
  for (int64_t bh = 0; bh < int64_t(bm.B) * bm.H; ++bh) {
    const int64_t r0 = bh * nq;
    std::fill(start.begin(), start.end(), 0);
    for (int qb = 0; qb < nq; ++qb) {
      const int w = bm.kv_num_blocks[r0 + qb] + bm.full_kv_num_blocks[r0 + qb];
      ++start[size_t(bm.num_kv_blocks - w) + 1];  // bucket 0 = most work
    }
    for (size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
    for (int qb = nq - 1; qb >= 0; --qb) {  // later blocks first among equals: they sit deeper in causal rows
      const int w = bm.kv_num_blocks[r0 + qb] + bm.full_kv_num_blocks[r0 + qb];
      bm.work_order[size_t(r0 + start[size_t(bm.num_kv_blocks - w)]++)] = qb;
    }
  }
}

// kinds: (rows, num_kv_blocks) -> CSR lists.
void fill_from_kinds(BlockMask& bm, const std::vector<BlockKind>& kinds) {
  const int64_t rows = bm.rows();
  const int nk = bm.num_kv_blocks;
  bm.kv_num_blocks.assign(size_t(rows), 0);
  bm.full_kv_num_blocks.assign(size_t(rows), 0);
  bm.kv_offsets.assign(size_t(rows) + 1, 0);
  bm.full_kv_offsets.assign(size_t(rows) + 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int kb = 0; kb < nk; ++kb) {
      const BlockKind k = kinds[size_t(r * nk + kb)];
      bm.kv_num_blocks[r] += k == BlockKind::partial;
      bm.full_kv_num_blocks[r] += k == BlockKind::full;
    }
    bm.kv_offsets[r + 1] = bm.kv_offsets[r] + bm.kv_num_blocks[r];
    bm.full_kv_offsets[r + 1] = bm.full_kv_offsets[r] + bm.full_kv_num_blocks[r];
  }
  bm.kv_indices.resize(size_t(bm.kv_offsets[rows]));
  bm.full_kv_indices.resize(size_t(bm.full_kv_offsets[rows]));
  for (int64_t r = 0; r < rows; ++r) {
    int64_t p = bm.kv_offsets[r], f = bm.full_kv_offsets[r];
    for (int kb = 0; kb < nk; ++kb) {
      const BlockKind k = kinds[size_t(r * nk + kb)];
      if (k == BlockKind::partial) bm.kv_indices[size_t(p++)] = kb;
      if (k == BlockKind::full) bm.full_kv_indices[size_t(f++)] = kb;
    }
  }
  fill_work_order(bm);
}

// One stored row per query block. range(q0, q1) -> [first, last] key blocks that can be nonempty;
// kind(q0, q1, k0, k1) classifies a block from its corners (q1, k1 exclusive).
template <class Range, class Kind>
BlockMask build_closed_form(int64_t S_q, int64_t S_kv, int q_block, int kv_block, Range range, Kind kind) {
  BlockMask bm;
  init_shape(bm, 1, 1, S_q, S_kv, q_block, kv_block);
  const int nq = bm.num_q_blocks;
  bm.kv_num_blocks.assign(size_t(nq), 0);
  bm.full_kv_num_blocks.assign(size_t(nq), 0);
  bm.kv_offsets.assign(size_t(nq) + 1, 0);
  bm.full_kv_offsets.assign(size_t(nq) + 1, 0);
  auto for_blocks = [&](int qb, auto&& f) {
    const int64_t q0 = int64_t(qb) * q_block, q1 = std::min<int64_t>(q0 + q_block, S_q);
    auto [first, last] = range(q0, q1);
    first = std::max<int64_t>(first, 0);
    last = std::min<int64_t>(last, bm.num_kv_blocks - 1);
    for (int64_t kb = first; kb <= last; ++kb) {
      const int64_t k0 = kb * kv_block, k1 = std::min<int64_t>(k0 + kv_block, S_kv);
      f(int(kb), kind(q0, q1, k0, k1));
    }
  };
  for (int qb = 0; qb < nq; ++qb) {
    for_blocks(qb, [&](int, BlockKind k) {
      bm.kv_num_blocks[qb] += k == BlockKind::partial;
      bm.full_kv_num_blocks[qb] += k == BlockKind::full;
    });
    bm.kv_offsets[qb + 1] = bm.kv_offsets[qb] + bm.kv_num_blocks[qb];
    bm.full_kv_offsets[qb + 1] = bm.full_kv_offsets[qb] + bm.full_kv_num_blocks[qb];
  }
  bm.kv_indices.resize(size_t(bm.kv_offsets[nq]));
  bm.full_kv_indices.resize(size_t(bm.full_kv_offsets[nq]));
  for (int qb = 0; qb < nq; ++qb) {
    int64_t p = bm.kv_offsets[qb], f = bm.full_kv_offsets[qb];
    for_blocks(qb, [&](int kb, BlockKind k) {
      if (k == BlockKind::partial) bm.kv_indices[size_t(p++)] = kb;
      if (k == BlockKind::full) bm.full_kv_indices[size_t(f++)] = kb;
    });
  }
  fill_work_order(bm);
  return bm;
}

// Per row q the visible keys are [lo(q), hi(q)] (clipped to the key range), lo and hi nondecreasing in q and the
// intervals of consecutive rows touching, so over rows [q0, q1): any visible <=> k0 <= hi(q1-1) && k1-1 >= lo(q0);
// all visible <=> k0 >= lo(q1-1) && k1-1 <= hi(q0).
BlockKind interval_kind(int64_t lo_first, int64_t hi_first, int64_t lo_last, int64_t hi_last, int64_t k0, int64_t k1) {
  if (k0 > hi_last || k1 - 1 < lo_first) return BlockKind::empty;
  if (k0 >= lo_last && k1 - 1 <= hi_first) return BlockKind::full;
  return BlockKind::partial;
}

}  // namespace

int64_t BlockMask::block_area(int qb, int kb) const {
  const int64_t q0 = int64_t(qb) * q_block, k0 = int64_t(kb) * kv_block;
  return (std::min<int64_t>(q0 + q_block, S_q) - q0) * (std::min<int64_t>(k0 + kv_block, S_kv) - k0);
}

BlockMask block_mask_full(int64_t S_q, int64_t S_kv, int q_block, int kv_block) {
  return build_closed_form(
      S_q, S_kv, q_block, kv_block, [&](int64_t, int64_t) { return std::pair<int64_t, int64_t>(0, INT32_MAX); },
      [](int64_t, int64_t, int64_t, int64_t) { return BlockKind::full; });
}

BlockMask block_mask_causal(int64_t S_q, int64_t S_kv, int q_block, int kv_block) {
  return build_closed_form(
      S_q, S_kv, q_block, kv_block,
      [&](int64_t, int64_t q1) { return std::pair<int64_t, int64_t>(0, (q1 - 1) / kv_block); },
      [](int64_t q0, int64_t q1, int64_t k0, int64_t k1) { return interval_kind(0, q0, 0, q1 - 1, k0, k1); });
}

BlockMask block_mask_sliding_window(int64_t S_q, int64_t S_kv, int window, int q_block, int kv_block) {
  if (window < 1) throw std::invalid_argument("block_mask_sliding_window: window must be >= 1");
  const int64_t w = window;
  return build_closed_form(
      S_q, S_kv, q_block, kv_block,
      [&](int64_t q0, int64_t q1) {
        return std::pair<int64_t, int64_t>(std::max<int64_t>(q0 - w + 1, 0) / kv_block, (q1 - 1) / kv_block);
      },
      [w](int64_t q0, int64_t q1, int64_t k0, int64_t k1) {
        return interval_kind(q0 - w + 1, q0, q1 - w, q1 - 1, k0, k1);
      });
}

BlockMask block_mask_prefix_lm(int64_t S_q, int64_t S_kv, int prefix, int q_block, int kv_block) {
  const int64_t p = std::max(prefix, 0);
  // Row q sees [0, max(q, p - 1)]: an interval starting at 0.
  return build_closed_form(
      S_q, S_kv, q_block, kv_block,
      [&](int64_t, int64_t q1) { return std::pair<int64_t, int64_t>(0, std::max(q1 - 1, p - 1) / kv_block); },
      [p](int64_t q0, int64_t q1, int64_t k0, int64_t k1) {
        return interval_kind(0, std::max(q0, p - 1), 0, std::max(q1 - 1, p - 1), k0, k1);
      });
}

BlockMask block_mask_document(const std::vector<int64_t>& doc_lengths, int q_block, int kv_block) {
  const DocumentMask doc = document_mask(doc_lengths);
  const int64_t S = int64_t(doc.starts->size());
  const int32_t* start = doc.start;
  // Row q sees [start[q], q]; starts never decrease and a new document begins right after the previous row's end.
  return build_closed_form(
      S, S, q_block, kv_block,
      [&](int64_t q0, int64_t q1) { return std::pair<int64_t, int64_t>(start[q0] / kv_block, (q1 - 1) / kv_block); },
      [start](int64_t q0, int64_t q1, int64_t k0, int64_t k1) {
        return interval_kind(start[q0], q0, start[q1 - 1], q1 - 1, k0, k1);
      });
}

BlockMask transpose_block_mask(const BlockMask& bm) {
  BlockMask t;
  init_shape(t, bm.B, bm.H, bm.S_kv, bm.S_q, bm.kv_block, bm.q_block);
  const int nq = bm.num_q_blocks, nk = bm.num_kv_blocks;
  std::vector<BlockKind> kinds(size_t(t.rows()) * size_t(nq), BlockKind::empty);
  for (int64_t bh = 0; bh < int64_t(bm.B) * bm.H; ++bh)
    for (int qb = 0; qb < nq; ++qb) {
      const int64_t r = bh * nq + qb;
      for (int kb : bm.partial(r)) kinds[size_t((bh * nk + kb) * nq + qb)] = BlockKind::partial;
      for (int kb : bm.full(r)) kinds[size_t((bh * nk + kb) * nq + qb)] = BlockKind::full;
    }
  fill_from_kinds(t, kinds);
  return t;
}

BlockMask block_mask_from_column_counts(CountColumnsFn fn, const void* ctx, int B, int H, int64_t S_q, int64_t S_kv,
                                        int q_block, int kv_block) {
  if (B < 1 || H < 1) throw std::invalid_argument("block_mask_from_mask_mod: B and H must be >= 1");
  BlockMask bm;
  init_shape(bm, B, H, S_q, S_kv, q_block, kv_block);
  const int64_t rows = bm.rows();
  const int nq = bm.num_q_blocks, nk = bm.num_kv_blocks;
  std::vector<BlockKind> kinds(size_t(rows * nk));
#pragma omp parallel
  {
    std::vector<int32_t> colcount(static_cast<size_t>(S_kv));
#pragma omp for schedule(dynamic, 1)
    for (int64_t r = 0; r < rows; ++r) {
      const int qb = int(r % nq);
      const int h = int((r / nq) % H), b = int(r / nq / H);
      const int q0 = qb * q_block, q1 = int(std::min<int64_t>(int64_t(q0) + q_block, S_q));
      fn(ctx, b, h, q0, q1, int(S_kv), colcount.data());
      for (int kb = 0; kb < nk; ++kb) {
        const int64_t k0 = int64_t(kb) * kv_block, k1 = std::min<int64_t>(k0 + kv_block, S_kv);
        int64_t visible = 0;
        for (int64_t kv = k0; kv < k1; ++kv) visible += colcount[size_t(kv)];
        kinds[size_t(r * nk + kb)] = visible == 0                           ? BlockKind::empty
                                     : visible == int64_t(q1 - q0) * (k1 - k0) ? BlockKind::full
                                                                               : BlockKind::partial;
      }
    }
  }
  fill_from_kinds(bm, kinds);
  return bm;
}

}  // namespace talklab::attention
