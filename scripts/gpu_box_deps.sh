#!/usr/bin/env bash
# Run HERE (a Debian machine with its package archive), before going to a GPU box that has no internet:
# downloads the Debian packages of the dependencies a GPU box lacks (Google Benchmark, GoogleTest, fmt,
# nlohmann-json, toml++, CLI11) and unpacks them into .deps/ (ignored by git). Carry .deps with the tree;
# LibTorch and CUDA come from the box's own PyTorch and toolkit.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=(libbenchmark-dev libgtest-dev libgmock-dev googletest libfmt-dev nlohmann-json3-dev libtomlplusplus-dev
     libcli11-dev)
# The shared libraries the -dev packages depend on, by the names this Debian release gives them (libfmt9 on 12,
# libfmt10 on 13, ...). fmt is used header-only (cmake/talklab_deps.cmake), but its package files want the library.
mapfile -t runtime < <(apt-cache depends --no-recommends --no-suggests "${dev[@]}" | awk '/Depends: lib/ {print $2}' |
                       grep -v -e '-dev$' -e '^libc6$' -e '^libstdc++' -e '^libgcc' | sort -u)
packages=("${dev[@]}" "${runtime[@]}")
rm -rf .deps && mkdir -p .deps/debs
(cd .deps/debs && apt-get download "${packages[@]}")
for deb in .deps/debs/*.deb; do dpkg -x "$deb" .deps; done
rm -rf .deps/debs
du -sh .deps
