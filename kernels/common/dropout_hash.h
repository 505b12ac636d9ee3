// The dropout mask of the checkpointing experiment as a pure function of (seed, element index): a counter-based
// hash (SplitMix64's finalizer), so a recomputed forward, a backward and every device draw the same mask without
// storing it. Host and device code share this one definition.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace talklab::kernels {

// keep(seed, i): true with probability 1 - p, from the top 53 bits of the hash as a uniform double in [0, 1).
TALKLAB_HOST_DEVICE inline bool dropout_keep(uint64_t seed, uint64_t i, double p) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53 >= p;
}

}  // namespace talklab::kernels
