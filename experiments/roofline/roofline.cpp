// The roofline experiment: this machine's ceilings, the ruler every other case is placed on.
// Talks: "Understanding the LLM Inference Workload" (compute- vs memory-bound), "Hacks to Make LLM Training
// Faster" (the hardware ceilings low precision runs against).
//
// Ceilings on the CPU (kernels/cpu/roofline/): fp32_fma (vfmadd231ps), bf16_dot (vdpbf16ps), int8_dot
// (vpdpbusd), each on one core and on all; copy and triad over buffers far past the last-level cache,
// counting bytes read plus bytes written; read, the read-only stream (the sum of one such buffer), the ceiling of
// work that reads and hardly writes (decode-shaped products: Work::bandwidth = "read"). On CUDA (roofline_cuda.cpp): cuBLASLt products per dtype and a
// device-to-device copy.
//   bench --filter roofline
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "experiments/roofline/ceilings.h"
#include "experiments/roofline/roofline_cases.h"
#include "harness/memory.h"
#include "harness/registry.h"
#include "kernels/cpu/roofline/peak.h"
#include "kernels/cpu/roofline/stream.h"

namespace talklab::experiments::roofline {
Presentation presentation();  // presentation.cpp
namespace {

using cpu::roofline::PeakOp;

constexpr int64_t kPeakIterations = cpu::roofline::kPeakIterationsPerRun;
// Triad rounds once in float32 (or fuses into one FMA): at most half an ulp of the result.
constexpr double kTriadTolerance = 1e-6;
// Read sums positive values, so sum |x| is the sum itself: stream.h's bound is a relative one here.
constexpr double kReadTolerance = cpu::roofline::kStreamReadRelativeError;

const std::vector<std::string> kCpuCeilings = {"fp32_fma", "bf16_dot", "int8_dot", "copy", "triad", "read"};

enum class StreamKind { copy, triad, read };

StreamKind stream_kind(const std::string& ceiling) {
  if (ceiling == "triad") return StreamKind::triad;
  if (ceiling == "read") return StreamKind::read;
  return StreamKind::copy;
}

std::optional<PeakOp> peak_op(const std::string& ceiling) {
  if (ceiling == "fp32_fma") return PeakOp::fp32_fma;
  if (ceiling == "bf16_dot") return PeakOp::bf16_dot;
  if (ceiling == "int8_dot") return PeakOp::int8_dot;
  return std::nullopt;
}

// "best" means the best level this CPU has; the others name one level, skipped where the CPU lacks it.
cpu::Isa isa_of(const Params& p) {
  const std::string& name = p.str("isa");
  if (name == "avx512") return cpu::Isa::avx512;
  if (name == "avx2") return cpu::Isa::avx2;
  if (name == "scalar") return cpu::Isa::scalar;
  return cpu::best_isa();
}

int threads_of(const CaseContext& ctx) { return ctx.params.str("cores") == "one" ? 1 : ctx.threads; }

size_t stream_elements(const Params& p) { return size_t(p.integer("buffer_mib")) * 1024 * 1024 / sizeof(float); }

class PeakCase final : public Case {
 public:
  PeakCase(const CaseContext& ctx, PeakOp op) : op_(op), isa_(isa_of(ctx.params)), threads_(threads_of(ctx)) {}
  void setup() override {}
  void poison() override { ops_ = -1; }
  void run() override { ops_ = cpu::roofline::run_peak(op_, isa_, kPeakIterations, threads_); }
  // The loop's output is its operation count: it must be exactly what the case declared.
  Accuracy check() override {
    AccuracyAccumulator acc;
    acc.add(double(ops_), double(cpu::roofline::peak_ops_per_iteration(op_, isa_)) * double(kPeakIterations) * threads_,
            "operation count");
    return acc.finish(Tolerance{0.0});
  }

 private:
  PeakOp op_;
  cpu::Isa isa_;
  int threads_;
  int64_t ops_ = -1;
};

class StreamCase final : public Case {
 public:
  StreamCase(const CaseContext& ctx, StreamKind kind)
      : kind_(kind), isa_(isa_of(ctx.params)), threads_(threads_of(ctx)), n_(stream_elements(ctx.params)),
        seed_(ctx.seed) {}
  void setup() override {
    a_ = memory::Buffer<float>(kind_ == StreamKind::read ? 0 : n_);
    b_ = memory::Buffer<float>(n_);
    c_ = memory::Buffer<float>(kind_ == StreamKind::triad ? n_ : 0);
    std::mt19937_64 rng(seed_);
    std::uniform_real_distribution<float> dist(0.5f, 2.0f);
    for (size_t i = 0; i < n_; ++i) b_[i] = dist(rng);
    for (size_t i = 0; i < c_.size(); ++i) c_[i] = dist(rng);
  }
  void poison() override {
    talklab::poison(a_.span());
    sum_ = std::nan("");
  }
  void run() override {
    switch (kind_) {
      case StreamKind::triad:
        return cpu::roofline::stream_triad(a_.data(), b_.data(), c_.data(), kScalar, n_, threads_, isa_);
      case StreamKind::copy: return cpu::roofline::stream_copy(a_.data(), b_.data(), n_, threads_, isa_);
      case StreamKind::read: sum_ = cpu::roofline::stream_read(b_.data(), n_, threads_, isa_); return;
    }
  }
  Accuracy check() override {
    AccuracyAccumulator acc;
    if (kind_ == StreamKind::read) {
      double ref = 0;
      for (size_t i = 0; i < n_; ++i) ref += double(b_[i]);
      acc.add(sum_, ref, "sum");
      return acc.finish(Tolerance{kReadTolerance});
    }
    const bool triad = kind_ == StreamKind::triad;
    for (size_t i = 0; i < n_; ++i) {
      const double ref = triad ? double(b_[i]) + double(kScalar) * double(c_[i]) : double(b_[i]);
      acc.add(a_[i], ref);
    }
    return acc.finish(Tolerance{triad ? kTriadTolerance : 0.0});
  }

