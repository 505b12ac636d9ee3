#!/usr/bin/env python3
"""Print which committed quick-profile baseline a new result file is compared with: the one whose run took the same
ISA path (context.talklab.cpu.isa), else the first one named. Exit 2, naming the file and field, when a file cannot
be read or its seed differs from the new run's (the errors compared would come from other inputs).

    scripts/quick_baseline.py NEW BASELINE [BASELINE ...]
"""
import json
import sys


def field(path, doc, *keys):
    node = doc
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            print(f"quick_baseline: {path}: no field {'.'.join(keys)}", file=sys.stderr)
            sys.exit(2)
        node = node[k]
    return node


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"quick_baseline: {path}: cannot read a result file: {e}", file=sys.stderr)
        sys.exit(2)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    new_path, bases = argv[1], argv[2:]
    new = load(new_path)
    isa = field(new_path, new, "context", "talklab", "cpu", "isa")
    seed = field(new_path, new, "context", "talklab", "seed")
    chosen = bases[0]
    for path in bases:
        doc = load(path)
        base_seed = field(path, doc, "context", "talklab", "seed")
        if base_seed != seed:
            print(f"quick_baseline: {path}: seed {base_seed}, but {new_path} ran with seed {seed}", file=sys.stderr)
            return 2
        if field(path, doc, "context", "talklab", "cpu", "isa") == isa:
            chosen = path
            break
    print(chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
