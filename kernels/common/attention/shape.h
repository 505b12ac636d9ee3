// The attention problem both devices' kernels take (flash_cpu, flash_cuda) and the float64 reference checks:
//   Q (B, H, S_q, D), K and V (B, H_kv, S_kv, D), O (B, H, S_q, D): contiguous row-major; LSE (B, H, S_q) float32.
//   Query head h reads kv head h / (H / H_kv) (grouped-query attention).
#pragma once

#include <cstdint>

namespace talklab::attention {

enum class DType { f32, bf16 };

struct AttnShape {
  int64_t B = 1, H = 1, H_kv = 1, S_q = 0, S_kv = 0, D = 0;
};

// Host tensors, float32 or bf16 (raw uint16_t bits).
struct AttnTensors {
  DType dtype = DType::f32;
  const void* q = nullptr;  // (B, H, S_q, D)
  const void* k = nullptr;  // (B, H_kv, S_kv, D)
  const void* v = nullptr;  // (B, H_kv, S_kv, D)
  void* o = nullptr;        // (B, H, S_q, D), every element written
  float* lse = nullptr;     // (B, H, S_q) or null
};

}  // namespace talklab::attention
