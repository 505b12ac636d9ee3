"""PyTorch's own answers to the checkpointing experiment's question, on the experiment's decoder step.

The step of graph.h written as a user writes it (a torch.nn.Module: RMSNorm as normalize-then-scale, SDPA for the
causal attention, SwiGLU as silu and mul, dropout, mean squared error), on the C++ case's own tensors: its weights,
input, target and dropout masks arrive from bench as views (DLPack, no copy), in graph.h's parameter order
(per layer g1, Wqkv, Wo, g2, W1, W3, W2), so every anchor computes the step the C++ executor computes and is checked
against the same float64 gradients.

  budget       torch.compile of forward and backward under torch._functorch.config.activation_memory_budget = b:
               PyTorch's partitioner (min-cut, then its knapsack under the budget) chooses what the forward keeps.
  sac          torch.utils.checkpoint around each layer with create_selective_checkpoint_contexts and the policy
               of policies.cpp's `selective` (save matmul and attention outputs, recompute the rest), eager or
               compiled.

Each prepare starts from torch._dynamo.reset(): Dynamo does not guard on functorch's config, so without it a
second budget's module (same code object) would reuse the first budget's compiled graph. Inductor's and
AOTAutograd's on-disk caches stay on: AOTAutograd's key holds functorch's whole saved config
(activation_memory_budget included), so a budget can only hit an entry compiled at that same budget; compile_s
is then a warm-cache compile, and the case records the cache directory.

The dropout masks come as bool tensors (1 byte an element, held by the case like the weights): the product
x * mask * (1 / (1 - p)) rounds once, exactly as ops.cpp's dropout_apply does, so the masks are the C++ ones
bit for bit.
"""
import functools

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

PARAMS_PER_LAYER = 7  # g1, Wqkv, Wo, g2, W1, W3, W2 (graph.cpp's order)

# policies.cpp's save_matmuls_and_attention: the outputs of matmuls and of the fused attention are saved (prefer:
# the compiler may override, as the C++ enum says), pointwise ops and norms recomputed. The attention overloads are
# every SDPA kernel the dispatcher may pick for a causal f32/bf16 call on this device.
_aten = torch.ops.aten
SAVED_OPS = {
    _aten.mm.default,
    _aten._scaled_dot_product_flash_attention_for_cpu.default,
    _aten._scaled_dot_product_flash_attention.default,
    _aten._scaled_dot_product_efficient_attention.default,
    _aten._scaled_dot_product_cudnn_attention.default,
}


def _selective_policy(ctx, op, *args, **kwargs):
    return CheckpointPolicy.PREFER_SAVE if op in SAVED_OPS else CheckpointPolicy.PREFER_RECOMPUTE


