#!/usr/bin/python3
"""The quick profile's compiled FlexAttention cases end to end through the real binary (issue 17).

  check_flex_anchors.py --bench BENCH

Runs `bench run --profile quick` on torch_flex and the create_block_mask helpers (attention, decode,
attention_backward) and requires: every forward and decode case `ok` (not skipped, not failed: its float64 gate
passed), with compile_s and prepare_s, the attention cases with block_mask_build_s, the BlockMask's block size and
first_result_s = prepare_s + compile_s, the decode cases with their BlockMask's build time and block size (the paged
one, through PagedAttention, with key blocks of one page), the block-mask helpers with their block counts (their
check compares every block with our closed form), and any attention_backward torch_flex case either ok or skipped
with a message PyTorch raised (a Python exception's type in it), never failed (quick has none: a setup that raises
CaseSkipped would stop tests/experiments/test_quick_cases.cpp; tests/experiments/test_flex_anchor.cpp covers the
backward).
A case that cannot run here fails this test.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FILTER = "(attention|decode|attention_backward)/torch_(flex|create_block_mask)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "flex.json"
        cmd = [args.bench, "run", "--profile", "quick", "--threads", "2", "--filter", FILTER, "--max-time", "0.3",
               "--out", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if not out.exists():
            sys.exit(f"{' '.join(cmd)} wrote no file (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        cases = [b["talklab"] | {"name": b["name"]} for b in json.loads(out.read_text())["benchmarks"]]

    problems = []
    seen = {}
    for c in cases:
        key = (c["experiment"], c["implementation"])
        seen[key] = seen.get(key, 0) + 1
        counters, status = c.get("counters", {}), c["status"]
        if c["experiment"] == "attention_backward":
            if status == "ok":
                continue
            if status != "skipped" or "Error" not in c.get("reason", ""):
                problems.append(f"{c['name']}: {status}, not ok nor skipped with PyTorch's message: {c.get('reason')}")
            continue
        if status != "ok":
            problems.append(f"{c['name']}: {status}: {c.get('reason')}")
            continue
        want = ["prepare_s", "compile_s"]
        if c["implementation"] == "torch_flex" and c["experiment"] == "attention":
            want += ["block_mask_build_s", "block_size_q", "block_size_kv", "first_result_s"]
        if c["implementation"].startswith("torch_create_block_mask"):
            want += ["partial_blocks", "full_blocks", "block_size_q"]
        if c["experiment"] == "decode":
            want += ["block_mask_build_s", "block_size_q", "block_size_kv"]
        paged = c["experiment"] == "decode" and "/page_size=0/" not in c["name"]
        missing = [w for w in want if w not in counters]
        if missing:
            problems.append(f"{c['name']}: counters {missing} missing (has {sorted(counters)})")
            continue
        if c["implementation"] == "torch_flex" and c["experiment"] == "attention":
            total = counters["prepare_s"] + counters["compile_s"]
            if abs(counters["first_result_s"] - total) > 1e-9 * max(1.0, total):
                problems.append(f"{c['name']}: first_result_s {counters['first_result_s']} != prepare_s + compile_s")
            if counters["block_size_q"] <= 0 or counters["compile_s"] <= 0:
                problems.append(f"{c['name']}: block size or compile time not positive: {counters}")
        if paged:
            page = int(c["name"].split("/page_size=")[1].split("/")[0])
            if counters["block_size_kv"] != page:
                problems.append(f"{c['name']}: the paged BlockMask's key blocks are {counters['block_size_kv']} tokens, "
                                f"not the page's {page}")
        if c["implementation"].startswith("torch_create_block_mask"):
            if counters["partial_blocks"] + counters["full_blocks"] <= 0:
                problems.append(f"{c['name']}: no blocks counted")
        if "inductor_cache_dir" not in c.get("labels", {}):
            problems.append(f"{c['name']}: no inductor_cache_dir label")

    expected = {("attention", "torch_flex"): 2, ("attention", "torch_create_block_mask"): 2,
                ("attention", "torch_create_block_mask_compiled"): 1, ("decode", "torch_flex"): 2}
    for key, n in expected.items():
        if seen.get(key, 0) != n:
            problems.append(f"{key}: {seen.get(key, 0)} cases in the quick profile, expected {n}")
    if problems:
        sys.exit("\n".join(problems))
    print(f"{len(cases)} flex cases ok")


if __name__ == "__main__":
    main()
