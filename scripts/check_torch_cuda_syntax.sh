#!/usr/bin/env bash
# Syntax-checks the LibTorch CUDA baselines with TALKLAB_TORCH_CUDA=1 on a machine whose LibTorch has no CUDA
# (the CPU wheel in .venv, where the normal build leaves their CUDA code out): the wheel still ships c10/cuda and
# ATen/cuda, and the CUDA Toolkit's headers come from $CUDA_HOME/include. Each file is compiled
# with the exact command the build uses for experiments/attention/attention_torch.cpp (BUILD_DIR's
# compile_commands.json: compiler, flags, include paths, LibTorch's definitions), plus -fsyntax-only -Werror and
# TALKLAB_TORCH_CUDA=1 TALKLAB_HAVE_CUDA=1. A CPU-only LibTorch lacks the generated c10/cuda/impl/cuda_cmake_macros.h
# (it only defines C10_CUDA_BUILD_SHARED_LIBS, which matters on Windows): C10_CUDA_NO_CMAKE_CONFIGURE_FILE skips it.
# What it cannot cover: linking against libtorch_cuda / libc10_cuda, and a GPU box's PyTorch being older than this
# machine's (2.11 there, 2.13 here).
# Usage: scripts/check_torch_cuda_syntax.sh [BUILD_DIR]      (default build/default; configure it first)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/default}
cuda_home=${CUDA_HOME:-/usr/local/cuda}
[ -f "$build_dir/compile_commands.json" ] || {
  echo "check_torch_cuda_syntax: $build_dir/compile_commands.json is missing: configure first (cmake --preset default)" >&2
  exit 2
}
[ -f "$cuda_home/include/cuda_runtime_api.h" ] || {
  echo "check_torch_cuda_syntax: no CUDA headers under $cuda_home/include (set CUDA_HOME)" >&2
  exit 2
}
files=(experiments/attention/attention_torch_cuda.cpp experiments/matmul/matmul_torch_cuda.cpp harness/torch_glue.cpp)

# ATen/cuda/CUDAContextLight.h includes cuBLAS, cuSPARSE and cuSOLVER headers, which a toolkit without those
# libraries (the CPU machines' nvcc-only /usr/local/cuda) lacks: their headers come from PyPI's NVIDIA wheels for
# CUDA 13.0 (the versions PyTorch's cu130 builds pin), unpacked once into .deps/cuda-headers (ignored by git).
extra_includes=()
for wheel in nvidia-cublas==13.0.2.14 nvidia-cusparse==12.6.3.3 nvidia-cusolver==12.0.4.66; do
  header=$(case $wheel in nvidia-cublas*) echo cublasLt.h ;; nvidia-cusparse*) echo cusparse.h ;; *) echo cusolverDn.h ;; esac)
  [ -f "$cuda_home/include/$header" ] && continue
  # cuBLAS's headers are already in .venv when setup.sh installed nvidia-cublas for the build: use those.
  venv_include=$(ls -d .venv/lib/python3*/site-packages/nvidia/cu13/include 2>/dev/null | head -n 1)
  if [ -n "$venv_include" ] && [ -f "$venv_include/$header" ]; then
    extra_includes+=(-isystem "$PWD/$venv_include")
    continue
  fi
  dir=.deps/cuda-headers/${wheel%%==*}
  if [ ! -f "$dir/nvidia/cu13/include/$header" ]; then
    echo "check_torch_cuda_syntax: $header is not under $cuda_home/include: unpacking $wheel's headers into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    python3 -m pip download --quiet --no-deps --dest "$dir" "$wheel"
    python3 -m zipfile -e "$dir"/*.whl "$dir"
    rm -f "$dir"/*.whl
  fi
  extra_includes+=(-isystem "$PWD/$dir/nvidia/cu13/include")
done

# Prints the compile command of the reference file, one argument per line, without its output, input and depfile.
reference_command() {
  python3 - "$build_dir/compile_commands.json" <<'PY'
import json, os, shlex, sys
entries = json.load(open(sys.argv[1]))
entry = next((e for e in entries if e["file"].endswith("experiments/attention/attention_torch.cpp")), None)
if entry is None:
    sys.exit("check_torch_cuda_syntax: attention_torch.cpp is not in compile_commands.json")
args = entry.get("arguments") or shlex.split(entry["command"])
if os.path.basename(args[0]) == "ccache":
    args = args[1:]
out, skip = [], False
for a in args:
    if skip:
        skip = False
        continue
    if a in ("-o", "-MF", "-MT", "-MQ"):
        skip = True
        continue
    if a in ("-c", "-MD", "-MMD") or a.endswith("attention_torch.cpp"):
        continue
    out.append(a)
print(entry["directory"])
print("\n".join(out))
PY
}

mapfile -t lines < <(reference_command)
directory=${lines[0]}
command=("${lines[@]:1}")
root=$PWD
status=0
for f in "${files[@]}"; do
  if (cd "$directory" && "${command[@]}" -fsyntax-only -Werror \
        -UTALKLAB_TORCH_CUDA -DTALKLAB_TORCH_CUDA=1 -UTALKLAB_HAVE_CUDA -DTALKLAB_HAVE_CUDA=1 \
        -DC10_CUDA_NO_CMAKE_CONFIGURE_FILE \
        -isystem "$cuda_home/include" "${extra_includes[@]}" "$root/$f"); then
    echo "ok      $f"
  else
    echo "FAILED  $f" >&2
    status=1
  fi
done
exit $status
