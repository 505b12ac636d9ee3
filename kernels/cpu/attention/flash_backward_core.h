// The flash_cpu_backward algorithm (flash_backward.h), shared by the ISA translation units
// (flash_backward_{avx512,avx2,scalar}.cpp): templates over the same vector traits V as the forward (vec_*.h), so
// the code the AVX2 tests run is the code AVX-512 runs at 16 lanes.
//
// Every product is one register-blocked micro-kernel, C (M x N) = A (M x K) . B (K x N): MR rows of A broadcast
// against NV vectors of a B row (V::kBwdMR x V::kBwdNV: 6 x 4 zmm on AVX-512, 6 x 2 ymm on AVX2), B read with
// unit stride, A either row-major or column-major (a tile read transposed). Two tile layouts:
// - dK / dV pass (kv_task, also the one-pass schedule): QUERY-major score tiles (row j = query, keys in lanes). K^T
//   and V^T are packed once per key block and serve all its query blocks; Q and dO are read in place (float32,
//   D a multiple of the lanes), so nothing is transposed per tile:
//     S  = Q . K^T   (A: Q rows,  B: K^T)          dP = dO . V^T  (A: dO rows, B: V^T)
//     dV += P^T . dO (A: P by columns, B: dO rows)  dK += dS^T . Q (A: dS by columns, B: Q rows)
//     dQ += dS . K   (A: dS rows, B: K rows)
//   LSE and D are one broadcast per row. The mods and the score gradient get query-major instantiations
//   (tile_mods.h's *_qmajor, TileScoreGrad::query_major).
// - dQ pass (q_task, two-pass schedule only): KEY-major tiles as the forward's (S^T = K . Q^T with Q^T, dO^T packed
//   once per task, K and V read in place), LSE and D vectors across lanes.
// Schedules (flash_backward.h): one pass per (b, kv head) (head_task: every key block in order, dQ accumulated in
// the task's own rows), or two passes: pass 1 (dK, dV; task = b, kv head, key block): K^T, V^T and the dK, dV
// accumulators stay in the tile; for each query head of the group and each query block the transposed block mask
// lists: S, mods, P, dP, dS, then dV and dK accumulate. Pass 2 (dQ; task = b, head, query block).
// Compute-bound: 10 (one pass) or 14 (two passes) * D flops per visited pair in five products; the elementwise work
// (exp2, the dS product, the mods) is ~10 vector ops per L pairs.
//
// Speed (AVX2, causal 4096, 4 heads, D 128, f32, one pass). Before: 3 x 3 ymm tiles (9 accumulators: under the 10
// that Zen 2's 2 FMA pipes x 5-cycle latency need, and 3 vectors leave a 2-vector tile on N = 64 and a 1-vector
// tile on N = 128), and Q^T, dO^T transposed by scalar copies for EVERY (key block, query block) tile (16K element
// moves per tile, ~9% of the time in a profile). Now: 6 x 2 tiles (12 accumulators, both N divide by 2 vectors:
// ~36 GFLOP/s per core on L2-resident operands in isolation, of ~39 peak), the query-major dK / dV pass above
// (transposes 9% -> 0.3% of the profile), and the next tile's Q, dO, dQ rows prefetched one tile ahead (the products
// that first touch them were ~12% slower than those on L2-resident operands). Same products in the same order, so
// dQ, dK, dV are bit-identical to before; a short last row group (4 of 64 rows) runs a 4-row tile. Measured on the
// busy 2-core dev machine (load 7-12), CPU time: backward / forward (one thread, a scratch driver) 1.81-1.89 before,
// 1.52-1.61 after; torch_sdpa / ours on causal 4096 f32 (bench, same process, old and new binaries interleaved,
// --threads 1) 1.06-1.07 before, 1.18-1.19 after; 2 threads 1.19-1.24 after. Tried and dropped: column panels
// outer in gemm (a B panel kept in L1, A streamed past it): 7-8% slower.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "kernels/cpu/attention/flash_backward_kernel.h"
#include "kernels/cpu/attention/flash_core.h"

