// What this CPU can do, read once from CPUID (and XGETBV, so a feature the OS does not save state for
// counts as missing). Kernels pick their AVX-512 / AVX2 / scalar path from here at run time.
#pragma once

#include <string>
#include <vector>

namespace talklab::cpu {

struct CpuFeatures {
  std::string vendor;  // "AuthenticAMD", "GenuineIntel", ...
  std::string model;   // the brand string, e.g. "AMD EPYC 9B45"
  unsigned family = 0;  // CPUID's display family (base + extended): AMD Zen 4 0x19, Zen 5 0x1A
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool bmi2 = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  bool avx_vnni = false;
  bool amx_tile = false;
  bool amx_bf16 = false;
  bool amx_int8 = false;

  // The whole AVX-512 set our *_avx512.cpp files are compiled for (cmake/talklab_isa.cmake).
  bool has_avx512_kernels() const {
    return avx512f && avx512bw && avx512vl && avx512dq && avx512_bf16 && avx512_vnni && fma && f16c && bmi2;
  }
  // The set our *_avx2.cpp files are compiled for.
  bool has_avx2_kernels() const { return avx2 && fma && f16c && bmi2; }

  // Flag names as /proc/cpuinfo spells them, for result files.
  std::vector<std::string> flag_names() const;
};

// Detected once, on first call; thread-safe.
const CpuFeatures& cpu_features();

// The instruction-set level a kernel runs at.
enum class Isa { scalar, avx2, avx512 };

const char* isa_name(Isa isa);

// The best level this CPU supports, lowered by TALKLAB_ISA=scalar|avx2|avx512 in the environment (so tests
// can exercise every path on one machine); asking for a level the CPU lacks is an error.
Isa best_isa();

// Every level this CPU can run, lowest first (scalar always).
std::vector<Isa> supported_isas();

}  // namespace talklab::cpu
