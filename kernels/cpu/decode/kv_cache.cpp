// KvCache: the formats' names, sizes and quantizers (kv_cache.h). Runs once per cache fill, not in the decode loop:
// scalar and exact, with the codecs of kernels/cpu/quant. Compiled for baseline x86-64.
#include "kernels/cpu/decode/kv_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <numeric>
#include <random>
#include <stdexcept>

#include "kernels/cpu/quant/bf16.h"
#include "kernels/cpu/quant/fp8.h"
#include "kernels/cpu/quant/int_quant.h"
#include "kernels/cpu/quant/symmetric_scale.h"

namespace talklab::cpu::decode {
namespace {

constexpr float kInt4KiviMaxCode = 15.0f;  // unsigned codes 0..15 with a zero point

void fail(const std::string& what) { throw std::invalid_argument("decode kv cache: " + what); }

int64_t groups_of(const KvFormat& f, int64_t n) { return n / f.group; }

// Asymmetric 4-bit (scale, zero) of values in [lo, hi], both rounded to bf16 first so the codes are chosen against
// the scale the kernel will use.
void kivi_params(float lo, float hi, uint16_t& scale_bits, uint16_t& zero_bits) {
  const float scale = std::max((hi - lo) / kInt4KiviMaxCode, quant::kMinScale);
  scale_bits = quant::float_to_bf16(scale);
  zero_bits = quant::float_to_bf16(lo);
}

uint8_t kivi_code(float x, uint16_t scale_bits, uint16_t zero_bits) {
  const float u = quant::round_half_even((x - quant::bf16_to_float(zero_bits)) / quant::bf16_to_float(scale_bits));
  return uint8_t(std::clamp(u, 0.0f, kInt4KiviMaxCode));
}

}  // namespace

std::string format_name(const KvFormat& f) {
  switch (f.dtype) {
    case KvDtype::bf16: return "bf16";
    case KvDtype::int8: return f.scale == KvScale::per_head ? "int8_head" : "int8_token";
    case KvDtype::fp8_e4m3: return f.scale == KvScale::per_head ? "fp8_head" : "fp8_tensor";
    case KvDtype::int4_kivi: return "int4_g" + std::to_string(f.group);
  }
  return "?";
}

KvFormat format_from_name(const std::string& name) {
  if (name == "bf16") return {KvDtype::bf16, KvScale::none, 0};
  if (name == "int8_token") return {KvDtype::int8, KvScale::per_token, 0};
  if (name == "int8_head") return {KvDtype::int8, KvScale::per_head, 0};
  if (name == "fp8_tensor") return {KvDtype::fp8_e4m3, KvScale::per_tensor, 0};
  if (name == "fp8_head") return {KvDtype::fp8_e4m3, KvScale::per_head, 0};
  if (name == "int4_g32") return {KvDtype::int4_kivi, KvScale::per_group, 32};
  if (name == "int4_g64") return {KvDtype::int4_kivi, KvScale::per_group, 64};
  fail("unknown KV format '" + name +
       "' (bf16, int8_token, int8_head, fp8_tensor, fp8_head, int4_g32, int4_g64)");
  return {};
}

void validate_format(const KvFormat& f, int64_t D) {
  const bool ok = (f.dtype == KvDtype::bf16 && f.scale == KvScale::none) ||
                  (f.dtype == KvDtype::int8 && (f.scale == KvScale::per_token || f.scale == KvScale::per_head)) ||
                  (f.dtype == KvDtype::fp8_e4m3 && (f.scale == KvScale::per_tensor || f.scale == KvScale::per_head)) ||
                  (f.dtype == KvDtype::int4_kivi && f.scale == KvScale::per_group);
  if (!ok) fail("format " + format_name(f) + " has a scale granularity it does not support");
  if (f.dtype == KvDtype::int4_kivi && f.group != 32 && f.group != 64)
    fail("int4_kivi group must be 32 or 64, got " + std::to_string(f.group));
  if (D < 16 || D > 256 || D % 16 != 0) fail("head dim must be a multiple of 16 in [16, 256], got " + std::to_string(D));
  if (f.dtype == KvDtype::int4_kivi && D % f.group != 0)
    fail("int4_kivi group " + std::to_string(f.group) + " must divide head dim " + std::to_string(D));
}

double kv_bytes_per_token(const KvFormat& f, int64_t D) {
  const double d = double(D);
  switch (f.dtype) {
    case KvDtype::bf16: return 4.0 * d;
    case KvDtype::int8: return 2.0 * d + (f.scale == KvScale::per_token ? 8.0 : 0.0);
    case KvDtype::fp8_e4m3: return 2.0 * d;
    case KvDtype::int4_kivi:  // K: D/2 codes + (scale, zero) bf16 per channel per G tokens; V: D/2 + 4 bytes per group
      return (d / 2 + 4.0 * d / f.group) + (d / 2 + 4.0 * d / f.group);
  }
  return 0;
}

PageTable make_page_table(int64_t B, int64_t S_max, int64_t page_size, uint64_t shuffle_seed, int64_t align) {
  if (B < 1 || S_max < 1 || page_size < 0 || align < 1)
    fail("page table needs B >= 1, S_max >= 1, page_size >= 0 (got " + std::to_string(B) + ", " +
         std::to_string(S_max) + ", " + std::to_string(page_size) + ")");
  PageTable t;
  t.page_size = page_size == 0 ? (S_max + align - 1) / align * align : page_size;
  t.pages_per_seq = (S_max + t.page_size - 1) / t.page_size;
  t.num_pages = B * t.pages_per_seq;
  t.block_table.resize(size_t(t.num_pages));
  std::iota(t.block_table.begin(), t.block_table.end(), 0);
  if (shuffle_seed != 0) {
    std::mt19937_64 rng(shuffle_seed);
    std::shuffle(t.block_table.begin(), t.block_table.end(), rng);
  }
  return t;
}

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
size_t pool_alignment(size_t n) { return n >= kHugePage ? kHugePage : 64; }
}  // namespace

