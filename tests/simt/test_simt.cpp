// The SIMT emulator itself (simt.h): its indices, barriers and collectives behave as CUDA's, its ldmatrix and mma
// agree with each other and with the plain product in the standard idiom (A by ldmatrix from row-major rows, B by
// ldmatrix.trans from row-major K x N rows), cp.async data lands only at the wait, and the errors it promises to
// find (deadlock, divergent collectives, shared-memory addresses out of range) are reported, naming the thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common/attention/mask_spec.h"
#include "kernels/cpu/quant/bf16.h"
#include "kernels/cuda/attention/flash_cuda.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/matmul/w4a16.h"
#include "kernels/cuda/ptx.cuh"
#include "kernels/simt/simt.h"
#include "tests/message_of.h"

namespace talklab::simt {
namespace {

namespace ptx = talklab::cuda::ptx;

// ---- kernels ------------------------------------------------------------------------------------------------------

// Every thread of every block writes its global linear index once.
__global__ void write_ids(int* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * threads + thread] += int(block * threads + thread) + 1;
}

// Thread i writes i to shared memory; after the barrier it reads its neighbour's value (a reversed block).
__global__ void reverse_through_shared(int* out) {
  __shared__ int buffer[256];
  buffer[threadIdx.x] = int(threadIdx.x) * 3;
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = buffer[blockDim.x - 1 - threadIdx.x];
}

__global__ void shuffles_and_votes(float* sums, int* votes) {
  const int lane = threadIdx.x % 32;
  float x = float(lane);
  for (int off = 16; off > 0; off /= 2) x += __shfl_xor_sync(0xffffffffu, x, off);
  sums[threadIdx.x] = x;
  votes[threadIdx.x] = __any_sync(0xffffffffu, lane == 7) + 2 * __all_sync(0xffffffffu, lane < 31);
}

// One m16n8k16 through shared memory: A (16 x 16) row-major rows by ldmatrix.x4, B (16 x 8, stored K x N row-major)
// by ldmatrix.x4.trans (two 8 x 8 matrices per call: rows k 0-7 and 8-15; the other two are a second copy of B
// shifted by 8 columns, stored beside it), D (16 x 8) written from the accumulator layout.
__global__ void one_mma(float* d_out, const uint16_t* a, const uint16_t* b) {
  uint16_t* s = ptx::dynamic_shared<uint16_t>();
  uint16_t* sA = s;            // [16][16]
  uint16_t* sB = s + 16 * 16;  // [16][16]: columns 0-7 are B, 8-15 unused (filled with B again)
  const int lane = threadIdx.x;
  for (int i = lane; i < 16 * 16; i += 32) {
    sA[i] = a[i];
    sB[i] = b[(i / 16) * 8 + (i % 8)];
  }
  __syncwarp();
  uint32_t af[4], bf[4];
  // A: matrices (rows 0-7 | 8-15) x (cols 0-7 | 8-15) in the order a0, a1, a2, a3.
  const int a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
  ptx::ldmatrix_x4(af, ptx::shared_address(sA + a_row * 16 + a_col));
  // B: matrix 0 = k rows 0-7, matrix 1 = k rows 8-15 (columns 0-7 each): b0, b1.
  const int b_row = (lane & 7) + ((lane >> 3) & 1) * 8, b_col = (lane >> 4) * 8;
  ptx::ldmatrix_x4_trans(bf, ptx::shared_address(sB + b_row * 16 + b_col));
  float d[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  ptx::mma_bf16_16816(d, af, bf[0], bf[1]);
  const int g = lane / 4, t = lane % 4;
  d_out[g * 8 + 2 * t] = d[0];
  d_out[g * 8 + 2 * t + 1] = d[1];
  d_out[(g + 8) * 8 + 2 * t] = d[2];
  d_out[(g + 8) * 8 + 2 * t + 1] = d[3];
}

// Reads the shared word a cp.async targets before and after the wait.
__global__ void cp_async_lands_at_wait(uint32_t* seen, const uint32_t* src) {
  uint32_t* s = ptx::dynamic_shared<uint32_t>();
  ptx::cp_async_16(ptx::shared_address(s + 4 * threadIdx.x), src + 4 * threadIdx.x, true);
  ptx::cp_async_commit();
  seen[2 * threadIdx.x] = s[4 * threadIdx.x];
  ptx::cp_async_wait<0>();
  seen[2 * threadIdx.x + 1] = s[4 * threadIdx.x];
}

// Warp 1 reads what warp 0 wrote with NO barrier between: a race the schedules must expose.
__global__ void missing_barrier(int* out) {
  int* s = ptx::dynamic_shared<int>();
  const int lane = threadIdx.x % 32;
  if (threadIdx.x < 32) s[lane] = int(blockIdx.x) * 100 + lane;
  __syncwarp();
  if (threadIdx.x >= 32) out[blockIdx.x * 32 + lane] = s[lane];
}

// ldmatrix over a [64][64] bf16 tile (128-byte rows): every row of a matrix in the same bank group unless the
// 16-byte chunks are XOR-swizzled by row, as flash_cuda does.
__global__ void ldmatrix_rows(bool swizzled) {
  uint16_t* s = ptx::dynamic_shared<uint16_t>();
  const int lane = threadIdx.x;
  for (int i = lane; i < 64 * 64; i += 32) s[i] = uint16_t(i);
  __syncwarp();
  const int row = lane, chunk = 0;
  const int at = row * 64 + 8 * (swizzled ? chunk ^ (row & 7) : chunk);
  uint32_t r[4];
  ptx::ldmatrix_x4(r, ptx::shared_address(s + at));
}

// Two warp-wide loads: consecutive floats (4 sectors of 32 bytes for 128 bytes), then floats 32 bytes apart (32
// sectors for the same 128 bytes).
__global__ void coalesced_then_strided(const float* p, float* out) {
  const int lane = threadIdx.x % 32;
  const float a = __ldg(p + lane);
  const float b = __ldg(p + 8 * lane);
  out[threadIdx.x] = a + b;
}

// Thread 0 of block 1 writes one 16-byte word just past the end of a buffer of `words` words.
__global__ void write_past_the_end(uint4* buffer, int words) {
  if (blockIdx.x == 1 && threadIdx.x == 0) buffer[words] = make_uint4(1, 2, 3, 4);
}

__global__ void half_warp_syncs() {
  if (threadIdx.x % 32 < 16) __syncwarp();
}

__global__ void divergent_collectives(float* out) {
  if (threadIdx.x == 3) {
    out[0] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
  } else {
    __syncwarp();
  }
}

__global__ void ldmatrix_past_the_end() {
  uint32_t r[4];
  uint16_t* s = ptx::dynamic_shared<uint16_t>();
  ptx::ldmatrix_x4(r, ptx::shared_address(s + 8 * threadIdx.x + (threadIdx.x == 31 ? 8 : 0)));
}

// ---- tests --------------------------------------------------------------------------------------------------------

TEST(Simt, EveryThreadOfEveryBlockRunsOnceWithItsIndices) {
  const dim3 grid(3, 2, 2), block(5, 4, 3);
  std::vector<int> out(12 * 60, 0);
  TALKLAB_LAUNCH(grid, block, 0, nullptr, write_ids)(out.data());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], int(i) + 1) << i;
}

