// Accuracy contract of decode_attention against the float64 reference on the UNQUANTIZED cache
// (decode_reference.h), used by the tests and the decode experiment's gate. Inputs: K, V, Q ~ N(0, 1) ("randn-like"),
// scale 1/sqrt(D), so scores have rms ~1 and the softmax is spread over many tokens. Output error is normwise
// (max |o - ref| / max |ref|) and SQNR = 10 log10(sum ref^2 / sum (o - ref)^2) over the checked rows.
//
// Every format's error is (a) the V elements' quantization error, averaged by the softmax exactly as the signal is,
// so the output keeps the elements' SQNR, plus (b) the K error moving each score by scale * q.dk (rms = the K
// elements' relative rms error, as scores have rms ~1), which perturbs each weight by that relative amount and the
// output by about as much. Two independent sources: ~3 dB below either alone.
#pragma once

#include "kernels/cpu/decode/kv_cache.h"

namespace talklab::cpu::decode {

// bf16: elements rounded to nearest even, relative error uniform in +-2^-9 (rms 2^-9 / sqrt 3 = 1.1e-3); output
// normwise ~3e-3 at most in practice (the max over rows and dims). 1e-2 = 2^-7 * 1.3: ~3x margin, far below an
// indexing or masking bug (O(1)).
inline constexpr double kBf16MaxRelError = 1e-2;

// int8 per token, symmetric (step amax / 127): amax of 128 normals ~2.8 sigma, step 0.022 sigma, error rms
// step / sqrt 12 = 6.4e-3 sigma: 44 dB per element; K and V together ~41 dB (measured 40.4-40.9). Floor 35 dB.
inline constexpr double kInt8MinSqnrDb = 35.0;
// int8 per head: one static scale over the whole head, so amax is the largest of N = tokens x D normals, ~sqrt(2 ln N)
// sigma: 4.5 sigma at 1k tokens (measured 36.4 dB), 5.5 sigma at 32k (~35 dB: the
// error grows with the cache). Floor 32 dB: holds to ~1M tokens per head.
inline constexpr double kInt8HeadMinSqnrDb = 32.0;
// fp8 e4m3: 3 mantissa bits, relative rounding error uniform in +-2^-4 (rms 3.6e-2): 29 dB per element, ~26 dB for
// K and V together (measured 28.3-28.8). Floor 25 dB (the scale only places amax at 448; the relative error does not
// depend on it).
inline constexpr double kFp8MinSqnrDb = 25.0;
// int4 KIVI, asymmetric, groups of 32 / 64: a group of 32 normals spans ~4 sigma (64: ~4.6), step range / 15,
// error rms step / sqrt 12 = 7.7e-2 sigma: 22 dB per element (64: 21 dB); K and V together ~19 dB (measured 19.3-19.5,
// G 64: 17.9-18.2). Floor 15 dB.
inline constexpr double kInt4MinSqnrDb = 15.0;

// Split vs unsplit, same cache: only float32 summation order differs (per chunk partial sums, one exp2 rescale
// per chunk): ~1e-7 relative per operation, well under 1e-5 normwise for the lengths tested. Paged vs contiguous
// on the same data: the same blocks in the same order, so bit-identical (0).
inline constexpr double kSplitMaxRelDiff = 1e-5;

// int8 on integer products (decode_core.h's I16Dot, I16Pv) against the float32 path on the same cache: Q and the P.V
// weights rounded to int16 codes of their row's largest element, an error of at most 2^-16 of it per element:
// measured 2e-5..4.2e-5 (while its AVX-512 P.V ran on int16; now kInt8U8PvMaxRelDiff) and on AVX2 (I16Pv, Q.K in
// float) 1.4e-5..4e-5 of the output's largest element (IntegerCachesAcrossShapesMatchFloatPath, Zen 5; the float
// paths of the other ISAs differ by < 2.5e-6, summation order only); on AVX2 with Q.K on int16 codes too (QuadMadd)
// and tile pairs (run_tiles), at most 5.6e-5 (Zen 3). 5e-4: 10x margin, far below an indexing or
// pairing bug (O(1)) and int8's own error (~1e-2 of the largest element); the SQNR against float64 did not move.
inline constexpr double kIntDotMaxRelDiff = 5e-4;
// int8's P.V by 8-bit dot products (decode_core.h's U8Dot, AVX-512 VNNI): its weights rounded to bytes of the block
// row's largest, 2^-9 of it, so a small weight (P far below the block's largest) can move by its whole size: measured
// 2.0e-3 .. 4.4e-3 of the output's largest element against the float path, and the SQNR against float64 40.4 ->
// 39.8 dB (int8_token), 36.4 -> 36.2 (int8_head) on the tests' caches, both floors kept. Bound 1e-2: int8's own
// error level (~1e-2 of the largest element), still far below a bug in the quad tiles' addressing, a window's
// weights shifted to the tile's lanes or the padding of a block's last tokens (O(1), and O(1) relative for the 1- and
// 7-token cases). The same bound measured the same (2.0e-3 .. 5.5e-3) after the values became quad tiles; with
// run_tiles' weights (pairs) a byte of the largest of 32 tokens instead of 16, 2.3e-3 .. 6.1e-3 (pages of 64), and
// the SQNR 39.8 -> 39.5 dB (int8_token, q_len 1) and 36.2 -> 36.0 (int8_head).
inline constexpr double kInt8U8PvMaxRelDiff = 1e-2;

// int4 KIVI on 8-bit dot products (decode_core.h's NibDot on AVX-512 VNNI, NibMadd on AVX2) against the float32 path
// (the scalar ISA):
// q' = Q times a key group's channel scales rounded to bytes of its row's largest (2^-8 of it; the codes' mean part
// of that rounding put back into the score's bias), and the P.V weights to bytes of the (value group, row)'s largest
// (2^-9), against centred codes (u - 8). Measured 6.6e-3 .. 1.14e-2 of the output's largest element on the tests'
// caches (Zen 5), and the SQNR against float64 0.0-0.1 dB below the int16 products that came before (quick profile,
// 16 cases: 17.2-19.9 dB). Bound 3e-2: 2.6x margin, a third of int4's own error (~1e-1 of the largest element) and
// far below a bug in the tiles' addressing, a window's probabilities shifted into the tile's lanes or a key group's
// fold (O(1)).
inline constexpr double kInt4NibDotMaxRelDiff = 3e-2;

// The floor of a format (bf16: none, it is held to kBf16MaxRelError instead).
inline double min_sqnr_db(const KvFormat& f) {
  switch (f.dtype) {
    case KvDtype::int8: return f.scale == KvScale::per_head ? kInt8HeadMinSqnrDb : kInt8MinSqnrDb;
    case KvDtype::fp8_e4m3: return kFp8MinSqnrDb;
    case KvDtype::int4_kivi: return kInt4MinSqnrDb;
    case KvDtype::bf16: break;
  }
  return 0.0;
}

}  // namespace talklab::cpu::decode
