"""The layers' include rule (cmake/talklab_layers.cmake): which top-level folder's sources may include which.

    check_layers.py ROOT [--allow FILE:INCLUDE]... [--stamp FILE]

Scans the C++ and CUDA sources under ROOT/kernels, harness, experiments and bench for #include lines and prints
one line per include across a forbidden edge, as FILE:LINE: LAYER/ may not include ... (#include "..."), then exits
1. An --allow edge (FILE:INCLUDE, both relative to ROOT) is tolerated; an --allow edge that no longer exists is an
error too, so the allow-list cannot outlive the edges it names. With --stamp, touches FILE when the tree passes.
"""
import argparse
import re
import sys
from pathlib import Path

SOURCES = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh", ".inl"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
TORCH = ("torch/", "ATen/", "c10/")
TOP_LEVEL = {"kernels", "harness", "experiments", "bench", "tests"}
# Per layer, the top-level folders (and "LibTorch") its sources may not include.
FORBIDDEN = {
    "kernels": {"harness", "experiments", "bench", "tests", "LibTorch"},
    "harness": {"kernels", "experiments", "bench", "tests"},
    "experiments": {"bench", "tests"},
    "bench": {"tests"},
}


def target_of(include, including_dir, root):
    """The top-level folder an include names, and its path from ROOT ("./" and "../" forms resolved)."""
    if include.startswith(TORCH):
        return "LibTorch", include
    first = include.split("/")[0]
    if first not in TOP_LEVEL and (including_dir / include).exists():
        try:
            include = (including_dir / include).resolve().relative_to(root).as_posix()
        except ValueError:
            return None, include  # outside the tree
    return include.split("/")[0], include


def violations(root):
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*")):
            if path.suffix not in SOURCES or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                folder, resolved = target_of(match.group(1), path.parent, root)
                edge = None
                if folder in forbidden:
                    edge = f"{layer}/ may not include {'LibTorch' if folder == 'LibTorch' else folder + '/'}"
                elif layer == "experiments" and folder == "experiments":
                    mine, theirs = rel.split("/")[1], resolved.split("/")[1] if "/" in resolved else ""
                    if theirs != mine:
                        edge = f"experiments/{mine}/ may not include another experiment (experiments/{theirs}/)"
                if edge:
                    yield rel, number, match.group(1), edge


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--allow", action="append", default=[], help="FILE:INCLUDE, relative to ROOT")
    parser.add_argument("--stamp", type=Path)
    args = parser.parse_args()
    root = args.root.resolve()
    allowed = set(args.allow)
    seen, errors = set(), []
    for rel, number, include, edge in violations(root):
        key = f"{rel}:{include}"
        if key in allowed:
            seen.add(key)
            continue
        errors.append(f'{rel}:{number}: {edge} (#include "{include}")')
    for stale in sorted(allowed - seen):
        errors.append(f"{stale}: allowed edge no longer exists: remove it from the allow-list")
    if errors:
        print("talklab layers: includes across a forbidden edge (cmake/talklab_layers.cmake):", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        sys.exit(1)
    if args.stamp:
        args.stamp.parent.mkdir(parents=True, exist_ok=True)
        args.stamp.touch()


if __name__ == "__main__":
    main()
