#!/usr/bin/env bash
# The test command: setup (packages + build), then the whole suite through CTest.
# Extra arguments go to ctest (e.g. launch/test.sh -L unit, launch/test.sh -R cli).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
t0=$(date +%s)
bash launch/setup.sh
t1=$(date +%s)
BUILD_DIR=${BUILD_DIR:-build}
# Tests run as root in CI: OpenMPI needs these to start, and oversubscription for np 3 on 2 cores.
# Idle OpenMP threads sleep instead of spinning: with several ranks per core (tests) spinning
# threads steal the cores the working ranks need.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
rc=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${TOKENCLIP_TEST_JOBS:-2}" "$@" || rc=$?
t2=$(date +%s)
echo "test.sh: setup+build $((t1 - t0)) s, tests $((t2 - t1)) s, total $((t2 - t0)) s"
exit $rc
