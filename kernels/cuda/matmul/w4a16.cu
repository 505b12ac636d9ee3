// w4a16_kernel: C (M, N) fp32 = A (M, K) bf16 x W (K, N) int4 with an fp32 scale per 128 k (see w4a16.h for
// the letters, the layouts and the argument rules). The decode recipe: M = 1..16 tokens.
//
// Memory-bound. Napkin math at K = 4096, N = 14336 (a Llama-3-8B MLP up-projection): the weight stream is
// K*N/2 = 29.4 MB of codes + (K/128)*N*4 = 1.8 MB of scales = 31.2 MB; A (<= 128 KB) and C (<= 0.9 MB) are
// noise. At ~3 TB/s (H100 SXM, 3.35 TB/s peak) that is ~10.4 us, against ~39 us for the bf16 weights (117 MB)
// that cuBLASLt's bf16 product streams. Arithmetic: 2*M*K*N = 0.12 GFLOP at M = 1, 1.9 GFLOP at M = 16: on the
// fp32 CUDA cores M = 16 alone would take ~30 us, so the products run on the tensor cores (mma.sync
// m16n8k16 bf16, fp32 accumulate), which leaves dequantization (~1.5 instructions per weight, ~3 us of issue
// at M = 1 spread over 132 SMs) as the only work besides the loads.
//
// Design:
//   Swap A and B: the MMA computes C^T (n x tokens) = W^T (16 n x 16 k, the MMA's A operand, dequantized in
//   registers) x A^T (16 k x 8 tokens, the B operand); M <= 8 uses one 8-token tile, M <= 16 two (MT).
//   Packed layout: one 16-byte load per lane brings the A-operand fragments of 4 k16 steps (k64) of one n16
//   tile, so a warp's load is 512 contiguous bytes (fully coalesced) and needs no shuffles. Within a k64
//   chunk, the MMA's logical k is permuted (k order does not change a sum): lane t's logical columns
//   {2t, 2t+1, 2t+8, 2t+9} of step j are physical k = 16t + 4j + {0, 1, 2, 3}, so each lane's activations for
//   the whole chunk are 16 consecutive bf16 of its token's row: two 16-byte loads, and 8 MMAs share them.
//   Dequantization: nibble u = q + 8 sits at bits 4r and 4r+16 of a word, so ((w >> 4r) & 0x000F000F) |
//   0x43004300 is the bf16 pair (128 + u0, 128 + u1) (bf16 has 7 mantissa bits: 128 + u is exact), and one
//   bf16x2 subtraction of 136 gives (q0, q1) exactly: shift, LOP3 and HSUB2 per 2 weights.
//   Scales: products of bf16 A and integer q are exact in fp32; each group's 8 MMAs accumulate into a zeroed
//   fp32 partial, which is scaled once (one FMA per accumulator per group) into the running sum.
//   Grid: a block owns kTilesPerBlock n16 tiles (64 columns) for all K; its 8 warps split K (warp w takes the
//   groups w, w + 8, ...), so each warp keeps 8 independent 16-byte weight loads (4 KB per warp) in flight per
//   group; the 8 partial sums are added in shared memory in a fixed order (deterministic, no atomics, no
//   zeroing pass). N = 14336 gives 224 blocks of 256 threads, all resident at once on 132 SMs (2 per SM fit),
//   ~13 warps x 4 KB = 54 KB requested per SM against ~23 KB that 3 TB/s x ~1 us latency needs.
//   Weights are read with ld.global.cs (evict-first: read once), activations and scales with ld.global.nc.
// Limits: at M = 16 every block re-reads all of A (128 KB) from L2/L1, as many bytes as its weights (A / W
// bytes = M / (4 * kTilesPerBlock)); a larger kTilesPerBlock halves that at the cost of fewer blocks than SMs
// below N ~ 17k. There is no prefetch across groups beyond what the other warps' loads provide.
// ptxas -v (sm_90, CUDA 13.0.88), 256 threads per block:
//   w4a16_kernel<1> (M <= 8):  98 registers, 16384 bytes smem, 0 bytes spill stores / loads
//   w4a16_kernel<2> (M <= 16): 126 registers, 32768 bytes smem, 0 bytes spill (2 blocks per SM by registers:
//                              asking for that with __launch_bounds__(256, 2) caps it at 128 and spills 8 bytes)
// Not yet measured: this was written on a machine without a GPU (the first GPU session times it). Its results
// are checked on the CPU by the SIMT emulator (docs/simt.md, ctest -R '^Simt\.W4a16'), which passes.
//   bench --filter 'matmul/(w4a16_cuda|cublaslt_bf16)/' --device cuda --profile gpu
#include "kernels/cuda/matmul/w4a16.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/ptx.cuh"

