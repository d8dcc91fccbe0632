#!/usr/bin/env bash
# Builds and runs a libFuzzer target (NOT part of CI: needs clang with libFuzzer).
#   [FUZZ_TARGET=safetensors|tokenizer|torch_zip|png] fuzz/run.sh [SECONDS=600] [extra libFuzzer flags...]
# Builds into build-fuzz/ with a direct clang++ command (torch-free sources only, so the
# project need not be configured with clang), then fuzzes at the lowest CPU priority.
# New inputs go to build-fuzz/corpus-<target>; the committed seeds in fuzz/corpus/ are read only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
target=${FUZZ_TARGET:-safetensors}

if ! command -v clang++ >/dev/null; then
  echo "clang++ not found; installing it (Debian)" >&2
  apt-get install -y clang
fi

out=build-fuzz
mkdir -p "$out/corpus-$target" "$out/artifacts"
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)
common=(src/util/check.cpp src/util/fs.cpp -lfmt)
case $target in
  safetensors)
    clang++ "${flags[@]}" fuzz/safetensors_fuzz.cpp src/clip/safetensors.cpp "${common[@]}" \
      -o "$out/safetensors_fuzz"
    extra=(-dict=fuzz/safetensors.dict -max_len=4096) ;;
  tokenizer)
    clang++ "${flags[@]}" fuzz/tokenizer_fuzz.cpp src/clip/tokenizer.cpp "${common[@]}" -lz \
      -o "$out/tokenizer_fuzz"
    extra=(-max_len=512) ;;
  png)
    clang++ "${flags[@]}" fuzz/png_fuzz.cpp src/data/png.cpp "${common[@]}" -lz -o "$out/png_fuzz"
    extra=(-max_len=8192) ;;
  torch_zip)
    # Links Debian's libtorch (not instrumented); vptr checks need RTTI of torch's classes.
    clang++ "${flags[@]}" -fno-sanitize=vptr fuzz/torch_zip_fuzz.cpp src/clip/torch_zip.cpp \
      src/util/check.cpp -lfmt -ltorch -ltorch_cpu -lc10 -o "$out/torch_zip_fuzz"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-alloc_dealloc_mismatch=0}
    extra=(-max_len=4096) ;;
  *) echo "unknown FUZZ_TARGET '$target' (safetensors|tokenizer|torch_zip|png)" >&2; exit 2 ;;
esac

exec nice -n 19 "$out/${target}_fuzz" "$out/corpus-$target" "fuzz/corpus/$target" "${extra[@]}" \
  -max_total_time="$secs" -rss_limit_mb=2048 -artifact_prefix="$out/artifacts/" \
  -print_final_stats=1 "$@"
