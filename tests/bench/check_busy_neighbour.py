"""A busy neighbour does not move the medians: bench marks what it disturbed and re-runs it.

    check_busy_neighbour.py --bench BIN [--filter REGEX] [--limit 1.5]

Runs a few small quick cases three times with 2 threads and the same seed: on the quiet machine, beside a
process that spins on one of the two CPUs (pinned there, started and stopped by this script, killed on any way
out), and on the quiet machine again. A busy-looping neighbour on one core used to turn 2-70 us cases into 8 or 16 ms medians, unflagged. Now:
- the busy run must have seen it: every case has preempted samples dropped, or was disturbed and re-run;
- its final medians are within --limit of a quiet run's, case by case (a case still disturbed after its
  re-runs may miss it only if its result says so). Two quiet runs, because two quiet processes alone differ:
  on the 2-vCPU guest LibTorch's M=17 product measured 70.8, 86.3, 75.2 and 113 us in four quiet processes
  (each process at one speed; docs/results.md, OpenMP's wait policy), so one quiet reference would make the
  test fail on the machine's own variation rather than on the neighbour;
- the busy run warned at its start and recorded the busy machine in its context.
Exit 0 when all hold, 1 naming each case and figure that does not, 2 when bench itself fails.

The test is bounded: each run has --max-time 0.5 per case, the neighbour lives only during the busy run.
CTest runs it alone (RUN_SERIAL): other tests running beside the quiet run would make it the busy one.
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Sub-microsecond to 100 us cases: LibTorch's products on our 2 OpenMP threads and our block-mask builders.
DEFAULT_FILTER = r"matmul/torch_fp32/M=(1|17)/|attention/(blockmask_closed|flash_cpu)/mask=(causal|sliding_window)/seq=257/"

SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def run(bench, out, filter_, extra_env=None):
    cmd = [bench, "run", "--profile", "quick", "--device", "cpu", "--threads", "2", "--seed", "11", "--filter", filter_,
           "--max-time", "0.5", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(extra_env or {})}, timeout=600)
    if proc.returncode != 0:
        print(f"check_busy_neighbour: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        sys.exit(2)
    return json.loads(out.read_text()), proc.stdout + proc.stderr


def timed(doc):
    return {e["name"]: e["talklab"]["time"] for e in doc["benchmarks"] if e["talklab"]["status"] == "ok"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--filter", default=DEFAULT_FILTER)
    ap.add_argument("--limit", type=float, default=1.5)
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("check_busy_neighbour: needs 2 CPUs to put a neighbour on one of them")
        return 77

    with tempfile.TemporaryDirectory() as tmp:
        quiet_before, _ = run(args.bench, Path(tmp) / "quiet1.json", args.filter)
        neighbour = subprocess.Popen([sys.executable, "-c", SPIN, str(cpus[-1])])
        try:
            busy_doc, busy_out = run(args.bench, Path(tmp) / "busy.json", args.filter)
        finally:
            neighbour.kill()
            neighbour.wait()
        quiet_after, _ = run(args.bench, Path(tmp) / "quiet2.json", args.filter)

    quiets, busy = [timed(quiet_before), timed(quiet_after)], timed(busy_doc)
    problems = []
    if len(busy) < 4 or any(set(q) != set(busy) for q in quiets):
        problems.append(f"the runs timed different cases or too few: {[sorted(q) for q in quiets]}, busy {sorted(busy)}")
    state = busy_doc["context"]["talklab"]["machine_state"]
    if not state["busy"] or "this machine is busy" not in busy_out:
        problems.append(f"the busy run did not warn or record a busy machine: {state}")
    if not re.search(r"(No case was disturbed|\d+ cases? (was|were) disturbed, \d+ re-run)", busy_out):
        problems.append("the busy run's final line does not count disturbed cases")
    seen = 0
    for name in sorted(busy):
        b = busy[name]
        marked = b["dropped_samples"] > 0 or b["attempts"] or b["disturbed"]
        seen += bool(marked)
        quiet_medians = [q[name]["median_s"] for q in quiets if name in q]
        if not quiet_medians:
            continue
        # The quiet run nearest to the busy one: how far the neighbour moved the median at least.
        ratio = min((b["median_s"] / m for m in quiet_medians), key=lambda r: abs(math.log(r)))
        quiet_text = " and ".join(f"{m * 1e6:.2f}" for m in quiet_medians)
        line = (f"{name}: quiet {quiet_text} us, busy {b['median_s'] * 1e6:.2f} us ({ratio:.2f}x); "
                f"busy run dropped {b['dropped_samples']} of {len(b['samples_s'])} samples, "
                f"{len(b['attempts'])} earlier attempts, disturbed {b['disturbed']}; "
                f"every sample's median {statistics.median(b['samples_s']) * 1e6:.2f} us")
        print(line)
        if not (1 / args.limit <= ratio <= args.limit) and not b["disturbed"]:
            problems.append(f"{line}: beyond {args.limit}x and not flagged")
    # The neighbour takes one of our two cores for ticks at a time: a run that noticed it nowhere did not look.
    if seen == 0:
        problems.append(f"none of the {len(busy)} cases noticed the neighbour (dropped samples or re-runs)")
    for p in problems:
        print(f"check_busy_neighbour: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
