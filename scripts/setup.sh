#!/usr/bin/env bash
# talklab set-up on a Debian 12 machine: installs the Debian packages that are missing (and says which),
# configures and builds with Ninja. Idempotent: a second run installs nothing and rebuilds only what changed.
#
#   scripts/setup.sh            install what is missing, build (preset "default": CUDA compiled if nvcc is found)
#   scripts/setup.sh --run      ... then run the main job: every CPU experiment at the quick profile
#   TALKLAB_PRESET=cpu scripts/setup.sh     another preset (cpu: never compile CUDA)
set -euo pipefail

cd "$(dirname "$0")/.."
preset="${TALKLAB_PRESET:-default}"

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  libtorch-dev        # LibTorch 1.13 on CPU: the implementations users would pick instead
  libopenblas0-openmp # without it LibTorch's float32 matmul falls back to the reference BLAS (~15x slower)
  libbenchmark-dev googletest libgtest-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  python3 python3-jsonschema  # scripts/check_result.py validates result files against docs/result-schema.json
  chromium            # tests/bench/check_report.py renders the HTML report headless
)
# bench report carries vega, vega-lite and vega-embed from the npm registry (third_party/vega): npm is needed
# only where it is not already on the machine (nodejs packages from elsewhere provide it too).
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: every package is installed"
fi

blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
case "$blas" in
  *openblas-openmp*) ;;
  *) echo "setup: warning: libblas.so.3 resolves to $blas, not OpenBLAS (OpenMP): LibTorch float32 matmuls will be slow" >&2 ;;
esac

# The report's chart libraries, at the versions (and integrity hashes) pinned in package-lock.json.
if [ ! -f third_party/vega/node_modules/.package-lock.json ] ||
   [ third_party/vega/package-lock.json -nt third_party/vega/node_modules/.package-lock.json ]; then
  echo "setup: fetching vega, vega-lite and vega-embed from npm into third_party/vega/node_modules"
  npm ci --prefix third_party/vega --no-audit --no-fund --loglevel=error
fi

cmake --preset "$preset"
cmake --build --preset "$preset"

if [ "${1:-}" = "--run" ]; then
  mkdir -p out
  build/"$preset"/bench/bench run --profile quick --device cpu --out out/quick.json
  echo "setup: results in $(pwd)/out/quick.json"
fi