namespace talklab::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kTilesPerBlock = 4;                          // n16 tiles per block: 64 columns
constexpr int kChunksPerGroup = kW4a16Group / kW4a16ChunkK;  // 2
constexpr int kChunkBytes = 512;                           // one (n16 tile, k64 chunk): 32 lanes x 16 bytes
constexpr uint32_t kMagic = 0x43004300u;                   // bf16 128.0 in both halves
constexpr uint32_t kBias = 0x43084308u;                    // bf16 136.0 = 128 + 8 in both halves
constexpr uint32_t kZeroCodes = 0x88888888u;               // eight nibbles u = 8, i.e. q = 0

// Where the nibble of W[k][n] lives in the packed layout (w4a16.h): byte offset of its word and bit shift.
struct PackedPos {
  size_t word_byte;
  int shift;
};

PackedPos packed_pos(int K, int k, int n) {
  const int tile = n / kW4a16TileN, nn = n % kW4a16TileN;
  const int chunk = k / kW4a16ChunkK, kk = k % kW4a16ChunkK;
  const int t = kk / 16, j = (kk % 16) / 4, h = (kk % 4) / 2, e = kk % 2;
  const int g = nn % 8, r = nn / 8 + 2 * h;
  const int lane = 4 * g + t;
  const size_t chunks = static_cast<size_t>(K / kW4a16ChunkK);
  const size_t byte = ((static_cast<size_t>(tile) * chunks + static_cast<size_t>(chunk)) * 32 + lane) * 16 + 4 * j;
  return {byte, 4 * r + 16 * e};
}

