#include "experiments/attention/flex_args.h"

#include <stdexcept>
#include <vector>

#include "experiments/attention/torch_masks.h"
#include "kernels/common/attention/mask.h"

namespace talklab::experiments::attention {

namespace ta = talklab::attention;

std::string flex_mask_name(const ta::MaskSpec& spec) {
  switch (spec.mask) {
    case ta::MaskKind::full: return "full";
    case ta::MaskKind::causal: return "causal";
    case ta::MaskKind::sliding_window: return "sliding_window";
    case ta::MaskKind::document: return "document";
    case ta::MaskKind::prefix_lm: return "prefix_lm";
  }
  throw std::invalid_argument("flex_mask_name: unknown MaskKind");
}

std::string flex_score_name(const ta::MaskSpec& spec) {
  switch (spec.score) {
    case ta::ScoreKind::none: return "none";
    case ta::ScoreKind::softcap: return "softcap";
    case ta::ScoreKind::alibi: return "alibi";
    case ta::ScoreKind::rel_bias: break;
  }
  throw std::invalid_argument("torch_flex has no score_mod for " + spec.name());
}

python::Args flex_mask_args(const ta::MaskSpec& spec, int64_t heads) {
  const std::vector<float> slopes = alibi_slopes_of(spec, heads);
  python::Args a;
  a.set("mask", flex_mask_name(spec))
      .set("window", int64_t(spec.window))
      .set("prefix", int64_t(spec.prefix))
      .set("doc_ids", document_ids(spec))
      .set("score", flex_score_name(spec))
      .set("softcap", double(spec.softcap))
      .set("slopes", at::tensor(slopes).contiguous())
      .set("block_size", kFlexBlock);
  return a;
}

}  // namespace talklab::experiments::attention