namespace talklab::cpu::attention::bwd {

using core::bf16_to_f32;
using core::f32_to_bf16;
using core::kLog2e;
using core::kNegInf;
using core::mask_row;
using core::min64;
using core::round_up;

template <class V>
struct Kernel {
  using R = typename V::R;
  static constexpr int L = V::L, MR = V::kBwdMR, NV = V::kBwdNV;
  static constexpr int kTailMR = MR * 2 / 3;  // rows of the tile a short last row group runs

  // ---- the micro-kernel ------------------------------------------------------------------------------------
  // MRt rows x NVt vectors of C = A . B over K, A(m, k) = ar[m][k] (kRowA) or ar[m][k * lda]; rows < MRt are the
  // valid ones (A's missing rows were clamped to a valid one; their results are dropped). kAcc: C += A . B, else
  // C = mul * A . B.
  template <int NVt, bool kRowA, bool kAcc, int MRt = MR>
  static inline void tile(float* c, int64_t ldc, int rows, const float* const* ar, int64_t lda, const float* b,
                          int64_t ldb, int K, float mul) {
    R acc[MRt][NVt];
#pragma GCC unroll 16
    for (int m = 0; m < MRt; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NVt; ++n) acc[m][n] = (kAcc && m < rows) ? V::load(c + m * ldc + n * L) : V::zero();
    for (int k = 0; k < K; ++k) {
      R bv[NVt];
#pragma GCC unroll 8
      for (int n = 0; n < NVt; ++n) bv[n] = V::load(b + k * ldb + n * L);
#pragma GCC unroll 16
      for (int m = 0; m < MRt; ++m) {
        const R av = V::set1(kRowA ? ar[m][k] : ar[m][k * lda]);
#pragma GCC unroll 8
        for (int n = 0; n < NVt; ++n) acc[m][n] = V::fma(av, bv[n], acc[m][n]);
      }
    }
    const R vm = V::set1(mul);
#pragma GCC unroll 16
    for (int m = 0; m < MRt; ++m) {
      if (m >= rows) break;
#pragma GCC unroll 8
      for (int n = 0; n < NVt; ++n) V::store(c + m * ldc + n * L, kAcc ? acc[m][n] : V::mul(acc[m][n], vm));
    }
  }

  // C (M x N, N a multiple of L) = mul * A . B or C += A . B. A is M x K: a[m * lda + k] (kRowA) or a[k * lda + m].
  template <bool kRowA, bool kAcc>
  static void gemm(float* c, int64_t ldc, const float* a, int64_t lda, int M, const float* b, int64_t ldb, int N,
                   int K, float mul) {
    for (int m0 = 0; m0 < M; m0 += MR) {
      const int rows = M - m0 < MR ? M - m0 : MR;
      const float* ar[MR];
      for (int m = 0; m < MR; ++m) {
        const int64_t i = m0 + m < M ? m0 + m : M - 1;
        ar[m] = kRowA ? a + i * lda : a + i;
      }
      float* crow = c + int64_t(m0) * ldc;
      int n = 0;
      // A short last row group (4 of 64 rows at MR 6) runs a narrower tile rather than computing dropped rows.
      if (rows <= kTailMR)
        for (; n + NV * L <= N; n += NV * L)
          tile<NV, kRowA, kAcc, kTailMR>(crow + n, ldc, rows, ar, lda, b + n, ldb, K, mul);
      for (; n + NV * L <= N; n += NV * L) tile<NV, kRowA, kAcc>(crow + n, ldc, rows, ar, lda, b + n, ldb, K, mul);
      switch ((N - n) / L) {
        case 1: tile<1, kRowA, kAcc>(crow + n, ldc, rows, ar, lda, b + n, ldb, K, mul); break;
        case 2: if constexpr (NV > 2) tile<2, kRowA, kAcc>(crow + n, ldc, rows, ar, lda, b + n, ldb, K, mul); break;
        case 3: if constexpr (NV > 3) tile<3, kRowA, kAcc>(crow + n, ldc, rows, ar, lda, b + n, ldb, K, mul); break;
        default: break;
      }
    }
  }

