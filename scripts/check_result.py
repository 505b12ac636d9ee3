#!/usr/bin/python3
"""Validates talklab result files: against docs/result-schema.json, and for what Google Benchmark's
tools/compare.py reads (a benchmarks list whose entries carry name, run_name, run_type, real_time,
cpu_time, time_unit and the family/repetition indices, numbers where it computes).

    scripts/check_result.py FILE...                  validate files
    scripts/check_result.py --bench BIN -- ARGS...   run `BIN ARGS --out TMP` first, then validate TMP
    --no-failures  also fail if any case failed (skipped cases, with their reasons, are fine)

Uses Debian's python3-jsonschema (installed by scripts/setup.sh). Exit 0: valid; 1: invalid; 2: bad usage.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema

SCHEMA = pathlib.Path(__file__).resolve().parent.parent / "docs" / "result-schema.json"
COMPARE_FIELDS = {"name": str, "run_name": str, "run_type": str, "time_unit": str,
                  "real_time": (int, float), "cpu_time": (int, float), "family_index": int,
                  "per_family_instance_index": int, "repetition_index": int, "iterations": int}


def problems_in(path, no_failures):
    try:
        doc = json.loads(pathlib.Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        return [f"{path}: not readable JSON: {e}"]
    schema = json.loads(SCHEMA.read_text())
    out = [f"{path}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
           for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    units = set()
    for i, b in enumerate(doc.get("benchmarks", [])):
        for field, kind in COMPARE_FIELDS.items():
            if not isinstance(b.get(field), kind) or isinstance(b.get(field), bool):
                out.append(f"{path}: benchmarks[{i}].{field} is missing or not {kind}")
        units.add(b.get("time_unit"))
        if no_failures and b.get("talklab", {}).get("status") == "failed":
            out.append(f"{path}: {b.get('name')}: {b['talklab'].get('status')}: {b['talklab'].get('reason')}")
    if len(units) > 1:
        out.append(f"{path}: mixed time units {sorted(units)}: compare.py partitions need one")
    if not doc.get("benchmarks"):
        out.append(f"{path}: no benchmarks")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--bench")
    parser.add_argument("--no-failures", action="store_true")
    argv = sys.argv[1:]
    rest = []
    if "--" in argv:  # everything after -- goes to bench
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    files = list(args.files)
    if args.bench:
        tmp = pathlib.Path(tempfile.mkdtemp()) / "run.json"
        code = subprocess.call([args.bench, *rest, "--out", str(tmp)])
        if code == 2 or not tmp.exists():
            print(f"{args.bench} exited {code}", file=sys.stderr)
            return 1
        files.append(str(tmp))
    if not files:
        parser.print_usage(sys.stderr)
        return 2
    problems = [p for f in files for p in problems_in(f, args.no_failures)]
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"valid: {', '.join(files)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
