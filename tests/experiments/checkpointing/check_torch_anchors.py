#!/usr/bin/python3
"""PyTorch's partitioner and SAC anchors of the checkpointing experiment, end to end through bench.

  check_torch_anchors.py --bench BENCH

Runs the quick profile's torch_compile_budget, torch_sac and torch_sac_compiled cases (the embedded CPython,
torch.compile inside bench) and requires each to be `ok`: not skipped (a build without Python, a torch that cannot
compile, would be a skip, and this test exists to catch it), its gradients through the float64 gate, and its
counters present: compile_s and the step's peak for all, the partitioner's saved bytes for torch_compile_budget.
Exit 0: all good; 1: a case missing, not ok or without its counters.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FILTER = "checkpointing/torch_(compile_budget|sac|sac_compiled)/"
COUNTERS = {
    "torch_compile_budget": ["compile_s", "prepare_s", "measured_step_peak_bytes", "saved_bytes"],
    "torch_sac": ["compile_s", "prepare_s", "measured_step_peak_bytes"],
    "torch_sac_compiled": ["compile_s", "prepare_s", "measured_step_peak_bytes"],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "anchors.json"
    cmd = [args.bench, "run", "--profile", "quick", "--threads", "2", "--filter", FILTER, "--max-time", "0.2",
           "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    cases = json.loads(out.read_text())["benchmarks"]
    problems, seen = [], set()
    for b in cases:
        t = b.get("talklab", {})
        impl = b["name"].split("/")[1]
        seen.add(impl)
        if t.get("status") != "ok":
            problems.append(f"{b['name']}: {t.get('status')}: {t.get('reason')}")
            continue
        counters = t.get("counters", {})
        for name in COUNTERS[impl]:
            if not isinstance(counters.get(name), (int, float)):
                problems.append(f"{b['name']}: counter {name} missing (has {sorted(counters)})")
        if counters.get("compile_s", 0) <= 0:
            problems.append(f"{b['name']}: compile_s {counters.get('compile_s')} is not a positive time")
        if counters.get("measured_step_peak_bytes", 0) <= 0:
            problems.append(f"{b['name']}: the step allocated nothing through the tracking allocator")
    for impl in COUNTERS:
        if impl not in seen:
            problems.append(f"no {impl} case in the run ({len(cases)} cases matched {FILTER})")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {len(cases)} anchor cases, " + ", ".join(
        f"{b['name'].split('/')[1]} compile {b['talklab']['counters']['compile_s']:.1f} s" for b in cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
