// Float64 reference of decode_attention (decode_attention.h) on the UNQUANTIZED cache: K and V as float32 logical
// arrays (B, H_kv, S_max, D), before any page or format. The tests and the experiment's gate measure every format's
// error against it, so a quantized cache's error is the format's, not the reference's. Same conventions as the
// kernel: query i at position lengths[b] - q_len + i, causal among the new tokens, window / softcap / ALiBi as in
// kernels/common/attention/mask.h (the score mod gets the double score), a row with nothing visible gives 0.
// Costs 4 * D flops per (row, visible token): cheap next to the cache it checks for the sizes tests use; the
// experiment checks a sample of rows (rows non-empty) for large caches.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/decode/decode_attention.h"

namespace talklab::cpu::decode {

struct ReferenceRow {
  int64_t b = 0, h = 0, qi = 0;
};

// Output rows (rows.size(), D) in double. Empty `rows`: every row, in (b, h, qi) order.
std::vector<double> decode_reference(const DecodeShape& s, DType dtype, const void* q, const float* k, const float* v,
                                     int64_t S_max, const int32_t* lengths, const DecodeOptions& opt,
                                     const std::vector<ReferenceRow>& rows = {});

}  // namespace talklab::cpu::decode
