#include "harness/memory.h"
#include "harness/torch_glue.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>

namespace talklab {
namespace {

TEST(Memory, KnownAllocationsGiveTheExactPeak) {
  const int64_t base = memory::current_bytes();
  memory::reset_peak();
  {
    memory::Buffer<float> a(1000);   // 4000 bytes
    memory::Buffer<double> b(333);   // 2664 bytes
    EXPECT_EQ(memory::current_bytes() - base, 4000 + 2664);
    { memory::Buffer<char> c(10'000); }
    EXPECT_EQ(memory::peak_bytes() - base, 4000 + 2664 + 10'000);
  }
  EXPECT_EQ(memory::current_bytes(), base);
  EXPECT_EQ(memory::peak_bytes() - base, 16'664);
  memory::reset_peak();
  EXPECT_EQ(memory::peak_bytes(), base);
}

TEST(Memory, BuffersAreCacheLineAlignedAndMovable) {
  memory::Buffer<float> a(17);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % memory::kAlignment, 0u);
  const float* p = a.data();
  memory::Buffer<float> b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);
}

TEST(Memory, LibTorchTensorsAreTracked) {
  install_torch_allocator();
  const int64_t base = memory::current_bytes();
  memory::reset_peak();
  {
    at::Tensor t = at::empty({1024, 256}, at::kFloat);  // 1 MiB
    EXPECT_EQ(memory::current_bytes() - base, 1024 * 256 * 4);
    at::Tensor u = at::empty_like(t);  // another MiB
    u.copy_(t);
    EXPECT_EQ(memory::current_bytes() - base, 2 * 1024 * 256 * 4);
  }
  EXPECT_EQ(memory::current_bytes(), base);
  EXPECT_EQ(memory::peak_bytes() - base, 2 * 1024 * 256 * 4);
}

TEST(Memory, AvailableSystemMemoryIsKnownOnLinux) { EXPECT_GT(memory::available_system_bytes(), 0); }

}  // namespace
}  // namespace talklab