  // ---- per-thread tiles ----------------------------------------------------------------------------------------
  struct Tiles {
    float* base = nullptr;
    size_t cap = 0;
    float *qt, *dot;    // Q^T, dO^T of a query block: D x nqp (the dQ pass)
    float *kt, *vt;     // K^T, V^T of a key block: D x nkp (the dK / dV pass)
    float *qf, *dof;    // Q, dO rows of a query block: bq x Dp (widened / padded copies)
    float *kf, *vf;     // K, V rows of a key block: bk x Dp
    float *dk, *dv;     // pass 1 accumulators: bk x Dp
    float* dq;          // pass 2 accumulator: bq x Dp
    float *s, *dp, *x;  // S^T -> P^T, dP^T -> dS^T, raw scores: bk x nqp (or S -> P, dP -> dS: bq x nkp)
    float *nl, *dd;     // -LSE * log2 e (-inf: no key visible, or padding) and D, per query: nqp
    ~Tiles() { std::free(base); }
    struct Sizes {
      size_t t_n, kt_n, q_n, k_n, s_n, v_n;
      size_t total() const { return 2 * t_n + 2 * kt_n + 3 * q_n + 4 * k_n + 3 * s_n + 2 * v_n; }
    };
    static Sizes sizes(int bq, int bk, int D) {
      const size_t nqp = size_t(round_up(bq, L)), nkp = size_t(round_up(bk, L)), Dp = size_t(round_up(D, 16));
      return {size_t(round_up(int64_t(D) * nqp, 16)), size_t(round_up(int64_t(D) * nkp, 16)), bq * Dp, bk * Dp,
              size_t(round_up(bk * nqp > bq * nkp ? bk * nqp : bq * nkp, 16)), size_t(round_up(nqp, 16))};
    }
    void reserve(int bq, int bk, int D) {
      const Sizes z = sizes(bq, bk, D);
      const size_t t_n = z.t_n, kt_n = z.kt_n, q_n = z.q_n, k_n = z.k_n, s_n = z.s_n, v_n = z.v_n;
      const size_t need = z.total();
      if (need > cap) {
        std::free(base);
        base = static_cast<float*>(std::aligned_alloc(64, round_up(need * 4, 64)));
        if (!base) throw std::bad_alloc();
        cap = need;
      }
      float* p = base;
      auto take = [&](size_t n) {
        float* r = p;
        p += n;
        return r;
      };
      qt = take(t_n), dot = take(t_n);
      kt = take(kt_n), vt = take(kt_n);
      qf = take(q_n), dof = take(q_n), dq = take(q_n);
      kf = take(k_n), vf = take(k_n), dk = take(k_n), dv = take(k_n);
      s = take(s_n), dp = take(s_n), x = take(s_n);
      nl = take(v_n), dd = take(v_n);
    }
  };

  // ---- data movement -------------------------------------------------------------------------------------------
  // Rows [row0, row0 + n) of a (.., D) tensor as float32 rows of stride ld: the tensor itself when it is float32 and
  // D a multiple of the lanes (then ld = D), else widened / zero-padded into tile (ld = Dp).
  static const float* rows_f32(const void* x, DType dt, int64_t row0, int n, int D, float* tile, int64_t& ld) {
    if (dt == DType::f32 && D % L == 0) {
      ld = D;
      return static_cast<const float*>(x) + row0 * D;
    }
    const int Dp = int(round_up(D, 16));
    ld = Dp;
    for (int i = 0; i < n; ++i) {
      float* out = tile + int64_t(i) * Dp;
      if (dt == DType::f32) {
        const float* in = static_cast<const float*>(x) + (row0 + i) * D;
        for (int d = 0; d < D; ++d) out[d] = in[d];
      } else {
        const uint16_t* in = static_cast<const uint16_t*>(x) + (row0 + i) * D;
        for (int d = 0; d < D; ++d) out[d] = bf16_to_f32(in[d]);
      }
      for (int d = D; d < Dp; ++d) out[d] = 0.0f;
    }
    return tile;
  }

