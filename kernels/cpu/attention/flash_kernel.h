// Internal: what the dispatcher (flash_cpu.cpp) hands to one ISA's kernel, and the per-ISA entry points.
#pragma once

#include <cstddef>

#include "kernels/cpu/attention/flash_cpu.h"

namespace talklab::cpu::attention {

// A BlockMask as raw arrays, filled by the dispatcher: the ISA kernels then call none of BlockMask's (or
// std::vector's) inline members, whose out-of-line copies the linker could otherwise share across ISAs.
struct BlockMaskView {
  int B = 1, H = 1, q_block = 1, kv_block = 2, num_q_blocks = 0;
  const int32_t* kv_num_blocks = nullptr;
  const int64_t* kv_offsets = nullptr;
  const int32_t* kv_indices = nullptr;
  const int32_t* full_kv_num_blocks = nullptr;
  const int64_t* full_kv_offsets = nullptr;
  const int32_t* full_kv_indices = nullptr;
  const int32_t* work_order = nullptr;
};

// Dispatchers' helpers (flash_cpu.cpp, flash_backward.cpp; defined in flash_cpu.cpp, baseline x86-64).
BlockMaskView block_mask_view(const BlockMask& bm);
bool isa_available(Isa isa);

struct KernelArgs {
  AttnShape shape;
  AttnTensors t;
  BlockMaskView bm;
  TileMods mods;
  float scale = 1.0f;
  int num_threads = 1;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

namespace avx512 {
void flash_forward_f32(const KernelArgs& a);
void flash_forward_bf16(const KernelArgs& a);  // workspace: V packed in key pairs
size_t workspace_bytes_bf16(const AttnShape& s);
}  // namespace avx512
namespace avx2 {
void flash_forward(const KernelArgs& a);  // bf16: K, V converted to float32 in the workspace
}
namespace scalar {
void flash_forward(const KernelArgs& a);  // same
}

}  // namespace talklab::cpu::attention