TEST(Simt, SyncthreadsOrdersSharedMemoryAcrossWarps) {
  std::vector<int> out(2 * 256, -1);
  TALKLAB_LAUNCH(2, 256, 0, nullptr, reverse_through_shared)(out.data());
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 256; ++i) EXPECT_EQ(out[size_t(b * 256 + i)], (255 - i) * 3);
}

TEST(Simt, ShufflesAndVotesSeeTheWholeWarp) {
  std::vector<float> sums(64);
  std::vector<int> votes(64);
  TALKLAB_LAUNCH(1, 64, 0, nullptr, shuffles_and_votes)(sums.data(), votes.data());
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(sums[size_t(i)], 496.0f);  // 0 + 1 + ... + 31 in every lane
    EXPECT_EQ(votes[size_t(i)], 1);      // any(lane == 7) and not all(lane < 31)
  }
}

TEST(Simt, LdmatrixAndMmaGiveThePlainProduct) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<uint16_t> a(16 * 16), b(16 * 8);
  for (auto& v : a) v = cpu::quant::float_to_bf16(normal(rng));
  for (auto& v : b) v = cpu::quant::float_to_bf16(normal(rng));
  std::vector<float> d(16 * 8, NAN);
  TALKLAB_LAUNCH(1, 32, 2 * 16 * 16 * 2, nullptr, one_mma)(d.data(), a.data(), b.data());
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      double ref = 0.5;
      for (int k = 0; k < 16; ++k) {
        ref += double(cpu::quant::bf16_to_float(a[size_t(i * 16 + k)])) *
               cpu::quant::bf16_to_float(b[size_t(k * 8 + j)]);
      }
      EXPECT_NEAR(d[size_t(i * 8 + j)], ref, 1e-5 * (1 + std::fabs(ref))) << "D[" << i << "][" << j << "]";
    }
}

