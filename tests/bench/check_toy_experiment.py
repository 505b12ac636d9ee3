#!/usr/bin/python3
"""A new experiment needs its own folder, its CMake registration and a profile; nothing in bench/ or harness/.

  check_toy_experiment.py --bench BENCH_TOY --fixture tests/bench/toy_experiment --talks configs/talks.toml

BENCH_TOY is bench's own main() linked with the fixture experiment only (tests/bench/CMakeLists.txt). The check
runs it on the fixture's profile, reports the file, and requires the talk page to open with the headline the
experiment declares (ours against PyTorch's at the largest n) and the chart it declares, drawn as an SVG; and that
no source under bench/ or harness/ names the experiment or its implementations.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXPERIMENT, OURS, THEIRS, TALK = "toy_sum", "sum_lanes", "torch_sum", "llm-training-hacks"


def run(cmd):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    parser.add_argument("--fixture", type=Path, required=True)
    parser.add_argument("--talks", type=Path, required=True)
    args = parser.parse_args()
    root = args.fixture.resolve().parents[2]
    problems = []

    for layer in ("bench", "harness"):
        for path in sorted((root / layer).rglob("*")):
            if path.is_file() and path.suffix in (".h", ".cpp", ".py", ".txt"):
                for name in (EXPERIMENT, OURS, THEIRS):
                    if name in path.read_text(errors="replace"):
                        problems.append(f"{path.relative_to(root)} names {name}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "configs"
        (config / "profiles").mkdir(parents=True)
        shutil.copy(args.talks, config / "talks.toml")
        shutil.copy(args.fixture / "profiles" / "toy.toml", config / "profiles" / "toy.toml")
        result = tmp / "toy.json"
        run([args.bench, "run", "--config-dir", config, "--profile", "toy", "--threads", "2", "--out", result])
        doc = json.loads(result.read_text())
        names = sorted(b["name"] for b in doc["benchmarks"])
        want = sorted(f"{EXPERIMENT}/{impl}/n={n}/device=cpu" for impl in (OURS, THEIRS) for n in (1001, 100003))
        if names != want:
            problems.append(f"the run holds {names}, not {want}")
        declared = doc["context"]["talklab"].get("experiments", {}).get(EXPERIMENT)
        if not declared:
            problems.append("context.talklab.experiments holds no declaration of the toy experiment")

        report = tmp / "report"
        run([args.bench, "report", result, "--config-dir", config, "--out", report])
        page = (report / f"{TALK}.md").read_text()
        headline = page.find("Headline")
        detail = page.find("## Results")
        if headline < 0 or (detail >= 0 and detail < headline):
            problems.append(f"{TALK}.md does not open with a headline before its detail")
        rows = [line for line in page.splitlines() if line.startswith("|") and OURS in line and THEIRS in line]
        if not any("n=100003" in r for r in rows):
            problems.append(f"no headline row compares {OURS} with {THEIRS} at n=100003: {rows}")
        images = re.findall(r"!\[Sum time against n\]\(([^)]+\.svg)\)", page)
        if not images:
            problems.append(f"{TALK}.md shows no picture of the declared chart 'Sum time against n'")
        for image in images:
            svg = report / image
            if not svg.exists() or "<svg" not in svg.read_text():
                problems.append(f"{image} is not an SVG the report wrote")
        if images and headline >= 0 and page.find(images[0]) < headline:
            problems.append("the declared chart comes before the headline")
        others = sorted(p.name for p in report.glob("*.md") if p.name not in ("index.md", f"{TALK}.md"))
        if others:
            problems.append(f"pages for talks the toy does not name: {others}")

    if problems:
        print("toy experiment:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"toy experiment: built, run ({len(names)} cases), reported with its headline and chart")
    return 0


if __name__ == "__main__":
    sys.exit(main())
