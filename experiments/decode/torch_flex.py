"""torch_flex for decode: torch.compile(flex_attention) over the contiguous bf16 cache, as a PyTorch model's decode
step calls it (experiments/decode/decode_torch.cpp).

q (B, H, q_len, D), k and v (B, H_kv, context, D) are views of the case's buffers. q_len 1 sees every cached
token: no block mask (flex's default, every block full). q_len > 1 (speculative verification): the new tokens are
causal among themselves, bottom-right aligned, query i sees keys <= context - q_len + i, the same rule as the
other implementations; its BlockMask comes from create_block_mask in prepare (counter block_mask_build_s).
Compilation happens in the first call (the harness's compile_s). Nothing is caught: what PyTorch refuses on the
CPU is the case's skip reason, in its own words.
"""
import time

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention


class _Decode:
    def __init__(self, q, k, v, compiled):
        self.q, self.k, self.v = q, k, v
        q_len, context = q.shape[2], k.shape[2]
        self.enable_gqa = q.shape[1] != k.shape[1]
        self.block_mask = None
        self.counters = {"block_mask_build_s": 0.0}
        if q_len > 1:
            offset = context - q_len

            def bottom_right_causal(b, h, qi, kv):
                return kv <= qi + offset

            start = time.perf_counter()
            self.block_mask = create_block_mask(bottom_right_causal, None, None, q_len, context, device="cpu")
            self.counters["block_mask_build_s"] = time.perf_counter() - start
            q_block, kv_block = self.block_mask.BLOCK_SIZE
            self.counters["block_size_q"] = float(q_block)
            self.counters["block_size_kv"] = float(kv_block)
        self.fn = torch.compile(flex_attention, dynamic=False) if compiled else flex_attention

    def run(self):
        return self.fn(self.q, self.k, self.v, block_mask=self.block_mask, enable_gqa=self.enable_gqa)


def decode(q, k, v, compiled=True):
    return _Decode(q, k, v, compiled)
