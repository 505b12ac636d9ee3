// Skip a test, with the runtime's reason, when no CUDA device is usable (a CUDA build on a machine without a
// GPU or driver). Tests that check the no-GPU path itself do the opposite with TALKLAB_REQUIRE_NO_GPU.
#pragma once

#include <gtest/gtest.h>

#include "harness/cuda/device.h"

#define TALKLAB_REQUIRE_GPU()                                                                  \
  do {                                                                                         \
    const ::talklab::cuda::DeviceInfo talklab_info_ = ::talklab::cuda::probe_device();        \
    if (!talklab_info_.available) GTEST_SKIP() << "no usable CUDA device: " << talklab_info_.reason; \
  } while (0)

#define TALKLAB_REQUIRE_NO_GPU()                                                     \
  do {                                                                               \
    if (::talklab::cuda::probe_device().available) GTEST_SKIP() << "checks the no-GPU path; a GPU is present"; \
  } while (0)
