// decode_attention against the float64 reference on the unquantized cache, on every ISA this CPU has: bf16 within
// kBf16MaxRelError, quantized formats above their SQNR floors (decode_tolerances.h derives them); odd lengths, page
// sizes not dividing the length, shuffled pages, ragged batches, windows, GQA 32:8 and 8:1, head dims 64 / 80 / 128,
// q_len 1 and > 1; paged == contiguous bit for bit, split == unsplit to float32 rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/common/attention/mask.h"
#include "kernels/cpu/decode/decode_tolerances.h"
#include "kernels/cpu/quant/fp8.h"
#include "tests/kernels/cpu/decode/decode_test_util.h"
#include "tests/message_of.h"

namespace talklab::cpu::decode {
namespace {

using testing::Built;
using testing::compare;
using testing::make_problem;
using testing::Problem;
using testing::reference;
using testing::run;

class DecodeIsa : public ::testing::TestWithParam<Isa> {
 protected:
  DecodeOptions opts() const {
    DecodeOptions o;
    o.isa = GetParam();
    o.num_threads = 2;
    return o;
  }
};

std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) { return isa_name(info.param); }

struct Shape {
  int64_t H, H_kv, D, q_len;
  std::vector<int32_t> lengths;
};

// bf16 cache, contiguous and paged (page sizes that do not divide the lengths, shuffled), every shape family.
TEST_P(DecodeIsa, Bf16MatchesReferenceAcrossShapes) {
  const std::vector<Shape> shapes = {
      {32, 8, 128, 1, {4097}},       {32, 8, 128, 3, {1000}},  {8, 1, 64, 1, {1}},
      {8, 1, 80, 2, {7}},           {8, 1, 80, 1, {1000}},     {4, 4, 64, 1, {4097}},
      {16, 8, 128, 16, {1000, 33}}, {8, 2, 64, 4, {7, 4097, 1000}}};
  uint64_t seed = 100;
  for (const Shape& sh : shapes) {
    const DecodeShape s{int64_t(sh.lengths.size()), sh.H, sh.H_kv, sh.q_len, sh.D};
    const Problem p = make_problem(s, sh.lengths, seed++);
    const std::vector<double> ref = reference(p, opts());
    for (int64_t page : {0, 16, 64, 128}) {
      const Built c(p, {KvDtype::bf16, KvScale::none, 0}, page, page ? seed : 0);
      const auto r = run(p, c, opts());
      const auto e = compare(r.o, ref);
      SCOPED_TRACE("H " + std::to_string(sh.H) + ":" + std::to_string(sh.H_kv) + " D " + std::to_string(sh.D) +
                   " q_len " + std::to_string(sh.q_len) + " len[0] " + std::to_string(sh.lengths[0]) + " page " +
                   std::to_string(page));
      EXPECT_TRUE(e.finite);
      EXPECT_LE(e.max_rel, kBf16MaxRelError);
    }
  }
}

// Every quantized format above its floor, contiguous and paged (page 64, shuffled), q_len 1 and 4.
TEST_P(DecodeIsa, QuantizedFormatsAboveSqnrFloors) {
  const std::vector<std::string> formats = {"int8_token", "int8_head", "fp8_tensor", "fp8_head", "int4_g32",
                                            "int4_g64"};
  uint64_t seed = 300;
  for (int64_t q_len : {1, 4}) {
    const DecodeShape s{2, 16, 4, q_len, 128};
    const Problem p = make_problem(s, {1000, 517}, seed++);
    const std::vector<double> ref = reference(p, opts());
    for (const std::string& name : formats) {
      const KvFormat f = format_from_name(name);
      for (int64_t page : {0, 64}) {
        const Built c(p, f, page, page ? 7 : 0);
        const auto e = compare(run(p, c, opts()).o, ref);
        SCOPED_TRACE(name + " page " + std::to_string(page) + " q_len " + std::to_string(q_len) + " sqnr " +
                     std::to_string(e.sqnr_db));
        EXPECT_TRUE(e.finite);
        EXPECT_GE(e.sqnr_db, min_sqnr_db(f));
        if (std::getenv("TALKLAB_PRINT_SQNR")) std::printf("%s page %ld q_len %ld: %.1f dB\n", name.c_str(), long(page), long(q_len), e.sqnr_db);
      }
    }
  }
}

// The integer caches on every shape family, against the scalar ISA's float32 path on the same cache: where the CPU has
// AVX-512 VNNI, Q.K and P.V run as integer dot products (decode_core.h's QuadDot and U8Dot for int8, NibDot for int4;
// on AVX2 int8's P.V on int16, I16Pv, and int4's both on bytes, NibMadd), including the tails of head dims 80 (int8:
// half a vector) and 96 / 160 (int4: an odd number of 16-channel lines, value groups of 2 lines), lone last tokens
// (odd lengths; int4: a key group of one token, every scale at the floor), blocks that start mid-tile (windows) and
// key groups split by a window's start; and above the floor against float64. int4 needs head dims its group divides
// and pages its group divides.
TEST_P(DecodeIsa, IntegerCachesAcrossShapesMatchFloatPath) {
  const std::vector<Shape> int8_shapes = {{32, 8, 128, 1, {4097}}, {8, 1, 80, 2, {7}},   {8, 1, 80, 1, {1000}},
                                          {8, 1, 64, 1, {1}},      {4, 4, 64, 3, {999}}, {16, 8, 128, 16, {1000, 33}}};
  const std::vector<Shape> int4_shapes = {{32, 8, 128, 1, {4097}}, {8, 1, 96, 2, {7}},    {8, 1, 160, 1, {1000}},
                                          {8, 1, 64, 1, {1}},      {4, 4, 192, 3, {999}}, {16, 8, 128, 16, {1000, 33}}};
  struct Family {
    std::vector<const char*> formats;
    const std::vector<Shape>* shapes;
    int64_t page;
  };
  uint64_t seed = 400;
  // int8 in pages of 16 (single blocks) and 64 (pairs of tiles where no mask cuts them: decode_core.h's run_tiles).
  for (const Family& fam : {Family{{"int8_token", "int8_head"}, &int8_shapes, 16},
                            Family{{"int8_token", "int8_head"}, &int8_shapes, 64},
                            Family{{"int4_g32", "int4_g64"}, &int4_shapes, 64}}) {
    for (const Shape& sh : *fam.shapes) {
      const DecodeShape s{int64_t(sh.lengths.size()), sh.H, sh.H_kv, sh.q_len, sh.D};
      const Problem p = make_problem(s, sh.lengths, seed++);
      const std::vector<double> ref = reference(p, opts());
      for (const char* name : fam.formats) {
        const KvFormat f = format_from_name(name);
        if (sh.D % std::max<int64_t>(f.group, 1) != 0) continue;
        for (int64_t window : {int64_t(0), int64_t(37)}) {
          const Built c(p, f, fam.page, seed);
          DecodeOptions o = opts(), scalar = opts();
          o.window = scalar.window = window;
          scalar.isa = Isa::scalar;
          const auto r = run(p, c, o);
          const auto base = run(p, c, scalar);
          const auto e = compare(r.o, std::vector<double>(base.o.begin(), base.o.end()));
          SCOPED_TRACE(std::string(name) + " H " + std::to_string(sh.H) + ":" + std::to_string(sh.H_kv) + " D " +
                       std::to_string(sh.D) + " q_len " + std::to_string(sh.q_len) + " len[0] " +
                       std::to_string(sh.lengths[0]) + " window " + std::to_string(window) + " page " +
                       std::to_string(fam.page));
          EXPECT_TRUE(e.finite);
          // On AVX-512 VNNI int8 runs its P.V on 8-bit weights (U8Dot); AVX2 on int16 ones. int4 runs both products
          // on bytes on either (NibDot, NibMadd).
          const bool vnni = GetParam() == Isa::avx512, simd = GetParam() != Isa::scalar;
          const double bound = f.dtype == KvDtype::int4_kivi ? (simd ? kInt4NibDotMaxRelDiff : kIntDotMaxRelDiff)
                                                             : (vnni ? kInt8U8PvMaxRelDiff : kIntDotMaxRelDiff);
          EXPECT_LE(e.max_rel, bound);
          if (std::getenv("TALKLAB_PRINT_SQNR"))
            std::printf("%s D %ld window %ld page %ld: vs float path %.2e\n", name, long(sh.D), long(window),
                        long(fam.page), e.max_rel);
          if (window == 0) {
            EXPECT_GE(compare(r.o, ref).sqnr_db, min_sqnr_db(f));
          }
        }
      }
    }
  }
}

// int8's conditional rescaling (decode_core.h's online_softmax4, kLazy): keys that grow along the sequence, so the
// running max moves past the threshold (kLazyMax) in some blocks and by less in others, and a late key 300x the
// others (its scores hundreds of log2 units above the running max: without the rescale the exponentials overflow);
// against the scalar ISA's exact online softmax on the same cache, split and unsplit, the integer products' bound.
// (Checked to fail with no threshold, and with a stale alpha left from the block before.)
TEST_P(DecodeIsa, Int8RescalesWhereTheMaxGrows) {
  const DecodeShape s{2, 32, 8, 1, 128};
  Problem p = make_problem(s, {1000, 333}, 77);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H_kv; ++h)
      for (int64_t t = 0; t < p.S_max; ++t) {
        const float grow = 1.0f + float(t) / 64.0f + (t == 900 ? 300.0f : 0.0f);
        for (int64_t d = 0; d < s.D; ++d) p.k[size_t(((b * s.H_kv + h) * p.S_max + t) * s.D + d)] *= grow;
      }
  for (const char* name : {"int8_token", "int8_head"}) {
    const Built c(p, format_from_name(name), 64, 3);
    DecodeOptions scalar = opts();
    scalar.isa = Isa::scalar;
    const auto base = run(p, c, scalar);
    for (int splits : {1, 4}) {
      DecodeOptions o = opts();
      o.splits = splits;
      const auto e = compare(run(p, c, o).o, std::vector<double>(base.o.begin(), base.o.end()));
      SCOPED_TRACE(std::string(name) + " splits " + std::to_string(splits));
      EXPECT_TRUE(e.finite);
      EXPECT_LE(e.max_rel, GetParam() == Isa::avx512 ? kInt8U8PvMaxRelDiff : kIntDotMaxRelDiff);
    }
  }
}

