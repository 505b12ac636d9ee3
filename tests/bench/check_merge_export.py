"""bench merge and bench export on real runs, and Google Benchmark's own compare.py on our files.

    check_merge_export.py --bench BIN --compare-py /usr/share/benchmark/compare.py

Runs a small quick selection in two shards and once whole (same seed), then checks:
- bench merge of the shards holds exactly the single run's cases, once each, and --expect-complete passes;
- a missing shard under --expect-complete exits 1 naming the shard and the cases, and leaves --out as it was;
- a truncated shard, a file of another schema version, and --out naming an input exit 2 naming the file, and leave
  --out as it was;
- bench export writes github-action-benchmark's two files: a time and a peak-memory series per case (smaller is
  better), a rate per timed case that declares work (bigger is better), with stable names;
- compare.py (Debian's libbenchmark-tools) reads the single run and the merged file and prints every case.
Exit 0 when all hold, 1 naming what does not.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SELECTION = ["--profile", "quick", "--device", "cpu", "--threads", "1", "--seed", "3", "--max-time", "0.05",
             "--filter", r"matmul/torch_fp32/M=1/|attention/blockmask_closed/mask=causal/|roofline/.*ceiling=fp32"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--compare-py", required=True)
    args = ap.parse_args()
    problems = []

    def bench(*argv, expect=0):
        proc = subprocess.run([args.bench, *argv], capture_output=True, text=True, timeout=600)
        if proc.returncode != expect:
            problems.append(f"bench {' '.join(argv)} exited {proc.returncode}, not {expect}:\n{proc.stdout}{proc.stderr}")
        return proc

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        bench("run", *SELECTION, "--out", str(t / "single.json"))
        for i in range(2):
            bench("run", *SELECTION, "--shard", f"{i}/2", "--out", str(t / f"s{i}.json"))
        single = [e["name"] for e in json.loads((t / "single.json").read_text())["benchmarks"]]
        shards = [json.loads((t / f"s{i}.json").read_text()) for i in range(2)]
        if any(not s["benchmarks"] for s in shards):
            problems.append("a shard of the selection is empty: the selection is too small to test merging")

        bench("merge", str(t / "s0.json"), str(t / "s1.json"), "--out", str(t / "merged.json"), "--expect-complete")
        merged = json.loads((t / "merged.json").read_text())
        names = [e["name"] for e in merged["benchmarks"]]
        if sorted(names) != sorted(single) or len(set(names)) != len(names):
            problems.append(f"merged cases {names} are not the single run's {single}, once each")

        # Failures leave --out as it was.
        keep = t / "keep.json"
        keep.write_text("previous contents\n")
        missing = bench("merge", str(t / "s0.json"), "--out", str(keep), "--expect-complete", expect=1)
        lost = [e["name"] for e in shards[1]["benchmarks"]]
        if "shard 1 of 2 (no file)" not in missing.stderr or any(n not in missing.stderr for n in lost):
            problems.append(f"an incomplete merge did not name shard 1 and its cases {lost}: {missing.stderr}")
        text = (t / "s1.json").read_text()
        (t / "cut.json").write_text(text[: len(text) * 2 // 3])
        cut = bench("merge", str(t / "s0.json"), str(t / "cut.json"), "--out", str(keep), expect=2)
        if "cut.json" not in cut.stderr or "truncated" not in cut.stderr:
            problems.append(f"a truncated shard was not named: {cut.stderr}")
        other = json.loads(text)
        other["context"]["talklab"]["schema_version"] = 2
        (t / "v2.json").write_text(json.dumps(other))
        v2 = bench("merge", str(t / "s0.json"), str(t / "v2.json"), "--out", str(keep), expect=2)
        if "v2.json: schema_version 2" not in v2.stderr:
            problems.append(f"a file of another schema version was not named: {v2.stderr}")
        same = bench("merge", str(t / "s0.json"), str(t / "s1.json"), "--out", str(t / "s1.json"), expect=2)
        if "is one of the files to merge" not in same.stderr:
            problems.append(f"--out naming an input was not refused: {same.stderr}")
        if keep.read_text() != "previous contents\n":
            problems.append("a failed merge overwrote --out")
        if json.loads((t / "s1.json").read_text()) != shards[1]:
            problems.append("a refused merge changed an input file")

        bench("export", str(t / "merged.json"), "--smaller", str(t / "smaller.json"), "--bigger", str(t / "bigger.json"))
        smaller = json.loads((t / "smaller.json").read_text())
        bigger = json.loads((t / "bigger.json").read_text())
        timed = [e["name"] for e in merged["benchmarks"] if e["talklab"]["status"] == "ok"]
        series = {s["name"] for s in smaller}
        for name in timed:
            if name not in series or f"{name} (peak memory)" not in series:
                problems.append(f"export: {name} lacks its time or peak-memory series")
        if any(set(s) < {"name", "unit", "value"} or not isinstance(s["value"], (int, float)) for s in smaller + bigger):
            problems.append("export: an entry without name, unit and a numeric value")
        rates = {s["name"]: s["unit"] for s in bigger if not s["name"].endswith("(SQNR)")}
        working = [e["name"] for e in merged["benchmarks"] if e["talklab"]["status"] == "ok" and
                   (e["talklab"]["work"]["flops"] > 0 or e["talklab"]["work"]["bytes"] > 0)]
        if not working or sorted(rates) != sorted(working) or not set(rates.values()) <= {"TFLOP/s", "TOP/s", "GB/s"}:
            problems.append(f"export: rates {rates} for the timed cases that declare work {working}")

        compare = Path(args.compare_py)
        if not compare.exists():
            problems.append(f"{compare} is missing: Debian's libbenchmark-tools ships it (scripts/setup.sh installs it)")
        else:
            proc = subprocess.run([sys.executable, str(compare), "benchmarks", str(t / "single.json"),
                                   str(t / "merged.json")], capture_output=True, text=True, timeout=120)
            print(proc.stdout[-3000:])
            if proc.returncode != 0:
                problems.append(f"compare.py exited {proc.returncode}: {proc.stderr[-2000:]}")
            unread = [n for n in single if n not in proc.stdout]
            if unread:
                problems.append(f"compare.py did not print {unread}")
    for p in problems:
        print(f"check_merge_export: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
