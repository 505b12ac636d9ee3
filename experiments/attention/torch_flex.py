"""torch_flex and torch_create_block_mask: the attention experiment's masks as a FlexAttention user writes them.

Everything that defines a mask comes from C++ (experiments/attention/attention_flex.cpp, from the case's MaskSpec):
the window, the prefix length, each token's document id (a tensor), the softcap and the ALiBi slopes (a tensor).
Python derives nothing again, so the float64 gate checks the very semantics flash_cpu is checked against:
  causal          kv <= q
  sliding_window  kv <= q and q - kv < window
  prefix_lm       kv <= q or kv < prefix
  document        kv <= q and doc[q] == doc[kv]
  softcap         cap * tanh(score / cap)          (score already scaled by 1 / sqrt(D), as in flash_cpu)
  alibi           score - slope[h] * (q - kv)
The BlockMask comes from create_block_mask in prepare (its time: counter block_mask_build_s); flex_attention is
torch.compile'd and compiles in the first call, which the harness times as compile_s, never inside a sample.
Nothing here catches an exception: what PyTorch refuses becomes the case's skip reason, in PyTorch's words.
"""
import time

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention, noop_mask


def mask_mod_of(mask, window, prefix, doc_ids):
    """The mask_mod of one of the experiment's mask names (the score mod is separate)."""
    if mask == "full":
        return noop_mask

    def causal(b, h, q, kv):
        return kv <= q

    if mask == "causal":
        return causal

    if mask == "sliding_window":

        def sliding_window(b, h, q, kv):
            return (kv <= q) & (q - kv < window)

        return sliding_window
    if mask == "prefix_lm":

        def prefix_lm(b, h, q, kv):
            return (kv <= q) | (kv < prefix)

        return prefix_lm
    if mask == "document":

        def document(b, h, q, kv):
            return (kv <= q) & (doc_ids[q] == doc_ids[kv])

        return document
    raise ValueError(f"torch_flex: no mask_mod for mask {mask!r}")


def score_mod_of(score, softcap, slopes):
    if score == "none":
        return None
    if score == "softcap":

        def tanh_softcap(s, b, h, q, kv):
            return softcap * torch.tanh(s / softcap)

        return tanh_softcap
    if score == "alibi":

        def alibi(s, b, h, q, kv):
            return s - slopes[h] * (q - kv)

        return alibi
    raise ValueError(f"torch_flex: no score_mod for score {score!r}")


def _block_mask(mask_mod, seq, block_size, build):
    return build(mask_mod, None, None, seq, seq, device="cpu", BLOCK_SIZE=block_size)


def _block_counts(block_mask):
    """Partial and full (query block, key block) tiles the BlockMask lists, summed over its rows."""
    full = block_mask.full_kv_num_blocks
    return float(block_mask.kv_num_blocks.sum()), float(full.sum()) if full is not None else 0.0


class _Flex:
    def __init__(self, q, k, v, mask, window, prefix, doc_ids, score, softcap, slopes, block_size, compiled=True):
        self.q, self.k, self.v = q, k, v
        self.score_mod = score_mod_of(score, softcap, slopes)
        self.enable_gqa = q.shape[1] != k.shape[1]
        start = time.perf_counter()
        self.block_mask = _block_mask(mask_mod_of(mask, window, prefix, doc_ids), q.shape[2], block_size,
                                      create_block_mask)
        build_s = time.perf_counter() - start
        partial, full = _block_counts(self.block_mask)
        q_block, kv_block = self.block_mask.BLOCK_SIZE
        self.counters = {
            "block_mask_build_s": build_s,
            "block_size_q": float(q_block),
            "block_size_kv": float(kv_block),
            "flex_partial_blocks": partial,
            "flex_full_blocks": full,
        }
        self.fn = torch.compile(flex_attention, dynamic=False) if compiled else flex_attention

    def run(self):
        return self.fn(self.q, self.k, self.v, score_mod=self.score_mod, block_mask=self.block_mask,
                       enable_gqa=self.enable_gqa)


def attention(q, k, v, mask, window, prefix, doc_ids, score, softcap, slopes, block_size, compiled=True):
    """torch_flex's forward: q (B, H, S, D), k and v (B, H_kv, S, D), views of the case's buffers.

    compiled=False runs flex_attention unwrapped (its eager reference path): the unit tests check every mask's
    arguments that way, since a compile per mask would cost minutes.
    """
    return _Flex(q, k, v, mask, window, prefix, doc_ids, score, softcap, slopes, block_size, compiled)


class _FlexBackward(_Flex):
    """Gradients through autograd, as a training step gets them: run() returns (dq, dk, dv) for the upstream
    gradient d_out. step=False: the forward ran once here (its compilation is in prepare_s) and run() is the
    backward alone (retain_graph); step=True: run() is forward plus backward."""

    def __init__(self, q, k, v, d_out, step, **mask_args):
        super().__init__(q.detach().requires_grad_(True), k.detach().requires_grad_(True),
                         v.detach().requires_grad_(True), **mask_args)
        self.d_out, self.step = d_out, step
        self.out = None if step else super().run()

    def run(self):
        out = super().run() if self.step else self.out
        return torch.autograd.grad(out, (self.q, self.k, self.v), self.d_out, retain_graph=not self.step)


def attention_backward(q, k, v, d_out, step, mask, window, prefix, doc_ids, score, softcap, slopes, block_size,
                       compiled=True):
    return _FlexBackward(q, k, v, d_out, step, mask=mask, window=window, prefix=prefix, doc_ids=doc_ids, score=score,
                         softcap=softcap, slopes=slopes, block_size=block_size, compiled=compiled)


class _CreateBlockMask:
    """create_block_mask alone, timed: run() returns its partial and full counts and indices per query block."""

    def __init__(self, seq, mask, window, prefix, doc_ids, block_size, compiled):
        self.mask_mod = mask_mod_of(mask, window, prefix, doc_ids)
        self.seq, self.block_size = seq, block_size
        self.build = torch.compile(create_block_mask) if compiled else create_block_mask
        self.counters = {"block_size_q": float(block_size), "block_size_kv": float(block_size)}

    def run(self):
        bm = _block_mask(self.mask_mod, self.seq, self.block_size, self.build)
        return bm.kv_num_blocks, bm.kv_indices, bm.full_kv_num_blocks, bm.full_kv_indices


def block_mask(seq, mask, window, prefix, doc_ids, score, softcap, slopes, block_size, compiled):
    """A score mod changes no block: score, softcap and slopes are accepted (the same arguments as attention)
    and unused."""
    return _CreateBlockMask(seq, mask, window, prefix, doc_ids, block_size, compiled)
