// stream_copy / stream_triad must write exactly the right values into exactly [0, n) of the destination,
// for odd n, unaligned pointers, every ISA this CPU runs and 1 or 2 threads, on both store paths.
#include "kernels/cpu/roofline/stream.h"

#include "kernels/cpu/roofline/detail/stream_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace talklab::cpu::roofline {
namespace {

constexpr size_t kGuard = 64;            // floats checked untouched on each side of the destination
constexpr float kSentinel = -12345.0f;    // around destinations
constexpr float kSourcePad = 4242.0f;     // around sources: an overrun copies this, not the sentinel
constexpr float kScalar = 1.7f;
// Big enough that copy and triad move more than kStreamNonTemporalMinBytes: the streaming-store path.
constexpr size_t kStreamingN = (size_t(4) << 20) + 37;

// n floats starting `offset` floats past a 64-byte boundary, between two guard bands.
struct Buffer {
  std::vector<float> storage;
  float* data;
  size_t n;

  Buffer(size_t n_, size_t offset, float pad = kSentinel) : storage(n_ + offset + 2 * kGuard + 16, pad), n(n_) {
    const auto base = reinterpret_cast<uintptr_t>(storage.data());
    const uintptr_t aligned = (base + 63) & ~uintptr_t(63);
    data = reinterpret_cast<float*>(aligned) + kGuard + offset;
  }
  void randomize(std::mt19937& rng) {
    std::uniform_real_distribution<float> magnitude(0.5f, 2.0f);
    for (size_t i = 0; i < n; ++i) data[i] = (rng() & 1 ? 1.0f : -1.0f) * magnitude(rng);
  }
  bool guards_intact() const {
    for (size_t i = 1; i <= kGuard; ++i) {
      if (!same_bits(data[-ptrdiff_t(i)], kSentinel) || !same_bits(data[n - 1 + i], kSentinel)) return false;
    }
    return true;
  }
  static bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
};

// First index where got differs bit for bit from want, or n.
size_t first_mismatch(const float* got, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (!Buffer::same_bits(got[i], want[i])) return i;
  }
  return want.size();
}

// The rounding each ISA promises in stream.h: fused on avx2/avx512, multiply then add on scalar.
std::vector<float> triad_reference(const float* b, const float* c, size_t n, Isa isa) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (isa == Isa::scalar) {
      const float product = kScalar * c[i];
      out[i] = b[i] + product;
    } else {
      out[i] = std::fma(kScalar, c[i], b[i]);
    }
  }
  return out;
}

void check_copy(Isa isa, int threads, size_t n, size_t dst_offset, size_t src_offset) {
  SCOPED_TRACE(std::string(isa_name(isa)) + " threads=" + std::to_string(threads) + " n=" + std::to_string(n) +
               " offsets=" + std::to_string(dst_offset) + "," + std::to_string(src_offset));
  std::mt19937 rng(uint32_t(n * 31 + dst_offset * 7 + src_offset));
  Buffer dst(n, dst_offset), src(n, src_offset, kSourcePad);
  src.randomize(rng);
  stream_copy(dst.data, src.data, n, threads, isa);
  const std::vector<float> want(src.data, src.data + n);
  EXPECT_EQ(first_mismatch(dst.data, want), n);
  EXPECT_TRUE(dst.guards_intact());
}

void check_triad(Isa isa, int threads, size_t n, size_t a_offset, size_t b_offset, size_t c_offset) {
  SCOPED_TRACE(std::string(isa_name(isa)) + " threads=" + std::to_string(threads) + " n=" + std::to_string(n) +
               " offsets=" + std::to_string(a_offset) + "," + std::to_string(b_offset) + "," +
               std::to_string(c_offset));
  std::mt19937 rng(uint32_t(n * 17 + a_offset * 5 + b_offset * 3 + c_offset));
  Buffer a(n, a_offset), b(n, b_offset, kSourcePad), c(n, c_offset, kSourcePad);
  b.randomize(rng);
  c.randomize(rng);
  stream_triad(a.data, b.data, c.data, kScalar, n, threads, isa);
  EXPECT_EQ(first_mismatch(a.data, triad_reference(b.data, c.data, n, isa)), n);
  EXPECT_TRUE(a.guards_intact());
}

