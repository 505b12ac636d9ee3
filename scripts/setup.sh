#!/usr/bin/env bash
# talklab set-up on Debian 12 or 13 (x86-64): installs the Debian packages that are missing and the pinned Python
# requirements into .venv (saying which), configures and builds with Ninja. Idempotent: a second run installs
# nothing and rebuilds only what changed.
#
#   scripts/setup.sh            install what is missing, build (preset "default": CUDA compiled if nvcc is found)
#   scripts/setup.sh --run      ... then run the main job: every CPU experiment at the quick profile
#   scripts/setup.sh --with-slurm   ... also Slurm and munge, for the cluster test (tests/cluster/; CI uses it).
#                                   Only the packages: no daemon is started or enabled by this script.
#   TALKLAB_PRESET=cpu scripts/setup.sh     another preset (cpu: never compile CUDA)
#   TALKLAB_VENV_PYTHON=python3.11 scripts/setup.sh   the interpreter .venv is made from (default: python3)
#
# LibTorch is PyTorch's own: requirements.txt pins torch, and CMake asks .venv's interpreter where it is
# (cmake/talklab_torch.cmake). Nothing here needs the venv to be activated, and neither does bench.
set -euo pipefail

cd "$(dirname "$0")/.."
preset="${TALKLAB_PRESET:-default}"
venv_python="${TALKLAB_VENV_PYTHON:-python3}"
run=0 slurm=0
for arg in "$@"; do
  case "$arg" in
    --run) run=1 ;;
    --with-slurm) slurm=1 ;;
    *) echo "setup: unknown argument '$arg' (expected --run and/or --with-slurm)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  libbenchmark-dev googletest libgtest-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  chromium            # tests/bench/check_report.py renders the HTML report headless
  libbenchmark-tools  # Google Benchmark's tools/compare.py, which must read our result files (a test runs it)
)
# The cluster test starts its own single-node Slurm (tests/cluster/slurm_localhost.sh).
if ((slurm)); then packages+=(slurmctld slurmd slurm-client munge); fi
command -v "$venv_python" >/dev/null 2>&1 || packages+=(python3)
if ! "$venv_python" -m venv --help >/dev/null 2>&1; then packages+=(python3-venv); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: every Debian package is installed"
fi

# .venv: torch (LibTorch for the build), cuBLASLt's headers for the CUDA code, vl-convert for the report,
# jsonschema for scripts/check_result.py; versions in requirements.txt. A stamp newer than requirements.txt
# means they are installed.
stamp=.venv/.talklab-requirements
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$venv_python" --version 2>&1) ($(command -v "$venv_python"))"
  rm -rf .venv
  "$venv_python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
  echo "setup: installing into .venv: $(grep -v '^#' requirements.txt | grep . | tr '\n' ' ')"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  touch "$stamp"
else
  echo "setup: .venv has requirements.txt's packages"
fi

# ccache keys on paths relative to the tree, so another clone (CI's) reuses what this one compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
cmake --preset "$preset"
cmake --build --preset "$preset"

if ((run)); then
  mkdir -p out
  build/"$preset"/bench/bench run --profile quick --device cpu --out out/quick.json
  echo "setup: results in $(pwd)/out/quick.json"
fi
