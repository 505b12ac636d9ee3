"""A running bench maps one OpenMP runtime, LibTorch's own.

    check_openmp_runtime.py --bench BIN --expect PATH

Starts `bench run` on a case whose OpenMP threads (ours) and LibTorch's both work, reads /proc/PID/maps while it
runs, and requires exactly one OpenMP runtime (libgomp, libiomp5, libomp) mapped: PATH, the one libtorch_cpu.so
loads (CMake's TALKLAB_OPENMP_RUNTIME). The result file's context must say the same (context.talklab.openmp.runtimes).

So that the check cannot pass vacuously, it then runs bench with the compiler's libgomp preloaded, which the
loader then hands to LibTorch as well: one runtime, but not LibTorch's own. The check must reject that run.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNTIME = re.compile(r"^lib(gomp|iomp5|omp)([-.].*)?\.so(\..*)?$")
# roofline's fp32 loop runs on our OpenMP threads; attention's torch_sdpa on LibTorch's.
FILTER = "roofline/cpu_loop/ceiling=fp32_fma/cores=all|attention/torch_sdpa/.*seq=257"


def runtimes_of(pid):
    found = set()
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            path = line[line.find("/"):] if "/" in line else ""
            if path and RUNTIME.match(os.path.basename(path)):
                found.add(path)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def observe(bench, out, env):
    """Runs bench, sampling its maps every 20 ms; returns (exit code, runtimes seen, output)."""
    cmd = [bench, "run", "--profile", "quick", "--device", "cpu", "--threads", "2", "--filter", FILTER,
           "--max-time", "0.3", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen = set()
    while proc.poll() is None:
        seen |= runtimes_of(proc.pid)
        time.sleep(0.02)
    return proc.returncode, seen, proc.stdout.read()


def verdict(seen, expect):
    real = {os.path.realpath(p) for p in seen}
    if len(real) != 1:
        return f"{len(real)} OpenMP runtimes mapped: {sorted(real)}"
    if real != {os.path.realpath(expect)}:
        return f"the OpenMP runtime mapped is {real.pop()}, not LibTorch's {expect}"
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--expect", required=True, help="LibTorch's OpenMP runtime")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        code, seen, output = observe(args.bench, out, dict(os.environ))
        if code != 0:
            sys.exit(f"bench exited {code}:\n{output}")
        problem = verdict(seen, args.expect)
        if problem:
            sys.exit(f"FAIL: {problem}")
        recorded = json.loads(out.read_text())["context"]["talklab"]["openmp"]["runtimes"]
        if {os.path.realpath(p) for p in recorded} != {os.path.realpath(p) for p in seen}:
            sys.exit(f"FAIL: the context records {recorded}, /proc/PID/maps showed {sorted(seen)}")
        print(f"ok: one OpenMP runtime, LibTorch's: {seen.pop()}")

        other = subprocess.run(["g++", "-print-file-name=libgomp.so"], capture_output=True, text=True).stdout.strip()
        if not os.path.isabs(other) or os.path.realpath(other) == os.path.realpath(args.expect):
            print("note: no second libgomp to plant here; the negative check did not run")
            return
        env = dict(os.environ, LD_PRELOAD=other)
        code, seen, output = observe(args.bench, Path(tmp) / "planted.json", env)
        if not verdict(seen, args.expect):
            sys.exit(f"FAIL: the check accepted a run with {other} preloaded (saw {sorted(seen)}, exit {code})")
        print(f"ok: with {other} preloaded the check objects: {verdict(seen, args.expect)}")


if __name__ == "__main__":
    main()