// The same data paged (any page size, shuffled) and contiguous: the same blocks in the same order, so bit-identical.
TEST_P(DecodeIsa, PagedEqualsContiguousBitForBit) {
  const DecodeShape s{3, 8, 2, 2, 64};  // int4 groups must divide D (hd 80 paged: Bf16MatchesReferenceAcrossShapes)
  const Problem p = make_problem(s, {1000, 7, 4097}, 11);
  for (const char* name : {"bf16", "int8_token", "fp8_head", "int4_g32"}) {
    const KvFormat f = format_from_name(name);
    DecodeOptions o = opts();
    o.window = 300;
    const auto contiguous = run(p, Built(p, f, 0, 0), o).o;
    for (int64_t page : {64, 128}) {
      const auto paged = run(p, Built(p, f, page, 99), o).o;
      ASSERT_EQ(paged.size(), contiguous.size());
      for (size_t i = 0; i < paged.size(); ++i) ASSERT_EQ(paged[i], contiguous[i]) << name << " page " << page << " at " << i;
    }
  }
}

// Every e4m3 code the cache can hold (all but the two NaNs), subnormals and -0 included (O starts at +0: -0 reads
// back as 0), read back by each ISA's
// decoder: one token, so the output is its value row (softmax weight 1, the value scale 448 / 448 = 1), to a
// float32 rounding of P times V over L. Head 0 holds codes 0x00 .. 0x7E, head 1 0x80 .. 0xFE (the NaN's place
// takes the smallest subnormal), each with +-448 for its scale.
TEST_P(DecodeIsa, Fp8EveryCodeReadsBack) {
  const DecodeShape s{1, 2, 2, 1, 128};
  Problem p = make_problem(s, {1}, 21);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t d = 0; d < 128; ++d) {
      uint8_t code = uint8_t(h * 128 + d);
      if (quant::e4m3fn_is_nan(code)) code = uint8_t(h * 128 + 1);
      p.v[size_t(h * 128 + d)] = quant::e4m3fn_to_float(code);
    }
  for (const char* name : {"fp8_head", "fp8_tensor"}) {
    const auto r = run(p, Built(p, format_from_name(name), 0, 0), opts());
    for (size_t i = 0; i < p.v.size(); ++i) {
      const float want = p.v[i];
      EXPECT_LE(std::fabs(r.o[i] - want), 2e-7f * std::fabs(want)) << name << " code " << i << " want " << want;
      if (want != 0.0f) EXPECT_EQ(std::signbit(r.o[i]), std::signbit(want)) << name << " code " << i;
    }
  }
}

