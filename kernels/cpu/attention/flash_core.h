// The flash_cpu algorithm, shared by the ISA translation units (flash_f32_*.cpp, flash_bf16_avx512.cpp). Every
// function here is a template over a type from an ISA namespace (or static), so each ISA gets its own copies.
//
// One task = one (b, h, query block); tasks run under a dynamic OpenMP schedule in BlockMask::work_order (longest
// rows first). Per task: pack Q^T once, then for each visited key block: S^T = K_blk . Q^T (scores KEY-major, so
// the softmax's max and sum over keys are vertical vector ops, no horizontal reductions, and K is read in place by
// scalar broadcasts instead of being transposed per block), mods on the tile (mask only in partial blocks), online
// softmax update per query column, O = alpha * O + P . V. The O tile and Q^T stay in L1/L2 for the whole row.
// Compute-bound: the two GEMMs are 4 * D flops per pair; softmax adds ~20 vector ops per 16 pairs.
//
// Speed (AVX2, f32, seq 4096, 4 heads, D 128, 2 threads; bench, default profile, quiet machine). The P.V tile loaded
// its last V vector with a masked load (vmaskmovps) in every iteration, also where D fills whole vectors: P.V took
// 1.6x the time of Q.K^T for the same flops. Now the masked load is compiled in only where D needs it, and both tiles
// are 6 x 2 ymm (12 accumulators, as the backward; they were 3 x 3 and 4 x 2, under the 10 FMAs in flight that
// Zen 2's two 5-cycle pipes need), a short last query group running a narrower P.V tile. Full mask: 752 -> 539 ms
// (torch_sdpa 553 ms in the same run); causal: 391 -> 283 ms (torch_sdpa 303 ms). P.V and Q.K^T now take equal time
// in a profile; the online softmax is ~7% of the kernel.
// Loop orders around the register tiles, tried on a Zen 3 guest (2026-12-06, full mask, f32, same case, bench, two runs
// each; the kernel as it is took 238-246 ms there, torch_sdpa 220-232): Q.K^T with the query slices outside the key
// groups, so that each 16-query slice of Q^T (8 KiB) stays in L1 while all key groups pass over it and K is read from
// L2 by broadcasts, 284-307 ms; P.V with the head-dim slices outside the query groups (each V slice reused from L1),
// 238-251 ms. Both kept as they are. A software prefetch in P.V of the V line 4, 8 or 16 rows ahead: on one thread 509
// -> 471-494 ms (torch_sdpa 423-451 in the same runs, 450 before), on two no gain beyond the runs' spread (232-250
// against 238-253 ms, alternated), so not kept. V copied per key block into panels of 16 columns (each panel read from
// L1 by every query group): one thread 468-481 ms against torch_sdpa's 436; two threads, alternated, full 234-250
// against 241-246 ms, causal 114-119 against 120-125: not kept for a gain the full mask does not show. On that guest
// the full mask ran at 0.94-0.95x torch_sdpa, where the same kernel had measured 1.01x the day before (211.6 against
// 214.0 ms): the kernel slowed 13%, SDPA 5%. What did gain there was the block size: 96 x 96 blocks instead of 64 x
// 64 ran the full mask 10-12% faster and causal 7-9% (flash_cpu.cpp, choose_flash_blocks, where AVX2 now takes them).
//
// Flavor: the element type path (fp32 GEMMs, or bf16 vdpbf16ps) supplies prepare (per call), pack_q, qk, Sink (where
// the softmax puts P) and pv; V is its vector traits (lanes L, load/store/fma/max/exp2). Verdicts of the variants
// tried are in flash_f32_avx512.cpp and flash_bf16_avx512.cpp.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "kernels/cpu/attention/flash_kernel.h"

