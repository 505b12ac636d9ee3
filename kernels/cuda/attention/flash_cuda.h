// flash_cuda: block-sparse FlashAttention-2 forward on NVIDIA tensor cores (bf16 / fp16 in, fp32 accumulate), with
// the masks and score mods of the CPU kernel (kernels/common/attention/mask_spec.h) and its block mask.
//   Q (B, H, S_q, D), K and V (B, H_kv, S_kv, D), O (B, H, S_q, D): contiguous, bf16 or fp16 (raw 16-bit device
//   pointers); LSE (B, H, S_q) float32 natural log of sum_kv exp(score), -inf for a fully masked row (whose output is
//   0), or null. Query head h reads kv head h / (H / H_kv). Any S_q, S_kv >= 1; D = 64 or 128. Scale 0 = 1/sqrt(D).
//   Masks: full, causal (top-left aligned), sliding_window, document, prefix_lm; score mods: softcap, alibi
//   (rel_bias is refused).
// Compute-bound: 4 * D flops per visited (q, kv) pair; the kernel and its limits are described in flash_cuda.cu.
// Measured by: bench run --profile gpu --device cuda --filter 'attention/flash_cuda'
// No CUDA types here: streams are void* holding a cudaStream_t.
#pragma once

#include <cstddef>

#include "kernels/cuda/attention/flash_cuda_plan.h"

namespace talklab::cuda::attention {

struct FlashCudaTensors {
  const void* q = nullptr;  // (B, H, S_q, D) device
  const void* k = nullptr;  // (B, H_kv, S_kv, D) device
  const void* v = nullptr;  // (B, H_kv, S_kv, D) device
  void* o = nullptr;        // (B, H, S_q, D) device, every element written; Q, K, V, O 16-byte aligned
  float* lse = nullptr;     // (B, H, S_q) device, or null
};

// Built once per (shape, mask spec, dtype): the launch plan (flash_cuda_plan.h) and its device copy (block mask CSR
// lists, launch order, document starts, ALiBi slopes) in one device allocation. Construction allocates and copies
// synchronously; throws std::invalid_argument for what the plan refuses and std::runtime_error when CUDA fails.
class FlashCudaPlan {
 public:
  FlashCudaPlan(const common_attn::AttnShape& shape, const common_attn::MaskSpec& spec, ElementType dtype,
                float scale = 0.f, int warp_rows = kDefaultWarpRows);
  ~FlashCudaPlan();
  FlashCudaPlan(FlashCudaPlan&&) noexcept;
  FlashCudaPlan& operator=(FlashCudaPlan&&) noexcept;
  FlashCudaPlan(const FlashCudaPlan&) = delete;
  FlashCudaPlan& operator=(const FlashCudaPlan&) = delete;

  const FlashLaunchPlan& launch() const { return launch_; }
  size_t device_bytes() const { return device_bytes_; }
  // The kernel's parameters for these tensors (checked: non-null Q, K, V, O).
  FlashKernelParams params(const FlashCudaTensors& t) const;

 private:
  FlashLaunchPlan launch_;
  void* device_ = nullptr;  // one cudaMalloc holding every array
  size_t device_bytes_ = 0;
  FlashKernelParams base_;  // params with the plan's device pointers, tensors unset
};

// Enqueues one launch on `stream`. executed_tiles: optional device counters (2 x unsigned long long, full then
// partial) the kernel adds its executed tiles to; null in timed runs. The shape must be the plan's.
void flash_cuda(const FlashCudaPlan& plan, const common_attn::AttnShape& shape, const FlashCudaTensors& t, void* stream,
                unsigned long long* executed_tiles = nullptr);

// Tiles and executed FLOPs a run computes (from the block mask: flash_stats, as for flash_cpu).
common_attn::FlashStats flash_cuda_stats(const FlashCudaPlan& plan);

}  // namespace talklab::cuda::attention
