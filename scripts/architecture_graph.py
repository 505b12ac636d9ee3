#!/usr/bin/env python3
"""Draws talklab's targets, the folders that hold them and their link edges, from a configured build.

  scripts/architecture_graph.py BUILD_DIR                write docs/architecture.svg and the edge list in
                                                         docs/architecture.md (between the graph markers)
  scripts/architecture_graph.py BUILD_DIR --check        exit 1, naming what differs, when the committed
                                                         picture is not what this build says

The picture comes from the build, not from a drawing: CMake's file API (codemodel v2) lists every target, the
folder whose CMakeLists.txt declares it and the targets it depends on, through others too (the picture keeps an
edge only where no other dependency already leads there). The top-level CMakeLists.txt asks for that answer at
every configure; a build folder configured before it did is configured again (no compilation). Targets under tests/ and CMake's own utility targets
are left out; so are external libraries (LibTorch, Google Benchmark, CUDA), which every layer may use as
docs/architecture.md says.

Each layer is a row, from bench at the top to kernels at the bottom; an edge goes down. An edge the layer rule
forbids (cmake/check_layers.py's table) is drawn red and listed: the layer check (cmake/talklab_layers.cmake)
would already have stopped the configure, so a red edge here means the check and this script disagree.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cmake"))
from check_layers import FORBIDDEN  # noqa: E402  (per layer, the folders it may not use)
LAYERS = ["bench", "experiments", "harness", "kernels"]  # the picture's rows, top to bottom
BEGIN, END = "<!-- architecture-graph:begin -->", "<!-- architecture-graph:end -->"
CLIENT = "client-talklab-architecture"


def latest_reply(build: Path):
    reply = build / ".cmake" / "api" / "v1" / "reply"
    indexes = sorted(reply.glob("index-*.json"), key=lambda p: p.stat().st_mtime)
    if not indexes:
        return reply, None
    answered = json.loads(indexes[-1].read_text())["reply"].get(CLIENT, {}).get("query.json")
    return reply, answered


def codemodel(build: Path):
    """The top-level CMakeLists.txt places the query at every configure, so a configured build already holds the
    answer; an older build folder is configured again once to get it."""
    reply, answered = latest_reply(build)
    if answered is None:
        query = build / ".cmake" / "api" / "v1" / "query" / CLIENT / "query.json"
        query.parent.mkdir(parents=True, exist_ok=True)
        query.write_text(json.dumps({"requests": [{"kind": "codemodel", "version": 2}]}))
        done = subprocess.run(["cmake", str(build)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"architecture_graph: cmake {build} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        reply, answered = latest_reply(build)
    responses = answered["responses"]
    model = json.loads((reply / next(r["jsonFile"] for r in responses if r["kind"] == "codemodel")).read_text())
    return reply, model


def targets_of(build: Path):
    """name -> (folder, type, [names it depends on]) for the project's own targets outside tests/."""
    reply, model = codemodel(build)
    config = model["configurations"][0]
    by_id, raw = {}, []
    for t in config["targets"]:
        detail = json.loads((reply / t["jsonFile"]).read_text())
        by_id[detail["id"]] = detail["name"]
        raw.append(detail)
    out = {}
    for d in raw:
        folder = d["paths"]["source"]
        layer = folder.split("/")[0]
        if d["type"] == "UTILITY" or layer not in LAYERS:
            continue
        deps = sorted({by_id[x["id"]] for x in d.get("dependencies", []) if x["id"] in by_id})
        out[d["name"]] = (folder, d["type"], deps)
    return reduce({n: (f, t, [x for x in deps if x in out]) for n, (f, t, deps) in out.items()})


def reduce(targets):
    """CMake lists every target a target ends up linking, through others too; keep an edge a -> c only when no
    other dependency b of a already reaches c, so the picture shows who uses whom directly."""
    def reach(name, seen):
        for d in targets[name][2]:
            if d not in seen:
                seen.add(d)
                reach(d, seen)
        return seen
    out = {}
    for n, (f, t, deps) in targets.items():
        via = set().union(*(reach(d, set()) for d in deps)) if deps else set()
        out[n] = (f, t, [d for d in deps if d not in via])
    return out


def layer_of(folder: str) -> int:
    return LAYERS.index(folder.split("/")[0])


def allowed(src_folder: str, dst_folder: str) -> bool:
    """The layer rule is the include check's own table (cmake/check_layers.py), read, not restated."""
    a, b = src_folder.split("/")[0], dst_folder.split("/")[0]
    if a == b == "experiments":
        return False  # experiments never use each other (check_layers.py's own special case)
    return b not in FORBIDDEN[a]


