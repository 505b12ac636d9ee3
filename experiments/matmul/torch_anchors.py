"""PyTorch's own CPU matmuls, run inside bench on the matmul case's tensors (matmul_anchors.cpp):

  compiled_bf16   torch.compile(mode="max-autotune") of the bf16 product, the weight frozen into the graph, so
                  Inductor may choose its C++ GEMM template (the TorchInductor CPU talk's subject) over ATen's
  int4_weight     aten._weight_int4pack_mm_for_cpu: W4A16, group 128, packed by _convert_weight_to_int4pack_for_cpu
  int8_weight     aten._weight_int8pack_mm: W8A16, one scale per output channel
  int8_dynamic    quantized::linear_dynamic: int8 activations quantized inside the call (per tensor), int8 weights
                  per channel, prepacked by quantized::linear_prepack (fbgemm/x86)
  fp8_scaled_mm   torch._scaled_mm on the CPU: fp8 e4m3 codes, one float32 scale per operand, bf16 out

The quantized weights are ours (codes and scales made by the C++ side with our quantizers), so every recipe is
compared on the same quantized values; here they are only repacked into the layout each op requires. Packing is
prepare (not timed). Nothing here catches an exception: where PyTorch cannot do something, its own message is
the case's skip reason.
"""
import warnings

import torch


class _CompiledBf16:
    """torch.mm(a, w) in a Module whose weight is a Parameter (a view of the case's bf16 B, no copy). Inductor's
    C++ GEMM template needs a constant weight (utils.use_cpp_gemm_template: mat2.is_module_buffer()), which
    freezing gives, and freezing needs inference (no grad): both are what the talk's CPU inference recipe sets."""

    class _Linear(torch.nn.Module):
        def __init__(self, b):
            super().__init__()
            self.w = torch.nn.Parameter(b, requires_grad=False)

        def forward(self, a):
            return torch.mm(a, self.w)

    def __init__(self, a, b):
        self.a = a
        self.fn = torch.compile(self._Linear(b), mode="max-autotune", dynamic=False)
        self.first = True
        self.labels = {}

    def run(self):
        with torch.no_grad():
            if not self.first:
                return self.fn(self.a)
            self.first = False
            # CPP in the GEMM backends (2.13's default is "ATEN,TRITON,CPP"; no Triton on the CPU), so the
            # autotuner times the template against ATen's mm and keeps the faster.
            from torch._inductor import config
            from torch._inductor.utils import run_and_get_code

            backends = _gemm_backends(self.a.dtype)
            self.labels["autotune_backends"] = backends
            # No FX graph cache: with freezing, the C++ template prepacks the weight into a constant the cache
            # entry stores, while the cache key leaves the frozen weight's values out, so a hit in a later process
            # with other weights (another seed) multiplies by the first process's: 2.13 on the 17 x 256 x 257 quick
            # case gave max relative errors 1.3-2.0, and correct products with the cache off.
            with config.patch(freezing=True, max_autotune_gemm_backends=backends, fx_graph_cache=False):
                out, code = run_and_get_code(self.fn, self.a)
            self.labels["inductor_gemm"] = _gemm_choice("\n".join(code))
            return out


def _gemm_backends(dtype):
    """The GEMM backends the autotuner may time. Where oneDNN has no native bf16 (AVX2 only: no AVX512_BF16, no
    AMX), ATen's bf16 mm widens element by element and ran at ~0.1 GFLOP/s on the 2-core Zen 2 guest (docs/
    anchors.md): one autotuning trial at 4096^3 would take ~20 minutes, and it loses at every shape measured
    there (1.19 s against the template's 9.15 ms at M = 1). There the autotuner times the C++ template's
    candidates only; the label autotune_backends says which set a case used."""
    if dtype == torch.bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "CPP"
    return "CPP,ATEN"


