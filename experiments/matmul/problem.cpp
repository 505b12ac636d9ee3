#include "experiments/matmul/problem.h"

#include <algorithm>
#include <random>

#include "harness/sampler.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul/matmul.h"
#include "kernels/cpu/roofline/stream.h"
#include "kernels/cpu/quant/bf16.h"

namespace talklab::experiments::matmul {

Shape shape_of(const Params& p) { return Shape{p.integer("M"), p.integer("N"), p.integer("K")}; }

void Inputs::fill(uint64_t seed) {
  a = memory::Buffer<float>(size_t(s.M * s.K));
  b = memory::Buffer<float>(size_t(s.K * s.N));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = d(rng);
  for (size_t i = 0; i < b.size(); ++i) b[i] = d(rng);
}

Work recipe_work(const CaseContext& ctx, double a_bytes, double b_bytes, double c_bytes, const char* peak) {
  const Shape s = shape_of(ctx.params);
  const double mk = double(s.M) * s.K, kn = double(s.K) * s.N, mn = double(s.M) * s.N;
  Work w{2.0 * mk * double(s.N), a_bytes * mk + b_bytes * kn + c_bytes * mn, peak};
  if (s.M == 1 && ctx.device == Device::cpu) w.bandwidth = "read";
  return w;
}

void add_weight_counters(Counters& out, const Shape& s, const std::function<void()>& step, size_t weight_bytes,
                         size_t copies, int threads) {
  out.emplace_back("weight_bytes", double(weight_bytes));
  out.emplace_back("weight_copies", double(copies));
  if (s.M != 1) return;
  const size_t floats = (weight_bytes + sizeof(float) - 1) / sizeof(float);
  // Written, so every page is backed (an untouched one would be the zero page, read from cache). The copies are
  // read in turn, as the step cycles its cold weight copies: neither side reads what the other left in the L3.
  const cpu::matmul::AlignedVector<float> bytes(floats * copies, 1.0f);
  const cpu::Isa isa = cpu::best_isa();
  size_t next = 0;
  add_paired_read(
      out, [&] { cpu::roofline::stream_read(bytes.data() + (next++ % copies) * floats, floats, threads, isa); },
      step, double(floats * sizeof(float)));
}

std::string tuned_cpu_kernels_skip() {
  if (cpu::best_isa() != cpu::Isa::scalar) return "";
  return cpu::cpu_features().has_avx2_kernels()
             ? "TALKLAB_ISA=scalar: the scalar fallback is not tuned"
             : "this CPU has no AVX2 + FMA (+ F16C, BMI2); the scalar fallback is not tuned";
}

size_t cold_weight_copies(size_t bytes) {
  if (bytes * 16 >= kColdBytes && bytes < kColdBytes) return (kColdBytes + bytes - 1) / bytes + 1;
  return 1;
}

std::vector<int64_t> rows_to_check(int64_t M, uint64_t seed) {
  constexpr int64_t kSampled = 24;
  std::vector<int64_t> rows;
  if (M <= kSampled) {
    for (int64_t m = 0; m < M; ++m) rows.push_back(m);
    return rows;
  }
  rows = {0, M - 1};
  std::mt19937_64 rng(seed ^ 0x5EEDull);
  std::uniform_int_distribution<int64_t> pick(1, M - 2);
  while (int64_t(rows.size()) < kSampled) rows.push_back(pick(rng));
  return rows;
}

Accuracy check_product(const Inputs& in, const void* c, bool c_bf16, const RecipeTolerance& tol, uint64_t seed) {
  const Shape& s = in.s;
  AccuracyAccumulator acc;
  std::vector<double> ref(size_t(s.N));
  for (const int64_t m : rows_to_check(s.M, seed)) {
    std::fill(ref.begin(), ref.end(), 0.0);
    for (int64_t k = 0; k < s.K; ++k) {
      const double a = in.a[size_t(m * s.K + k)];
      const float* brow = in.b.data() + k * s.N;
      for (int64_t n = 0; n < s.N; ++n) ref[size_t(n)] += a * double(brow[n]);
    }
    for (int64_t n = 0; n < s.N; ++n) {
      const size_t i = size_t(m * s.N + n);
      const double out = c_bf16 ? double(cpu::quant::bf16_to_float(static_cast<const uint16_t*>(c)[i]))
                                 : double(static_cast<const float*>(c)[i]);
      acc.add(out, ref[size_t(n)], "C");
    }
  }
  return acc.finish(Tolerance{tol.max_rel_error, tol.min_sqnr_db});
}

}  // namespace talklab::experiments::matmul
