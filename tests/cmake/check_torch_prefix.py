"""Configure refuses a LibTorch it cannot use, naming the path and the version found (cmake/talklab_torch.cmake).

    check_torch_prefix.py SOURCE_DIR

Configures SOURCE_DIR into scratch folders with TALKLAB_TORCH_PREFIX pointing at (1) a folder with no LibTorch and
(2) a LibTorch whose package files say 1.13.1, and requires each to fail with a message naming the prefix (and, for
the old one, its version). CUDA is left out (TALKLAB_CUDA=OFF): the check stops before it matters.
"""
import subprocess
import sys
import tempfile
from pathlib import Path


def configure(source, prefix, build):
    cmd = ["cmake", "-S", source, "-B", str(build), "-G", "Ninja", "-DTALKLAB_CUDA=OFF", f"-DTALKLAB_TORCH_PREFIX={prefix}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done.returncode, " ".join((done.stdout + done.stderr).split())  # CMake wraps long messages


def main():
    source = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        missing = tmp / "no-torch-here"
        missing.mkdir()
        code, out = configure(source, missing, tmp / "b1")
        if code == 0 or str(missing) not in out or "holds no LibTorch" not in out:
            failures.append(f"a prefix without LibTorch: exit {code}, output: {out[-600:]}")

        old = tmp / "old-torch"
        (old / "Torch").mkdir(parents=True)
        (old / "Torch" / "TorchConfigVersion.cmake").write_text('set(PACKAGE_VERSION "1.13.1")\n')
        (old / "Torch" / "TorchConfig.cmake").write_text('message(FATAL_ERROR "must not be read")\n')
        code, out = configure(source, old, tmp / "b2")
        if code == 0 or str(old) not in out or "'1.13.1'" not in out or "must not be read" in out:
            failures.append(f"a LibTorch 1.13.1: exit {code}, output: {out[-600:]}")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("ok: configure names the prefix without LibTorch and the 1.13.1 one, and stops")


if __name__ == "__main__":
    main()
