// Compiled FlexAttention (experiments/attention/torch_flex.py), run by bench's embedded CPython on the case's own
// tensors: torch_flex, and the helpers torch_create_block_mask / torch_create_block_mask_compiled that time
// create_block_mask beside our closed-form block mask (blockmask_closed).
#pragma once

#include <vector>

#include "harness/experiment.h"

namespace talklab::experiments::attention {

std::vector<Implementation> flex_implementations();

// attention_backward's torch_flex (backward_flex.cpp): compiled flex_attention, gradients through autograd.
Implementation flex_backward_implementation();

}  // namespace talklab::experiments::attention
