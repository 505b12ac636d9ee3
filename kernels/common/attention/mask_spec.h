// Runtime description of an attention variant, so callers (the harness, experiments/attention/) pick a mask by
// name: "full", "causal", "sliding_window:512", "document", "prefix_lm:100", "causal+softcap", "causal+softcap:30",
// "causal+alibi", "causal+rel_bias". visit_mods() turns it into the compile-time mods (kernels/common/attention/mask.h)
// and calls a generic lambda with them: the one place where a run-time name meets a template instantiation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/common/attention/block_mask.h"
#include "kernels/common/attention/mask.h"

namespace talklab::attention {

enum class MaskKind { full, causal, sliding_window, document, prefix_lm };
enum class ScoreKind { none, softcap, alibi, rel_bias };

struct MaskSpec {
  MaskKind mask = MaskKind::full;
  int window = 0;                    // sliding_window: keys q - window < kv <= q (window >= 1)
  int prefix = 0;                    // prefix_lm: keys < prefix seen by all
  std::vector<int64_t> doc_lengths;  // document: lengths summing to S_q = S_kv; causal within each document
  ScoreKind score = ScoreKind::none;
  float softcap = 50.0f;             // softcap: cap * tanh(score / cap)
  std::vector<float> alibi_slopes;   // alibi: one per query head; empty means alibi_slopes(H)
  std::vector<float> rel_bias;       // rel_bias: (H, 2 * rel_max_distance + 1)
  int rel_max_distance = 0;

  // "mask[:param][+score[:param]]"; throws std::invalid_argument on an unknown name. Parameters not in the name
  // (doc_lengths, rel_bias) are set on the result.
  static MaskSpec parse(std::string_view name);
  std::string name() const;
};

// The mods of a spec, built once (document starts, slopes) for a problem with H query heads and S_q x S_kv.
struct BuiltMods {
  MaskSpec spec;
  SlidingWindowMask sliding_window;
  PrefixLmMask prefix_lm;
  DocumentMask document;
  SoftcapScore softcap;
  AlibiScore alibi;
  RelBiasScore rel_bias;
};
BuiltMods build_mods(const MaskSpec& spec, int64_t H, int64_t S_q, int64_t S_kv);

// Calls f(mask, score) with the spec's concrete mod types; every branch must return the same type.
template <class F>
decltype(auto) visit_mods(const BuiltMods& m, F&& f) {
  auto with_score = [&](const auto& mask) -> decltype(auto) {
    switch (m.spec.score) {
      case ScoreKind::softcap: return f(mask, m.softcap);
      case ScoreKind::alibi: return f(mask, m.alibi);
      case ScoreKind::rel_bias: return f(mask, m.rel_bias);
      case ScoreKind::none: break;
    }
    return f(mask, NoScore{});
  };
  switch (m.spec.mask) {
    case MaskKind::causal: return with_score(CausalMask{});
    case MaskKind::sliding_window: return with_score(m.sliding_window);
    case MaskKind::document: return with_score(m.document);
    case MaskKind::prefix_lm: return with_score(m.prefix_lm);
    case MaskKind::full: break;
  }
  return with_score(FullMask{});
}

// The closed-form block mask of the spec's mask (score mods do not change which blocks are visited).
BlockMask block_mask_for(const MaskSpec& spec, int64_t S_q, int64_t S_kv, int q_block, int kv_block);

// Unmasked (q, kv) pairs of one (b, h), counted per row in closed form.
int64_t visible_pairs(const MaskSpec& spec, int64_t S_q, int64_t S_kv);

}  // namespace talklab::attention
