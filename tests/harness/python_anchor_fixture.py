"""Anchors for tests/harness/test_python.cpp: each exercises one promise of harness/python.h."""
import torch


class _Scale:
    """run() writes 2 * x into x's own storage and returns a fresh tensor of x + offset."""

    def __init__(self, x, offset, tag):
        self.x = x
        self.offset = offset
        self.counters = {"elements": float(x.numel())}
        self.labels = {"tag": tag, "dtype": str(x.dtype)}

    def run(self):
        self.x.mul_(2)
        return self.x + self.offset


def scale(x, offset, tag):
    return _Scale(x, offset, tag)


class _Pair:
    def __init__(self, tensors):
        self.tensors = tensors

    def run(self):
        return tuple(t.sum(dim=0) for t in self.tensors)


def pair(tensors):
    return _Pair(tensors)


def refuses(shape):
    raise NotImplementedError(f"this anchor cannot express shape {list(shape)}")


class _Flaky:
    def __init__(self):
        self.calls = 0

    def run(self):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError(f"call {self.calls} failed")
        return torch.ones(3)


def flaky():
    return _Flaky()


class _FirstCallFails:
    def run(self):
        raise RuntimeError("compile failed on purpose")


def first_call_fails():
    return _FirstCallFails()


class _Compiled:
    """torch.compile (Inductor, C++ codegen) inside bench's process: a fused elementwise function of x."""

    def __init__(self, x):
        self.x = x
        self.fn = torch.compile(lambda t: torch.tanh(t) * t + 1.0, dynamic=False)

    def run(self):
        return self.fn(self.x)


def compiled(x):
    return _Compiled(x)


class _CountsCompiles:
    """torch.compile of a function whose every shape is a new compile; `compiles` counts the graphs Dynamo handed
    to the backend for this anchor (0 when Dynamo ran the function uncompiled)."""

    def __init__(self, x):
        self.x = x
        self.counters = {"compiles": 0.0}

        def backend(graph, example_inputs):
            self.counters["compiles"] += 1.0
            return graph.forward

        self.fn = torch.compile(_plus_one, backend=backend, dynamic=False)

    def run(self):
        return self.fn(self.x)


def _plus_one(t):
    return t + 1.0


def counts_compiles(x):
    return _CountsCompiles(x)