void* pool_allocate(size_t n) {
  const size_t align = pool_alignment(n);
  void* p = ::operator new(n, std::align_val_t(align));
  if (align == kHugePage) madvise(p, n / kHugePage * kHugePage, MADV_HUGEPAGE);  // advice: failure changes nothing
  return p;
}

void pool_deallocate(void* p, size_t n) { ::operator delete(p, std::align_val_t(pool_alignment(n))); }

KvCache::KvCache(const KvFormat& format, int64_t num_pages, int64_t page_size, int64_t H_kv, int64_t D)
    : format_(format), num_pages_(num_pages), page_size_(page_size), H_kv_(H_kv), D_(D) {
  validate_format(format, D);
  if (num_pages < 1 || page_size < 1 || H_kv < 1)
    fail("pages, page size and kv heads must be >= 1 (got " + std::to_string(num_pages) + ", " +
         std::to_string(page_size) + ", " + std::to_string(H_kv) + ")");
  if (format.dtype == KvDtype::int4_kivi && page_size % format.group != 0)
    fail("int4_kivi needs page_size % group == 0 (page " + std::to_string(page_size) + ", group " +
         std::to_string(format.group) + ")");
  if ((format.dtype == KvDtype::bf16 || format.dtype == KvDtype::int8) && page_size % kKeyTile != 0)
    fail(format_name(format) + " needs page_size % " + std::to_string(kKeyTile) + " == 0 (its key tiles; page " +
         std::to_string(page_size) + ")");
  row_bytes_ = format.dtype == KvDtype::bf16 ? 2 * D : format.dtype == KvDtype::int4_kivi ? D / 2 : D;
  const size_t rows = size_t(num_pages * H_kv * page_size);
  k_.assign(rows * size_t(row_bytes_), 0);
  v_.assign(rows * size_t(row_bytes_), 0);
  if (format.scale == KvScale::per_token) {
    k_scale_.assign(rows, 1.0f);
    v_scale_.assign(rows, 1.0f);
  } else if (format.scale == KvScale::per_head) {
    k_scale_.assign(size_t(H_kv), 1.0f);
    v_scale_.assign(size_t(H_kv), 1.0f);
  } else if (format.scale == KvScale::per_tensor) {
    k_scale_.assign(1, 1.0f);
    v_scale_.assign(1, 1.0f);
  } else if (format.dtype == KvDtype::int4_kivi) {
    const size_t kn = size_t(num_pages * H_kv * groups_of(format, page_size) * D);
    const size_t vn = rows * size_t(D / format.group);
    k_qs_.assign(kn, 0);
    k_qz_.assign(kn, 0);
    v_qs_.assign(vn, 0);
    v_qz_.assign(vn, 0);
  }
}

