// What the LibTorch attention cases share on every device (attention_torch.cpp, attention_torch_cuda.cpp): the
// dtype, the mask and ALiBi bias built as a PyTorch user builds them, and K / V repeated over the query heads.
// `on` places the tensors (CPU by default, or the case's CUDA device). The float64 reference
// (kernels/cpu/attention/reference.h) catches any disagreement with the MaskSpec.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <utility>

#include "kernels/cpu/attention/mask_spec.h"
#include "kernels/cpu/attention/flash_cpu.h"

namespace talklab::experiments::attention {

namespace attn = talklab::cpu::attention;

at::ScalarType torch_dtype(attn::DType d);

// (S, S) bool, true where a key is visible.
at::Tensor visible_mask(const attn::MaskSpec& spec, int64_t S, const at::TensorOptions& on = {});

// -slope_h * (q - kv) as (H, S, S) float32.
at::Tensor alibi_bias(const attn::MaskSpec& spec, int64_t H, int64_t S, const at::TensorOptions& on = {});

// K and V (B, H_kv, S, D) expanded to (B, H_kv * group, S, D) for grouped-query attention.
std::pair<at::Tensor, at::Tensor> repeat_kv(const at::Tensor& k, const at::Tensor& v, int64_t group);

}  // namespace talklab::experiments::attention