__device__ __forceinline__ uint32_t bits_of(__nv_bfloat162 v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

__device__ __forceinline__ __nv_bfloat162 bf162_of(uint32_t u) {
  __nv_bfloat162 v;
  memcpy(&v, &u, sizeof v);
  return v;
}

// The bf16 pair (q(bits 4R..4R+3), q(bits 16+4R..)) of a packed word: exact integers in [-8, 7].
template <int R>
__device__ __forceinline__ uint32_t dequant_pair(uint32_t word) {
  const uint32_t biased = ((word >> (4 * R)) & 0x000F000Fu) | kMagic;
  return bits_of(__hsub2(bf162_of(biased), bf162_of(kBias)));
}

// Word i (0..7) of a lane's 16 consecutive bf16 activations (two 16-byte loads).
__device__ __forceinline__ uint32_t act_word(const uint4 (&v)[2], int i) {
  const uint4& q = v[i / 4];
  switch (i % 4) {
    case 0: return q.x;
    case 1: return q.y;
    case 2: return q.z;
    default: return q.w;
  }
}

__device__ __forceinline__ uint32_t weight_word(const uint4& q, int j) {
  switch (j) {
    case 0: return q.x;
    case 1: return q.y;
    case 2: return q.z;
    default: return q.w;
  }
}

// MT: 8-token MMA tiles (1 for M <= 8, 2 for M <= 16). Grid: ceil(ceil(N / 16) / kTilesPerBlock) blocks.
template <int MT>
__global__ void __launch_bounds__(kThreads)
    w4a16_kernel(float* __restrict__ C, const uint16_t* __restrict__ A, const uint4* __restrict__ W,
                 const float* __restrict__ scales, int M, int N, int K) {
  constexpr int kValues = kTilesPerBlock * MT * 4;  // accumulators per lane
  __shared__ float partial[kWarps][kValues][32];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int tiles_n = (N + kW4a16TileN - 1) / kW4a16TileN;
  const int tile0 = blockIdx.x * kTilesPerBlock;
  const size_t chunks = static_cast<size_t>(K / kW4a16ChunkK);
  const int groups = K / kW4a16Group;

  float acc[kTilesPerBlock][MT][4];
#pragma unroll
  for (int nt = 0; nt < kTilesPerBlock; ++nt)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[nt][mt][r] = 0.0f;

  for (int grp = warp; grp < groups; grp += kWarps) {
    // All of this group's loads first, so they are in flight together.
    uint4 w[kChunksPerGroup][kTilesPerBlock];
#pragma unroll
    for (int c = 0; c < kChunksPerGroup; ++c)
#pragma unroll
      for (int nt = 0; nt < kTilesPerBlock; ++nt) {
        const int tile = tile0 + nt;
        if (tile < tiles_n) {
          w[c][nt] = __ldcs(W + (static_cast<size_t>(tile) * chunks + static_cast<size_t>(grp * kChunksPerGroup + c)) * 32 + lane);
        } else {
          w[c][nt] = make_uint4(kZeroCodes, kZeroCodes, kZeroCodes, kZeroCodes);
        }
      }
    uint4 a[kChunksPerGroup][MT][2];
#pragma unroll
    for (int c = 0; c < kChunksPerGroup; ++c)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        const int token = mt * 8 + g;
        if (token < M) {
          const uint4* p = reinterpret_cast<const uint4*>(A + static_cast<size_t>(token) * K + grp * kW4a16Group +
                                                          c * kW4a16ChunkK + t * 16);
          a[c][mt][0] = __ldg(p);
          a[c][mt][1] = __ldg(p + 1);
        } else {
          a[c][mt][0] = make_uint4(0, 0, 0, 0);
          a[c][mt][1] = make_uint4(0, 0, 0, 0);
        }
      }
    float s[kTilesPerBlock][2];
#pragma unroll
    for (int nt = 0; nt < kTilesPerBlock; ++nt) {
      const int n = (tile0 + nt) * kW4a16TileN + g;
      const float* row = scales + static_cast<size_t>(grp) * N;
      s[nt][0] = n < N ? __ldg(row + n) : 0.0f;
      s[nt][1] = n + 8 < N ? __ldg(row + n + 8) : 0.0f;
    }

    float part[kTilesPerBlock][MT][4];
#pragma unroll
    for (int nt = 0; nt < kTilesPerBlock; ++nt)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int r = 0; r < 4; ++r) part[nt][mt][r] = 0.0f;

#pragma unroll
    for (int c = 0; c < kChunksPerGroup; ++c)
#pragma unroll
      for (int nt = 0; nt < kTilesPerBlock; ++nt)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const uint32_t word = weight_word(w[c][nt], j);
          const uint32_t frag[4] = {dequant_pair<0>(word), dequant_pair<1>(word), dequant_pair<2>(word),
                                    dequant_pair<3>(word)};
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            ptx::mma_bf16_16816(part[nt][mt], frag, act_word(a[c][mt], 2 * j), act_word(a[c][mt], 2 * j + 1));
          }
        }

#pragma unroll
    for (int nt = 0; nt < kTilesPerBlock; ++nt)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        acc[nt][mt][0] = fmaf(part[nt][mt][0], s[nt][0], acc[nt][mt][0]);
        acc[nt][mt][1] = fmaf(part[nt][mt][1], s[nt][0], acc[nt][mt][1]);
        acc[nt][mt][2] = fmaf(part[nt][mt][2], s[nt][1], acc[nt][mt][2]);
        acc[nt][mt][3] = fmaf(part[nt][mt][3], s[nt][1], acc[nt][mt][3]);
      }
  }

  // Split-K across the warps: each writes its accumulators, then every thread adds a few outputs' 8 partials.
