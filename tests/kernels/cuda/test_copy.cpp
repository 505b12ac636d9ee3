// kernels/cuda/roofline/copy.h: the copy must be exact for every byte count and every pair of alignments
// (the 16-byte path, each narrower fallback, head and tail), and must write nothing outside [dst, dst+bytes).
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "harness/cuda/memory.h"
#include "kernels/cuda/roofline/copy.h"
#include "tests/kernels/cuda/require_gpu.h"

namespace talklab::cuda {
namespace {

constexpr unsigned char kGuard = 0xab;  // what dst holds outside the copied range
constexpr size_t kSlack = 64;           // room for offsets and guard bytes around each copy

std::vector<unsigned char> pattern(size_t n, uint32_t seed) {
  std::vector<unsigned char> v(n);
  uint32_t x = (seed * 2654435761u) | 1u;  // xorshift32 must not start at 0
  for (auto& b : v) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;  // xorshift32: cheap distinct bytes, never all equal
    b = static_cast<unsigned char>(x);
  }
  return v;
}

// Copies `bytes` from src+src_off to dst+dst_off and checks every byte of dst's buffer.
void check_copy(size_t bytes, size_t src_off, size_t dst_off) {
  const size_t size = bytes + kSlack;
  DeviceBuffer src(size), dst(size);
  const std::vector<unsigned char> in = pattern(size, static_cast<uint32_t>(bytes + 31 * src_off + 7 * dst_off));
  src.copy_from_host(in.data(), size);
  dst.fill_bytes(kGuard);

  launch_copy(static_cast<unsigned char*>(dst.data()) + dst_off, static_cast<const unsigned char*>(src.data()) + src_off,
              bytes, nullptr);
  synchronize_device();

  std::vector<unsigned char> out(size);
  dst.copy_to_host(out.data(), size);
  size_t wrong = 0, first_wrong = size;
  for (size_t i = 0; i < size; ++i) {
    const bool inside = i >= dst_off && i < dst_off + bytes;
    const unsigned char want = inside ? in[src_off + (i - dst_off)] : kGuard;
    if (out[i] != want) {
      ++wrong;
      if (first_wrong == size) first_wrong = i;
    }
  }
  EXPECT_EQ(wrong, 0u) << "bytes=" << bytes << " src_off=" << src_off << " dst_off=" << dst_off
                       << " first wrong byte at dst+" << first_wrong;
}

TEST(LaunchCopy, ExactForOddSizesAndEveryAlignmentPair) {
  TALKLAB_REQUIRE_GPU();
  // Offsets pick every access width: equal residues mod 16 (16-byte path), mod 8, mod 4, mod 2, and odd.
  const size_t offsets[] = {0, 1, 2, 3, 4, 8, 13, 15};
  const size_t sizes[] = {0, 1, 2, 15, 16, 17, 31, 33, 255, 4097, 65537};
  for (size_t bytes : sizes) {
    for (size_t so : offsets) {
      for (size_t d : offsets) check_copy(bytes, so, d);
    }
  }
}

TEST(LaunchCopy, ExactWhenTheGridStridesSeveralTimes) {
  TALKLAB_REQUIRE_GPU();
  // 64 MiB + 3 is several trips of the persistent grid on any current GPU, and ends in a 3-byte tail.
  constexpr size_t kBig = (64u << 20) + 3;
  check_copy(kBig, 0, 0);
  check_copy(kBig, 5, 5);
  check_copy(kBig, 8, 0);
  check_copy(kBig, 1, 2);
}

// These never reach the GPU, so they run everywhere.
TEST(LaunchCopy, RejectsOverlapAndNullAndAcceptsEmpty) {
  std::vector<unsigned char> host(100);
  EXPECT_THROW(launch_copy(host.data() + 10, host.data(), 20, nullptr), std::invalid_argument);
  EXPECT_THROW(launch_copy(host.data(), host.data() + 19, 20, nullptr), std::invalid_argument);
  EXPECT_THROW(launch_copy(nullptr, host.data(), 1, nullptr), std::invalid_argument);
  EXPECT_NO_THROW(launch_copy(nullptr, nullptr, 0, nullptr));
}

}  // namespace
}  // namespace talklab::cuda
