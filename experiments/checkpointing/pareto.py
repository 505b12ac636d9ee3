#!/usr/bin/env python3
"""The checkpointing experiment's tables, generated from a bench result file (never typed by hand).

    experiments/checkpointing/pareto.py RESULT.json [--noise 0.03]

Prints Markdown: the fixed policies against save_all and autograd, the budget sweep of both solvers, and
the issue's claims checked on the figures (times compared with an allowance of --noise, the profile's
sampling target, since a median moves by that much between runs).
"""
import argparse
import json
import sys
from collections import defaultdict

MIB = 1024.0 * 1024.0


def load(path):
    with open(path) as f:
        data = json.load(f)
    cases = defaultdict(dict)  # shape key -> {(implementation, budget): entry}
    for b in data["benchmarks"]:
        t = b.get("talklab", {})
        if t.get("experiment") != "checkpointing" or t.get("status") != "ok":
            continue
        p = dict(t["params"])
        budget = p.pop("budget")
        key = "/".join([f"{k}={v}" for k, v in p.items()] + [f"device={t.get('device', 'cpu')}"])
        c = t.get("counters", {})
        cases[key][(t["implementation"], round(budget, 4))] = {
            "time": t["time"]["median_s"],
            "peak": t["memory"]["peak_bytes"],
            "step_peak": c.get("measured_step_peak_bytes"),
            "predicted": c.get("predicted_step_peak_bytes"),
            "kept": c.get("measured_saved_bytes"),
            "recompute_s": c.get("recompute_s", 0.0),
            "err": t["accuracy"]["max_rel_error"],
        }
    return cases


def mib(x):
    return "-" if x is None else f"{x / MIB:.1f}"


def fixed_table(rows):
    base = rows.get(("save_all", 1.0))
    out = ["| policy | step time (s) | x save_all | step peak (MiB) | predicted (MiB) | kept for backward (MiB) "
           "| kept cut | peak cut | recompute (ms, measured costs) | grad error |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ["autograd", "save_all", "full", "every_k", "sqrt_n", "selective"]:
        r = rows.get((name, 1.0))
        if r is None:
            continue
        ratio = r["time"] / base["time"] if base else float("nan")
        kept_cut = 1 - r["kept"] / base["kept"] if base and r["kept"] else float("nan")
        peak_cut = 1 - r["step_peak"] / base["step_peak"] if base and r["step_peak"] else float("nan")
        out.append(f"| {name} | {r['time']:.3f} | {ratio:.2f} | {mib(r['step_peak'])} | {mib(r['predicted'])} | "
                   f"{mib(r['kept'])} | {kept_cut:.0%} | {peak_cut:.0%} | {1e3 * r['recompute_s']:.1f} | {r['err']:.1e} |")
    return out


def sweep_table(rows):
    solvers = [s for s in ["knapsack", "knapsack_greedy", "exact", "exact_matched"] if any(i == s for i, _ in rows)]
    budgets = sorted({b for (impl, b) in rows if impl in solvers})
    out = ["Each cell: measured step peak (MiB) / measured step time (s) / recompute (ms, measured op costs).", "",
           "| b | " + " | ".join(solvers) + " |", "|---|" + "---|" * len(solvers)]
    for b in budgets:
        cells = []
        for s in solvers:
            r = rows.get((s, b))
            cells.append(f"{mib(r['step_peak'])} / {r['time']:.3f} / {1e3 * r['recompute_s']:.1f}" if r else "-")
        out.append(f"| {b:g} | " + " | ".join(cells) + " |")
    return out


def claims(rows, noise):
    out = []
    get = rows.get
    ag, sa, sel, full = get(("autograd", 1.0)), get(("save_all", 1.0)), get(("selective", 1.0)), get(("full", 1.0))
    if ag and sa:
        d = abs(sa["step_peak"] - ag["step_peak"]) / ag["step_peak"]
        dt = abs(sa["peak"] - ag["peak"]) / ag["peak"]
        out.append(f"- save_all's measured step peak vs autograd's: {d:.1%} apart (whole case: {dt:.1%}) "
                   f"-> {'holds' if max(d, dt) <= 0.05 else 'FAILS'} (<= 5%)")
    worst = max((abs(r["predicted"] - r["step_peak"]) / r["step_peak"] for r in rows.values() if r["predicted"]),
                default=0.0)
    out.append(f"- predicted vs measured step peak, worst over every case: {worst:.2%} -> "
               f"{'holds' if worst <= 0.05 else 'FAILS'} (<= 5%)")
    if sa and sel:
        kept_cut = 1 - sel["kept"] / sa["kept"]
        peak_cut = 1 - sel["step_peak"] / sa["step_peak"]
        slow = sel["time"] / sa["time"] - 1
        out.append(f"- selective: activations kept for backward cut {kept_cut:.0%}, step peak cut {peak_cut:.0%}, "
                   f"step time {slow:+.1%} -> {'holds' if kept_cut >= 0.4 and slow <= 0.10 else 'FAILS'} "
                   f"(>= 40%, <= +10%; the step peak cut {'also holds' if peak_cut >= 0.4 else 'is below 40%'})")
    if sa and full:
        ratio = full["time"] / sa["time"]
        out.append(f"- full: {ratio:.2f}x save_all's step time -> {'holds' if ratio <= 1.45 else 'FAILS'} (<= 1.45x)")
    exact = sorted((b, r) for (impl, b), r in rows.items() if impl == "exact")
    peaks = [r["step_peak"] for _, r in exact]
    mono = all(a <= b for a, b in zip(peaks, peaks[1:]))
    out.append(f"- exact's measured step peak monotone in b over {len(peaks)} budgets -> {'holds' if mono else 'FAILS'}")
    bad_point, bad_pareto = [], []
    for (impl, b), k in rows.items():
        if impl != "knapsack":
            continue
        m = get(("exact_matched", b))
        if m and not (m["step_peak"] <= k["step_peak"] and m["time"] <= k["time"] * (1 + noise)):
            bad_point.append(b)
        dominated = any(r["step_peak"] <= k["step_peak"] and r["time"] <= k["time"] * (1 + noise)
                        for (i2, _), r in rows.items() if i2 in ("exact", "exact_matched"))
        if not dominated:
            bad_pareto.append(b)
    out.append(f"- at every b, exact under knapsack's peak: no more measured peak and no more time (+{noise:.0%}) "
               f"-> {'holds' if not bad_point else 'FAILS at b = ' + ', '.join(f'{b:g}' for b in sorted(bad_point))}")
    out.append(f"- every knapsack point dominated by an exact point -> "
               f"{'holds' if not bad_pareto else 'FAILS at b = ' + ', '.join(f'{b:g}' for b in sorted(bad_pareto))}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result")
    ap.add_argument("--noise", type=float, default=0.03)
    args = ap.parse_args()
    cases = load(args.result)
    if not cases:
        sys.exit(f"{args.result}: no checkpointing cases that passed")
    for key, rows in cases.items():
        print(f"### {key}\n")
        print("\n".join(fixed_table(rows)) + "\n")
        print("\n".join(sweep_table(rows)) + "\n")
        print("\n".join(claims(rows, args.noise)) + "\n")


if __name__ == "__main__":
    main()
