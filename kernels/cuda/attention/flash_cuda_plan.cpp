// Launch planning for flash_cuda (kernels/cuda/attention/flash_cuda_plan.h): host-only, O(B * H * S / 128) work
// plus the closed-form block mask, done once per (shape, mask spec).
#include "kernels/cuda/attention/flash_cuda_plan.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>
#include <string>

namespace talklab::cuda::attention {
namespace {

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument("flash_cuda: " + what); }

RowMask row_mask_of(common_attn::MaskKind kind) {
  switch (kind) {
    case common_attn::MaskKind::causal: return RowMask::causal;
    case common_attn::MaskKind::sliding_window: return RowMask::sliding_window;
    case common_attn::MaskKind::prefix_lm: return RowMask::prefix_lm;
    case common_attn::MaskKind::document: return RowMask::document;
    case common_attn::MaskKind::full: break;
  }
  return RowMask::full;
}

ScoreMod score_mod_of(common_attn::ScoreKind kind) {
  switch (kind) {
    case common_attn::ScoreKind::softcap: return ScoreMod::softcap;
    case common_attn::ScoreKind::alibi: return ScoreMod::alibi;
    case common_attn::ScoreKind::rel_bias:
      refuse("score mod rel_bias is not supported (supported: none, softcap, alibi)");
    case common_attn::ScoreKind::none: break;
  }
  return ScoreMod::none;
}

void check_shape(const common_attn::AttnShape& s) {
  if (s.B < 1 || s.H < 1 || s.H_kv < 1)
    refuse("B, H and H_kv must be >= 1 (got B " + std::to_string(s.B) + ", H " + std::to_string(s.H) + ", H_kv " +
           std::to_string(s.H_kv) + ")");
  if (s.H % s.H_kv != 0)
    refuse("kv heads " + std::to_string(s.H_kv) + " do not divide query heads " + std::to_string(s.H));
  if (s.S_q < 1 || s.S_kv < 1 || s.S_q > INT32_MAX || s.S_kv > INT32_MAX)
    refuse("sequence lengths must be in [1, 2^31) (got S_q " + std::to_string(s.S_q) + ", S_kv " +
           std::to_string(s.S_kv) + ")");
  if (std::find(std::begin(kSupportedHeadDims), std::end(kSupportedHeadDims), s.D) == std::end(kSupportedHeadDims))
    refuse("head_dim " + std::to_string(s.D) + " is not supported (supported: 64, 128)");
  const int64_t items = s.B * s.H * ((s.S_q + kQTile - 1) / kQTile);
  if (items > INT32_MAX) refuse("B * H * ceil(S_q / 128) = " + std::to_string(items) + " work items exceed 2^31 - 1");
}

}  // namespace

const char* element_type_name(ElementType t) {
  switch (t) {
    case ElementType::bf16: return "bf16";
    case ElementType::fp16: return "fp16";
    case ElementType::f32: break;
  }
  return "f32";
}

int64_t work_item_tiles(const common_attn::BlockMask& bm, int64_t H, int32_t item) {
  const int qb = int(item % bm.num_q_blocks);
  const int64_t bh = item / bm.num_q_blocks;
  const int64_t r = bm.row(int(bh / H), int(bh % H), qb);
  return int64_t(bm.kv_num_blocks[size_t(r)]) + bm.full_kv_num_blocks[size_t(r)];
}

std::vector<int32_t> heaviest_first_order(const common_attn::BlockMask& bm, int64_t B, int64_t H) {
  const int64_t n = B * H * bm.num_q_blocks;
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::vector<int64_t> tiles(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    order[size_t(i)] = int32_t(i);
    tiles[size_t(i)] = work_item_tiles(bm, H, int32_t(i));
  }
  const int nq = bm.num_q_blocks;
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    if (tiles[size_t(a)] != tiles[size_t(b)]) return tiles[size_t(a)] > tiles[size_t(b)];
    if (a % nq != b % nq) return a % nq > b % nq;  // later query blocks first among equals
    return a < b;
  });
  return order;
}

FlashLaunchPlan make_flash_launch_plan(const common_attn::AttnShape& shape, const common_attn::MaskSpec& spec,
                                       ElementType dtype, float scale, int warp_rows) {
  if (dtype != ElementType::bf16 && dtype != ElementType::fp16)
    refuse(std::string("dtype ") + element_type_name(dtype) + " is not supported (supported: bf16, fp16)");
  if (warp_rows != 16 && warp_rows != 32)
    refuse("warp_rows " + std::to_string(warp_rows) + " is not supported (supported: 16, 32)");
  check_shape(shape);
  FlashLaunchPlan p;
  p.shape = shape;
  p.dtype = dtype;
  p.warp_rows = warp_rows;
  p.spec = spec;
  p.score = score_mod_of(spec.score);
  p.mask = row_mask_of(spec.mask);
  if (!(scale >= 0.f) || !std::isfinite(scale)) refuse("scale must be finite and >= 0 (0 means 1/sqrt(D))");
  p.scale = scale == 0.f ? float(1.0 / std::sqrt(double(shape.D))) : scale;
  // The CPU kernel's mod builder checks the spec against the shape (window, document lengths, slopes per head).
  const common_attn::BuiltMods mods = common_attn::build_mods(spec, shape.H, shape.S_q, shape.S_kv);
  if (p.mask == RowMask::document) p.doc_start = *mods.document.starts;
  if (p.score == ScoreMod::alibi) p.alibi_slopes = *mods.alibi.slopes_owner;
  p.block_mask = common_attn::block_mask_for(spec, shape.S_q, shape.S_kv, kQTile, kKvTile);
  p.work = heaviest_first_order(p.block_mask, shape.B, shape.H);
  return p;
}

void check_same_shape(const FlashLaunchPlan& plan, const common_attn::AttnShape& s) {
  const common_attn::AttnShape& p = plan.shape;
  auto differ = [](const char* what, int64_t planned, int64_t got) {
    refuse(std::string(what) + " " + std::to_string(got) + " differs from the plan's " + std::to_string(planned));
  };
  if (s.D != p.D) differ("head_dim", p.D, s.D);
  if (s.B != p.B) differ("B", p.B, s.B);
  if (s.H != p.H) differ("H", p.H, s.H);
  if (s.H_kv != p.H_kv) differ("H_kv", p.H_kv, s.H_kv);
  if (s.S_q != p.S_q) differ("S_q", p.S_q, s.S_q);
  if (s.S_kv != p.S_kv) differ("S_kv", p.S_kv, s.S_kv);
}

common_attn::FlashStats flash_cuda_stats(const FlashLaunchPlan& plan) {
  return common_attn::flash_stats(plan.shape, plan.block_mask);
}

}  // namespace talklab::cuda::attention
