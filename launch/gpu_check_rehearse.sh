#!/usr/bin/env bash
# Rehearses launch/gpu_check.sh on this (CPU, Debian 12, root) machine, on a system shaped like
# the GPU machine: a Debian 12 chroot made by debootstrap that holds only a C++ compiler, CMake,
# ninja, python3 and a libtorch (Debian's, standing in for pip's) and none of our other -dev
# packages. The carried .debs are unpacked into the checkout's private prefix, OpenMPI runs
# relocated from there, and the GPU steps run on the CPU (GPU_CHECK_CPU=1).
#
#   launch/gpu_check_rehearse.sh [CHROOT_DIR]     # default /var/tmp/tokenclip-gpusim; ~6 min
#
# Needs root (chroot, mounting /proc), debootstrap (installed if missing) and Debian's mirror.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIM=${1:-/var/tmp/tokenclip-gpusim}
[ "$(id -u)" = 0 ] || { echo "gpu_check_rehearse: needs root (chroot)" >&2; exit 77; }
command -v debootstrap >/dev/null || apt-get install -y debootstrap >/dev/null
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ ! -x "$SIM/usr/bin/cmake" ]; then
  echo "== debootstrap bookworm into $SIM"
  debootstrap --variant=minbase bookworm "$SIM" "$MIRROR" >/dev/null
  cp /etc/resolv.conf "$SIM/etc/"
  echo "== compiler, CMake, ninja, python3 and a libtorch inside"
  chroot "$SIM" apt-get update -qq
  chroot "$SIM" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    g++ cmake ninja-build python3 libtorch-dev ca-certificates >/dev/null
fi
# What the build needs beyond torch must not be there: the rehearsal would prove nothing.
# (zlib.h is there: libtorch-dev brings zlib1g-dev. We carry it anyway.)
for h in usr/include/hdf5 usr/include/boost usr/include/fmt usr/include/gtest usr/include/nlohmann \
         usr/lib/x86_64-linux-gnu/openmpi/include; do
  if [ -e "$SIM/$h" ]; then
    echo "gpu_check_rehearse: $SIM has /$h; use a fresh chroot directory" >&2
    exit 1
  fi
done

echo "== fetch the carried packages (here, with apt)"
"$ROOT/launch/gpu_check.sh" fetch

echo "== copy the checkout (tracked files, as the device tool sends them) and .gpu-deps"
rm -rf "$SIM/work/repo"
mkdir -p "$SIM/work/repo/.gpu-deps"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
  (cd "$ROOT" && xargs -0 cp --parents -t "$SIM/work/repo")
cp -r "$ROOT/.gpu-deps/debs" "$SIM/work/repo/.gpu-deps/"

mountpoint -q "$SIM/proc" || mount -t proc proc "$SIM/proc"
trap 'umount "$SIM/proc" 2>/dev/null || true' EXIT
echo "== gpu_check.sh run inside (GPU_CHECK_CPU=1)"
chroot "$SIM" bash -c 'cd /work/repo && GPU_CHECK_CPU=1 TORCH_CMAKE_PREFIX=/usr/lib/x86_64-linux-gnu/cmake \
  OMP_NUM_THREADS=1 launch/gpu_check.sh run'
