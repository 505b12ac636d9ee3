#!/usr/bin/env bash
# Run ON a GPU box (CUDA 13, PyTorch 2.x installed, no internet), from the repository root, with .deps/
# carried from scripts/gpu_box_deps.sh:
#   scripts/gpu_box.sh                        configure and build (preset gpu-box), run the CUDA tests
#   scripts/gpu_box.sh bench --device cuda --filter attention --out results/gpu.json
#                                             ... then run bench with these arguments
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .deps/usr ] || { echo "gpu_box: .deps/ is missing: run scripts/gpu_box_deps.sh on a Debian machine and carry it" >&2; exit 2; }
TALKLAB_TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export TALKLAB_TORCH_PREFIX
# Debian's CMake package files locate headers relative to their own folder: under .deps that is .deps/usr.
export CPATH="$PWD/.deps/usr/include${CPATH:+:$CPATH}"
export LD_LIBRARY_PATH="$PWD/.deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cmake --preset gpu-box -DTALKLAB_REQUIRE_TORCH_CUDA=ON  # a CPU-only PyTorch here is an error, not dozens of skips
cmake --build --preset gpu-box
build/gpu-box/tests/kernels/cuda/test_cuda_kernels --gtest_brief=1
# LibTorch's CUDA baselines: wired in (every one has a factory) now that the LibTorch found has CUDA.
build/gpu-box/tests/experiments/test_torch_cuda_baselines --gtest_brief=1
# The checkpointing executor on CUDA tensors: gradients and exact caching-allocator peaks, float32 and bf16.
build/gpu-box/tests/experiments/checkpointing/test_checkpointing --gtest_filter='*OnCuda*' --gtest_brief=1
if [ "${1:-}" = "bench" ]; then
  shift
  build/gpu-box/bench/bench "$@"
fi
