#include "kernels/cpu/cpu_features.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace talklab::cpu {
namespace {

struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  __cpuid_count(leaf, subleaf, r.a, r.b, r.c, r.d);
  return r;
}

bool bit(unsigned reg, int n) { return (reg >> n) & 1u; }

uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(' ');
  const auto last = s.find_last_not_of(' ');
  return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
}

CpuFeatures detect() {
  CpuFeatures f;
  const Regs v = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor + 0, &v.b, 4);
  std::memcpy(vendor + 4, &v.d, 4);
  std::memcpy(vendor + 8, &v.c, 4);
  f.vendor = vendor;
  const unsigned max_leaf = v.a;

  const unsigned max_ext = cpuid(0x80000000u).a;
  if (max_ext >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002u + i);
      std::memcpy(brand + 16 * i + 0, &r.a, 4);
      std::memcpy(brand + 16 * i + 4, &r.b, 4);
      std::memcpy(brand + 16 * i + 8, &r.c, 4);
      std::memcpy(brand + 16 * i + 12, &r.d, 4);
    }
    f.model = trim(brand);
  }

  const Regs l1 = cpuid(1);
  const unsigned base_family = (l1.a >> 8) & 0xF;
  f.family = base_family == 0xF ? base_family + ((l1.a >> 20) & 0xFF) : base_family;
  f.sse42 = bit(l1.c, 20);
  f.fma = bit(l1.c, 12);
  f.f16c = bit(l1.c, 29);
  const bool osxsave = bit(l1.c, 27);
  const bool avx_hw = bit(l1.c, 28);
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;             // SSE and AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;           // plus opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG, XTILEDATA
  f.avx = avx_hw && os_ymm;
  f.fma = f.fma && os_ymm;
  f.f16c = f.f16c && os_ymm;

  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    f.bmi2 = bit(l7.b, 8);
    f.avx2 = bit(l7.b, 5) && os_ymm;
    f.avx512f = bit(l7.b, 16) && os_zmm;
    f.avx512dq = bit(l7.b, 17) && os_zmm;
    f.avx512bw = bit(l7.b, 30) && os_zmm;
    f.avx512vl = bit(l7.b, 31) && os_zmm;
    f.avx512_vnni = bit(l7.c, 11) && os_zmm;
    f.amx_bf16 = bit(l7.d, 22) && os_amx;
    f.amx_tile = bit(l7.d, 24) && os_amx;
    f.amx_int8 = bit(l7.d, 25) && os_amx;
    if (l7.a >= 1) {
      const Regs l71 = cpuid(7, 1);
      f.avx_vnni = bit(l71.a, 4) && os_ymm;
      f.avx512_bf16 = bit(l71.a, 5) && os_zmm;
    }
  }
  return f;
}

}  // namespace

std::vector<std::string> CpuFeatures::flag_names() const {
  std::vector<std::string> out;
  const std::pair<bool, const char*> table[] = {
      {sse42, "sse4_2"},         {avx, "avx"},           {avx2, "avx2"},
      {fma, "fma"},              {f16c, "f16c"},         {bmi2, "bmi2"},
      {avx512f, "avx512f"},      {avx512bw, "avx512bw"}, {avx512vl, "avx512vl"},
      {avx512dq, "avx512dq"},    {avx512_bf16, "avx512_bf16"}, {avx512_vnni, "avx512_vnni"},
      {avx_vnni, "avx_vnni"},    {amx_tile, "amx_tile"}, {amx_bf16, "amx_bf16"},
      {amx_int8, "amx_int8"},
  };
  for (const auto& [has, name] : table) {
    if (has) out.emplace_back(name);
  }
  return out;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out{Isa::scalar};
  const CpuFeatures& f = cpu_features();
  if (f.has_avx2_kernels()) out.push_back(Isa::avx2);
  if (f.has_avx512_kernels()) out.push_back(Isa::avx512);
  return out;
}

Isa best_isa() {
  static const Isa chosen = [] {
    const std::vector<Isa> have = supported_isas();
    const char* env = std::getenv("TALKLAB_ISA");
    if (env == nullptr || *env == '\0') return have.back();
    for (Isa isa : have) {
      if (std::strcmp(env, isa_name(isa)) == 0) return isa;
    }
    throw std::runtime_error(std::string("TALKLAB_ISA=") + env +
                             " is not a level this CPU supports (scalar, avx2, avx512 as available)");
  }();
  return chosen;
}

}  // namespace talklab::cpu
