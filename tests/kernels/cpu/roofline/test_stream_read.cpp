// stream_read must return the sum of exactly src[0, n) within its stated bound (kStreamReadRelativeError of
// sum |x|) against a float64 sum, on random signed data, for odd n and unaligned starts, every ISA this CPU runs
// (the AVX-512 path is the same source, detail/stream_read_core.h), 1 to 3 threads, cached and prefetching paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/roofline/stream.h"

namespace talklab::cpu::roofline {
namespace {

constexpr float kPoison = 1e30f;  // around the range: read once, it would swamp the sum

// Past kStreamNonTemporalMinBytes of reads: the prefetching path.
constexpr size_t kPrefetchN = (kStreamNonTemporalMinBytes / sizeof(float)) + 4099;

void check_read(Isa isa, int threads, size_t n, size_t offset, std::vector<float>& storage) {
  SCOPED_TRACE(std::string(isa_name(isa)) + " threads=" + std::to_string(threads) + " n=" + std::to_string(n) +
               " offset=" + std::to_string(offset));
  storage.assign(n + offset + 64, kPoison);
  float* src = storage.data() + offset;
  std::mt19937_64 rng(n * 131 + offset * 7 + size_t(threads));
  std::uniform_real_distribution<float> magnitude(0.25f, 4.0f);
  double exact = 0, absolute = 0;
  for (size_t i = 0; i < n; ++i) {
    src[i] = (rng() & 1 ? 1.0f : -1.0f) * magnitude(rng);
    exact += double(src[i]);
    absolute += std::fabs(double(src[i]));
  }
  const double got = stream_read(src, n, threads, isa);
  EXPECT_LE(std::fabs(got - exact), kStreamReadRelativeError * absolute) << "got " << got << " want " << exact;
}

TEST(StreamRead, SumsOddSizesAndOffsetsWithinItsBound) {
  std::vector<float> storage;
  for (Isa isa : supported_isas()) {
    for (int threads : {1, 2, 3}) {
      for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(255), size_t(2049), size_t(1000003)}) {
        for (size_t offset : {size_t(0), size_t(1), size_t(13)}) check_read(isa, threads, n, offset, storage);
      }
    }
  }
}

TEST(StreamRead, PrefetchingPathSumsTheSame) {
  std::vector<float> storage;
  for (Isa isa : supported_isas()) {
    for (int threads : {1, 2}) check_read(isa, threads, kPrefetchN, 5, storage);
  }
}

// A float accumulator would stop growing at 2^24 ones; the blocks' double sums do not.
TEST(StreamRead, LongRunsOfOnesStayExact) {
  const size_t n = (size_t(1) << 25) + 3;
  std::vector<float> ones(n, 1.0f);
  for (Isa isa : supported_isas()) EXPECT_EQ(stream_read(ones.data(), n, 2, isa), double(n)) << isa_name(isa);
}

TEST(StreamRead, BytesMovedCountReadsOnly) { EXPECT_EQ(stream_bytes_moved_read(1000), 4000u); }

TEST(StreamRead, RefusesBadThreadCountsAndIsas) {
  const std::vector<float> x(17, 1.0f);
  EXPECT_THROW(stream_read(x.data(), x.size(), 0, Isa::scalar), std::invalid_argument);
  const std::vector<Isa> have = supported_isas();
  if (std::find(have.begin(), have.end(), Isa::avx512) == have.end()) {
    EXPECT_THROW(stream_read(x.data(), x.size(), 1, Isa::avx512), std::invalid_argument);
  }
}

}  // namespace
}  // namespace talklab::cpu::roofline