def _gemm_choice(source):
    """Which GEMM the compiled graph calls, read from Inductor's output code: its C++ template (a cpp kernel
    with a micro-GEMM) or ATen's mm (extern_kernels.mm / the mkldnn packed linear)."""
    if not source:
        return "unknown: no output code (an Inductor cache hit)"
    if "micro_gemm" in source or "cpp_CppMicroGemm" in source:
        return "cpp_gemm_template"
    if "mkldnn" in source:
        return "aten_mkldnn"
    if "extern_kernels.mm" in source or "aten.mm" in source:
        return "aten_mm"
    return "other"


def compiled_bf16(a, b):
    return _CompiledBf16(a, b)


class _Cycled:
    """The timed call on the next of `weights` (identical copies of one packed weight) each run: a decode-shaped
    product then reads its weights from DRAM, not from the last-level cache, as matmul_int4.cpp's case does
    (problem.h, cold_weight_copies). call(w) is the op on one copy."""

    def __init__(self, call, weights):
        self.call = call
        self.weights = weights
        self.next = 0
        self.counters = {"weight_copies": float(len(weights))}

    def run(self):
        w = self.weights[self.next % len(self.weights)]
        self.next += 1
        return self.call(w)


def _copies(weight, copies):
    return [weight] + [weight.clone() for _ in range(copies - 1)]  # clone keeps a transposed view's strides


def int4_weight(a, codes, scales, group, copies):
    """a: bf16 (M, K); codes: int8 (K, N) in [-8, 7] (our quantize_groupwise); scales: float32 (K / group, N).
    The op's dequantization is (u - 8) * scale + zero with u the unsigned nibble, so u = code + 8 and zero = 0;
    its scales and zeros are one bf16 tensor (K / group, N, 2) in the activation's dtype. Our packing stores its
    scales in bf16 too, so these float32 values are bf16 values already and convert exactly."""
    unsigned = (codes.t().to(torch.int32) + 8).contiguous()  # (N, K)
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(unsigned, 1)
    scale_zeros = torch.stack([scales, torch.zeros_like(scales)], dim=-1).to(torch.bfloat16).contiguous()
    op = torch.ops.aten._weight_int4pack_mm_for_cpu
    return _Cycled(lambda w: op(a, w, group, scale_zeros), _copies(packed, copies))


def int8_weight(a, codes, scales, copies):
    """a: bf16 (M, K); codes: int8 (K, N) (our quantize_cols_int8); scales: float32 (N,), rounded to bf16 because
    the op wants them in the activation's dtype. The op takes the weight as (N, K)."""
    weight = codes.t().contiguous()
    scales = scales.to(torch.bfloat16)
    op = torch.ops.aten._weight_int8pack_mm
    return _Cycled(lambda w: op(a, w, scales), _copies(weight, copies))


def int8_dynamic(a, codes, scales, copies):
    """a: float32 (M, K); the weight a per-channel qint8 tensor (N, K) on our codes and scales, zero point 0.
    reduce_range=True as torch.ao.nn.quantized.dynamic.Linear passes on fbgemm/x86: 7-bit activations, so
    vpmaddubsw's int16 pair sums cannot saturate on CPUs without VNNI."""
    n = codes.shape[1]
    with warnings.catch_warnings():  # quantized tensors are deprecated in 2.13; still the eager dynamic path
        warnings.simplefilter("ignore")
        weight = torch._make_per_channel_quantized_tensor(
            codes.t().contiguous(), scales.to(torch.float64), torch.zeros(n, dtype=torch.int64), 0)
        packed = [torch.ops.quantized.linear_prepack(weight, None) for _ in range(copies)]
    op = torch.ops.quantized.linear_dynamic
    return _Cycled(lambda w: op(a, w, True), packed)


def fp8_scaled_mm(a_codes, b_codes, scale_a, scale_b, copies):
    """a_codes (M, K), b_codes (K, N): bytes of fp8 e4m3 codes (our quantize_tensorwise), reinterpreted, B as a
    column-major (K, N) view of the (N, K) weight as _scaled_mm wants; scales: 0-dim float32."""
    a = a_codes.view(torch.float8_e4m3fn)
    b = b_codes.t().contiguous().view(torch.float8_e4m3fn).t()
    return _Cycled(lambda w: torch._scaled_mm(a, w, scale_a, scale_b, out_dtype=torch.bfloat16), _copies(b, copies))
