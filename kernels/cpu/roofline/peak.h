// Compute ceilings: how many FLOPs (or int ops) per second one core can retire when nothing but the
// arithmetic unit limits it. Compute-bound by construction: every operand lives in a register, and each
// thread keeps enough independent accumulator chains in flight (latency x issue width) to fill every
// FMA / dot-product pipe. The caller times run_peak() and divides its returned op count by the time.
//
// Op counting conventions (per lane of one instruction):
//   fp32_fma  acc = acc*m + c                 2 FLOPs (scalar: mulss + addss, also 2)
//   bf16_dot  vdpbf16ps: acc += a0*b0 + a1*b1  4 FLOPs, i.e. 2 per bf16 pair
//   int8_dot  vpdpbusd:  acc += sum of 4 u8*s8 8 ops, i.e. 2 per pair
#pragma once

#include <cstdint>
#include <string>

#include "kernels/cpu/cpu_features.h"

namespace talklab::cpu::roofline {

enum class PeakOp { fp32_fma, bf16_dot, int8_dot };

const char* peak_op_name(PeakOp op);

// Whether run_peak(op, isa, ...) can run on this CPU; if not and why_not is given, says why.
bool peak_supported(PeakOp op, Isa isa, std::string* why_not = nullptr);

// Ops one thread performs per loop iteration (accumulators x lanes x ops per lane); 0 if unsupported.
int64_t peak_ops_per_iteration(PeakOp op, Isa isa);

// Each of `threads` OpenMP threads runs `iterations` iterations of the op's unrolled loop. Returns the
// ops actually performed, summed over the threads that ran (iterations x ops per iteration x threads).
// Throws std::invalid_argument if the pair is unsupported, iterations < 0 or threads < 1.
int64_t run_peak(PeakOp op, Isa isa, int64_t iterations, int threads);

// Iterations of one timed run, for the roofline experiment's cases and the ceilings every run measures (the
// same loop, so the experiment's own cases land at 100% of the ceiling): a few milliseconds, so the OpenMP
// fork and join are noise, and short beside a scheduler tick's worth of other work.
inline constexpr int64_t kPeakIterationsPerRun = int64_t(1) << 20;

}  // namespace talklab::cpu::roofline
