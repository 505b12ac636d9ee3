// Attention variants as two small callables, in the spirit of FlexAttention:
//   mask_mod(b, h, q, kv) -> bool         true = key kv is visible to query q
//   score_mod(score, b, h, q, kv) -> score applied to the scaled score q.k * scale, before softmax
// Letters: b batch, h query head, q query position, kv key position (all int).
// The CPU kernel inlines them (they are template arguments, never virtual): it calls one type-erased function per
// tile and that function's element loop is an instantiation with the mods inlined (kernels/cpu/attention/tile_mods.h).
// flash_cuda implements the same mods itself (kernels/cuda/attention/flash_cuda_kernel.h); the float64 reference
// (reference.h) applies these to check both.
// Write mods branch-free (use & and |, not && and ||) so the element loops vectorize.
// A score_mod is called with float in the kernel and with double in the float64 reference: write it generic
// (template or `auto` parameter) so the reference does not round to float.
// Pure index arithmetic: nothing here is memory- or compute-bound by itself.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "kernels/common/attention/exp2_poly.h"

namespace talklab::attention {

// ---- mask mods -------------------------------------------------------------------------------------------

struct FullMask {
  bool operator()(int, int, int, int) const { return true; }
};

// Top-left aligned: query q sees keys 0..q whatever S_q and S_kv are (PyTorch's is_causal convention; FlashAttention
// >= 2.1 aligns bottom-right instead, which differs when S_q != S_kv).
struct CausalMask {
  bool operator()(int, int, int q, int kv) const { return kv <= q; }
};

// Causal sliding window of `window` keys INCLUDING the query's own position: q - window < kv <= q.
// So window 1 sees only itself. FlashAttention's window_size=(w, 0) admits w + 1 keys: it is our window w + 1.
struct SlidingWindowMask {
  int window = 1;  // >= 1
  // 0 <= q - kv < window as one unsigned compare (a negative q - kv wraps to a huge value): half the vector compares.
  bool operator()(int, int, int q, int kv) const { return unsigned(q - kv) < unsigned(window); }
};

// Prefix LM: keys < prefix are visible to every query (bidirectional prefix), causal after it.
struct PrefixLmMask {
  int prefix = 0;
  bool operator()(int, int, int q, int kv) const { return (kv < prefix) | (kv <= q); }
};

// Packed sequences: the positions are documents laid end to end (lengths sum to S_q = S_kv); a query sees only
// keys of its own document AND is causal inside it (what packed-sequence training uses): start(q) <= kv <= q.
// Holding the first position of q's document per q makes the test one load and two compares.
struct DocumentMask {
  std::shared_ptr<const std::vector<int32_t>> starts;  // starts[q] = first position of q's document
  const int32_t* start = nullptr;
  // 0 <= q - kv <= q - start[q] as one unsigned compare.
  bool operator()(int, int, int q, int kv) const { return unsigned(q - kv) <= unsigned(q - start[q]); }
};

// Document start per position from a list of document lengths (each >= 1).
inline DocumentMask document_mask(const std::vector<int64_t>& lengths) {
  auto s = std::make_shared<std::vector<int32_t>>();
  for (int64_t len : lengths) {
    if (len < 1) throw std::invalid_argument("document_mask: every document length must be >= 1");
    const int32_t first = static_cast<int32_t>(s->size());
    s->insert(s->end(), static_cast<size_t>(len), first);
  }
  DocumentMask m;
  m.start = s->data();
  m.starts = std::move(s);
  return m;
}

template <class A, class B>
struct AndMask {
  A a;
  B b;
  bool operator()(int bi, int h, int q, int kv) const { return a(bi, h, q, kv) & b(bi, h, q, kv); }
};
template <class A, class B>
struct OrMask {
  A a;
  B b;
  bool operator()(int bi, int h, int q, int kv) const { return a(bi, h, q, kv) | b(bi, h, q, kv); }
};
template <class A, class B>
AndMask<A, B> mask_and(A a, B b) { return {std::move(a), std::move(b)}; }
template <class A, class B>
OrMask<A, B> mask_or(A a, B b) { return {std::move(a), std::move(b)}; }

// ---- score mods ------------------------------------------------------------------------------------------

struct NoScore {
  static constexpr bool kAdditive = true;  // backward: d score_mod / d score is 1 everywhere
  template <class T>
  T operator()(T s, int, int, int, int) const { return s; }
  template <class T>
  T grad(T, int, int, int, int) const { return T(1); }
};

namespace detail {
// exp(x) for x <= 0 in plain float arithmetic so that element loops vectorize (std::exp does not without
// -ffast-math). Round-to-nearest by the 1.5*2^23 trick, 2^f by its Taylor series to degree 6 on |f| <= 0.5
// (truncation 1.2e-7 relative), 2^n by building the exponent bits; x below -87 flushes to 0.
inline float exp_nonpositive(float x) {
  constexpr float kLog2e = 1.4426950408889634f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  float t = x * kLog2e;
  t = t < -126.0f ? -127.0f : t;
  const float n = (t + kRound) - kRound;
  const float f = t - n;
  const float p = exp2_poly(f);
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;  // n = -127 gives +0
  return p * std::bit_cast<float>(e);
}

// tanh in vectorizable float arithmetic: odd Taylor series to x^9 below |x| = 0.25 (next term 2e-9), and
// (1 - e)/(1 + e) with e = exp(-2|x|) above, where 1 - e no longer cancels badly (e <= 0.61).
inline float tanh_float(float x) {
  const float ax = std::fabs(x);
  const float x2 = x * x;
  float small = 62.0f / 2835.0f;
  small = small * x2 - 17.0f / 315.0f;
  small = small * x2 + 2.0f / 15.0f;
  small = small * x2 - 1.0f / 3.0f;
  small = x + x * x2 * small;
  const float e = exp_nonpositive(-2.0f * ax);
  const float big = std::copysign((1.0f - e) / (1.0f + e), x);
  return ax < 0.25f ? small : big;
}
inline float tanh_t(float x) { return tanh_float(x); }
inline double tanh_t(double x) { return std::tanh(x); }
}  // namespace detail

// Gemma 2's logit soft-capping: score -> cap * tanh(score / cap) (cap 50.0 for attention).
struct SoftcapScore {
  float cap = 50.0f;
  template <class T>
  T operator()(T s, int, int, int, int) const { return T(cap) * detail::tanh_t(s / T(cap)); }
  // d/ds cap * tanh(s / cap) = 1 - tanh^2(s / cap): in (0, 1], so the backward never amplifies an error here.
  template <class T>
  T grad(T s, int, int, int, int) const {
    const T t = detail::tanh_t(s / T(cap));
    return T(1) - t * t;
  }
};

// ALiBi: score - slope[h] * (q - kv). slopes: one per query head.
struct AlibiScore {
  std::shared_ptr<const std::vector<float>> slopes_owner;
  const float* slopes = nullptr;
  template <class T>
  T operator()(T s, int, int h, int q, int kv) const { return s - T(slopes[h]) * T(q - kv); }
  static constexpr bool kAdditive = true;  // a bias: the score's gradient passes through unchanged
  template <class T>
  T grad(T, int, int, int, int) const { return T(1); }
};

// The standard ALiBi slopes for H heads: slope_h = 2^(-8 (h + 1) / H).
inline std::vector<float> alibi_slopes(int heads) {
  std::vector<float> s(static_cast<size_t>(heads));
  for (int h = 0; h < heads; ++h) s[h] = static_cast<float>(std::exp2(-8.0 * (h + 1) / heads));
  return s;
}
inline AlibiScore alibi_score(std::vector<float> slopes) {
  auto p = std::make_shared<const std::vector<float>>(std::move(slopes));
  AlibiScore a;
  a.slopes = p->data();
  a.slopes_owner = std::move(p);
  return a;
}

// Learned relative position bias (T5-like, unbucketed): score + table[h][clamp(q - kv, -max_distance, max_distance)
// + max_distance]; table is (H, 2 * max_distance + 1), row-major. The lookup is a gather, which GCC 12 does not
// vectorize under generic tuning: tiles with this mod run their element loop scalar.
struct RelBiasScore {
  std::shared_ptr<const std::vector<float>> table_owner;
  const float* table = nullptr;
  int max_distance = 0;
  template <class T>
  T operator()(T s, int, int h, int q, int kv) const {
    int d = q - kv;
    d = d < -max_distance ? -max_distance : d;
    d = d > max_distance ? max_distance : d;
    return s + T(table[h * (2 * max_distance + 1) + d + max_distance]);
  }
  // A bias: the score's gradient passes through (the table's own gradient is not computed: no parameter grads).
  static constexpr bool kAdditive = true;
  template <class T>
  T grad(T, int, int, int, int) const { return T(1); }
};
inline RelBiasScore rel_bias_score(std::vector<float> table, int max_distance) {
  auto p = std::make_shared<const std::vector<float>>(std::move(table));
  RelBiasScore r;
  r.table = p->data();
  r.table_owner = std::move(p);
  r.max_distance = max_distance;
  return r;
}

// Apply `first`, then `then`.
template <class A, class B>
struct ComposedScore {
  A first;
  B then;
  template <class T>
  T operator()(T s, int b, int h, int q, int kv) const { return then(first(s, b, h, q, kv), b, h, q, kv); }
  // Chain rule: then'(first(s)) * first'(s).
  template <class T>
  T grad(T s, int b, int h, int q, int kv) const {
    return then.grad(first(s, b, h, q, kv), b, h, q, kv) * first.grad(s, b, h, q, kv);
  }
};
template <class A, class B>
ComposedScore<A, B> score_then(A first, B then) { return {std::move(first), std::move(then)}; }

template <class S>
inline constexpr bool is_identity_score_v = std::is_same_v<S, NoScore>;

// Backward (flash_cpu_backward, reference_backward.h): a score_mod used in the backward needs a member
// grad(s, b, h, q, kv) = d score_mod(s) / d s, generic over float / double like the mod itself. A mod that only
// adds a bias may declare `static constexpr bool kAdditive = true` (grad 1): the backward then skips that pass.
template <class S, class = void>
struct is_additive_score : std::false_type {};
template <class S>
struct is_additive_score<S, std::enable_if_t<S::kAdditive>> : std::true_type {};
template <class A, class B>
struct is_additive_score<ComposedScore<A, B>, void>
    : std::bool_constant<is_additive_score<A>::value && is_additive_score<B>::value> {};
template <class S>
inline constexpr bool is_additive_score_v = is_additive_score<S>::value;

}  // namespace talklab::attention
