// Tile counts and FLOPs of an attention call (kernels/common/attention/flash_stats.h).
#include "kernels/common/attention/flash_stats.h"

namespace talklab::attention {

FlashStats flash_stats(const AttnShape& s, const BlockMask& bm) {
  FlashStats st;
  int64_t area = 0;
  for (int b = 0; b < bm.B; ++b)
    for (int h = 0; h < bm.H; ++h)
      for (int qb = 0; qb < bm.num_q_blocks; ++qb) {
        const int64_t r = bm.row(b, h, qb);
        for (int kb : bm.full(r)) area += bm.block_area(qb, kb);
        for (int kb : bm.partial(r)) area += bm.block_area(qb, kb);
        st.full_blocks += bm.full_kv_num_blocks[r];
        st.partial_blocks += bm.kv_num_blocks[r];
      }
  const int64_t copies = (bm.B == 1 ? s.B : 1) * (bm.H == 1 ? s.H : 1);
  st.full_blocks *= copies;
  st.partial_blocks *= copies;
  st.executed_flops = 4.0 * double(s.D) * double(area) * double(copies);
  return st;
}

double useful_flops(const MaskSpec& spec, const AttnShape& s) {
  return 4.0 * double(s.D) * double(visible_pairs(spec, s.S_q, s.S_kv)) * double(s.B * s.H);
}

}  // namespace talklab::attention
