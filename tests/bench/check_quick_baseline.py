#!/usr/bin/env python3
"""scripts/quick_baseline.py, which .ci/run asks for the quick baseline of the machine's ISA path: on the committed
baselines (each a different ISA, one seed) and on result files made here from their contexts (an ISA of neither,
another seed, a file without the field, a file that is not JSON)."""
import copy
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PICK = os.path.join(ROOT, "scripts", "quick_baseline.py")
BASES = [os.path.join(ROOT, "results", "cpu-quick.json"), os.path.join(ROOT, "results", "cpu-quick-avx2.json")]


def pick(*paths):
    r = subprocess.run([sys.executable, PICK, *paths], capture_output=True, text=True)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def expect(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    contexts = []
    for path in BASES:
        with open(path) as f:
            contexts.append(json.load(f)["context"])
    isas = [c["talklab"]["cpu"]["isa"] for c in contexts]
    expect(isas == ["avx512", "avx2"], f"the committed baselines' ISAs are {isas}, not avx512 then avx2")
    expect(contexts[0]["talklab"]["seed"] == contexts[1]["talklab"]["seed"], "the committed baselines' seeds differ")

    with tempfile.TemporaryDirectory() as tmp:
        def new_file(name, context):
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                json.dump({"context": context, "benchmarks": []}, f)
            return path

        # A run on each path gets its own baseline, whichever order they are named in.
        for context, base in zip(contexts, BASES):
            new = new_file("new.json", context)
            for order in (BASES, BASES[::-1]):
                rc, out, err = pick(new, *order)
                expect(rc == 0 and out == base, f"{context['talklab']['cpu']['isa']} run: got {rc} {out!r} {err!r}")

        # An ISA no baseline has: the first one named.
        scalar = copy.deepcopy(contexts[1])
        scalar["talklab"]["cpu"]["isa"] = "scalar"
        rc, out, err = pick(new_file("scalar.json", scalar), *BASES)
        expect(rc == 0 and out == BASES[0], f"scalar run: got {rc} {out!r} {err!r}")

        # Another seed: refused, naming the baseline, its seed and the run's.
        other = copy.deepcopy(contexts[1])
        other["talklab"]["seed"] = contexts[1]["talklab"]["seed"] + 1
        rc, out, err = pick(new_file("seed.json", other), *BASES)
        expect(rc == 2 and out == "" and BASES[0] in err and "seed" in err, f"other seed: got {rc} {out!r} {err!r}")

        # No ISA recorded, and not JSON: refused, naming the file and the field.
        bare = copy.deepcopy(contexts[1])
        del bare["talklab"]["cpu"]["isa"]
        bare_path = new_file("bare.json", bare)
        rc, out, err = pick(bare_path, *BASES)
        expect(rc == 2 and bare_path in err and "context.talklab.cpu.isa" in err, f"no isa: got {rc} {out!r} {err!r}")
        junk = os.path.join(tmp, "junk.json")
        with open(junk, "w") as f:
            f.write("{not json")
        rc, out, err = pick(junk, *BASES)
        expect(rc == 2 and junk in err, f"not JSON: got {rc} {out!r} {err!r}")
    print("quick_baseline: ok")


if __name__ == "__main__":
    main()
