#!/usr/bin/env bash
# Run HERE (a Debian machine with its package archive), before going to a GPU box that has no internet:
# downloads the Debian packages of the dependencies a GPU box lacks (Google Benchmark, GoogleTest, fmt,
# nlohmann-json, toml++, CLI11) and unpacks them into .deps/ (ignored by git). Carry .deps with the tree;
# LibTorch and CUDA come from the box's own PyTorch and toolkit.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(libbenchmark-dev libbenchmark1debian libgtest-dev libgmock-dev googletest libfmt-dev libfmt9
          nlohmann-json3-dev libtomlplusplus-dev libtomlplusplus3 libcli11-dev)
rm -rf .deps && mkdir -p .deps/debs
(cd .deps/debs && apt-get download "${packages[@]}")
for deb in .deps/debs/*.deb; do dpkg -x "$deb" .deps; done
rm -rf .deps/debs
du -sh .deps
