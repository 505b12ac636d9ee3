#include "experiments/attention/flex_args.h"

#include <stdexcept>
#include <vector>

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

at::Tensor flex_document_ids(const ta::MaskSpec& spec) {
  const auto index = at::TensorOptions().dtype(at::kInt);
  if (spec.mask != ta::MaskKind::document) return at::empty({0}, index);
  const at::Tensor lengths = at::tensor(std::vector<int64_t>(spec.doc_lengths.begin(), spec.doc_lengths.end()));
  return at::repeat_interleave(at::arange(lengths.size(0), index), lengths).contiguous();
}

python::Args flex_mask_args(const ta::MaskSpec& spec, int64_t heads) {
  const std::vector<float> slopes =
      spec.alibi_slopes.empty() ? ta::alibi_slopes(int(heads)) : spec.alibi_slopes;
  python::Args a;
  a.set("mask", flex_mask_name(spec))
      .set("window", int64_t(spec.window))
      .set("prefix", int64_t(spec.prefix))
      .set("doc_ids", flex_document_ids(spec))
      .set("score", flex_score_name(spec))
      .set("softcap", double(spec.softcap))
      .set("slopes", at::tensor(slopes).contiguous())
      .set("block_size", kFlexBlock);
  return a;
}

}  // namespace talklab::experiments::attention
