// Dispatch for the compute peaks (peak.h): checks the (op, ISA) pair against this CPU, runs the per-ISA
// loop (detail/peak_kernels.h) on every OpenMP thread and counts the ops from the loop's shape.
#include "kernels/cpu/roofline/peak.h"

#include <stdexcept>

#include "kernels/cpu/roofline/detail/peak_kernels.h"

namespace talklab::cpu::roofline {
namespace {

// Lanes per register: 128-bit SSE2 for the baseline build, 256-bit ymm, 512-bit zmm (fp32 / int32).
constexpr int lanes(Isa isa) { return isa == Isa::avx512 ? 16 : isa == Isa::avx2 ? 8 : 4; }

constexpr int accumulators(Isa isa) {
  return isa == Isa::avx512 ? avx512::kAccumulators : isa == Isa::avx2 ? avx2::kAccumulators
                                                                        : scalar::kAccumulators;
}

// Ops one instruction (or mul + add pair) contributes per 32-bit lane; see the table in peak.h.
constexpr int ops_per_lane(PeakOp op) {
  switch (op) {
    case PeakOp::fp32_fma: return 2;
    case PeakOp::bf16_dot: return 4;  // 2 bf16 pairs
    case PeakOp::int8_dot: return 8;  // 4 u8*s8 pairs
  }
  return 0;
}

bool isa_available(Isa isa) {
  for (Isa have : supported_isas()) {
    if (have == isa) return true;
  }
  return false;
}

// The result of every loop lands here, so no loop is dead code even if a caller ignores everything.
volatile double g_sink = 0.0;

double run_on_this_thread(PeakOp op, Isa isa, int64_t iterations) {
  switch (op) {
    case PeakOp::fp32_fma:
      if (isa == Isa::avx512) return avx512::fp32_fma(iterations);
      if (isa == Isa::avx2) return avx2::fp32_fma(iterations);
      return scalar::fp32_fma(iterations);
    case PeakOp::bf16_dot: return avx512::bf16_dot(iterations);
    case PeakOp::int8_dot:
      if (isa == Isa::avx512) return avx512::int8_dot(iterations);
      return avx2::int8_dot(iterations);
  }
  return 0.0;
}

}  // namespace

const char* peak_op_name(PeakOp op) {
  switch (op) {
    case PeakOp::fp32_fma: return "fp32_fma";
    case PeakOp::bf16_dot: return "bf16_dot";
    case PeakOp::int8_dot: return "int8_dot";
  }
  return "unknown";
}

bool peak_supported(PeakOp op, Isa isa, std::string* why_not) {
  auto no = [&](std::string reason) {
    if (why_not != nullptr) *why_not = std::move(reason);
    return false;
  };
  if (!isa_available(isa)) return no(std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  switch (op) {
    case PeakOp::fp32_fma: return true;
    case PeakOp::bf16_dot:
      if (isa == Isa::avx512) return true;
      return no(std::string("no bf16 dot-product instruction at ") + isa_name(isa) +
                " (vdpbf16ps needs AVX512_BF16)");
    case PeakOp::int8_dot:
      if (isa == Isa::avx512) return true;
      if (isa == Isa::avx2) {
        if (cpu_features().avx_vnni) return true;
        return no("int8 dot at avx2 needs AVX-VNNI ({vex} vpdpbusd), which this CPU lacks");
      }
      return no("no int8 dot-product instruction at scalar (vpdpbusd needs AVX512_VNNI or AVX-VNNI)");
  }
  return no("unknown op");
}

int64_t peak_ops_per_iteration(PeakOp op, Isa isa) {
  if (!peak_supported(op, isa)) return 0;
  return int64_t(accumulators(isa)) * lanes(isa) * ops_per_lane(op);
}

int64_t run_peak(PeakOp op, Isa isa, int64_t iterations, int threads) {
  std::string why;
  if (!peak_supported(op, isa, &why)) {
    throw std::invalid_argument(std::string("run_peak(") + peak_op_name(op) + ", " + isa_name(isa) + "): " + why);
  }
  if (iterations < 0) throw std::invalid_argument("run_peak: iterations < 0");
  if (threads < 1) throw std::invalid_argument("run_peak: threads < 1");
  const int64_t per_thread = iterations * peak_ops_per_iteration(op, isa);
  int64_t ops = 0;
  double checksum = 0.0;
  // Counted per thread that actually ran: OpenMP may grant fewer threads than asked for.
#pragma omp parallel num_threads(threads) reduction(+ : ops, checksum)
  {
    checksum += run_on_this_thread(op, isa, iterations);
    ops += per_thread;
  }
  g_sink = checksum;
  return ops;
}

}  // namespace talklab::cpu::roofline
