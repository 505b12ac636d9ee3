// The keyword arguments that tell experiments/attention/torch_flex.py a case's mask, derived from the case's
// MaskSpec in C++ and nowhere else: the mask's name, window, prefix length, each token's document id (an int32
// (S) tensor; empty for other masks), the score mod's name, the softcap and the ALiBi slopes (a float32 (H)
// tensor, spec.alibi_slopes or the standard ones). Python builds its mask_mod / score_mod from these alone, so the
// float64 gate checks FlexAttention against the very semantics flash_cpu is checked against.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "harness/python.h"
#include "kernels/common/attention/mask_spec.h"

namespace talklab::experiments::attention {

// FlexAttention's default (and on the CPU, its only tuned) BlockMask tile: 128 x 128.
inline constexpr int64_t kFlexBlock = 128;

std::string flex_mask_name(const talklab::attention::MaskSpec& spec);
// "none", "softcap" or "alibi"; throws std::invalid_argument for a score the experiment has no mod for.
std::string flex_score_name(const talklab::attention::MaskSpec& spec);

// mask, window, prefix, doc_ids, score, softcap, slopes, block_size.
python::Args flex_mask_args(const talklab::attention::MaskSpec& spec, int64_t heads);

}  // namespace talklab::experiments::attention
