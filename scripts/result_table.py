#!/usr/bin/env python3
"""Prints a Markdown table of a talklab result file's cases, generated from the file (never typed):

    scripts/result_table.py FILE [--filter REGEX] [--counters name,name]

Columns: case (the axes that vary within the selection), status, median time, rate, roofline fraction,
peak memory, max relative error, and any counters asked for. Used for closing notes and docs until
`bench report` (issue 7) generates full reports.
"""
import argparse
import json
import re
import sys


def fmt_time(s):
    if s is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def fmt_bytes(b):
    if b is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b} B"


def rate(t):
    r = t.get("rates") or {}
    work = t["work"]
    if work["flops"] > 0 and r.get("tflops") is not None:
        unit = "TOP/s" if work["peak"] == "int8" else "TFLOP/s"
        return f"{r['tflops'] * 1000:.1f} G{unit[1:]}" if r["tflops"] < 1 else f"{r['tflops']:.2f} {unit}"
    if work["bytes"] > 0 and r.get("gbps") is not None:
        return f"{r['gbps']:.1f} GB/s"
    return "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--filter", default=".")
    ap.add_argument("--counters", default="")
    args = ap.parse_args()
    doc = json.load(open(args.file))
    rows = [b for b in doc["benchmarks"] if re.search(args.filter, b["name"])]
    if not rows:
        print("no case matches", file=sys.stderr)
        return 1
    # Show only the axes whose values vary within the selection, plus the implementation.
    keys = list(rows[0]["talklab"]["params"].keys())
    varying = [k for k in keys if len({str(r["talklab"]["params"].get(k)) for r in rows}) > 1]
    counters = [c for c in args.counters.split(",") if c]
    head = ["implementation"] + varying + ["status", "median", "rate", "roofline", "peak mem", "max rel err"] + counters
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for b in rows:
        t = b["talklab"]
        time = (t.get("time") or {}).get("median_s")
        frac = (t.get("rates") or {}).get("roofline_fraction")
        err = (t.get("accuracy") or {}).get("max_rel_error")
        cells = [t["implementation"]] + [str(t["params"][k]) for k in varying]
        cells += [t["status"] if t["status"] == "ok" else f"{t['status']}: {t['reason']}", fmt_time(time), rate(t),
                  "-" if frac is None else f"{frac:.0%}", fmt_bytes(t["memory"]["peak_bytes"]),
                  "-" if err is None else f"{err:.1e}"]
        for c in counters:
            v = t["counters"].get(c)
            cells.append("-" if v is None else (fmt_time(v) if c.endswith("_s") else f"{v:.4g}"))
        print("| " + " | ".join(cells) + " |")
    ctx = doc["context"]["talklab"]
    roof = (ctx.get("roofline") or {}).get("cpu") or {}
    peaks = ", ".join(f"{k} {v / 1e9:.0f} G/s" for k, v in sorted((roof.get("peak_ops_per_s") or {}).items()))
    print(f"\n{doc['context']['host_name']}: {ctx['cpu']['model']}, {ctx['threads']} threads, LibTorch "
          f"{ctx['versions']['libtorch']}, profile {ctx['profile']}, commit {ctx['git']['commit'][:10]}"
          f"{' (dirty)' if ctx['git']['dirty'] else ''}; roofline: {peaks}, copy "
          f"{(roof.get('bandwidth_bytes_per_s') or 0) / 1e9:.1f} GB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