class DecoderStep(torch.nn.Module):
    """graph.h's step: forward to the loss; `selective` wraps each layer in torch.utils.checkpoint with SAC."""

    def __init__(self, params, masks, heads, batch, seq, dropout_p, rms_eps, selective=False):
        super().__init__()
        if len(params) != PARAMS_PER_LAYER * len(masks):
            raise ValueError(f"{len(params)} parameters for {len(masks)} layers (want {PARAMS_PER_LAYER} a layer)")
        # nn.Parameter shares the C++ tensor's storage: the weights are the case's own.
        self.weights = torch.nn.ParameterList(torch.nn.Parameter(p) for p in params)
        self.masks = masks
        self.heads, self.batch, self.seq = heads, batch, seq
        self.dropout_scale = 1.0 / (1.0 - dropout_p)
        self.rms_eps = rms_eps
        self.selective = selective

    def _rms_normalize(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.rms_eps)

    def _layer(self, x, mask, g1, wqkv, wo, g2, w1, w3, w2):
        tokens, d_model = x.shape
        head_dim = d_model // self.heads
        qkv = torch.mm(self._rms_normalize(x) * g1, wqkv)
        q, k, v = qkv.view(self.batch, self.seq, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(tokens, d_model)
        h = x + torch.mm(o, wo) * mask * self.dropout_scale
        n2 = self._rms_normalize(h) * g2
        return h + torch.mm(F.silu(torch.mm(n2, w1)) * torch.mm(n2, w3), w2)

    def forward(self, x, target):
        for layer, mask in enumerate(self.masks):
            weights = list(self.weights[PARAMS_PER_LAYER * layer : PARAMS_PER_LAYER * (layer + 1)])
            if self.selective:
                context = functools.partial(create_selective_checkpoint_contexts, _selective_policy)
                x = checkpoint(self._layer, x, mask, *weights, use_reentrant=False, context_fn=context)
            else:
                x = self._layer(x, mask, *weights)
        return F.mse_loss(x, target)


def _saved_bytes(loss, inputs):
    """Bytes of the tensors the compiled forward saved for backward, the model's inputs (weights, x, target,
    masks: live anyway) left out: what PyTorch's partitioner chose to keep."""
    node = loss.grad_fn
    while node is not None and not hasattr(node, "saved_tensors"):
        nexts = [f for f, _ in node.next_functions if f is not None]
        node = nexts[0] if len(nexts) == 1 else None
    if node is None:
        raise RuntimeError(f"no compiled backward node under {type(loss.grad_fn).__name__}")
    held = {t.untyped_storage().data_ptr() for t in inputs}
    seen, total = set(), 0
    for t in node.saved_tensors:
        storage = t.untyped_storage()
        if storage.data_ptr() in held or storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        total += storage.nbytes()
    return float(total)


class _Step:
    """run(): one training step (forward, loss, backward), the parameters' gradients in graph.h's order."""

    def __init__(self, model, x, target, compiled, budget, with_loss=False):
        self.model, self.x, self.target, self.budget, self.with_loss = model, x, target, budget, with_loss
        self.params = list(model.parameters())
        self.forward = torch.compile(model, fullgraph=True) if compiled else model
        self.counters = {}
        self.count_saved = compiled and not model.selective

    def _step(self):
        loss = self.forward(self.x, self.target)
        if self.count_saved:  # once, on the compiling call (never inside a sample)
            inputs = self.params + [self.x, self.target] + list(self.model.masks)
            self.counters["saved_bytes"] = _saved_bytes(loss, inputs)
            self.count_saved = False
        grads = torch.autograd.grad(loss, self.params)
        return (loss.detach(), *grads) if self.with_loss else grads

    def run(self):
        if self.budget is None:
            return self._step()
        # The budget must hold while AOTAutograd partitions (the first call) and costs nothing afterwards.
        with torch._functorch.config.patch(activation_memory_budget=self.budget):
            return self._step()


def _prepare(params, masks, x, target, heads, batch, seq, dropout_p, rms_eps, selective, compiled, budget,
             with_loss=False):
    torch._dynamo.reset()
    model = DecoderStep(params, masks, heads, batch, seq, dropout_p, rms_eps, selective)
    return _Step(model, x, target, compiled, budget, with_loss)


def budget(params, masks, x, target, heads, batch, seq, dropout_p, rms_eps, budget):
    """torch_compile_budget: the compiled step under activation_memory_budget = budget."""
    return _prepare(params, masks, x, target, heads, batch, seq, dropout_p, rms_eps, False, True, budget)


def sac(params, masks, x, target, heads, batch, seq, dropout_p, rms_eps, compiled):
    """torch_sac (eager) and torch_sac_compiled: selective activation checkpointing with our selective policy."""
    return _prepare(params, masks, x, target, heads, batch, seq, dropout_p, rms_eps, True, compiled, None)


def eager(params, masks, x, target, heads, batch, seq, dropout_p, rms_eps):
    """The plain module, eager, returning (loss, *gradients): the tests hold it against the C++ graph in float64."""
    return _prepare(params, masks, x, target, heads, batch, seq, dropout_p, rms_eps, False, False, None, True)