namespace talklab::cpu::attention::core {

static constexpr float kLog2e = 1.4426950408889634f;
static constexpr float kLn2 = 0.6931471805599453f;

static constexpr float kNegInf = -std::numeric_limits<float>::infinity();  // a constant: no call into <limits>

static inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
// Stored row of (b, h, qb): broadcast dimensions ignore their index (as BlockMask::row).
static inline int64_t mask_row(const BlockMaskView& bm, int b, int h, int qb) {
  return (int64_t(bm.B == 1 ? 0 : b) * bm.H + (bm.H == 1 ? 0 : h)) * bm.num_q_blocks + qb;
}

static inline float bf16_to_f32(uint16_t x) {
  uint32_t u = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even (inputs here are finite or inf, never NaN).
static inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// Per-thread tiles, grown on demand and kept, so a call allocates nothing once warm. 64-byte aligned.
template <class Flavor>
struct Tiles {
  float* qt = nullptr;       // Q^T of the task, Flavor::qt_floats
  float* s = nullptr;        // S^T / P^T, (kv_block + kPadRows) x nqp
  float* o = nullptr;        // O accumulator, nqp x Dp
  float* m = nullptr;        // running max per query (score units)
  float* l = nullptr;        // running sum per query
  float* alpha = nullptr;    // rescale factor of the last block
  uint32_t* p2 = nullptr;    // bf16 flavor: P^T in key pairs
  size_t cap = 0;
  ~Tiles() { std::free(qt); }
  void reserve(int bq, int bk, int D) {
    const size_t nqp = size_t(round_up(bq, Flavor::kQPad)), Dp = size_t(round_up(D, 16));
    const size_t qt_n = round_up(Flavor::qt_floats(int(nqp), D), 16);
    const size_t s_n = (size_t(bk) + Flavor::kPadRows) * nqp, o_n = nqp * Dp, v_n = round_up(nqp, 16);
    const size_t p_n = (size_t(bk) / 2 + 1) * nqp;
    const size_t need = qt_n + s_n + o_n + 3 * v_n + p_n;
    if (need > cap) {
      std::free(qt);
      qt = static_cast<float*>(std::aligned_alloc(64, round_up(need * 4, 64)));
      if (!qt) throw std::bad_alloc();
      cap = need;
    }
    s = qt + qt_n;
    o = s + s_n;
    m = o + o_n;
    l = m + v_n;
    alpha = l + v_n;
    p2 = reinterpret_cast<uint32_t*>(alpha + v_n);
  }
};

// Online softmax over one S^T tile (nk keys x nqp queries, row stride lds). Scores are multiplied by c (log2 e, or
// 1 when the scale already folded it in) before exp2; the probabilities go to sink.put(k, j, p_k, p_k+1) two keys at
// a time (p_k+1 = 0 past nk), so the bf16 flavor packs key pairs without another pass over the tile. Returns whether
// any alpha != 1 (most blocks after the first leave every row max unchanged, and then O need not be rescaled).
template <class V, class Sink>
static bool online_softmax(const float* s, int64_t lds, int nk, int nqp, float c, float* m, float* l, float* alpha,
                           const Sink& sink) {
  using R = typename V::R;
  const R vc = V::set1(c);
  for (int j = 0; j < nqp; j += V::L) {
    R mx = V::set1(kNegInf);
    for (int k = 0; k < nk; ++k) mx = V::max(mx, V::load(s + k * lds + j));
    const R m_old = V::load(m + j);
    const R m_new = V::max(m_old, mx);
    const R m_use = V::zero_if_neginf(m_new);  // all masked so far: keep exp2 arguments finite (-inf, never NaN)
    const R a = V::exp2(V::mul(V::sub(m_old, m_use), vc));
    const R neg = V::mul(m_use, V::set1(-c));
    R sum0 = V::zero(), sum1 = V::zero();
    int k = 0;
    for (; k + 1 < nk; k += 2) {
      const R p0 = V::exp2(V::fma(V::load(s + k * lds + j), vc, neg));
      const R p1 = V::exp2(V::fma(V::load(s + (k + 1) * lds + j), vc, neg));
      sink.put(k, j, p0, p1);
      sum0 = V::add(sum0, p0);
      sum1 = V::add(sum1, p1);
    }
    if (k < nk) {
      const R p0 = V::exp2(V::fma(V::load(s + k * lds + j), vc, neg));
      sink.put(k, j, p0, V::zero());
      sum0 = V::add(sum0, p0);
    }
    V::store(l + j, V::fma(V::load(l + j), a, V::add(sum0, sum1)));
    V::store(m + j, m_new);
    V::store(alpha + j, a);
  }
  bool rescale = false;
  for (int j = 0; j < nqp; ++j) rescale |= alpha[j] != 1.0f;
  return rescale;
}

// o[j][:] *= alpha[j] for j < nq (rows of Dp floats): a separate pass keeps the GEMM tiles branch-free.
template <class V>
static void rescale_rows(float* o, int Dp, int nq, const float* alpha) {
  for (int j = 0; j < nq; ++j) {
    if (alpha[j] == 1.0f) continue;
    const typename V::R a = V::set1(alpha[j]);
    float* row = o + int64_t(j) * Dp;
    for (int d = 0; d < Dp; d += V::L) V::store(row + d, V::mul(V::load(row + d), a));
  }
}

template <class Flavor>
static void run_task(const KernelArgs& a, const typename Flavor::Src& src, Tiles<Flavor>& t, int b, int h, int qb) {
  const AttnShape& sh = a.shape;
  const BlockMaskView& bm = a.bm;
  const int D = int(sh.D), Dp = int(round_up(D, 16));
  const int q0 = qb * bm.q_block;
  const int nq = int(min64(bm.q_block, sh.S_q - q0));
  const int nqp = int(round_up(nq, Flavor::kQPad));
  const int hk = int(h / (sh.H / sh.H_kv));
  const int64_t qrow = (int64_t(b) * sh.H + h) * sh.S_q + q0;  // first query row of the task
  const size_t esize = a.t.dtype == DType::f32 ? 4 : 2;

  Flavor::pack_q(t.qt, static_cast<const char*>(a.t.q) + qrow * D * esize, a.t.dtype, nq, nqp, D);
  for (int j = 0; j < nqp; ++j) {
    t.m[j] = kNegInf;
    t.l[j] = 0.0f;
  }
  for (int64_t i = 0; i < int64_t(nqp) * Dp; ++i) t.o[i] = 0.0f;

  // Score units: natural when a score mod must see scale * q.k, else log2 units (scale * log2 e folded into Q.K^T).
  const bool natural = a.mods.full != nullptr;
  const float qk_mul = natural ? a.scale : a.scale * kLog2e;
  const float c = natural ? kLog2e : 1.0f;

  auto step = [&](int kb, bool partial) {
    const int k0 = kb * bm.kv_block;
    const int nk = int(min64(bm.kv_block, sh.S_kv - k0));
    Flavor::qk(t.s, nqp, src, b, hk, k0, nk, t.qt, nqp, D, qk_mul);
    if (partial) a.mods.partial(a.mods.ctx, t.s, nqp, b, h, q0, nq, k0, nk);
    else if (a.mods.full) a.mods.full(a.mods.ctx, t.s, nqp, b, h, q0, nq, k0, nk);
    const bool rescale =
        online_softmax<typename Flavor::V>(t.s, nqp, nk, nqp, c, t.m, t.l, t.alpha, typename Flavor::Sink{t.s, t.p2, nqp, nk});
    Flavor::pv(t.o, Dp, t.s, nqp, t.p2, src, b, hk, k0, nk, D, rescale ? t.alpha : nullptr);
  };
  const int64_t r = mask_row(bm, b, h, qb);
  for (int64_t i = bm.kv_offsets[r]; i < bm.kv_offsets[r] + bm.kv_num_blocks[r]; ++i) step(bm.kv_indices[i], true);
  for (int64_t i = bm.full_kv_offsets[r]; i < bm.full_kv_offsets[r] + bm.full_kv_num_blocks[r]; ++i)
    step(bm.full_kv_indices[i], false);

  // Normalize and write every element: a row with nothing visible (l = 0) gets zeros and LSE -inf.
  for (int j = 0; j < nq; ++j) {
    const float lj = t.l[j];
    const float inv = lj > 0.0f ? 1.0f / lj : 0.0f;
    const float* acc = t.o + size_t(j) * Dp;
    if (a.t.dtype == DType::f32) {
      float* out = static_cast<float*>(a.t.o) + (qrow + j) * D;
      for (int d = 0; d < D; ++d) out[d] = acc[d] * inv;
    } else {
      uint16_t* out = static_cast<uint16_t*>(a.t.o) + (qrow + j) * D;
      for (int d = 0; d < D; ++d) out[d] = f32_to_bf16(acc[d] * inv);
    }
    if (a.t.lse)
      a.t.lse[qrow + j] = lj > 0.0f ? (t.m[j] * c + std::log2(lj)) * kLn2 : kNegInf;
  }
}

template <class Flavor>
static void forward(const KernelArgs& a) {
  const typename Flavor::Src src = Flavor::prepare(a);
  const BlockMaskView& bm = a.bm;
  const int64_t BH = a.shape.B * a.shape.H;
  const int64_t tasks = BH * bm.num_q_blocks;
#pragma omp parallel num_threads(a.num_threads)
  {
    static thread_local Tiles<Flavor> tiles;
    tiles.reserve(bm.q_block, bm.kv_block, int(a.shape.D));
    // Consecutive tasks share a query block rank and walk heads, so query heads of one kv head run together.
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < tasks; ++i) {
      const int64_t rank = i / BH, bh = i % BH;
      const int b = int(bh / a.shape.H), h = int(bh % a.shape.H);
      const int qb = bm.work_order[mask_row(bm, b, h, 0) + rank];
      run_task<Flavor>(a, src, tiles, b, h, qb);
    }
  }
}

// ---- the float32 flavor, generic over the vector traits V ----------------------------------------------------
// K and V are float32 rows: the inputs, or (bf16 inputs on AVX2 / scalar) float32 copies made in the workspace.
template <class Vec>
struct F32Flavor {
  using V = Vec;
  using R = typename V::R;
  static constexpr int L = V::L;
  static constexpr int kQkMR = V::kQkMR;  // keys per Q.K^T register tile
  static constexpr int kQkNV = V::kQkNV;  // query vectors per Q.K^T register tile
  static constexpr int kPvMR = V::kPvMR;  // queries per P.V register tile
  static constexpr int kPvNV = V::kPvNV;  // head-dim vectors per P.V register tile
  static constexpr int kQPad = L > kPvMR ? L : kPvMR;
  static constexpr int kPadRows = kQkMR;

