#!/usr/bin/env bash
# Installs the Debian packages, then configures and builds tokenclip (Release, -O2) in build/.
# Idempotent: a second run only rebuilds what changed.
#
# Environment: BUILD_DIR (default build), TOKENCLIP_JOBS (default nproc),
#              TOKENCLIP_CMAKE_ARGS (extra CMake arguments, e.g. -DCMAKE_PREFIX_PATH=...),
#              TOKENCLIP_SKIP_DEPS=1 (do not touch apt, e.g. on a cluster).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [ "${TOKENCLIP_SKIP_DEPS:-0}" != 1 ]; then
  bash launch/install-deps.sh
fi

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${TOKENCLIP_JOBS:-$(nproc)}
export CCACHE_BASEDIR="$ROOT"           # cache hits survive a fresh clone in another folder
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

t0=$(date +%s)
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=6 \
        ${TOKENCLIP_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "setup: built in $(( $(date +%s) - t0 )) s -> $BUILD_DIR/tokenclip"