TEST(Stream, CopyIsExactForOddSizesAndOffsets) {
  for (Isa isa : supported_isas()) {
    for (int threads : {1, 2}) {
      for (size_t n : {size_t(1), size_t(7), size_t(1023), size_t(1000003)}) {
        check_copy(isa, threads, n, 0, 0);
        check_copy(isa, threads, n, 1, 3);
        check_copy(isa, threads, n, 15, 0);
        check_copy(isa, threads, n, 5, 5);
      }
    }
  }
}

TEST(Stream, TriadIsExactForOddSizesAndOffsets) {
  for (Isa isa : supported_isas()) {
    for (int threads : {1, 2}) {
      for (size_t n : {size_t(1), size_t(7), size_t(1023), size_t(1000003)}) {
        check_triad(isa, threads, n, 0, 0, 0);
        check_triad(isa, threads, n, 1, 3, 7);
        check_triad(isa, threads, n, 15, 0, 2);
      }
    }
  }
}

TEST(Stream, StreamingStorePathIsExact) {
  for (Isa isa : supported_isas()) {
    if (isa == Isa::scalar) continue;
    EXPECT_TRUE(stream_uses_non_temporal(stream_bytes_moved_copy(kStreamingN), isa));
    for (int threads : {1, 2}) {
      check_copy(isa, threads, kStreamingN, 0, 0);
      check_copy(isa, threads, kStreamingN, 3, 1);
      check_triad(isa, threads, kStreamingN, 0, 0, 0);
      check_triad(isa, threads, kStreamingN, 9, 2, 0);
    }
  }
}

TEST(Stream, EmptyRangeWritesNothing) {
  for (Isa isa : supported_isas()) {
    Buffer dst(0, 3), src(0, 0);
    stream_copy(dst.data, src.data, 0, 2, isa);
    stream_triad(dst.data, src.data, src.data, kScalar, 0, 2, isa);
    EXPECT_TRUE(dst.guards_intact()) << isa_name(isa);
  }
}

TEST(Stream, SmallCallsStoreNormally) {
  for (Isa isa : supported_isas()) {
    EXPECT_FALSE(stream_uses_non_temporal(stream_bytes_moved_triad(1000003), isa)) << isa_name(isa);
  }
  EXPECT_FALSE(stream_uses_non_temporal(stream_bytes_moved_copy(kStreamingN), Isa::scalar));
}

TEST(Stream, ThreadRangesCoverEverythingAndStartOnLines) {
  alignas(64) static float line[32];
  for (size_t offset : {0, 1, 9, 15}) {
    const float* dst = line + offset;
    for (size_t n : {size_t(0), size_t(1), size_t(17), size_t(1000003)}) {
      for (int parts : {1, 2, 3, 4}) {
        SCOPED_TRACE("offset=" + std::to_string(offset) + " n=" + std::to_string(n) + " parts=" +
                     std::to_string(parts));
        EXPECT_EQ(stream_range_start(dst, n, 0, parts), 0u);
        EXPECT_EQ(stream_range_start(dst, n, parts, parts), n);
        for (int t = 1; t < parts; ++t) {
          const size_t start = stream_range_start(dst, n, t, parts);
          EXPECT_LE(stream_range_start(dst, n, t - 1, parts), start);
          if (start < n) {
            EXPECT_EQ(reinterpret_cast<uintptr_t>(dst + start) % 64, 0u);
          }
        }
      }
    }
  }
}

TEST(Stream, BytesMovedCountReadsPlusWrites) {
  EXPECT_EQ(stream_bytes_moved_copy(1000), 8000u);
  EXPECT_EQ(stream_bytes_moved_triad(1000), 12000u);
}

}  // namespace
}  // namespace talklab::cpu::roofline
