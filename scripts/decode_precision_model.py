#!/usr/bin/env python3
"""Output SQNR of one decode step over an int8 KV cache when Q and the P.V weights are held to fewer bits.

A model, not the kernel: what docs/decode.md ("Why int8 and int4 still miss") uses to judge whether byte products
(vpmaddubsw, whose u8 x s8 pair sums saturate int16 unless one operand fits in 7 bits) could serve int8 on AVX2.
Q, K and V are standard normal (head dim 128, 4 query rows per kv head, as the decode experiment's 32:8 heads at q_len
1); K and V are rounded to int8 per token (symmetric, 127 levels of the row's largest magnitude); Q to B bits per row
(symmetric); the softmax's weights to W bits of the largest weight of each 32-token block per row (unsigned, as the
kernels' tile pairs encode them). SQNR is against float64 attention on the unquantized cache, the decode experiment's
reference. With 16-bit Q and weights (AVX2's path today) the model gives what bench measures (40.7 dB at 32k).

    python3 scripts/decode_precision_model.py [--seed N] [--trials N]
"""
import argparse

import numpy as np

HEAD_DIM, ROWS, BLOCK = 128, 4, 32
# (name, Q bits, weight bits): 16-bit weights stand for AVX2's int16 codes; AVX-512's byte weights are 8.
VARIANTS = [
    ("Q16 W16 (AVX2 today)", 16, 16),
    ("Q16 W8 (AVX-512 bytes)", 16, 8),
    ("Q16 W7", 16, 7),
    ("Q8 W7", 8, 7),
    ("Q7 W16", 7, 16),
    ("Q7 W7 (byte products)", 7, 7),
]


def round_symmetric(x, bits):
    """x rounded per row (last axis) to 2^(bits-1) - 1 levels of the row's largest magnitude."""
    levels = (1 << (bits - 1)) - 1
    step = np.abs(x).max(axis=-1, keepdims=True) / levels
    return np.round(x / step) * step


def attention(q, k, v, weight_bits=None):
    s = (q / np.sqrt(HEAD_DIM)) @ k.T
    p = np.exp(s - s.max(axis=1, keepdims=True))
    w = p
    if weight_bits is not None:
        levels = (1 << weight_bits) - 1
        blocks = p.reshape(ROWS, -1, BLOCK)
        top = blocks.max(axis=2, keepdims=True)
        w = (np.round(blocks / top * levels) * top / levels).reshape(p.shape)
    return (w @ v) / p.sum(axis=1, keepdims=True)


def sqnr_db(ref, out):
    return 10.0 * np.log10((ref**2).sum() / ((ref - out) ** 2).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trials", type=int, default=2, help="fresh draws per context length (the mean is printed)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print("tokens  " + "  ".join(f"{name:>24}" for name, _, _ in VARIANTS))
    for tokens in (1024, 8192, 32768):
        sums = np.zeros(len(VARIANTS))
        for _ in range(args.trials):
            q = rng.standard_normal((ROWS, HEAD_DIM))
            k = rng.standard_normal((tokens, HEAD_DIM))
            v = rng.standard_normal((tokens, HEAD_DIM))
            ref = attention(q, k, v)
            kq, vq = round_symmetric(k, 8), round_symmetric(v, 8)
            for i, (_, q_bits, w_bits) in enumerate(VARIANTS):
                sums[i] += sqnr_db(ref, attention(round_symmetric(q, q_bits), kq, vq, w_bits))
        print(f"{tokens:>6}  " + "  ".join(f"{x / args.trials:>21.2f} dB" for x in sums))


if __name__ == "__main__":
    main()