  // xt[d][j] = rows[j][d] for j < n, 0 for n <= j < nqp.
  static void transpose(float* xt, const float* rows, int64_t ld, int n, int nqp, int D) {
    for (int d = 0; d < D; ++d) {
      float* out = xt + int64_t(d) * nqp;
      for (int j = 0; j < n; ++j) out[j] = rows[int64_t(j) * ld + d];
      for (int j = n; j < nqp; ++j) out[j] = 0.0f;
    }
  }

  // Per-query vectors of a query block: nl = -LSE * log2 e (-inf where LSE is -inf: P becomes exactly 0) and D.
  static void query_vectors(const BackwardArgs& a, int64_t qrow, int nq, int nqp, Tiles& t) {
    for (int j = 0; j < nqp; ++j) {
      const float lse = j < nq ? a.g.lse[qrow + j] : kNegInf;
      t.nl[j] = lse == kNegInf ? kNegInf : -lse * kLog2e;
      t.dd[j] = j < nq ? a.delta[qrow + j] : 0.0f;
    }
  }

  // Writes acc * mul (n rows of stride ld) as rows [row0, row0 + n) of a (.., D) tensor in dtype dt.
  static void store_rows(void* out, DType dt, int64_t row0, int n, int D, const float* acc, int64_t ld, float mul) {
    for (int i = 0; i < n; ++i) {
      const float* in = acc + int64_t(i) * ld;
      if (dt == DType::f32) {
        float* o = static_cast<float*>(out) + (row0 + i) * D;
        for (int d = 0; d < D; ++d) o[d] = in[d] * mul;
      } else {
        uint16_t* o = static_cast<uint16_t*>(out) + (row0 + i) * D;
        for (int d = 0; d < D; ++d) o[d] = f32_to_bf16(in[d] * mul);
      }
    }
  }

  // ---- one tile: scores to dS ----------------------------------------------------------------------------------
  // Score units as in the forward: natural when a score mod must see scale * q.k, else log2 units (scale * log2 e
  // folded into the product); c turns a score into log2 units for exp2.
  struct Units {
    float qk_mul, c;
  };
  static Units units(const BackwardArgs& a) {
    const bool natural = a.mods.full != nullptr;
    return {natural ? a.scale : a.scale * kLog2e, natural ? kLog2e : 1.0f};
  }
  // The score tile s = qk_mul * A . B (rows x cols of stride cols), its raw copy in t.x where a score gradient needs
  // it, then the mods in the tile's layout: the mask only in partial blocks, the score mod everywhere.
  static void modded_scores(const BackwardArgs& a, Tiles& t, const float* ar, int64_t lda, int rows, const float* bop,
                            int cols, float qk_mul, TileModFn partial_mod, TileModFn full_mod, bool partial, int b,
                            int h, int q0, int nq, int k0, int nk) {
    gemm<true, false>(t.s, cols, ar, lda, rows, bop, cols, cols, int(a.shape.D), qk_mul);
    if (a.score_grad)
      for (int64_t i = 0; i < int64_t(rows) * cols; ++i) t.x[i] = t.s[i];
    if (partial) partial_mod(a.mods.ctx, t.s, cols, b, h, q0, nq, k0, nk);
    else if (full_mod) full_mod(a.mods.ctx, t.s, cols, b, h, q0, nq, k0, nk);
  }
  // One vector of a tile: P = exp2(score * c - LSE * log2 e) over the score in sr, dS = P * (dP - D) over dP in dr.
  static inline void p_and_ds(float* sr, float* dr, R vc, R nl, R dd) {
    const R p = V::exp2(V::fma(V::load(sr), vc, nl));
    V::store(sr, p);
    V::store(dr, V::mul(p, V::sub(V::load(dr), dd)));
  }

