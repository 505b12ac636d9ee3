// flash_cpu bf16 path, AVX-512 BF16: like the float32 path (flash_core.h) but both products run on vdpbf16ps,
// which multiplies bf16 PAIRS along the reduction dimension into fp32 (2x the fp32 FMA rate):
//   Q.K^T reduces over D: Q^T is packed as (D/2, nqp) pairs, K rows are broadcast a pair (32 bits) at a time.
//   P.V reduces over keys: P^T is rounded to bf16 and packed as (keys/2, nqp) pairs per block (as FlashAttention
//   does), V is packed once per call as (S_kv/2, Dp) pairs into the workspace.
// Softmax, mods and the O accumulator stay fp32. Compute-bound: the measured peak on the 2-core EPYC is 1 vdpbf16ps
// per cycle (~230 GFLOP/s/core); seq 4096, D 128, B1 H4, 2 threads, useful GFLOP/s: full ~370-385, causal ~360-370
// (about 80% of the measured peak; softmax and the tile loads/stores take most of the rest).
// Variants tried (same shape):
//   Q.K^T tile 6 keys x 4 vectors (24 accumulators, 66 rows computed per 64-key block) vs 4 x 4 (16, no padding):
//     equal within noise; kept 4 x 4. 8 x 2: -5%.
//   P packed to bf16 pairs in a separate pass over the tile vs inside the softmax (Sink): equal within noise; kept
//     the Sink (one pass less).
//   exp2 by a degree-5 instead of degree-6 polynomial: no measurable change (the FMA pipes are not what the softmax
//     waits on); kept degree 6, shared with the fp32 path.
#include "kernels/cpu/attention/vec_avx512.h"  // first: its pragma must precede <immintrin.h>
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::avx512 {
namespace {

using core::round_up;

inline __m512bh as_bh(__m512i x) { return reinterpret_cast<__m512bh&>(x); }

// Lane i of a (32 x 16-bit) vector holding [a0..a15, b0..b15] goes to pair (a_i, b_i).
inline __m512i interleave_index() {
  alignas(64) static const uint16_t idx[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                               8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  return _mm512_load_si512(idx);
}

struct Bf16Flavor {
  using V = avx512::V;
  static constexpr int kQkMR = 4, kQkNV = 4;  // 16 accumulators: 4 keys divide every even block
  static constexpr int kPvMR = 8, kPvNV = 3;  // 24 accumulators
  static constexpr int kQPad = 16;
  static constexpr int kPadRows = kQkMR;

  struct Src {
    const uint16_t* k;   // (B, H_kv, S_kv, D) input
    const uint32_t* vp;  // (B, H_kv, S2, Dp) pairs of keys (2k, 2k + 1), zero padded
    int64_t S_kv, D, H_kv, S2, Dp;
  };

  static size_t qt_floats(int nqp, int D) { return size_t(nqp) * ((D + 1) / 2); }

  // P^T goes straight to bf16 key pairs: p2[k / 2][j] = (p[k][j], p[k + 1][j]).
  struct Sink {
    float* unused;
    uint32_t* p2;
    int64_t nqp;
    int nk;
    void put(int k, int j, __m512 p0, __m512 p1) const {
      const __m512bh both = _mm512_cvtne2ps_pbh(p1, p0);  // lanes 0-15: p0, 16-31: p1
      _mm512_storeu_si512(p2 + (k / 2) * nqp + j,
                          _mm512_permutexvar_epi16(interleave_index(), reinterpret_cast<const __m512i&>(both)));
    }
  };

  static Src prepare(const KernelArgs& a) {
    const AttnShape& s = a.shape;
    Src src{static_cast<const uint16_t*>(a.t.k), static_cast<uint32_t*>(a.workspace), s.S_kv, s.D, s.H_kv,
            (s.S_kv + 1) / 2, round_up(s.D, 16)};
    const uint16_t* v = static_cast<const uint16_t*>(a.t.v);
    uint32_t* vp = static_cast<uint32_t*>(a.workspace);
    const int64_t S2 = src.S2, Dp = src.Dp, D = s.D, S = s.S_kv;
    const int64_t n = s.B * s.H_kv * S2;
    const __m512i idx = interleave_index();
#pragma omp parallel for num_threads(a.num_threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) {  // i = (b * H_kv + hk) * S2 + k2
      const int64_t bh = i / S2, k2 = i % S2;
      const uint16_t* r0 = v + (bh * S + 2 * k2) * D;
      const bool has1 = 2 * k2 + 1 < S;
      uint32_t* out = vp + i * Dp;
      for (int64_t d = 0; d < Dp; d += 16) {
        const __mmask16 m = d + 16 <= D ? __mmask16(0xffff) : d < D ? __mmask16((1u << (D - d)) - 1u) : 0;
        const __m256i x0 = _mm256_maskz_loadu_epi16(m, r0 + d);
        const __m256i x1 = has1 ? _mm256_maskz_loadu_epi16(m, r0 + D + d) : _mm256_setzero_si256();
        const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
        _mm512_storeu_si512(out + d, _mm512_permutexvar_epi16(idx, both));
      }
    }
    return src;
  }

  // qt[d2][j] = (q[j][2 d2], q[j][2 d2 + 1]) as one 32-bit pair; 0 past D and for j >= nq.
  static void pack_q(float* qtf, const void* q, DType, int nq, int nqp, int D) {
    uint32_t* qt = reinterpret_cast<uint32_t*>(qtf);
    const uint16_t* q16 = static_cast<const uint16_t*>(q);
    const int D2 = (D + 1) / 2;
    for (int j = 0; j < nq; ++j) {
      const uint16_t* row = q16 + int64_t(j) * D;
      for (int d2 = 0; d2 < D2; ++d2) {
        const uint32_t lo = row[2 * d2], hi = 2 * d2 + 1 < D ? row[2 * d2 + 1] : 0u;
        qt[int64_t(d2) * nqp + j] = lo | (hi << 16);
      }
    }
    for (int d2 = 0; d2 < D2; ++d2)
      for (int j = nq; j < nqp; ++j) qt[int64_t(d2) * nqp + j] = 0u;
  }

  template <int NV>
  static inline void qk_tile(float* s, int64_t lds, const uint16_t* const* kr, const uint32_t* qt, int64_t ldq, int D,
                             float mul) {
    __m512 acc[kQkMR][NV];
#pragma GCC unroll 16
    for (int m = 0; m < kQkMR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) acc[m][n] = _mm512_setzero_ps();
    const int D2 = D / 2;
    for (int d2 = 0; d2 < D2; ++d2) {
      __m512bh q[NV];
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) q[n] = as_bh(_mm512_loadu_si512(qt + d2 * ldq + n * 16));
#pragma GCC unroll 16
      for (int m = 0; m < kQkMR; ++m) {
        uint32_t pair;
        std::memcpy(&pair, kr[m] + 2 * d2, 4);
        const __m512bh k = as_bh(_mm512_set1_epi32(int(pair)));
#pragma GCC unroll 8
        for (int n = 0; n < NV; ++n) acc[m][n] = _mm512_dpbf16_ps(acc[m][n], k, q[n]);
      }
    }
    if (D & 1) {  // last element alone: its pair partner is 0 in both operands
      __m512bh q[NV];
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) q[n] = as_bh(_mm512_loadu_si512(qt + D2 * ldq + n * 16));
      for (int m = 0; m < kQkMR; ++m) {
        const __m512bh k = as_bh(_mm512_set1_epi32(int(kr[m][D - 1])));
        for (int n = 0; n < NV; ++n) acc[m][n] = _mm512_dpbf16_ps(acc[m][n], k, q[n]);
      }
    }
    const __m512 vm = _mm512_set1_ps(mul);
#pragma GCC unroll 16
    for (int m = 0; m < kQkMR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) _mm512_storeu_ps(s + m * lds + n * 16, _mm512_mul_ps(acc[m][n], vm));
  }

  static void qk(float* s, int64_t lds, const Src& src, int b, int hk, int k0, int nk, const float* qtf, int nqp,
                 int D, float mul) {
    const uint32_t* qt = reinterpret_cast<const uint32_t*>(qtf);
    const uint16_t* k = src.k + ((int64_t(b) * src.H_kv + hk) * src.S_kv + k0) * D;
    for (int i = 0; i < nk; i += kQkMR) {
      const uint16_t* kr[kQkMR];
      for (int m = 0; m < kQkMR; ++m) kr[m] = k + core::min64(i + m, nk - 1) * D;
      float* srow = s + int64_t(i) * lds;
      int j = 0;
      for (; j + kQkNV * 16 <= nqp; j += kQkNV * 16) qk_tile<kQkNV>(srow + j, lds, kr, qt + j, nqp, D, mul);
      switch ((nqp - j) / 16) {
        case 1: qk_tile<1>(srow + j, lds, kr, qt + j, nqp, D, mul); break;
        case 2: qk_tile<2>(srow + j, lds, kr, qt + j, nqp, D, mul); break;
        case 3: qk_tile<3>(srow + j, lds, kr, qt + j, nqp, D, mul); break;
        default: break;
      }
    }
  }

  template <int NV>
  static inline void pv_tile(float* o, int64_t ldo, const uint32_t* p, int64_t ldp, const uint32_t* vp, int64_t ldv,
                             int nk2) {
    __m512 acc[kPvMR][NV];
#pragma GCC unroll 16
    for (int m = 0; m < kPvMR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) acc[m][n] = _mm512_loadu_ps(o + m * ldo + n * 16);
    for (int k2 = 0; k2 < nk2; ++k2) {
      __m512bh v[NV];
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) v[n] = as_bh(_mm512_loadu_si512(vp + k2 * ldv + n * 16));
#pragma GCC unroll 16
      for (int m = 0; m < kPvMR; ++m) {
        const __m512bh pm = as_bh(_mm512_set1_epi32(int(p[k2 * ldp + m])));
#pragma GCC unroll 8
        for (int n = 0; n < NV; ++n) acc[m][n] = _mm512_dpbf16_ps(acc[m][n], pm, v[n]);
      }
    }
#pragma GCC unroll 16
    for (int m = 0; m < kPvMR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) _mm512_storeu_ps(o + m * ldo + n * 16, acc[m][n]);
  }

  static void pv(float* o, int Dp, const float*, int64_t lds, uint32_t* p2, const Src& src, int b, int hk, int k0,
                 int nk, int, const float* alpha) {
    const int nqp = int(lds), nk2 = (nk + 1) / 2;
    if (alpha) core::rescale_rows<V>(o, Dp, nqp, alpha);
    const uint32_t* vp = src.vp + ((int64_t(b) * src.H_kv + hk) * src.S2 + k0 / 2) * src.Dp;
    const int nvec = Dp / 16;
    for (int j = 0; j < nqp; j += kPvMR) {
      float* orow = o + int64_t(j) * Dp;
      int n = 0;
      for (; n + kPvNV <= nvec; n += kPvNV) pv_tile<kPvNV>(orow + n * 16, Dp, p2 + j, nqp, vp + n * 16, src.Dp, nk2);
      switch (nvec - n) {
        case 1: pv_tile<1>(orow + n * 16, Dp, p2 + j, nqp, vp + n * 16, src.Dp, nk2); break;
        case 2: pv_tile<2>(orow + n * 16, Dp, p2 + j, nqp, vp + n * 16, src.Dp, nk2); break;
        default: break;
      }
    }
  }
};

}  // namespace

void flash_forward_bf16(const KernelArgs& a) { core::forward<Bf16Flavor>(a); }

size_t workspace_bytes_bf16(const AttnShape& s) {
  return size_t(s.B * s.H_kv * ((s.S_kv + 1) / 2) * round_up(s.D, 16)) * sizeof(uint32_t);
}

}  // namespace talklab::cpu::attention::avx512