void KvCache::fill(const SeqTable& seqs, const float* k, const float* v, int64_t S_max) {
  const int64_t ps = page_size_, D = D_, H = H_kv_;
  for (int64_t b = 0; b < seqs.B; ++b) {
    const int64_t len = seqs.lengths[b];
    if (len < 0 || len > S_max || len > seqs.pages_per_seq * ps)
      fail("sequence " + std::to_string(b) + " length " + std::to_string(len) + " does not fit its pages / S_max");
    for (int64_t i = 0; i < (len + ps - 1) / ps; ++i) {
      const int32_t p = seqs.block_table[b * seqs.pages_per_seq + i];
      if (p < 0 || p >= num_pages_)
        fail("block table entry " + std::to_string(p) + " outside the pool of " + std::to_string(num_pages_));
    }
  }
  // Static scales from the amax of every stored value: per head, or one for the tensor.
  if (format_.scale == KvScale::per_head || format_.scale == KvScale::per_tensor) {
    const float max_code = format_.dtype == KvDtype::int8 ? float(quant::kInt8Max) : quant::kE4m3fnMax;
    std::vector<float> ka(size_t(H), 0.0f), va(size_t(H), 0.0f);
    for (int64_t b = 0; b < seqs.B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < seqs.lengths[b] * D; ++i) {
          const int64_t at = (b * H + h) * S_max * D + i;
          ka[size_t(h)] = std::max(ka[size_t(h)], std::fabs(k[at]));
          va[size_t(h)] = std::max(va[size_t(h)], std::fabs(v[at]));
        }
    if (format_.scale == KvScale::per_tensor) {
      k_scale_[0] = quant::symmetric_scale(*std::max_element(ka.begin(), ka.end()), max_code);
      v_scale_[0] = quant::symmetric_scale(*std::max_element(va.begin(), va.end()), max_code);
    } else {
      for (int64_t h = 0; h < H; ++h) {
        k_scale_[size_t(h)] = quant::symmetric_scale(ka[size_t(h)], max_code);
        v_scale_[size_t(h)] = quant::symmetric_scale(va[size_t(h)], max_code);
      }
    }
  }
  const int64_t pps = seqs.pages_per_seq;
#pragma omp parallel for collapse(2) schedule(dynamic, 4)
  for (int64_t b = 0; b < seqs.B; ++b)
    for (int64_t i = 0; i < pps; ++i) {
      const int64_t len = seqs.lengths[b], t0 = i * ps;
      if (t0 >= len) continue;
      const int64_t n = std::min(ps, len - t0);
      const int64_t page = seqs.block_table[b * pps + i];
      for (int64_t h = 0; h < H; ++h) {
        const int64_t at = ((b * H + h) * S_max + t0) * D;
        quantize_rows(page, h, 0, n, k + at, v + at);
      }
    }
}

