"""The matmul anchors of issue 17 run end to end inside bench on the quick profile.

    check_matmul_anchors.py --bench BIN [--keep DIR]

Runs `bench run --profile quick` on the anchors' quick cases (experiments/matmul/matmul_anchors.cpp) and on the
roofline's read ceiling, then requires of the result file:
  - every anchor case is `ok` (not skipped, not failed) and passed the float64 gate, with its SQNR recorded;
  - compile_s and prepare_s (the embedded interpreter's first call and prepare, harness/python.h) and the Inductor
    cache directory (label) on each;
  - torch_compiled_bf16 names the GEMM Inductor chose (label inductor_gemm);
  - the weight-only anchors at M = 1 declare themselves bound by the read stream, and have a roofline fraction
    against it, and the run's CPU roofline carries a measured read bandwidth;
  - the roofline's read case is ok and checked.
Exit 77 (skipped) where this bench was built without the embedded interpreter: then the anchors are skipped with
that reason, which the check verifies instead.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ANCHORS = ["torch_compiled_bf16", "torch_int4_weight", "torch_int8_weight", "torch_int8_dynamic", "torch_fp8_scaled_mm"]
FILTER = "matmul/(" + "|".join(ANCHORS) + ")/|roofline/cpu_loop/ceiling=read/"


def talklab(entry):
    return entry["talklab"]


def check(doc):
    problems = []
    entries = [e for e in doc["benchmarks"] if "talklab" in e]
    anchors = [e for e in entries if talklab(e)["experiment"] == "matmul"]
    seen = {talklab(e)["implementation"] for e in anchors}
    for name in ANCHORS:
        if name not in seen:
            problems.append(f"no case of {name} ran")
    for e in anchors:
        t = talklab(e)
        name = e["name"]
        if t["status"] != "ok":
            problems.append(f"{name}: status {t['status']}: {t['reason']}")
            continue
        acc = t["accuracy"] or {}
        if not acc.get("passed"):
            problems.append(f"{name}: failed the float64 gate: {acc}")
        if not isinstance(acc.get("sqnr_db"), (int, float)):
            problems.append(f"{name}: no SQNR recorded")
        for counter in ("compile_s", "prepare_s"):
            if not isinstance(t["counters"].get(counter), (int, float)) or t["counters"][counter] <= 0:
                problems.append(f"{name}: counter {counter} missing or not positive: {t['counters'].get(counter)}")
        if not t["labels"].get("inductor_cache_dir"):
            problems.append(f"{name}: the Inductor cache directory is not recorded: {t['labels']}")
        if t["implementation"] == "torch_compiled_bf16" and not t["labels"].get("inductor_gemm"):
            problems.append(f"{name}: no inductor_gemm label: {t['labels']}")
        if t["params"]["M"] == 1 and t["device"] == "cpu":
            if t["work"].get("bandwidth") != "read":
                problems.append(f"{name}: M = 1 but bound by {t['work'].get('bandwidth')!r}, not the read stream")
            if t["work"]["peak"] in doc["context"]["talklab"]["roofline"]["cpu"]["peak_ops_per_s"]:
                if not isinstance((t["rates"] or {}).get("roofline_fraction"), (int, float)):
                    problems.append(f"{name}: no roofline fraction against the read stream")
    reads = [e for e in entries if talklab(e)["experiment"] == "roofline"]
    if len(reads) != 1 or talklab(reads[0])["status"] != "ok" or not talklab(reads[0])["accuracy"]["passed"]:
        problems.append(f"the roofline's read case did not run and pass: {[talklab(e)['status'] for e in reads]}")
    cpu = doc["context"]["talklab"]["roofline"]["cpu"]
    if not cpu.get("read_bandwidth_bytes_per_s", 0) > 0 or "read" not in cpu.get("spread", {}):
        problems.append(f"the CPU roofline has no read bandwidth: {sorted(cpu)}")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    parser.add_argument("--keep", help="write the result file here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp) / "matmul-anchors.json"
        cmd = [args.bench, "run", "--profile", "quick", "--device", "cpu", "--filter", FILTER, "--max-time", "0.2",
               "--out", str(out)]
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(run.stdout[-6000:])
        if run.returncode != 0:
            print(f"bench exited {run.returncode}", file=sys.stderr)
            return 1
        doc = json.loads(out.read_text())
        skipped = [talklab(e) for e in doc["benchmarks"] if talklab(e)["experiment"] == "matmul"
                   and talklab(e)["status"] == "skipped" and "embeddable libpython" in talklab(e)["reason"]]
        if skipped and len(skipped) == len([e for e in doc["benchmarks"] if talklab(e)["experiment"] == "matmul"]):
            print(f"this bench has no embedded interpreter: {skipped[0]['reason']}")
            return 77
        problems = check(doc)
        for p in problems:
            print("FAIL:", p, file=sys.stderr)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
