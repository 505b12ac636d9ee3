// What the LibTorch attention cases share on every device (attention_torch.cpp, attention_torch_cuda.cpp): the
// dtype, the mask and ALiBi bias built as a PyTorch user builds them, K / V repeated over the query heads (the
// eager cases), and scaled_dot_product_attention as a PyTorch 2.x user calls it, with the backend it chooses.
// `on` places the tensors (CPU by default, or the case's CUDA device). The float64 reference
// (kernels/common/attention/reference.h) catches any disagreement with the MaskSpec.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "kernels/common/attention/mask_spec.h"
#include "kernels/cpu/attention/flash_cpu.h"

namespace talklab::experiments::attention {

namespace attn = talklab::cpu::attention;

at::ScalarType torch_dtype(attn::DType d);

// The token -> document index map of a document mask (int32, S entries), empty for other masks: what the dense
// mask (visible_mask) and torch_flex's mask_mod (flex_args.h) both compare.
at::Tensor document_ids(const attn::MaskSpec& spec, const at::TensorOptions& on = {});
// The ALiBi slope of each of H heads: the spec's own, else the standard geometric ones.
std::vector<float> alibi_slopes_of(const attn::MaskSpec& spec, int64_t H);

// (S, S) bool, true where a key is visible.
at::Tensor visible_mask(const attn::MaskSpec& spec, int64_t S, const at::TensorOptions& on = {});

// -slope_h * (q - kv) as (H, S, S) float32.
at::Tensor alibi_bias(const attn::MaskSpec& spec, int64_t H, int64_t S, const at::TensorOptions& on = {});

// K and V (B, H_kv, S, D) expanded to (B, H_kv * group, S, D) for grouped-query attention.
std::pair<at::Tensor, at::Tensor> repeat_kv(const at::Tensor& k, const at::Tensor& v, int64_t group);

// What scaled_dot_product_attention is given for a spec, as a PyTorch user writes it: is_causal for plain causal
// (the only mask whose hidden blocks it skips), else a dense (S, S) boolean mask, or for ALiBi a float (H, S, S)
// bias with -inf where hidden, in the inputs' dtype. Softcap cannot be expressed (callers skip it).
struct SdpaMask {
  bool is_causal = false;
  at::Tensor mask;  // undefined: none
  std::optional<at::Tensor> get() const { return mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt; }
};
SdpaMask sdpa_mask(const attn::MaskSpec& spec, int64_t H, int64_t S, at::ScalarType dtype,
                   const at::TensorOptions& on = {});

// at::scaled_dot_product_attention(q, k, v, mask, dropout 0, is_causal, default scale, enable_gqa): grouped-query
// attention is LibTorch's own (enable_gqa = H != H_kv), not K and V repeated by the caller.
at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask,
                bool is_causal);
// The backend sdpa() runs for these inputs under LibTorch's current switches, asked of the choice function
// scaled_dot_product_attention calls itself (at::_fused_sdp_choice). Negative: none can run them.
int64_t sdpa_backend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& mask, bool is_causal);
// at::SDPBackend's name for a value (aten/src/ATen/SDPBackend.h): math 0, flash 1, efficient 2, cudnn 3,
// overrideable 4; "error" for anything else.
const char* sdpa_backend_name(int64_t backend);

}  // namespace talklab::experiments::attention