// Split-KV (forced and chosen) against no split: float32 rounding apart; the choice is reported.
TEST_P(DecodeIsa, SplitMatchesUnsplit) {
  const DecodeShape s{1, 8, 1, 1, 128};  // MQA: one work item, the case split-KV exists for
  const Problem p = make_problem(s, {4097}, 12);
  const Built c(p, {KvDtype::bf16, KvScale::none, 0}, 64, 5);
  DecodeOptions o = opts();
  o.splits = 1;
  const auto one = run(p, c, o);
  EXPECT_EQ(one.stats.splits, 1);
  const auto ref = reference(p, o);
  EXPECT_LE(compare(one.o, ref).max_rel, kBf16MaxRelError);
  for (int splits : {0, 3, 8, 64}) {
    o.splits = splits;
    const auto r = run(p, c, o);
    if (splits == 0) EXPECT_EQ(r.stats.splits, choose_splits(1, 1, 2, 4097));
    else EXPECT_EQ(r.stats.splits, splits);
    std::vector<double> as_ref(one.o.begin(), one.o.end());
    EXPECT_LE(compare(r.o, as_ref).max_rel, kSplitMaxRelDiff) << "splits " << splits;
  }
}

// Windows: 1 (only the own token), one that ends mid-page, one >= the length (no effect); with and without split,
// q_len > 1, ragged batch.
TEST_P(DecodeIsa, SlidingWindow) {
  const DecodeShape s{3, 8, 2, 3, 64};
  const Problem p = make_problem(s, {1000, 7, 4097}, 13);
  const Built c(p, {KvDtype::bf16, KvScale::none, 0}, 16, 3);
  for (int64_t w : {1, 2, 333, 4097, 10000}) {
    for (int splits : {1, 5}) {
      DecodeOptions o = opts();
      o.window = w;
      o.splits = splits;
      const auto e = compare(run(p, c, o).o, reference(p, o));
      EXPECT_TRUE(e.finite) << "window " << w;
      EXPECT_LE(e.max_rel, kBf16MaxRelError) << "window " << w << " splits " << splits;
    }
  }
}

