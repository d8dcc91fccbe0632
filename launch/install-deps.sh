#!/usr/bin/env bash
# Installs every Debian package the project needs (idempotent, non-interactive).
# Called by launch/setup.sh; safe to run again: apt skips what is already installed.
set -euo pipefail

PKGS=(
  # build
  cmake ninja-build pkg-config ccache g++ git
  # core libraries
  libtorch-dev libopenmpi-dev openmpi-bin libhdf5-dev libboost-program-options-dev libfmt-dev
  nlohmann-json3-dev zlib1g-dev
  # fast BLAS for torch (without it torch uses reference BLAS, ~15x slower matmul)
  libopenblas0-openmp
  # image IO (the runtime libraries are already pulled in by libtorch)
  libopencv-imgcodecs-dev libopencv-imgproc-dev
  # tests
  libgtest-dev libgmock-dev
  # independent reference checks in tests (Pillow resize, sklearn metrics, h5py interop)
  python3-numpy python3-h5py python3-pil python3-sklearn python3-scipy python3-torch
  # the real single-node Slurm of tests/e2e/slurm.sh (sweep job arrays, train.sbatch)
  slurm-wlm munge
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
