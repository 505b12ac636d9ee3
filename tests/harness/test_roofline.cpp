#include "harness/roofline.h"

#include <gtest/gtest.h>

namespace talklab {
namespace {

Roofline machine() {
  Roofline r;
  r.peak_ops_per_s = {{"fp32", 500e9}, {"bf16", 1000e9}};
  r.bandwidth_bytes_per_s = 40e9;
  return r;
}

TEST(Roofline, ComputeBoundWorkIsCappedByThePeakOfItsDtype) {
  const Work w{1e12, 1e9, "fp32"};  // 1000 FLOP/byte: far right of the ridge (12.5 FLOP/byte)
  EXPECT_DOUBLE_EQ(*machine().attainable_ops_per_s(w), 500e9);
  EXPECT_DOUBLE_EQ(*machine().fraction(w, 4.0), 0.5);  // 250 GFLOP/s of 500
}

TEST(Roofline, MemoryBoundWorkIsCappedByBandwidthTimesIntensity) {
  const Work w{1e9, 1e9, "bf16"};  // 1 FLOP/byte
  EXPECT_DOUBLE_EQ(*machine().attainable_ops_per_s(w), 40e9);
  EXPECT_DOUBLE_EQ(*machine().fraction(w, 0.05), 0.5);  // 20 GFLOP/s of 40
}

TEST(Roofline, MemoryOnlyWorkIsMeasuredInBytes) {
  const Work w{0, 8e9, ""};
  EXPECT_DOUBLE_EQ(*machine().fraction(w, 0.4), 0.5);  // 20 GB/s of 40
}

TEST(Roofline, ReadBoundWorkUsesTheReadStream) {
  Roofline r = machine();
  r.read_bandwidth_bytes_per_s = 60e9;
  Work w{1e9, 1e9, "bf16"};
  w.bandwidth = "read";
  EXPECT_DOUBLE_EQ(*r.attainable_ops_per_s(w), 60e9);
  EXPECT_DOUBLE_EQ(*r.fraction(w, 1.0 / 30), 0.5);  // 30 GFLOP/s of 60
  const Work memory_only{0, 6e9, "", "read"};
  EXPECT_DOUBLE_EQ(*r.fraction(memory_only, 0.2), 0.5);  // 30 GB/s of 60
  // Bound by a bandwidth this machine did not measure: no fraction, not one against the copy stream.
  EXPECT_FALSE(machine().fraction(w, 1.0));
  Work unknown = w;
  unknown.bandwidth = "write";
  EXPECT_FALSE(r.fraction(unknown, 1.0));
}

TEST(Roofline, UnknownPeakGivesNoFraction) {
  EXPECT_FALSE(machine().fraction(Work{1e9, 0, "int8"}, 1.0));
  EXPECT_FALSE(machine().fraction(Work{1e9, 0, "fp32"}, 0.0));
  // Bytes but no declared memory ceiling: the work may be compute-bound, and that ceiling is unknown.
  EXPECT_FALSE(machine().fraction(Work{1e9, 1e9, "int8"}, 1.0));
}

// A decode GEMV in int8 on a machine with no measured int8 peak (AVX2): it declares the read stream, so it is
// placed against that bound alone.
TEST(Roofline, UnknownPeakOfAReadBoundWorkUsesTheReadBoundAlone) {
  Roofline r = machine();
  r.read_bandwidth_bytes_per_s = 20e9;
  const Work w{2e9, 1e9, "int8", "read"};  // 2 ops/byte: 40 Gop/s at 20 GB/s
  EXPECT_DOUBLE_EQ(*r.attainable_ops_per_s(w), 40e9);
  EXPECT_DOUBLE_EQ(*r.fraction(w, 0.1), 0.5);  // 20 Gop/s of 40
  EXPECT_FALSE(machine().fraction(w, 0.1));    // read stream not measured: nothing to place it against
}

}  // namespace
}  // namespace talklab
