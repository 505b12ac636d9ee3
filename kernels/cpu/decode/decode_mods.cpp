// apply_block_mods (decode_kernel.h): the sliding window, the causal mask among the new tokens, softcap and ALiBi
// on one score tile, with the definitions of kernels/common/attention/mask.h. Baseline x86-64: see the header.
#include <cmath>
#include <limits>

#include "kernels/common/attention/mask.h"
#include "kernels/cpu/decode/decode_kernel.h"

namespace talklab::cpu::decode {

void apply_block_mods(const KernelArgs& a, float* s, int64_t rows, int64_t hk, int64_t len, int64_t t, int n) {
  constexpr float kLog2e = 1.4426950408889634f;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t q_len = a.shape.q_len, group = a.shape.H / a.shape.H_kv;
  const bool natural = a.softcap != 0.0f || a.alibi != nullptr;
  const attention::SoftcapScore softcap{a.softcap};
  attention::AlibiScore alibi;
  alibi.slopes = a.alibi;
  const attention::SlidingWindowMask window{int(a.window)};
  for (int64_t r = 0; r < rows; ++r) {
    const int q = int(len - q_len + r % q_len);
    const int h = int(hk * group + r / q_len);
    float* sr = s + r * kTokBlock;
    for (int j = 0; j < n; ++j) {
      const int kv = int(t + j);
      const bool visible = kv <= q && (a.window == 0 || window(0, h, q, kv));
      float x = sr[j];
      if (a.softcap != 0.0f) x = softcap(x, 0, h, q, kv);
      if (a.alibi) x = alibi(x, 0, h, q, kv);
      sr[j] = visible ? (natural ? x * kLog2e : x) : kNegInf;
    }
  }
}

}  // namespace talklab::cpu::decode