TEST(Simt, CpAsyncDataLandsOnlyAtTheWait) {
  std::vector<uint32_t> src(4 * 32), seen(2 * 32);
  for (size_t i = 0; i < src.size(); ++i) src[i] = uint32_t(i * 7 + 1);
  TALKLAB_LAUNCH(1, 32, 16 * 32, nullptr, cp_async_lands_at_wait)(seen.data(), src.data());
  for (size_t i = 0; i < 32; ++i) {
    EXPECT_EQ(seen[2 * i], 0xffffffffu) << "before the wait: the poison, not the data";
    EXPECT_EQ(seen[2 * i + 1], src[4 * i]);
  }
}

TEST(Simt, SomeBlockScheduleExposesAMissingBarrier) {
  std::vector<int> out(3 * 32, 0);
  TALKLAB_LAUNCH(3, 64, 32 * 4, nullptr, missing_barrier)(out.data());
  int stale = 0;
  for (int b = 0; b < 3; ++b)
    for (int lane = 0; lane < 32; ++lane) stale += out[size_t(b * 32 + lane)] != b * 100 + lane;
  EXPECT_EQ(stale, 32) << "the block run warps-descending reads before warp 0 writes; the other two read after";
}

TEST(Simt, CountsLdmatrixBankConflicts) {
  reset_shared_memory_stats();
  TALKLAB_LAUNCH(1, 32, 64 * 64 * 2, nullptr, ldmatrix_rows)(false);
  const SharedMemoryStats plain = shared_memory_stats();
  EXPECT_EQ(plain.ldmatrix_phases, 4u);
  EXPECT_EQ(plain.ldmatrix_extra_wavefronts, 4u * 7u) << "8 rows 128 bytes apart share one bank group";
  reset_shared_memory_stats();
  TALKLAB_LAUNCH(1, 32, 64 * 64 * 2, nullptr, ldmatrix_rows)(true);
  EXPECT_EQ(shared_memory_stats().ldmatrix_extra_wavefronts, 0u);
}

