#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (NOT part of CI: needs clang with libFuzzer).
#   fuzz/run.sh [SECONDS=600] [extra libFuzzer flags...]
# Builds into build-fuzz/ with a direct clang++ command (the torch-free parsing core only, so
# the project need not be configured with clang), then fuzzes at the lowest CPU priority.
# New inputs go to build-fuzz/corpus-*; the committed seeds in fuzz/corpus/ are read only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true

if ! command -v clang++ >/dev/null; then
  echo "clang++ not found; installing it (Debian)" >&2
  apt-get install -y clang
fi

out=build-fuzz
mkdir -p "$out/corpus-safetensors" "$out/artifacts"
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc fuzz/safetensors_fuzz.cpp src/clip/safetensors.cpp src/util/check.cpp src/util/fs.cpp \
  -lfmt -o "$out/safetensors_fuzz"

nice -n 19 "$out/safetensors_fuzz" "$out/corpus-safetensors" fuzz/corpus/safetensors \
  -dict=fuzz/safetensors.dict -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1 "$@"