  struct Src {
    const float* k;  // (B, H_kv, S_kv, D)
    const float* v;  // (B, H_kv, S_kv, D)
    int64_t S_kv, D, H_kv;
    // Row k0 of kv head hk of batch b in x (k or v).
    const float* kv_base(const float* x, int b, int hk, int k0) const {
      return x + ((int64_t(b) * H_kv + hk) * S_kv + k0) * D;
    }
  };

  static size_t qt_floats(int nqp, int D) { return size_t(nqp) * D; }

  // P^T overwrites S^T in place.
  struct Sink {
    float* s;
    uint32_t* unused;
    int64_t lds;
    int nk;
    void put(int k, int j, R p0, R p1) const {
      V::store(s + k * lds + j, p0);
      if (k + 1 < nk) V::store(s + (k + 1) * lds + j, p1);
    }
  };

  static Src prepare(const KernelArgs& a) {
    const AttnShape& s = a.shape;
    Src src{static_cast<const float*>(a.t.k), static_cast<const float*>(a.t.v), s.S_kv, s.D, s.H_kv};
    if (a.t.dtype == DType::bf16) {  // convert once; every query block then reads float32
      const int64_t n = s.B * s.H_kv * s.S_kv * s.D;
      float* kf = static_cast<float*>(a.workspace);
      float* vf = kf + n;
      const uint16_t* k16 = static_cast<const uint16_t*>(a.t.k);
      const uint16_t* v16 = static_cast<const uint16_t*>(a.t.v);
#pragma omp parallel for num_threads(a.num_threads) schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        kf[i] = bf16_to_f32(k16[i]);
        vf[i] = bf16_to_f32(v16[i]);
      }
      src.k = kf;
      src.v = vf;
    }
    return src;
  }

