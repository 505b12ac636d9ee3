// Test-only oracle for the small float formats, written independently of kernels/cpu/quant: values come from the
// sign / exponent / mantissa fields by the textbook formula in double, and rounding is "enumerate every finite
// value, find the two neighbours, compare with their midpoint, ties to the code with an even last bit". Nothing
// here shares code or bit tricks with minifloat.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace talklab::cpu::quant::ref {

enum class Specials {
  ieee,  // top exponent: inf (m == 0) or NaN (bf16, fp16, e5m2)
  fn,    // only S.1..1.1..1 is NaN, no inf (e4m3fn)
  none,  // every code is finite (e2m1)
};

struct Format {
  int exp_bits, man_bits, bias;
  Specials specials;
  int bits() const { return 1 + exp_bits + man_bits; }
  uint32_t sign_bit() const { return 1u << (exp_bits + man_bits); }
};

inline constexpr Format kBf16{8, 7, 127, Specials::ieee};
inline constexpr Format kFp16{5, 10, 15, Specials::ieee};
inline constexpr Format kE4m3fn{4, 3, 7, Specials::fn};
inline constexpr Format kE5m2{5, 2, 15, Specials::ieee};
inline constexpr Format kE2m1{2, 1, 1, Specials::none};

// The value of a code from its fields: +-inf, NaN, or (-1)^s * 2^(e - bias) * (1 + m / 2^M) (normal),
// (-1)^s * 2^(1 - bias) * (m / 2^M) (e == 0).
inline double value(const Format& f, uint32_t code) {
  const bool neg = (code >> (f.exp_bits + f.man_bits)) & 1u;
  const uint32_t e = (code >> f.man_bits) & ((1u << f.exp_bits) - 1u);
  const uint32_t m = code & ((1u << f.man_bits) - 1u);
  const uint32_t e_all = (1u << f.exp_bits) - 1u, m_all = (1u << f.man_bits) - 1u;
  double mag;
  if (f.specials == Specials::ieee && e == e_all) {
    mag = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (f.specials == Specials::fn && e == e_all && m == m_all) {
    mag = std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    mag = std::ldexp(double(m) / double(1u << f.man_bits), 1 - f.bias);
  } else {
    mag = std::ldexp(1.0 + double(m) / double(1u << f.man_bits), int(e) - f.bias);
  }
  return neg ? -mag : mag;
}

inline bool is_nan_code(const Format& f, uint32_t code) { return std::isnan(value(f, code)); }

// Every finite non-negative value with its code, ascending, plus the value one step past the largest (the code a
// wider exponent range would have next; rounding at or past the midpoint to it means overflow).
struct Table {
  std::vector<double> values;
  std::vector<uint32_t> codes;
  double next_value;
  uint32_t next_code;
};

inline Table make_table(const Format& f) {
  Table t;
  for (uint32_t c = 0; c < f.sign_bit(); ++c) {
    const double v = value(f, c);
    if (std::isfinite(v)) {
      t.values.push_back(v);
      t.codes.push_back(c);
    }
  }
  // Positive codes are ordered like their values; check rather than assume.
  for (size_t i = 1; i < t.values.size(); ++i) {
    if (!(t.values[i] > t.values[i - 1])) t.values.clear();
  }
  const uint32_t top = t.codes.back();
  const int top_e = int(top >> f.man_bits);
  t.next_value = t.values.back() + std::ldexp(1.0, top_e - f.bias - f.man_bits);
  t.next_code = top + 1;
  return t;
}

struct Rounded {
  uint32_t code;  // magnitude code; valid when !overflow
  bool overflow;  // rounded to next_value or beyond
};

// Round a finite a >= 0 to nearest, ties to the even code.
inline Rounded round_nearest_even(const Table& t, double a) {
  if (a >= t.next_value) return {0, true};
  // First value > a; a's lower neighbour is the one before it.
  const size_t hi = size_t(std::upper_bound(t.values.begin(), t.values.end(), a) - t.values.begin());
  const size_t lo = hi - 1;
  if (t.values[lo] == a) return {t.codes[lo], false};
  const double hi_value = hi < t.values.size() ? t.values[hi] : t.next_value;
  const uint32_t hi_code = hi < t.values.size() ? t.codes[hi] : t.next_code;
  const double mid = (t.values[lo] + hi_value) / 2;  // exact: two neighbours with few significant bits
  bool up = a > mid;
  if (a == mid) up = (hi_code & 1u) == 0;
  if (!up) return {t.codes[lo], false};
  if (hi >= t.values.size()) return {0, true};
  return {hi_code, false};
}

}  // namespace talklab::cpu::quant::ref
