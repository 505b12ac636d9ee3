"""torch_flex for decode: torch.compile(flex_attention) over a bf16 cache, as a PyTorch model's decode step calls it
(experiments/decode/decode_torch.cpp).

q (B, H, q_len, D) and the cache are views of the case's buffers. Which keys a query sees: q_len 1 sees every cached
token; q_len > 1 (speculative verification): the new tokens are causal among themselves, bottom-right aligned, query
i sees keys <= context - q_len + i, the same rule as the other implementations.

Contiguous cache: k and v (B, H_kv, context, D), a BlockMask from create_block_mask at its default block size (128),
q_len 1 too. Without one, flex_attention makes its own of a single key block the whole sequence long, and on this CPU
that ran slower: 32k tokens, 32:8 heads, Zen 3, medians of 15 runs of each, one after another: no BlockMask 99-116 ms,
key blocks of 128 tokens 84.5 ms, of 512 80.4 ms, of 64 68.6 ms. The default size is what a user gets from
create_block_mask; the paged cache's blocks are its pages.

Paged cache: PyTorch's own paging for FlexAttention (torch.nn.attention.experimental._paged_attention, the
PagedAttention class): k and v are its physical pool (1, H_kv, pages x page_size, D), page p holding pool tokens
p x page_size onwards; block_table (B, pages per sequence) is the case's, the same shuffled table as ours. The
PagedAttention gets that table through its own reserve() (it hands a sequence the pages at the end of its free list,
in logical order, so the free list is set to the sequence's pages first), then the logical BlockMask (key blocks of
one page) goes through convert_logical_block_mask, which maps its key blocks to the pages and wraps the mask_mod so
a key's logical position comes from the page's physical-to-logical table; kv_len masks each sequence's last page.

The BlockMask's build (create_block_mask and, paged, the conversion) is counter block_mask_build_s. Compilation
happens in the first call (the harness's compile_s). Nothing is caught: what PyTorch refuses on the CPU is the
case's skip reason, in its own words.
"""
import time

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention, noop_mask


def _paged_attention(block_table, page_size, n_pages):
    """A PagedAttention whose page table is block_table (B, pages per sequence)."""
    from torch.nn.attention.experimental._paged_attention import PagedAttention

    batch, per_seq = block_table.shape
    paging = PagedAttention(n_pages, page_size, batch, device="cpu")
    for b in range(batch):
        paging.empty_pages = block_table[b].tolist()  # reserve() takes the list's tail, in logical order
        paging.reserve(torch.tensor(b), torch.tensor(per_seq * page_size))
    if not torch.equal(paging.page_table[:, :per_seq], block_table.to(paging.page_table.dtype)):
        raise RuntimeError("torch_flex: PagedAttention.reserve did not take the case's block table "
                           "(its free-list order changed?)")
    return paging


class _Decode:
    def __init__(self, q, k, v, compiled, block_table, lengths, page_size):
        self.q, self.k, self.v = q, k, v
        batch, q_len = q.shape[0], q.shape[2]
        paged = page_size > 0
        context = k.shape[2]
        self.enable_gqa = q.shape[1] != k.shape[1]
        self.counters = {"block_mask_build_s": 0.0}
        if paged:
            offsets = lengths - q_len

            def bottom_right_causal(b, h, qi, kv):
                return kv <= qi + offsets[b]
        else:
            offset = context - q_len

            def bottom_right_causal(b, h, qi, kv):
                return kv <= qi + offset

        mask_mod = bottom_right_causal if q_len > 1 else noop_mask
        start = time.perf_counter()
        if paged:
            paging = _paged_attention(block_table, page_size, k.shape[2] // page_size)
            logical = create_block_mask(mask_mod, batch, None, q_len, block_table.shape[1] * page_size,
                                        device="cpu", BLOCK_SIZE=(128, page_size))
            self.block_mask = paging.convert_logical_block_mask(logical, kv_len=lengths)
        else:
            self.block_mask = create_block_mask(mask_mod, None, None, q_len, context, device="cpu")
        self.counters["block_mask_build_s"] = time.perf_counter() - start
        q_block, kv_block = self.block_mask.BLOCK_SIZE
        self.counters["block_size_q"] = float(q_block)
        self.counters["block_size_kv"] = float(kv_block)
        self.fn = torch.compile(flex_attention, dynamic=False) if compiled else flex_attention

    def run(self):
        return self.fn(self.q, self.k, self.v, block_mask=self.block_mask, enable_gqa=self.enable_gqa)


def decode(q, k, v, compiled=True, block_table=None, lengths=None, page_size=0):
    return _Decode(q, k, v, compiled, block_table, lengths, page_size)