// Score mods: softcap, ALiBi, both (softcap first), as mask.h defines them.
TEST_P(DecodeIsa, SoftcapAndAlibi) {
  const DecodeShape s{2, 8, 2, 2, 128};
  const Problem p = make_problem(s, {1000, 77}, 14);
  const Built c(p, {KvDtype::bf16, KvScale::none, 0}, 64, 8);
  const std::vector<float> slopes = talklab::attention::alibi_slopes(8);
  for (int mode = 0; mode < 3; ++mode) {
    DecodeOptions o = opts();
    o.scale = 0.5f;  // larger scores, so the cap bites
    if (mode != 1) o.softcap = 5.0f;
    if (mode != 0) o.alibi_slopes = slopes.data();
    const auto e = compare(run(p, c, o).o, reference(p, o));
    EXPECT_LE(e.max_rel, kBf16MaxRelError) << "mode " << mode;
  }
}

// bf16 queries and output: the output rounding (2^-9) stays inside the bf16 contract.
TEST_P(DecodeIsa, Bf16QueriesAndOutput) {
  const DecodeShape s{1, 32, 8, 1, 128};
  Problem p = make_problem(s, {1000}, 15);
  std::vector<uint16_t> q16(p.q.size()), o16(p.q.size(), 0x7fc0);
  for (size_t i = 0; i < p.q.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &p.q[i], 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    q16[i] = uint16_t(u >> 16);
    u = uint32_t(q16[i]) << 16;
    std::memcpy(&p.q[i], &u, 4);  // the reference sees the rounded queries
  }
  const Built c(p, {KvDtype::bf16, KvScale::none, 0}, 0, 0);
  const DecodeOptions o = opts();
  decode_attention(s, DType::bf16, q16.data(), c.cache.view(), c.table.seqs(p.lengths), o16.data(), o, nullptr, 0);
  std::vector<float> o32(o16.size());
  for (size_t i = 0; i < o16.size(); ++i) {
    const uint32_t u = uint32_t(o16[i]) << 16;
    std::memcpy(&o32[i], &u, 4);
  }
  const auto e = compare(o32, reference(p, o));
  EXPECT_TRUE(e.finite);
  EXPECT_LE(e.max_rel, kBf16MaxRelError);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, DecodeIsa, ::testing::ValuesIn(supported_isas()), isa_param_name);

TEST(DecodeAttention, BadInputsNameTheValue) {
  const DecodeShape s{1, 8, 3, 1, 64};
  const Problem p = make_problem({1, 8, 1, 1, 64}, {10}, 1);
  const Built c(p, {KvDtype::bf16, KvScale::none, 0}, 16, 0);
  std::vector<float> o(8 * 64);
  const auto call = [&](DecodeShape sh, DecodeOptions opt) {
    return test::message_of([&] {
      decode_attention(sh, DType::f32, p.q.data(), c.cache.view(), c.table.seqs(p.lengths), o.data(), opt, nullptr, 0);
    });
  };
  EXPECT_NE(call(s, {}).find("H_kv 3 must divide H 8"), std::string::npos);
  EXPECT_NE(call({1, 8, 1, 17, 64}, {}).find("q_len must be in [1, 16], got 17"), std::string::npos);
  DecodeOptions neg;
  neg.window = -1;
  EXPECT_NE(call({1, 8, 1, 1, 64}, neg).find("window must be >= 0, got -1"), std::string::npos);
  DecodeOptions split;
  split.splits = 4;
  EXPECT_NE(call({1, 8, 1, 1, 64}, split).find("workspace of 0 bytes"), std::string::npos);
  EXPECT_NE(call({1, 8, 1, 11, 64}, {}).find("length 10 must be in [q_len"), std::string::npos);
}

