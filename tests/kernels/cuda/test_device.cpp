// The CUDA harness pieces: device probe, memory, event timer. The probe tests run on every
// machine (that is the point: a CUDA build must run where there is no GPU); the rest skip without a GPU.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "harness/cuda/device.h"
#include "harness/cuda/memory.h"
#include "harness/cuda/timer.h"
#include "kernels/cuda/roofline/copy.h"
#include "tests/kernels/cuda/require_gpu.h"

namespace talklab::cuda {
namespace {

TEST(ProbeDevice, ReportsAvailabilityOrAReason) {
  const DeviceInfo info = probe_device();
  if (!info.available) {
    EXPECT_FALSE(info.reason.empty());
    std::printf("no GPU: %s (runtime %d, driver %d)\n", info.reason.c_str(), info.runtime_version,
                info.driver_version);
    return;
  }
  EXPECT_TRUE(info.reason.empty());
  EXPECT_FALSE(info.name.empty());
  EXPECT_GE(info.cc_major, 3);
  EXPECT_GT(info.sm_count, 0);
  EXPECT_GT(info.l2_bytes, 0);
  EXPECT_GT(info.total_memory_bytes, 0);
  EXPECT_GT(info.shared_memory_per_block_optin, 0);
  EXPECT_GT(info.runtime_version, 0);
  EXPECT_GE(info.driver_version, info.runtime_version / 1000 * 1000);  // same major at least
  EXPECT_GT(info.sm_clock_khz, 0);
  EXPECT_GT(info.mem_clock_khz, 0);
  EXPECT_GT(info.mem_bus_width_bits, 0);
  std::printf("%s: cc %d.%d, %d SMs, L2 %lld B\n", info.name.c_str(), info.cc_major, info.cc_minor, info.sm_count,
              static_cast<long long>(info.l2_bytes));
}

TEST(ProbeDevice, OutOfRangeIndexIsNotAvailable) {
  const DeviceInfo info = probe_device(1 << 20);
  EXPECT_FALSE(info.available);
  EXPECT_FALSE(info.reason.empty());
}

TEST(FormatError, NamesCallMessageAndError) {
  const std::string text = format_error(cudaErrorMemoryAllocation, "cudaMalloc");
  EXPECT_EQ(text.rfind("cudaMalloc: ", 0), 0u) << text;
  EXPECT_NE(text.find("(cudaErrorMemoryAllocation)"), std::string::npos) << text;
  EXPECT_NO_THROW(check(cudaSuccess, "nothing"));
  EXPECT_THROW(check(cudaErrorInvalidValue, "something"), std::runtime_error);
}

TEST(NoGpu, CallsThrowInsteadOfCrashing) {
  TALKLAB_REQUIRE_NO_GPU();
  EXPECT_THROW(device_memory(), std::runtime_error);
  EXPECT_THROW(DeviceBuffer(1024), std::runtime_error);
  EXPECT_THROW(EventTimer(nullptr, CacheMode::cold, 1 << 20), std::runtime_error);
}

TEST(DeviceMemory, FreeWithinTotal) {
  TALKLAB_REQUIRE_GPU();
  const DeviceMemory mem = device_memory();
  EXPECT_GT(mem.total_bytes, 0);
  EXPECT_GT(mem.free_bytes, 0);
  EXPECT_LE(mem.free_bytes, mem.total_bytes);
}

TEST(DeviceBuffer, RoundTripsAndChecksRanges) {
  TALKLAB_REQUIRE_GPU();
  DeviceBuffer buf(1000);
  std::vector<unsigned char> in(1000), out(1000);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<unsigned char>(i * 7 + 1);
  buf.copy_from_host(in.data(), in.size());
  buf.copy_to_host(out.data(), out.size());
  EXPECT_EQ(in, out);
  buf.fill_bytes(0x5a);
  buf.copy_to_host(out.data(), 10, 990);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(out[i], 0x5a);
  EXPECT_THROW(buf.copy_to_host(out.data(), 11, 990), std::out_of_range);
  DeviceBuffer moved(std::move(buf));
  EXPECT_EQ(moved.bytes(), 1000u);
  EXPECT_EQ(buf.data(), nullptr);
}

// Positive, finite times on the default stream and on a created stream, hot and cold. No assertion on how
// long: wall-clock comparisons are machine- and load-dependent.
TEST(EventTimer, SamplesArePositive) {
  TALKLAB_REQUIRE_GPU();
  const DeviceInfo info = probe_device();
  constexpr size_t kBytes = 16u << 20;
  DeviceBuffer src(kBytes), dst(kBytes);
  src.fill_bytes(1);

  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  for (void* s : {static_cast<void*>(nullptr), static_cast<void*>(stream)}) {
    for (CacheMode mode : {CacheMode::hot, CacheMode::cold}) {
      EventTimer timer(s, mode, info.l2_bytes);
      EXPECT_EQ(timer.stream(), s);
      for (int rep = 0; rep < 3; ++rep) {
        const double seconds = timer.sample([&] { launch_copy(dst.data(), src.data(), kBytes, timer.stream()); });
        EXPECT_GT(seconds, 0.0);
        EXPECT_TRUE(std::isfinite(seconds));
      }
    }
  }
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST(EventTimer, ExceptionFromLaunchPropagates) {
  TALKLAB_REQUIRE_GPU();
  EventTimer timer(nullptr, CacheMode::hot, 0);
  EXPECT_THROW(timer.sample([] { throw std::runtime_error("launch failed"); }), std::runtime_error);
}

}  // namespace
}  // namespace talklab::cuda