def edge_list(targets) -> str:
    lines = ["| target | folder | kind | links (our targets) |", "|---|---|---|---|"]
    for name in sorted(targets, key=lambda n: (layer_of(targets[n][0]), targets[n][0], n)):
        folder, kind, deps = targets[name]
        links = ", ".join(f"`{d}`" + ("" if allowed(folder, targets[d][0]) else " (forbidden)") for d in deps)
        lines.append(f"| `{name}` | {folder}/ | {kind.lower().replace('_', ' ')} | {links or '—'} |")
    return "\n".join(lines) + "\n"


def svg(targets) -> str:
    longest = max(len(f"{n} ({t[1]})") for n, t in targets.items())
    box_w, box_h, gap_x, row_h, left = 40 + 6 * longest, 46, 24, 110, 120
    rows = {i: sorted((n for n in targets if layer_of(targets[n][0]) == i), key=lambda n: (targets[n][0], n))
            for i in range(len(LAYERS))}
    widest = max(len(r) for r in rows.values())
    width = left + widest * (box_w + gap_x) + gap_x
    height = len(LAYERS) * row_h + 20
    pos = {}
    for i, names in rows.items():
        indent = (widest - len(names)) * (box_w + gap_x) / 2  # each row centred under the widest
        for j, n in enumerate(names):
            pos[n] = (left + gap_x + indent + j * (box_w + gap_x), 20 + i * row_h)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for i, layer in enumerate(LAYERS):
        y = 20 + i * row_h
        out.append(f'<text x="10" y="{y + box_h / 2 + 4}" font-weight="bold">{layer}/</text>')
    for src in sorted(targets):
        for dst in targets[src][2]:
            (x1, y1), (x2, y2) = pos[src], pos[dst]
            ok = allowed(targets[src][0], targets[dst][0])
            colour = "#555" if ok else "#d00"
            if y1 == y2:  # same row: an arc above the boxes
                a, b = sorted((x1, x2))
                out.append(f'<path d="M{x1 + box_w / 2},{y1} C{x1 + box_w / 2},{y1 - 18} {x2 + box_w / 2},{y2 - 18} '
                           f'{x2 + box_w / 2},{y2}" fill="none" stroke="{colour}" marker-end="url(#arrow)"/>')
            else:  # down, through the gaps of the rows it crosses, so it never seems to leave a box it skips
                points = [(x1 + box_w / 2, y1 + box_h)]
                r1, r2 = layer_of(targets[src][0]), layer_of(targets[dst][0])
                for r in range(r1 + 1, r2):
                    top = 20 + r * row_h
                    along = x1 + (x2 - x1) * (r - r1) / (r2 - r1) + box_w / 2
                    xs = sorted(pos[n][0] for n in rows[r])
                    gaps = [xs[0] - gap_x / 2] + [x + box_w + gap_x / 2 for x in xs] if xs else [along]
                    gx = min(gaps, key=lambda g: abs(g - along))
                    points += [(gx, top - 8), (gx, top + box_h + 8)]
                points.append((x2 + box_w / 2, y2))
                d = " ".join(f"{'M' if i == 0 else 'L'}{x:g},{y:g}" for i, (x, y) in enumerate(points))
                out.append(f'<path d="{d}" fill="none" stroke="{colour}" marker-end="url(#arrow)"/>')
    for n, (x, y) in sorted(pos.items()):
        folder, kind, _ = targets[n]
        out.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="5" fill="#eef3fb" stroke="#3b6aa0"/>')
        out.append(f'<text x="{x + box_w / 2}" y="{y + 19}" text-anchor="middle">{escape(folder)}/</text>')
        out.append(f'<text x="{x + box_w / 2}" y="{y + 35}" text-anchor="middle" fill="#555" font-size="11">'
                   f'{escape(n)} ({kind.lower().split("_")[0]})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def with_edges(markdown: str, edges: str) -> str:
    if BEGIN not in markdown or END not in markdown:
        sys.exit(f"architecture_graph: docs/architecture.md lacks the markers {BEGIN} ... {END}")
    head, rest = markdown.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{edges}{END}{tail}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    targets = targets_of(args.build.resolve())
    bad = [f"{s} -> {d}" for s, (f, _, deps) in targets.items() for d in deps if not allowed(f, targets[d][0])]
    md_path, svg_path = args.docs / "architecture.md", args.docs / "architecture.svg"
    want_md = with_edges(md_path.read_text(), edge_list(targets))
    want_svg = svg(targets)
    if args.check:
        stale = [str(p) for p, want in ((md_path, want_md), (svg_path, want_svg))
                 if not p.exists() or p.read_text() != want]
        if stale:
            print(f"architecture_graph: {', '.join(stale)} differ from the build in {args.build}; regenerate with "
                  f"scripts/architecture_graph.py {args.build}", file=sys.stderr)
        if bad:
            print("architecture_graph: edges against the layers: " + "; ".join(bad), file=sys.stderr)
        return 1 if stale or bad else 0
    md_path.write_text(want_md)
    svg_path.write_text(want_svg)
    print(f"wrote {svg_path} and the edge list in {md_path} ({len(targets)} targets)")
    if bad:
        print("edges against the layers: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