  // KEY-major (the dQ pass): on return t.s holds P^T and t.dp holds dS^T (gradient of the RAW scaled score) for keys
  // k0..k0+nk of kf / vf (rows of stride ldk) and the query block whose Q^T, dO^T, nl, dd are in the tiles.
  static void scores_to_ds(const BackwardArgs& a, Tiles& t, const float* kf, const float* vf, int64_t ldk, int b,
                           int h, int q0, int nq, int nqp, int k0, int nk, bool partial) {
    const Units u = units(a);
    modded_scores(a, t, kf, ldk, nk, t.qt, nqp, u.qk_mul, a.mods.partial, a.mods.full, partial, b, h, q0, nq, k0, nk);
    gemm<true, false>(t.dp, nqp, vf, ldk, nk, t.dot, nqp, nqp, int(a.shape.D), 1.0f);
    const R vc = V::set1(u.c);
    for (int i = 0; i < nk; ++i)
      for (int j = 0; j < nqp; j += L)
        p_and_ds(t.s + int64_t(i) * nqp + j, t.dp + int64_t(i) * nqp + j, vc, V::load(t.nl + j), V::load(t.dd + j));
    if (a.score_grad) a.score_grad.key_major(a.score_ctx, t.x, t.dp, nqp, b, h, q0, nq, k0, nk);
  }

  // QUERY-major (the dK / dV pass): on return t.s holds P and t.dp holds dS, row j = query q0 + j, keys in lanes
  // (nkp columns; those past nk are never read), from Q and dO rows read in place (qf, dof) against the K^T and V^T
  // the tiles hold: nothing is transposed per tile, and LSE and D are one broadcast per row.
  static void scores_to_ds_qmajor(const BackwardArgs& a, Tiles& t, const float* qf, int64_t ldq, const float* dof,
                                  int64_t ldo, int b, int h, int q0, int nq, int k0, int nk, int nkp, bool partial) {
    const Units u = units(a);
    modded_scores(a, t, qf, ldq, nq, t.kt, nkp, u.qk_mul, a.mods.partial_qmajor, a.mods.full_qmajor, partial, b, h,
                  q0, nq, k0, nk);
    gemm<true, false>(t.dp, nkp, dof, ldo, nq, t.vt, nkp, nkp, int(a.shape.D), 1.0f);
    const R vc = V::set1(u.c);
    for (int j = 0; j < nq; ++j) {
      const R nl = V::set1(t.nl[j]), dd = V::set1(t.dd[j]);
      for (int i = 0; i < nkp; i += L) p_and_ds(t.s + int64_t(j) * nkp + i, t.dp + int64_t(j) * nkp + i, vc, nl, dd);
    }
    if (a.score_grad) a.score_grad.query_major(a.score_ctx, t.x, t.dp, nkp, b, h, q0, nq, k0, nk);
  }