TEST(DecodeAttention, SplitRule) {
  EXPECT_EQ(choose_splits(1, 8, 2, 32768), 1);     // 8 items >= 2 x 2 threads
  EXPECT_EQ(choose_splits(1, 1, 2, 32768), 4);     // MQA on 2 threads: ~2 chunks per thread
  EXPECT_EQ(choose_splits(1, 1, 2, 1000), 1);      // chunks would be under kMinSplitTokens
  EXPECT_EQ(choose_splits(1, 8, 16, 32768), 4);    // 8 items, 16 threads: 32 tasks
  EXPECT_EQ(choose_splits(1, 1, 64, 1 << 20), kMaxSplits);
  EXPECT_EQ(choose_splits(64, 8, 16, 32768), 1);
  // Paged: enough chunks for a task of all of a page's heads (up to 8) per thread.
  EXPECT_EQ(choose_splits(1, 8, 2, 32768, true), 2);   // 32:8 on 2 threads: 8 heads in 2 chunks
  EXPECT_EQ(choose_splits(1, 8, 2, 1000, true), 1);    // chunks would be under kMinSplitTokens
  EXPECT_EQ(choose_splits(4, 8, 2, 32768, true), 1);   // 4 tasks of 8 heads already
  EXPECT_EQ(choose_splits(1, 1, 2, 32768, true), 4);   // MQA: the unpaged rule's 4 is more
  EXPECT_EQ(choose_splits(1, 16, 2, 32768, true), 1);  // two tasks of 8 heads
  EXPECT_EQ(choose_splits(1, 6, 4, 32768, true), 4);   // h = 6: one task, four threads
}

TEST(DecodeAttention, HeadsPerTaskRule) {
  EXPECT_EQ(choose_heads_per_task(1, 8, 1, 2), 4);   // 32:8 on 2 threads: two tasks of 4 heads
  EXPECT_EQ(choose_heads_per_task(1, 8, 1, 1), 8);
  EXPECT_EQ(choose_heads_per_task(1, 32, 1, 2), 8);  // at most kMaxHeadsPerTask
  EXPECT_EQ(choose_heads_per_task(1, 6, 1, 2), 3);
  EXPECT_EQ(choose_heads_per_task(1, 1, 4, 2), 1);   // MQA: the splits give the parallelism
  EXPECT_EQ(choose_heads_per_task(1, 8, 4, 16), 2);  // 8 heads x 4 chunks for 16 threads
  EXPECT_EQ(choose_heads_per_task(1, 8, 1, 16), 1);  // fewer tasks than threads whatever the grouping
  EXPECT_EQ(choose_heads_per_task(8, 8, 1, 2), 8);   // 8 sequences are 8 tasks already
}

// Every grouping of kv heads into tasks (decode_core.h's run_task: a task's heads interleaved page by page, its
// prefetch following that order) gives the same output as one head per task: each head's blocks run in the same
// order whatever the grouping, so bit for bit; paged (shuffled, a length not a multiple of the page) and contiguous,
// split or not, every format family.
TEST_P(DecodeIsa, HeadGroupingIsBitIdentical) {
  const DecodeShape s{2, 16, 8, 2, 64};
  const Problem p = make_problem(s, {1000, 517}, 21);
  for (const char* name : {"bf16", "int8_token", "int4_g32"}) {
    const KvFormat f = format_from_name(name);
    for (int64_t page : {0, 64}) {
      const Built c(p, f, page, page ? 5 : 0);
      for (int splits : {1, 3}) {
        DecodeOptions wide = opts(), narrow = opts();
        wide.splits = narrow.splits = splits;
        narrow.num_threads = 64;  // B * 8 * splits < 64 tasks even with one kv head each: one per task
        wide.num_threads = 1;     // one task is enough: 8 heads per task
        const auto a = run(p, c, wide), b = run(p, c, narrow);
        ASSERT_EQ(a.stats.heads_per_task, 8) << name;
        ASSERT_EQ(b.stats.heads_per_task, 1) << name;
        for (size_t i = 0; i < a.o.size(); ++i)
          ASSERT_EQ(a.o[i], b.o[i]) << name << " page " << page << " splits " << splits << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace talklab::cpu::decode