// The sites recorded in files whose name ends with `suffix`, by line.
std::vector<GlobalLoadSite> sites_in(const std::string& suffix) {
  std::vector<GlobalLoadSite> out;
  for (const GlobalLoadSite& s : global_load_stats())
    if (s.file.size() >= suffix.size() && s.file.compare(s.file.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(s);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
  return out;
}

// One causal flash_cuda launch (2 heads on 1 kv head, 200 positions) on 256-byte aligned buffers, as cudaMalloc
// gives on a GPU (the emulator's own cudaMalloc aligns to 16 only).
void run_flash_once(int warp_rows, int64_t D) {
  namespace attn = talklab::cuda::attention;
  attn::common_attn::AttnShape shape;
  shape.B = 1;
  shape.H = 2;
  shape.H_kv = 1;
  shape.S_q = shape.S_kv = 200;
  shape.D = D;
  const attn::FlashCudaPlan plan(shape, attn::common_attn::MaskSpec::parse("causal"), attn::ElementType::bf16, 0.f,
                                 warp_rows);
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  auto buffer = [](size_t elements) {
    auto* p = static_cast<uint16_t*>(std::aligned_alloc(256, (elements * 2 + 255) / 256 * 256));
    std::fill(p, p + elements, uint16_t(0x3f80));  // bf16 1.0
    return std::unique_ptr<uint16_t, Free>(p);
  };
  const auto q = buffer(size_t(2 * 200 * D)), kv = buffer(size_t(200 * D)), o = buffer(size_t(2 * 200 * D));
  attn::flash_cuda(plan, shape, {q.get(), kv.get(), kv.get(), o.get(), nullptr}, nullptr, nullptr);
}

// flash_cuda's swizzle claim (flash_cuda.cu: "ldmatrix's 8 row reads ... hit distinct banks"), for Q, K and V^T
// fragments at both head dims and both warp tilings: a layout change that costs shared-memory bandwidth fails
// here, before a GPU profile.
TEST(Simt, FlashCudaLdmatrixIsBankConflictFree) {
  for (const int warp_rows : {16, 32}) {
    for (const int64_t D : {64, 128}) {
      reset_shared_memory_stats();
      run_flash_once(warp_rows, D);
      const SharedMemoryStats st = shared_memory_stats();
      EXPECT_GT(st.ldmatrix_phases, 0u) << "D " << D << ", " << warp_rows << " rows a warp";
      EXPECT_EQ(st.ldmatrix_extra_wavefronts, 0u) << "D " << D << ", " << warp_rows << " rows a warp";
    }
  }
}

// Its global reads: every cp.async of Q, K and V, warp-wide, covers whole 32-byte sectors and no more.
TEST(Simt, FlashCudaCopiesAreFullyCoalesced) {
  for (const int warp_rows : {16, 32}) {
    for (const int64_t D : {64, 128}) {
      track_global_loads(true);
      run_flash_once(warp_rows, D);
      const std::vector<GlobalLoadSite> sites = sites_in("cp.async");
      track_global_loads(false);
      ASSERT_EQ(sites.size(), 1u);
      EXPECT_GT(sites[0].requests, 0u);
      EXPECT_EQ(sites[0].sectors, sites[0].ideal_sectors) << "D " << D << ", " << warp_rows << " rows a warp";
    }
  }
}

TEST(Simt, CountsSectorsOfWarpWideLoads) {
  alignas(128) static float p[256];  // sector-aligned, so 128 consecutive bytes are exactly 4 sectors
  std::fill(std::begin(p), std::end(p), 1.f);
  std::vector<float> out(64);
  track_global_loads(true);
  TALKLAB_LAUNCH(1, 64, 0, nullptr, coalesced_then_strided)(p, out.data());
  const std::vector<GlobalLoadSite> sites = sites_in("test_simt.cpp");
  track_global_loads(false);
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_EQ(sites[0].requests, 2u);  // one per warp
  EXPECT_EQ(sites[0].sectors, 2u * 4u);
  EXPECT_EQ(sites[0].ideal_sectors, 2u * 4u);
  EXPECT_EQ(sites[1].sectors, 2u * 32u);
  EXPECT_EQ(sites[1].ideal_sectors, 2u * 4u);
}

// w4a16.cu's claim: "a warp's load is 512 contiguous bytes (fully coalesced)" for the packed weights, the bytes
// that bound the decode kernel. Its activations (tiny, L1-resident) and scales are reported, not required.
TEST(Simt, W4a16WeightLoadsAreFullyCoalesced) {
  const int M = 3, N = 333, K = 384;
  std::vector<uint8_t> codes(size_t(K / 2) * N, 0x5a), packed(talklab::cuda::w4a16_packed_bytes(N, K));
  talklab::cuda::w4a16_pack(packed.data(), codes.data(), N, K);
  std::vector<uint16_t> a(size_t(M) * K, 0x3f80);
  std::vector<float> scales(size_t(K / 128) * N, 0.5f), c(size_t(M) * N);
  void* w = nullptr;  // emulated device memory: 16-byte aligned, as the kernel's loads require
  ASSERT_EQ(cudaMalloc(&w, packed.size()), cudaSuccess);
  std::memcpy(w, packed.data(), packed.size());
  track_global_loads(true);
  talklab::cuda::launch_w4a16(c.data(), a.data(), w, scales.data(), M, N, K, nullptr);
  const std::vector<GlobalLoadSite> sites = sites_in("w4a16.cu");
  track_global_loads(false);
  cudaFree(w);
  ASSERT_FALSE(sites.empty());
  const GlobalLoadSite& weights = sites.front();  // the first load in the kernel's source
  EXPECT_GT(weights.requests, 0u);
  EXPECT_EQ(weights.sectors, weights.ideal_sectors) << "w4a16.cu:" << weights.line;
  for (const GlobalLoadSite& s : sites)
    std::printf("w4a16.cu:%u  %llu warp loads, %llu sectors, %llu at best\n", s.line,
                (unsigned long long)s.requests, (unsigned long long)s.sectors, (unsigned long long)s.ideal_sectors);
}

TEST(Simt, ReportsAWarpWhoseLanesNeverAllArrive) {
  const std::string e = test::message_of<std::runtime_error>([] { TALKLAB_LAUNCH(1, 64, 0, nullptr, half_warp_syncs)(); });
  EXPECT_NE(e.find("deadlock"), std::string::npos) << e;
  EXPECT_NE(e.find("__syncwarp"), std::string::npos) << e;
}

TEST(Simt, ReportsLanesInDifferentCollectives) {
  float out = 0;
  const std::string e = test::message_of<std::runtime_error>([&] { TALKLAB_LAUNCH(1, 32, 0, nullptr, divergent_collectives)(&out); });
  EXPECT_NE(e.find("divergent warp 0"), std::string::npos) << e;
  EXPECT_NE(e.find("divergent_collectives"), std::string::npos) << e;
}

TEST(Simt, ReportsSharedAddressesOutOfRange) {
  const std::string e = test::message_of<std::runtime_error>([] { TALKLAB_LAUNCH(1, 32, 32 * 16, nullptr, ldmatrix_past_the_end)(); });
  EXPECT_NE(e.find("ldmatrix row address of lane 31"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the launch's 512 bytes"), std::string::npos) << e;
}

TEST(SimtDeathTest, AnAccessPastTheEndOfADeviceBufferFaultsNamingBufferAndThread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto run = [] {
    void* p = nullptr;
    cudaMalloc(&p, 10 * 16);
    TALKLAB_LAUNCH(2, 32, 0, nullptr, write_past_the_end)(static_cast<uint4*>(p), 10);
  };
  EXPECT_DEATH(run(), "out-of-bounds device memory access: 0 bytes past the end of a 160-byte cudaMalloc buffer .*"
                      "write_past_the_end, block \\(1,0,0\\) thread \\(0,0,0\\)");
}

TEST(Simt, RefusesLaunchesCudaWouldRefuse) {
  EXPECT_NE(test::message_of<std::runtime_error>([] { TALKLAB_LAUNCH(1, 1025, 0, nullptr, half_warp_syncs)(); }).find("1025 threads"),
            std::string::npos);
  EXPECT_NE(test::message_of<std::runtime_error>([] { TALKLAB_LAUNCH(0, 32, 0, nullptr, half_warp_syncs)(); }).find("empty"), std::string::npos);
  EXPECT_NE(test::message_of<std::runtime_error>([] { TALKLAB_LAUNCH(1, 32, 300 * 1024, nullptr, half_warp_syncs)(); }).find("227 KiB"),
            std::string::npos);
}

}  // namespace
}  // namespace talklab::simt