 private:
  static constexpr float kScalar = 0.75f;
  StreamKind kind_;
  cpu::Isa isa_;
  int threads_;
  size_t n_;
  uint64_t seed_;
  memory::Buffer<float> a_, b_, c_;
  double sum_ = 0;  // read's result
};

Work declare_work(const CaseContext& ctx) {
  const std::string& ceiling = ctx.params.str("ceiling");
  if (ctx.device == Device::cuda) return cuda_work(ctx);
  if (const auto op = peak_op(ceiling)) {
    const cpu::Isa isa = isa_of(ctx.params);
    return Work{double(cpu::roofline::peak_ops_per_iteration(*op, isa)) * double(kPeakIterations) * threads_of(ctx), 0,
                peak_dtype(*op)};
  }
  const size_t n = stream_elements(ctx.params);
  switch (stream_kind(ceiling)) {
    case StreamKind::copy: return Work{0, double(cpu::roofline::stream_bytes_moved_copy(n)), ""};
    case StreamKind::triad: return Work{0, double(cpu::roofline::stream_bytes_moved_triad(n)), ""};
    case StreamKind::read: return Work{0, double(cpu::roofline::stream_bytes_moved_read(n)), "", "read"};
  }
  return Work{};
}

std::string cpu_skip(const Params& p) {
  const cpu::Isa isa = isa_of(p);
  if (const auto op = peak_op(p.str("ceiling"))) {
    std::string why;
    if (!cpu::roofline::peak_supported(*op, isa, &why)) return why;
    return "";
  }
  const auto have = cpu::supported_isas();
  if (std::find(have.begin(), have.end(), isa) == have.end()) {
    return fmt::format("this CPU has no {} path", cpu::isa_name(isa));
  }
  return "";
}

Experiment declare() {
  Experiment e;
  e.name = "roofline";
  e.description = "this machine's compute and memory ceilings";
  e.talks = {"llm-inference-workload", "llm-training-hacks"};
  std::vector<std::string> ceilings = kCpuCeilings;
  for (const std::string& c : cuda_ceilings()) ceilings.push_back(c);
  e.axes = {string_axis("ceiling", ceilings, "which ceiling"),
            string_axis("cores", {"one", "all"}, "one core, or every thread of the run (--threads)"),
            string_axis("isa", {"best", "avx512", "avx2", "scalar"}, "CPU instruction set: best = the best this CPU has"),
            int_axis("buffer_mib", "size of each buffer of copy, triad and read, MiB")};
  e.work = declare_work;
  e.presentation = presentation();

  Implementation loop;
  loop.name = "cpu_loop";
  loop.device = Device::cpu;
  loop.description = "hand-written loops: unrolled FMA / dot-product chains, streaming copy, triad and read";
  loop.applies = [](const Params& p) {
    const std::string& c = p.str("ceiling");
    const bool is_stream = c == "copy" || c == "triad" || c == "read";
    const bool is_cpu = std::find(kCpuCeilings.begin(), kCpuCeilings.end(), c) != kCpuCeilings.end();
    // A stream is not timed on one core: the memory ceiling belongs to the whole socket. (Peak loops do not
    // read buffer_mib; profiles give it one value.)
    return is_cpu && (!is_stream || p.str("cores") == "all");
  };
  loop.skip = cpu_skip;
  loop.make = [](const CaseContext& ctx) -> std::unique_ptr<Case> {
    const std::string& c = ctx.params.str("ceiling");
    if (const auto op = peak_op(c)) return std::make_unique<PeakCase>(ctx, *op);
    return std::make_unique<StreamCase>(ctx, stream_kind(c));
  };
  e.implementations.push_back(std::move(loop));
  for (Implementation& impl : cuda_implementations()) e.implementations.push_back(std::move(impl));
  return e;
}

TALKLAB_REGISTER_EXPERIMENT(declare);

}  // namespace
}  // namespace talklab::experiments::roofline
