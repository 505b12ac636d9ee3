// The flash_cpu_backward algorithm (flash_backward.h), shared by the ISA translation units
// (flash_backward_{avx512,avx2,scalar}.cpp): templates over the same vector traits V as the forward (vec_*.h), so
// the code the AVX2 tests run is the code AVX-512 runs at 16 lanes.
//
// Layout, as the forward's: score tiles are KEY-major (S^T: row i = key, queries in lanes), so the mods
// (tile_mods.h) apply unchanged, and the per-query LSE and D are vectors across lanes (no horizontal ops).
// Every product is one register-blocked micro-kernel, C (M x N) = A (M x K) . B (K x N): MR rows of A broadcast
// against NV vectors of a B row (V::kQkMR x V::kQkNV: 6 x 4 zmm on AVX-512, 3 x 3 ymm on AVX2), B read with
// unit stride, A either row-major (K, V, P^T, dS^T) or column-major (dS^T read as dS):
//   S^T  = K . Q^T       (A: K rows,   B: Q^T packed)     dP^T = V . dO^T   (A: V rows, B: dO^T packed)
//   dV  += P^T . dO      (A: P^T,      B: dO rows)        dK  += dS^T . Q   (A: dS^T,   B: Q rows)
//   dQ  += dS . K        (A: dS^T read column-wise, B: K rows)
// Schedules (flash_backward.h): one pass per (b, kv head) (head_task: every key block in order, dQ accumulated in
// the task's own rows), or two passes:
// Pass 1 (dK, dV; task = b, kv head, key block): K and V of the task stay in the tile; for each query head of the
// group and each query block the transposed block mask lists: pack Q, Q^T, dO, dO^T of the block (copies of
// 4 * q_block * D floats, against 8 * q_block * kv_block * D flops), S^T, mods, P^T, dP^T, dS^T, then dV and dK
// accumulate in the task's own tiles. Pass 2 (dQ; task = b, head, query block): Q^T and dO^T stay, K and V of each
// listed key block are read in place (float32, D a multiple of the lanes) or widened into the tile.
// Compute-bound: 14 * D flops per visited pair in five products at the forward's tile shapes; the elementwise work
// (exp2, the dS product, the mods) is ~10 vector ops per L pairs. Expected: about the forward's GFLOP/s on the
// products. A rough check on the busy dev machine (AVX2, causal 4096, 4 heads, 2 threads): backward / forward time
// 2.3-2.5x with two passes, 1.7x with one pass (10 * D per pair, as LibTorch's CPU flash backward, which owns
// whole (b, h) heads). Against it we execute the same flops with one pass and win by skipping blocks it computes
// (every mask but causal); with two passes (B * H_kv < kOnePassMinKvHeads) 1.4x its flops.
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
  static constexpr int L = V::L, MR = V::kQkMR, NV = V::kQkNV;

  // ---- the micro-kernel ------------------------------------------------------------------------------------
  // MR rows x NVt vectors of C = A . B over K, A(m, k) = ar[m][k] (kRowA) or ar[m][k * lda]; rows < MR are the
  // valid ones (A's missing rows were clamped to a valid one; their results are dropped). kAcc: C += A . B, else
  // C = mul * A . B.
  template <int NVt, bool kRowA, bool kAcc>
  static inline void tile(float* c, int64_t ldc, int rows, const float* const* ar, int64_t lda, const float* b,
                          int64_t ldb, int K, float mul) {
    R acc[MR][NVt];
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NVt; ++n) acc[m][n] = (kAcc && m < rows) ? V::load(c + m * ldc + n * L) : V::zero();
    for (int k = 0; k < K; ++k) {
      R bv[NVt];
#pragma GCC unroll 8
      for (int n = 0; n < NVt; ++n) bv[n] = V::load(b + k * ldb + n * L);
#pragma GCC unroll 16
      for (int m = 0; m < MR; ++m) {
        const R av = V::set1(kRowA ? ar[m][k] : ar[m][k * lda]);
#pragma GCC unroll 8
        for (int n = 0; n < NVt; ++n) acc[m][n] = V::fma(av, bv[n], acc[m][n]);
      }
    }
    const R vm = V::set1(mul);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
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
    float *qt, *dot;    // Q^T, dO^T of a query block: D x nqp
    float *qf, *dof;    // Q, dO rows of a query block: bq x Dp (widened / padded copies)
    float *kf, *vf;     // K, V rows of a key block: bk x Dp
    float *dk, *dv;     // pass 1 accumulators: bk x Dp
    float* dq;          // pass 2 accumulator: bq x Dp
    float *s, *dp, *x;  // S^T -> P^T, dP^T -> dS^T, raw scores: bk x nqp
    float *nl, *dd;     // -LSE * log2 e (-inf: no key visible, or padding) and D, per query: nqp
    ~Tiles() { std::free(base); }
    void reserve(int bq, int bk, int D) {
      const size_t nqp = size_t(round_up(bq, L)), Dp = size_t(round_up(D, 16));
      const size_t t_n = round_up(int64_t(D) * nqp, 16), q_n = bq * Dp, k_n = bk * Dp, s_n = round_up(bk * nqp, 16),
                   v_n = round_up(nqp, 16);
      const size_t need = 2 * t_n + 3 * q_n + 4 * k_n + 3 * s_n + 2 * v_n;
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
  // On return t.s holds P^T and t.dp holds dS^T (gradient of the RAW scaled score) for keys k0..k0+nk of kf / vf
  // (rows of stride ldk) and the query block whose Q^T, dO^T, nl, dd are in the tiles.
  static void scores_to_ds(const BackwardArgs& a, Tiles& t, const float* kf, const float* vf, int64_t ldk, int b,
                           int h, int q0, int nq, int nqp, int k0, int nk, bool partial) {
    const int D = int(a.shape.D);
    // Score units as in the forward: natural when a score mod must see scale * q.k, else log2 units.
    const bool natural = a.mods.full != nullptr;
    const float qk_mul = natural ? a.scale : a.scale * kLog2e;
    const float c = natural ? kLog2e : 1.0f;
    gemm<true, false>(t.s, nqp, kf, ldk, nk, t.qt, nqp, nqp, D, qk_mul);
    if (a.score_grad)
      for (int64_t i = 0; i < int64_t(nk) * nqp; ++i) t.x[i] = t.s[i];
    if (partial) a.mods.partial(a.mods.ctx, t.s, nqp, b, h, q0, nq, k0, nk);
    else if (a.mods.full) a.mods.full(a.mods.ctx, t.s, nqp, b, h, q0, nq, k0, nk);
    gemm<true, false>(t.dp, nqp, vf, ldk, nk, t.dot, nqp, nqp, D, 1.0f);
    const R vc = V::set1(c);
    for (int i = 0; i < nk; ++i) {
      float* sr = t.s + int64_t(i) * nqp;
      float* dr = t.dp + int64_t(i) * nqp;
      for (int j = 0; j < nqp; j += L) {
        const R p = V::exp2(V::fma(V::load(sr + j), vc, V::load(t.nl + j)));
        V::store(sr + j, p);
        V::store(dr + j, V::mul(p, V::sub(V::load(dr + j), V::load(t.dd + j))));
      }
    }
    if (a.score_grad) a.score_grad(a.score_ctx, t.x, t.dp, nqp, b, h, q0, nq, k0, nk);
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
    for (int64_t i = 0; i < int64_t(nk) * Dp; ++i) t.dk[i] = t.dv[i] = 0.0f;
    const int group = int(sh.H / sh.H_kv);
    for (int h = hk * group; h < (hk + 1) * group; ++h) {
      auto step = [&](int qb, bool partial) {
        const int q0 = qb * bt.kv_block;
        const int nq = int(min64(bt.kv_block, sh.S_q - q0));
        const int nqp = int(round_up(nq, L));
        const int64_t qrow = (int64_t(b) * sh.H + h) * sh.S_q + q0;
        int64_t ldq = 0, ldo = 0;
        const float* qf = rows_f32(a.g.q, a.g.dtype, qrow, nq, D, t.qf, ldq);
        const float* dof = rows_f32(a.g.d_o, a.g.dtype, qrow, nq, D, t.dof, ldo);
        transpose(t.qt, qf, ldq, nq, nqp, D);
        transpose(t.dot, dof, ldo, nq, nqp, D);
        query_vectors(a, qrow, nq, nqp, t);
        scores_to_ds(a, t, kf, vf, ldk, b, h, q0, nq, nqp, k0, nk, partial);
        gemm<true, true>(t.dv, Dp, t.s, nqp, nk, dof, ldo, Dv, nq, 1.0f);   // dV += P^T . dO
        gemm<true, true>(t.dk, Dp, t.dp, nqp, nk, qf, ldq, Dv, nq, 1.0f);   // dK += dS^T . Q
        if (dq_acc)                                                          // dQ += dS . K
          gemm<false, true>(dq_acc + (int64_t(h - hk * group) * sh.S_q + q0) * ld_acc, ld_acc, t.dp, nqp, nq, kf, ldk,
                            Dv, nk, 1.0f);
      };
      const int64_t r = mask_row(bt, b, h, kb);
      for (int64_t i = bt.kv_offsets[r]; i < bt.kv_offsets[r] + bt.kv_num_blocks[r]; ++i) step(bt.kv_indices[i], true);
      for (int64_t i = bt.full_kv_offsets[r]; i < bt.full_kv_offsets[r] + bt.full_kv_num_blocks[r]; ++i)
        step(bt.full_kv_indices[i], false);
    }
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
    const bool in_place = a.g.dtype == DType::f32 && D % L == 0;
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