  // ---- pass 1: dK, dV of one key block ---------------------------------------------------------------------------
  // dq_acc (one-pass schedule): the group's dQ accumulator, rows (g * S_q + q) of stride ld_acc for g < group;
  // null in the two-pass schedule, where q_task computes dQ.
  static void kv_task(const BackwardArgs& a, Tiles& t, int b, int hk, int kb, float* dq_acc = nullptr,
                      int64_t ld_acc = 0) {
    const AttnShape& sh = a.shape;
    const BlockMaskView& bt = a.bm_t;
    const int D = int(sh.D), Dp = int(round_up(D, 16)), Dv = int(round_up(D, L));
    const int k0 = kb * bt.q_block;  // the transposed mask's "query" blocks are key blocks
    const int nk = int(min64(bt.q_block, sh.S_kv - k0));
    const int64_t kvrow = (int64_t(b) * sh.H_kv + hk) * sh.S_kv + k0;
    int64_t ldk = 0;
    const float* kf = rows_f32(a.g.k, a.g.dtype, kvrow, nk, D, t.kf, ldk);
    const float* vf = rows_f32(a.g.v, a.g.dtype, kvrow, nk, D, t.vf, ldk);
    const int nkp = int(round_up(nk, L));
    transpose(t.kt, kf, ldk, nk, nkp, D);  // once per key block, for all its query blocks
    transpose(t.vt, vf, ldk, nk, nkp, D);
    for (int64_t i = 0; i < int64_t(nk) * Dp; ++i) t.dk[i] = t.dv[i] = 0.0f;
    const int group = int(sh.H / sh.H_kv);
    const size_t esize = a.g.dtype == DType::f32 ? 4 : 2;
    auto step = [&](int h, int qb, bool partial) {
      const int q0 = qb * bt.kv_block;
      const int nq = int(min64(bt.kv_block, sh.S_q - q0));
      const int64_t qrow = (int64_t(b) * sh.H + h) * sh.S_q + q0;
      int64_t ldq = 0, ldo = 0;
      const float* qf = rows_f32(a.g.q, a.g.dtype, qrow, nq, D, t.qf, ldq);
      const float* dof = rows_f32(a.g.d_o, a.g.dtype, qrow, nq, D, t.dof, ldo);
      query_vectors(a, qrow, nq, int(round_up(nq, L)), t);
      scores_to_ds_qmajor(a, t, qf, ldq, dof, ldo, b, h, q0, nq, k0, nk, nkp, partial);
      gemm<false, true>(t.dv, Dp, t.s, nkp, nk, dof, ldo, Dv, nq, 1.0f);  // dV += P^T . dO
      gemm<false, true>(t.dk, Dp, t.dp, nkp, nk, qf, ldq, Dv, nq, 1.0f);  // dK += dS^T . Q
      if (dq_acc)                                                          // dQ += dS . K
        gemm<true, true>(dq_acc + (int64_t(h - hk * group) * sh.S_q + q0) * ld_acc, ld_acc, t.dp, nkp, nq, kf, ldk,
                         Dv, nk, 1.0f);
    };
    // The rows a step streams in (its Q, dO and dQ rows: the task's other operands stay in L2) are prefetched one
    // step ahead, so the products never wait on memory for them.
    auto prefetch = [&](int h, int qb) {
      const int q0 = qb * bt.kv_block;
      const int64_t nq = min64(bt.kv_block, sh.S_q - q0);
      const int64_t qrow = (int64_t(b) * sh.H + h) * sh.S_q + q0;
      const int64_t bytes = nq * D * int64_t(esize);
      const char* q = static_cast<const char*>(a.g.q) + qrow * D * int64_t(esize);
      const char* d_o = static_cast<const char*>(a.g.d_o) + qrow * D * int64_t(esize);
      for (int64_t o = 0; o < bytes; o += 64) {
        __builtin_prefetch(q + o, 0, 2);
        __builtin_prefetch(d_o + o, 0, 2);
      }
      if (dq_acc) {
        const float* dq = dq_acc + (int64_t(h - hk * group) * sh.S_q + q0) * ld_acc;
        for (int64_t o = 0; o < nq * ld_acc; o += 16) __builtin_prefetch(dq + o, 1, 2);
      }
    };
    int pending_h = -1, pending_qb = 0;
    bool pending_partial = false;
    auto visit = [&](int h, int qb, bool partial) {
      prefetch(h, qb);
      if (pending_h >= 0) step(pending_h, pending_qb, pending_partial);
      pending_h = h, pending_qb = qb, pending_partial = partial;
    };
    for (int h = hk * group; h < (hk + 1) * group; ++h) {
      const int64_t r = mask_row(bt, b, h, kb);
      for (int64_t i = bt.kv_offsets[r]; i < bt.kv_offsets[r] + bt.kv_num_blocks[r]; ++i)
        visit(h, bt.kv_indices[i], true);
      for (int64_t i = bt.full_kv_offsets[r]; i < bt.full_kv_offsets[r] + bt.full_kv_num_blocks[r]; ++i)
        visit(h, bt.full_kv_indices[i], false);
    }
    if (pending_h >= 0) step(pending_h, pending_qb, pending_partial);
    store_rows(a.g.dk, a.g.dtype, kvrow, nk, D, t.dk, Dp, a.scale);
    store_rows(a.g.dv, a.g.dtype, kvrow, nk, D, t.dv, Dp, 1.0f);
  }

