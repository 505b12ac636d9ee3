// Float64 reference (kernels/common/attention/reference.h, reference_backward.h): the MaskSpec entry points and the
// element loader.
#include "kernels/common/attention/reference.h"

#include "kernels/common/attention/reference_backward.h"

#include <cstring>

namespace talklab::attention {

double load_element(const void* x, DType dtype, int64_t i) {
  if (dtype == DType::f32) return double(static_cast<const float*>(x)[i]);
  const uint32_t u = uint32_t(static_cast<const uint16_t*>(x)[i]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return double(f);
}

ReferenceRows reference_attention_rows(const BuiltMods& mods, const AttnShape& s, const AttnTensors& t, double scale,
                                       const std::vector<RowId>& rows) {
  return visit_mods(mods, [&](const auto& mask, const auto& score) {
    return reference_attention_rows(s, t, mask, score, scale, rows);
  });
}

ReferenceGrads reference_attention_backward(const BuiltMods& mods, const AttnShape& s, const AttnTensors& t,
                                            const void* d_o, double scale) {
  return visit_mods(mods, [&](const auto& mask, const auto& score) {
    return reference_attention_backward(s, t, d_o, mask, score, scale);
  });
}

ReferenceGradRows reference_attention_backward_rows(const BuiltMods& mods, const AttnShape& s, const AttnTensors& t,
                                                    const void* d_o, double scale, int64_t b, int64_t hk,
                                                    const std::vector<QueryRow>& q_rows,
                                                    const std::vector<int64_t>& kv_rows) {
  return visit_mods(mods, [&](const auto& mask, const auto& score) {
    return reference_attention_backward_rows(s, t, d_o, mask, score, scale, b, hk, q_rows, kv_rows);
  });
}

}  // namespace talklab::attention
