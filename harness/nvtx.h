// NVTX ranges named like the cases, so a timeline in Nsight Systems reads in case names. Header-only NVTX3
// from the CUDA Toolkit; without it (a CPU-only build) the range does nothing.
#pragma once

#if defined(TALKLAB_HAVE_CUDA) && TALKLAB_HAVE_CUDA && __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define TALKLAB_NVTX 1
#endif

#include <string>

namespace talklab {

class NvtxRange {
 public:
  explicit NvtxRange(const std::string& name) {
#ifdef TALKLAB_NVTX
    nvtxRangePushA(name.c_str());
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
#ifdef TALKLAB_NVTX
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace talklab