  // ---- pass 2: dQ of one query block -----------------------------------------------------------------------------
  static void q_task(const BackwardArgs& a, Tiles& t, int b, int h, int qb) {
    const AttnShape& sh = a.shape;
    const BlockMaskView& bm = a.bm;
    const int D = int(sh.D), Dp = int(round_up(D, 16)), Dv = int(round_up(D, L));
    const int q0 = qb * bm.q_block;
    const int nq = int(min64(bm.q_block, sh.S_q - q0));
    const int nqp = int(round_up(nq, L));
    const int hk = int(h / (sh.H / sh.H_kv));
    const int64_t qrow = (int64_t(b) * sh.H + h) * sh.S_q + q0;
    int64_t ldq = 0, ldo = 0;
    const float* qf = rows_f32(a.g.q, a.g.dtype, qrow, nq, D, t.qf, ldq);  // sets ldq: its own statement
    const float* dof = rows_f32(a.g.d_o, a.g.dtype, qrow, nq, D, t.dof, ldo);
    transpose(t.qt, qf, ldq, nq, nqp, D);
    transpose(t.dot, dof, ldo, nq, nqp, D);
    query_vectors(a, qrow, nq, nqp, t);
    for (int64_t i = 0; i < int64_t(nq) * Dp; ++i) t.dq[i] = 0.0f;
    auto step = [&](int kb, bool partial) {
      const int k0 = kb * bm.kv_block;
      const int nk = int(min64(bm.kv_block, sh.S_kv - k0));
      const int64_t kvrow = (int64_t(b) * sh.H_kv + hk) * sh.S_kv + k0;
      int64_t ldk = 0;
      const float* kf = rows_f32(a.g.k, a.g.dtype, kvrow, nk, D, t.kf, ldk);
      const float* vf = rows_f32(a.g.v, a.g.dtype, kvrow, nk, D, t.vf, ldk);
      scores_to_ds(a, t, kf, vf, ldk, b, h, q0, nq, nqp, k0, nk, partial);
      gemm<false, true>(t.dq, Dp, t.dp, nqp, nq, kf, ldk, Dv, nk, 1.0f);  // dQ += dS . K
    };
    const int64_t r = mask_row(bm, b, h, qb);
    for (int64_t i = bm.kv_offsets[r]; i < bm.kv_offsets[r] + bm.kv_num_blocks[r]; ++i) step(bm.kv_indices[i], true);
    for (int64_t i = bm.full_kv_offsets[r]; i < bm.full_kv_offsets[r] + bm.full_kv_num_blocks[r]; ++i)
      step(bm.full_kv_indices[i], false);
    store_rows(a.g.dq, a.g.dtype, qrow, nq, D, t.dq, Dp, a.scale);
  }

  // ---- one pass: everything of one (b, kv head) ------------------------------------------------------------------
  // Key blocks in ascending order, each as kv_task, which also adds dS . K into the group's dQ: every dQ row sums
  // its key blocks in ascending order, whatever the thread count. dQ accumulates in the output itself (float32, D a
  // multiple of the lanes: the task owns those rows) or in a per-thread float32 buffer of the group's rows.
  static void head_task(const BackwardArgs& a, Tiles& t, std::vector<float>& buffer, int b, int hk) {
    const AttnShape& sh = a.shape;
    const int D = int(sh.D), Dp = int(round_up(D, 16));
    const int64_t group = sh.H / sh.H_kv, rows = group * sh.S_q;
    const int64_t row0 = (int64_t(b) * sh.H + hk * group) * sh.S_q;
    const bool in_place = dq_in_place(a.g.dtype, D);
    float* acc = in_place ? static_cast<float*>(a.g.dq) + row0 * D : nullptr;
    const int64_t ld = in_place ? D : Dp;
    if (!in_place) {
      if (buffer.size() < size_t(rows * Dp)) buffer.resize(size_t(rows * Dp));
      acc = buffer.data();
    }
    for (int64_t i = 0; i < rows * ld; ++i) acc[i] = 0.0f;
    for (int kb = 0; kb < a.bm_t.num_q_blocks; ++kb) kv_task(a, t, b, hk, kb, acc, ld);
    if (in_place) {
      for (int64_t i = 0; i < rows * ld; ++i) acc[i] *= a.scale;
    } else {
      store_rows(a.g.dq, a.g.dtype, row0, int(rows), D, acc, ld, a.scale);
    }
  }

