"""The layer check (cmake/talklab_layers.cmake) can fail, and the real tree passes it.

    check_layers.py SOURCE_DIR PYTHON [--allow FILE:INCLUDE]...

1. Configures tests/cmake/layers_fixture, a tree whose kernel includes harness/sampler.h (kernels/kernel.cpp line 2)
   and whose kernel target links the harness target, and requires configure to stop naming both edges.
2. Runs the include check on SOURCE_DIR with the project's allow-list and requires it to pass; the link check of
   the real tree runs at every configure of the project itself.
"""
import subprocess
import sys
import tempfile
from pathlib import Path


def main():
    source, python, allow = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["cmake", "-S", str(source / "tests/cmake/layers_fixture"), "-B", tmp, "-G", "Ninja",
             f"-DTALKLAB_LAYERS_MODULE={source / 'cmake/talklab_layers.cmake'}", f"-DTALKLAB_PYTHON={python}"],
            capture_output=True, text=True)
    out = done.stdout + done.stderr
    expected = ['kernels/kernel.cpp:2: kernels/ may not include harness/ (#include "harness/sampler.h")',
                "target fixture_kernel (kernels/) may not link fixture_harness (harness/)"]
    missing = [e for e in expected if e not in out]
    if done.returncode == 0 or missing:
        failures.append(f"the fixture: exit {done.returncode}, missing {missing}, output: {out[-1500:]}")

    done = subprocess.run([python, str(source / "cmake/check_layers.py"), str(source), *allow],
                          capture_output=True, text=True)
    if done.returncode != 0:
        failures.append(f"the real tree: exit {done.returncode}: {done.stdout}{done.stderr}")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("ok: the fixture's forbidden include and link stop configure, named; the real tree passes")


if __name__ == "__main__":
    main()