#pragma unroll
  for (int nt = 0; nt < kTilesPerBlock; ++nt)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int r = 0; r < 4; ++r) partial[warp][(nt * MT + mt) * 4 + r][lane] = acc[nt][mt][r];
  __syncthreads();
  for (int idx = threadIdx.x; idx < kValues * 32; idx += kThreads) {
    const int v = idx / 32, l = idx % 32;
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += partial[w][v][l];
    const int r = v % 4, mt = (v / 4) % MT, nt = v / (4 * MT);
    const int n = (tile0 + nt) * kW4a16TileN + (l >> 2) + (r >= 2 ? 8 : 0);
    const int token = mt * 8 + (l & 3) * 2 + (r & 1);
    if (n < N && token < M) C[static_cast<size_t>(token) * N + n] = sum;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void w4a16_check_shape(int M, int N, int K) {
  if (M < 1 || M > kW4a16MaxM) {
    throw std::invalid_argument("w4a16: M = " + std::to_string(M) + " is outside 1.." + std::to_string(kW4a16MaxM) +
                                " (the decode kernel's two 8-token tiles)");
  }
  if (N < 1) throw std::invalid_argument("w4a16: N = " + std::to_string(N) + " must be positive");
  if (K < 1 || K % kW4a16Group != 0) {
    throw std::invalid_argument("w4a16: K = " + std::to_string(K) + " must be a positive multiple of the group " +
                                std::to_string(kW4a16Group));
  }
}

size_t w4a16_packed_bytes(int N, int K) {
  w4a16_check_shape(1, N, K);
  const size_t tiles = static_cast<size_t>((N + kW4a16TileN - 1) / kW4a16TileN);
  return tiles * static_cast<size_t>(K / kW4a16ChunkK) * kChunkBytes;
}

void w4a16_pack(uint8_t* packed, const uint8_t* codes, int N, int K) {
  const size_t bytes = w4a16_packed_bytes(N, K);
  if (packed == nullptr || codes == nullptr) throw std::invalid_argument("w4a16_pack: null pointer");
  std::memset(packed, 0, bytes);
  const int n_padded = (N + kW4a16TileN - 1) / kW4a16TileN * kW4a16TileN;
  for (int k = 0; k < K; ++k) {
    for (int n = 0; n < n_padded; ++n) {
      int q = 0;
      if (n < N) {
        const uint8_t byte = codes[static_cast<size_t>(k / 2) * N + n];
        const int nibble = (k % 2 == 0 ? byte : byte >> 4) & 0xF;
        q = (nibble & 0x7) - (nibble & 0x8);  // two's complement nibble
      }
      const PackedPos pos = packed_pos(K, k, n);
      uint32_t word;
      std::memcpy(&word, packed + pos.word_byte, sizeof word);
      word |= static_cast<uint32_t>(q + 8) << pos.shift;
      std::memcpy(packed + pos.word_byte, &word, sizeof word);
    }
  }
}

int w4a16_packed_code(const uint8_t* packed, int N, int K, int k, int n) {
  w4a16_check_shape(1, N, K);
  if (k < 0 || k >= K || n < 0 || n >= N) {
    throw std::invalid_argument("w4a16_packed_code: (k, n) = (" + std::to_string(k) + ", " + std::to_string(n) +
                                ") is outside K x N = " + std::to_string(K) + " x " + std::to_string(N));
  }
  const PackedPos pos = packed_pos(K, k, n);
  uint32_t word;
  std::memcpy(&word, packed + pos.word_byte, sizeof word);
  return static_cast<int>((word >> pos.shift) & 0xF) - 8;
}

void launch_w4a16(float* C, const uint16_t* A, const void* packed_w, const float* scales, int M, int N, int K,
                  void* stream) {
  w4a16_check_shape(M, N, K);
  if (C == nullptr || A == nullptr || packed_w == nullptr || scales == nullptr) {
    throw std::invalid_argument("w4a16: C, A, packed_w and scales must not be null");
  }
  if (!aligned16(A) || !aligned16(packed_w)) {
    throw std::invalid_argument("w4a16: A and packed_w must be 16-byte aligned (16-byte loads)");
  }
  const int tiles_n = (N + kW4a16TileN - 1) / kW4a16TileN;
  const unsigned blocks = static_cast<unsigned>((tiles_n + kTilesPerBlock - 1) / kTilesPerBlock);
  const auto s = static_cast<cudaStream_t>(stream);
  const auto* w = static_cast<const uint4*>(packed_w);
  if (M <= 8) {
    TALKLAB_LAUNCH(blocks, kThreads, 0, s, w4a16_kernel<1>)(C, A, w, scales, M, N, K);
  } else {
    TALKLAB_LAUNCH(blocks, kThreads, 0, s, w4a16_kernel<2>)(C, A, w, scales, M, N, K);
  }
  detail::check_launch("w4a16_kernel");
}

}  // namespace talklab::cuda