  static float load(const void* x, DType dt, int64_t i) {
    return dt == DType::f32 ? static_cast<const float*>(x)[i] : bf16_to_f32(static_cast<const uint16_t*>(x)[i]);
  }

  // Whether the one-pass schedule accumulates dQ in the output itself (else in a per-thread float32 buffer).
  static bool dq_in_place(DType dt, int64_t D) { return dt == DType::f32 && D % L == 0; }

  // What run() keeps per thread beyond the call (thread_local, reused by later calls): the tiles, and the one-pass
  // schedule's float32 dQ of a head group where dQ is not accumulated in place. No caller's allocator sees them.
  static size_t thread_bytes(const AttnShape& sh, DType dt, int bq, int bk, bool one_pass) {
    size_t n = size_t(round_up(int64_t(Tiles::sizes(bq, bk, int(sh.D)).total()) * 4, 64));
    if (one_pass && !dq_in_place(dt, sh.D)) n += size_t((sh.H / sh.H_kv) * sh.S_q * round_up(sh.D, 16)) * 4;
    return n;
  }

  static void run(const BackwardArgs& a) {
    const AttnShape& sh = a.shape;
    const int64_t rows = sh.B * sh.H * sh.S_q, D = sh.D, BHkv = sh.B * sh.H_kv;
#pragma omp parallel num_threads(a.num_threads)
    {
      static thread_local Tiles tiles;
      tiles.reserve(a.bm.q_block, a.bm.kv_block, int(D));
      // D = rowsum(dO * O) in float32, each row summed in order by one thread.
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        float acc = 0.0f;
        for (int64_t d = 0; d < D; ++d) acc += load(a.g.d_o, a.g.dtype, r * D + d) * load(a.g.o, a.g.dtype, r * D + d);
        a.delta[r] = acc;
      }
      if (a.one_pass) {
        static thread_local std::vector<float> dq_buffer;
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < BHkv; ++i) head_task(a, tiles, dq_buffer, int(i / sh.H_kv), int(i % sh.H_kv));
      } else {
        two_passes(a, tiles);
      }
    }
  }

  static void two_passes(const BackwardArgs& a, Tiles& tiles) {
    const AttnShape& sh = a.shape;
    const int64_t kv_tasks = sh.B * sh.H_kv * a.bm_t.num_q_blocks, BHkv = sh.B * sh.H_kv;
    const int64_t q_tasks = sh.B * sh.H * a.bm.num_q_blocks, BH = sh.B * sh.H;
    const int group = int(sh.H / sh.H_kv);
    // Orphaned worksharing loops: they bind to run()'s parallel region (implicit barrier after each).
    {
      // Pass 1. Key blocks by descending query-block count (the transposed mask's work order), kv heads inner.
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < kv_tasks; ++i) {
        const int64_t rank = i / BHkv, bh = i % BHkv;
        const int b = int(bh / sh.H_kv), hk = int(bh % sh.H_kv);
        const int kb = a.bm_t.work_order[mask_row(a.bm_t, b, hk * group, 0) + rank];
        kv_task(a, tiles, b, hk, kb);
      }
      // Pass 2, as the forward's schedule.
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < q_tasks; ++i) {
        const int64_t rank = i / BH, bh = i % BH;
        const int b = int(bh / sh.H), h = int(bh % sh.H);
        const int qb = a.bm.work_order[mask_row(a.bm, b, h, 0) + rank];
        q_task(a, tiles, b, h, qb);
      }
    }
  }
};

}  // namespace talklab::cpu::attention::bwd