  // qt[d][j] = q[j][d] (nq rows of D), zero for nq <= j < nqp. Once per task, amortized over its key blocks.
  static void pack_q(float* qt, const void* q, DType dt, int nq, int nqp, int D) {
    for (int j = 0; j < nq; ++j) {
      if (dt == DType::f32) {
        const float* row = static_cast<const float*>(q) + int64_t(j) * D;
        for (int d = 0; d < D; ++d) qt[int64_t(d) * nqp + j] = row[d];
      } else {
        const uint16_t* row = static_cast<const uint16_t*>(q) + int64_t(j) * D;
        for (int d = 0; d < D; ++d) qt[int64_t(d) * nqp + j] = bf16_to_f32(row[d]);
      }
    }
    for (int d = 0; d < D; ++d)
      for (int j = nq; j < nqp; ++j) qt[int64_t(d) * nqp + j] = 0.0f;
  }

  template <int NV>
  static inline void qk_tile(float* s, int64_t lds, const float* const* kr, const float* qt, int64_t ldq, int D,
                             float mul) {
    R acc[kQkMR][NV];
#pragma GCC unroll 16
    for (int m = 0; m < kQkMR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) acc[m][n] = V::zero();
    for (int d = 0; d < D; ++d) {
      R q[NV];
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) q[n] = V::load(qt + d * ldq + n * L);
#pragma GCC unroll 16
      for (int m = 0; m < kQkMR; ++m) {
        const R k = V::set1(kr[m][d]);
#pragma GCC unroll 8
        for (int n = 0; n < NV; ++n) acc[m][n] = V::fma(k, q[n], acc[m][n]);
      }
    }
    const R vm = V::set1(mul);
#pragma GCC unroll 16
    for (int m = 0; m < kQkMR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) V::store(s + m * lds + n * L, V::mul(acc[m][n], vm));
  }

  // s[i][j] = mul * k[k0 + i] . q[j] for i < nk (rows up to a multiple of kQkMR are written, from clamped keys).
  static void qk(float* s, int64_t lds, const Src& src, int b, int hk, int k0, int nk, const float* qt, int nqp, int D,
                 float mul) {
    const float* k = src.kv_base(src.k, b, hk, k0);
    for (int i = 0; i < nk; i += kQkMR) {
      const float* kr[kQkMR];
      for (int m = 0; m < kQkMR; ++m) kr[m] = k + min64(i + m, nk - 1) * D;
      float* srow = s + int64_t(i) * lds;
      int j = 0;
      for (; j + kQkNV * L <= nqp; j += kQkNV * L) qk_tile<kQkNV>(srow + j, lds, kr, qt + j, nqp, D, mul);
      switch ((nqp - j) / L) {
        case 1: qk_tile<1>(srow + j, lds, kr, qt + j, nqp, D, mul); break;
        case 2: if constexpr (kQkNV > 2) qk_tile<2>(srow + j, lds, kr, qt + j, nqp, D, mul); break;
        case 3: if constexpr (kQkNV > 3) qk_tile<3>(srow + j, lds, kr, qt + j, nqp, D, mul); break;
        default: break;
      }
    }
  }

  // MR queries (kPvMR, or fewer in a short last row group) x NV head-dim vectors of O. kMasked: the last vector
  // ends past D and is loaded under `last` (a masked load in every iteration costs: only where D needs it).
  template <int NV, int MR, bool kMasked>
  static inline void pv_tile(float* o, int64_t ldo, const float* p, int64_t ldp, const float* v, int64_t ldv, int nk,
                             typename V::Mask last) {
    R acc[MR][NV];
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) acc[m][n] = V::load(o + m * ldo + n * L);
    for (int k = 0; k < nk; ++k) {
      R vv[NV];
#pragma GCC unroll 8
      for (int n = 0; n < NV - 1; ++n) vv[n] = V::load(v + k * ldv + n * L);
      vv[NV - 1] = kMasked ? V::load_masked(v + k * ldv + (NV - 1) * L, last) : V::load(v + k * ldv + (NV - 1) * L);
#pragma GCC unroll 16
      for (int m = 0; m < MR; ++m) {
        const R pm = V::set1(p[k * ldp + m]);
#pragma GCC unroll 8
        for (int n = 0; n < NV; ++n) acc[m][n] = V::fma(pm, vv[n], acc[m][n]);
      }
    }
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 8
      for (int n = 0; n < NV; ++n) V::store(o + m * ldo + n * L, acc[m][n]);
  }

  // o[j][:] = alpha[j] * o[j][:] + sum_i p[i][j] * v[k0 + i][:] for j < nqp (padded queries are harmless).
  static void pv(float* o, int Dp, const float* p, int64_t ldp, uint32_t*, const Src& src, int b, int hk, int k0,
                 int nk, int D, const float* alpha) {
    const int nqp = int(ldp);
    if (alpha) rescale_rows<V>(o, Dp, nqp, alpha);
    const float* v = src.kv_base(src.v, b, hk, k0);
    const int nvec = (D + L - 1) / L;
    const typename V::Mask tail = V::mask_first(D - (nvec - 1) * L);
    const typename V::Mask* last = D % L ? &tail : nullptr;
    for (int j = 0; j < nqp; j += kPvMR) {
      const int rows = nqp - j < kPvMR ? nqp - j : kPvMR;
      float* orow = o + int64_t(j) * Dp;
      int n = 0;
      for (; n + kPvNV <= nvec; n += kPvNV)
        pv_rows<kPvNV>(rows, orow + n * L, Dp, p + j, ldp, v + n * L, D, nk, n + kPvNV == nvec ? last : nullptr);
      switch (nvec - n) {
        case 1: pv_rows<1>(rows, orow + n * L, Dp, p + j, ldp, v + n * L, D, nk, last); break;
        case 2: if constexpr (kPvNV > 2) pv_rows<2>(rows, orow + n * L, Dp, p + j, ldp, v + n * L, D, nk, last); break;
        case 3: if constexpr (kPvNV > 3) pv_rows<3>(rows, orow + n * L, Dp, p + j, ldp, v + n * L, D, nk, last); break;
        default: break;
      }
    }
  }
  // pv_tile with exactly `rows` queries: nqp is a multiple of the lanes, so a kPvMR that the lanes do not divide (6 on
  // AVX2) leaves a short last row group, which runs a narrower tile instead of writing past the O tile.
  template <int NV, int MR = kPvMR>
  static inline void pv_rows(int rows, float* o, int64_t ldo, const float* p, int64_t ldp, const float* v,
                             int64_t ldv, int nk, const typename V::Mask* last) {
    if (rows == MR) {
      if (last) pv_tile<NV, MR, true>(o, ldo, p, ldp, v, ldv, nk, *last);
      else pv_tile<NV, MR, false>(o, ldo, p, ldp, v, ldv, nk, typename V::Mask{});
    }
    else if constexpr (MR > 1) pv_rows<NV, MR - 1>(rows, o, ldo, p, ldp, v, ldv, nk, last);
  }
};

}  // namespace talklab::cpu::attention::core