// Rows slot0 .. slot0 + n of (page, h) from n source rows of D floats.
void KvCache::quantize_rows(int64_t page, int64_t h, int64_t slot0, int64_t n, const float* k, const float* v) {
  const int64_t D = D_, ps = page_size_;
  const int64_t row0 = (page * H_kv_ + h) * ps + slot0;
  uint8_t* kc = k_.data() + row0 * row_bytes_;
  uint8_t* vc = v_.data() + row0 * row_bytes_;
  switch (format_.dtype) {
    case KvDtype::bf16: {
      // Keys into their tiles (kv_cache.h): slot s is lane s % 16 of the tile at slot s - s % 16.
      uint16_t* k16 = reinterpret_cast<uint16_t*>(k_.data() + (row0 - slot0) * row_bytes_);
      uint16_t* v16 = reinterpret_cast<uint16_t*>(vc);
      for (int64_t t = 0; t < n; ++t) {
        const int64_t slot = slot0 + t, lane = slot % kKeyTile;
        uint16_t* tile = k16 + (slot - lane) * D;
        for (int64_t d = 0; d < D; ++d) {
          tile[(d / 2 * kKeyTile + lane) * 2 + d % 2] = quant::float_to_bf16(k[t * D + d]);
          v16[t * D + d] = quant::float_to_bf16(v[t * D + d]);
        }
      }
      return;
    }
    case KvDtype::int8:
    case KvDtype::fp8_e4m3: {
      const bool int8 = format_.dtype == KvDtype::int8;
      // int8 keys and values into their quad tiles (kv_cache.h); fp8's stay token rows.
      uint8_t* k_tiles = k_.data() + (row0 - slot0) * row_bytes_;
      uint8_t* v_tiles = v_.data() + (row0 - slot0) * row_bytes_;
      for (int64_t t = 0; t < n; ++t) {
        const int64_t slot = slot0 + t, lane = slot % kKeyTile;
        uint8_t* k_row = int8 ? nullptr : kc + t * D;
        uint8_t* v_row = int8 ? nullptr : vc + t * D;
        float ks, vs;
        if (format_.scale == KvScale::per_token) {
          float ka = 0, va = 0;
          for (int64_t d = 0; d < D; ++d) {
            ka = std::max(ka, std::fabs(k[t * D + d]));
            va = std::max(va, std::fabs(v[t * D + d]));
          }
          ks = k_scale_[size_t(row0 + t)] = quant::symmetric_scale(ka, float(quant::kInt8Max));
          vs = v_scale_[size_t(row0 + t)] = quant::symmetric_scale(va, float(quant::kInt8Max));
        } else {
          const size_t s = format_.scale == KvScale::per_head ? size_t(h) : 0;
          ks = k_scale_[s];
          vs = v_scale_[s];
        }
        for (int64_t d = 0; d < D; ++d) {
          const float kx = k[t * D + d], vx = v[t * D + d];
          if (int8) {
            k_tiles[(slot - lane) * D + (d / 4 * kKeyTile + lane) * 4 + d % 4] = uint8_t(quant::quantize_int8(kx, ks));
            v_tiles[(slot - lane) * D + (lane / 4 * D + d) * 4 + lane % 4] = uint8_t(quant::quantize_int8(vx, vs));
          } else {
            k_row[d] = quant::float_to_e4m3fn(kx / ks, quant::Fp8Cast::saturating);
            v_row[d] = quant::float_to_e4m3fn(vx / vs, quant::Fp8Cast::saturating);
          }
        }
      }
      return;
    }
    case KvDtype::int4_kivi: {
      const int64_t G = format_.group, half = D / 2;
      std::vector<uint8_t> ku(size_t(n * D)), vu(size_t(n * D));
      // Keys: per channel over each group of G tokens (slots counted from the page start, so groups are aligned).
      for (int64_t g0 = slot0 / G * G; g0 < slot0 + n; g0 += G) {
        const int64_t a = std::max(g0, slot0) - slot0, e = std::min(g0 + G, slot0 + n) - slot0;
        const int64_t qrow = ((page * H_kv_ + h) * (ps / G) + g0 / G) * D;
        for (int64_t d = 0; d < D; ++d) {
          float lo = k[a * D + d], hi = lo;
          for (int64_t t = a; t < e; ++t) {
            lo = std::min(lo, k[t * D + d]);
            hi = std::max(hi, k[t * D + d]);
          }
          kivi_params(lo, hi, k_qs_[size_t(qrow + d)], k_qz_[size_t(qrow + d)]);
          for (int64_t t = a; t < e; ++t)
            ku[size_t(t * D + d)] = kivi_code(k[t * D + d], k_qs_[size_t(qrow + d)], k_qz_[size_t(qrow + d)]);
        }
      }
      // Values: per token over each group of G channels.
      for (int64_t t = 0; t < n; ++t)
        for (int64_t g = 0; g < D / G; ++g) {
          const float* x = v + t * D + g * G;
          const auto [lo, hi] = std::minmax_element(x, x + G);
          // The tile's scale line of group g (kv_cache.h): lane slot % 16 of 16.
          const int64_t slot = slot0 + t, lane = slot % kKeyTile;
          const size_t at = size_t(((row0 - slot0 + slot - lane) * (D / G) + g * kKeyTile) + lane);
          kivi_params(*lo, *hi, v_qs_[at], v_qz_[at]);
          for (int64_t d = 0; d < G; ++d) vu[size_t(t * D + g * G + d)] = kivi_code(x[d], v_qs_[at], v_qz_[at]);
        }
      // Both into their nibble tiles (kv_cache.h), a nibble at a time (a refill of part of a tile keeps the rest).
      uint8_t* k_tiles = k_.data() + (row0 - slot0) * row_bytes_;
      uint8_t* v_tiles = v_.data() + (row0 - slot0) * row_bytes_;
      auto put = [](uint8_t& byte, int high, uint8_t code) {
        byte = high ? uint8_t((byte & 0x0F) | (code << 4)) : uint8_t((byte & 0xF0) | code);
      };
      for (int64_t t = 0; t < n; ++t) {
        const int64_t slot = slot0 + t, lane = slot % kKeyTile;
        uint8_t* kt = k_tiles + (slot - lane) * half;
        uint8_t* vt = v_tiles + (slot - lane) * half;
        for (int64_t d = 0; d < D; ++d) {
          put(kt[(d / 8 * kKeyTile + lane) * 4 + d % 4], int(d % 8 / 4), ku[size_t(t * D + d)]);
          put(vt[(lane / 8 * D + d) * 4 + lane % 4], int(lane % 8 / 4), vu[size_t(t * D + d)]);
        }
      }
      return;
    }
  }
}

KvCacheView KvCache::view() const {
  KvCacheView w;
  w.format = format_;
  w.num_pages = num_pages_;
  w.page_size = page_size_;
  w.H_kv = H_kv_;
  w.D = D_;
  w.row_bytes = row_bytes_;
  w.k = k_.data();
  w.v = v_.data();
  w.k_scale = k_scale_.empty() ? nullptr : k_scale_.data();
  w.v_scale = v_scale_.empty() ? nullptr : v_scale_.data();
  w.k_qs = k_qs_.empty() ? nullptr : k_qs_.data();
  w.k_qz = k_qz_.empty() ? nullptr : k_qz_.data();
  w.v_qs = v_qs_.empty() ? nullptr : v_qs_.data();
  w.v_qz = v_qz_.empty() ? nullptr : v_qz_.data();
  return w;
}

size_t KvCache::storage_bytes() const {
  return k_.size() + v_.size() + 4 * (k_scale_.size() + v_scale_.size()) +
         2 * (k_qs_.size() + k_qz_.size() + v_qs_.size() + v_qz_.size());
}

}  // namespace talklab::cpu::decode
