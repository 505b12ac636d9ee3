// Internal: what the backward's dispatcher (flash_backward.cpp) hands to one ISA's kernel, and the per-ISA entry
// points (flash_backward_{avx512,avx2,scalar}.cpp, all instances of flash_backward_core.h).
#pragma once

#include "kernels/cpu/attention/flash_backward.h"
#include "kernels/cpu/attention/flash_kernel.h"

namespace talklab::cpu::attention {

struct BackwardArgs {
  AttnShape shape;
  AttnGradTensors g;
  BlockMaskView bm;    // the forward's: rows are query blocks (the dQ pass)
  BlockMaskView bm_t;  // transposed: rows are key blocks (the dK / dV pass)
  TileMods mods;
  TileScoreGrad score_grad;
  const void* score_ctx = nullptr;
  float scale = 1.0f;
  int num_threads = 1;
  float* delta = nullptr;  // workspace: D = rowsum(dO * O), (B, H, S_q)
  bool one_pass = false;   // one task per (b, kv head) computes dK, dV and the group's dQ (flash_backward.h)
};

namespace avx512 {
void flash_backward(const BackwardArgs& a);
size_t backward_thread_bytes(const AttnShape& s, DType dt, int q_block, int kv_block, bool one_pass);
}
namespace avx2 {
void flash_backward(const BackwardArgs& a);
size_t backward_thread_bytes(const AttnShape& s, DType dt, int q_block, int kv_block, bool one_pass);
}
namespace scalar {
void flash_backward(const BackwardArgs& a);
size_t backward_thread_bytes(const AttnShape& s, DType dt, int q_block, int kv_block, bool one_pass);
}

}  // namespace talklab::cpu::attention
