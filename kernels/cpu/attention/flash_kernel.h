// Internal: what the dispatcher (flash_cpu.cpp) hands to one ISA's kernel, and the per-ISA entry points.
#pragma once

#include <cstddef>

#include "kernels/cpu/attention/flash_cpu.h"

namespace talklab::cpu::attention {

struct KernelArgs {
  AttnShape shape;
  AttnTensors t;
  const BlockMask* bm = nullptr;
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
