#!/usr/bin/env bash
# GPU checks: build tokenclip against the libtorch of a pip-installed CUDA torch (which also
# brings CUDA and NCCL) and run what needs a GPU: the NCCL all-reduce, a few training steps on
# the GPU, and encode throughput of ViT-L/14 at 518 in bf16. Aims to finish within 10 minutes.
#
#   launch/gpu_check.sh fetch   # on a machine with Debian's apt (this project's CI kind):
#                               # downloads the non-torch build dependencies as .deb files
#                               # into .gpu-deps/debs (ignored by git; carry it to the GPU box)
#   launch/gpu_check.sh run     # on the GPU machine: unpacks the .debs with `dpkg -x` into
#                               # .gpu-deps/root (never into /), builds into build-gpu, runs the
#                               # checks, writes the log to ${OUT:-.gpu-deps}/gpu_check.log
#
# STATUS: written, not yet run on a GPU (no GPU machine was lent to the session that wrote
# it). Known gap: OpenCV's imgcodecs runtime pulls GDAL, LLVM and Mesa through Debian's
# dependencies, far more than a carried folder should hold; the fetch step therefore takes
# only the OpenCV libraries themselves and the run step relies on the GPU machine's own
# system libraries for their dependencies. An OpenCV-free build option is the planned fix.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEPS=${GPU_DEPS:-$ROOT/.gpu-deps}
mode=${1:-run}

PKGS=(libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libpmix2 libevent-core-2.1-7
      libevent-pthreads-2.1-7 libhwloc15 libfabric1 libucx0 libnl-3-200 libibverbs1
      libpsm2-2 libpsm-infinipath1
      libhdf5-dev libhdf5-103-1 libhdf5-cpp-103-1 libhdf5-hl-100 libsz2 libaec0 libcurl4
      libboost-program-options-dev libboost-program-options1.74-dev libboost-program-options1.74.0
      libboost1.74-dev libfmt-dev libfmt9 nlohmann-json3-dev libgtest-dev googletest
      libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-core406
      libopencv-imgproc406 libopencv-imgcodecs406 ninja-build)

if [ "$mode" = fetch ]; then
  mkdir -p "$DEPS/debs"
  (cd "$DEPS/debs" && apt-get download "${PKGS[@]}")
  du -sh "$DEPS/debs"
  exit 0
fi

[ "$mode" = run ] || { echo "usage: $0 fetch|run" >&2; exit 2; }
LOG=${OUT:-$DEPS}/gpu_check.log
mkdir -p "$(dirname "$LOG")"
exec > >(tee "$LOG") 2>&1
t0=$(date +%s)
PY=${PYTHON:-python3}
nvidia-smi -L || { echo "gpu_check: no GPU visible (nvidia-smi)"; exit 77; }
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())'
SITE=$($PY -c 'import site; print(site.getsitepackages()[0])')
NCCL_ROOT=${NCCL_ROOT:-$SITE/nvidia/nccl}

# Unpack the carried packages into a private prefix.
PREFIX="$DEPS/root"
if [ -d "$DEPS/debs" ]; then
  mkdir -p "$PREFIX"
  for d in "$DEPS"/debs/*.deb; do dpkg -x "$d" "$PREFIX"; done
  export PATH="$PREFIX/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu:$PREFIX/usr/lib/x86_64-linux-gnu/openmpi/lib:${LD_LIBRARY_PATH:-}"
  export OPAL_PREFIX="$PREFIX/usr/lib/x86_64-linux-gnu/openmpi"   # relocated OpenMPI
  export CPATH="$PREFIX/usr/include:$PREFIX/usr/include/hdf5/serial:$PREFIX/usr/include/opencv4:${CPATH:-}"
fi
export LD_LIBRARY_PATH="$NCCL_ROOT/lib:${LD_LIBRARY_PATH:-}"

cmake -S . -B build-gpu -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$PREFIX/usr" -DCMAKE_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu" \
  -DTOKENCLIP_NCCL=ON -DNCCL_ROOT="$NCCL_ROOT" -DTOKENCLIP_BUILD_BENCH=ON
cmake --build build-gpu -j "$(nproc)" --target tokenclip mpitest_dist
echo "gpu_check: built in $(( $(date +%s) - t0 )) s"
build-gpu/tokenclip version

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
NGPU=$(nvidia-smi -L | wc -l)
echo "== NCCL all-reduce (host-staged and device buffers), $NGPU rank(s)"
mpiexec -n "$NGPU" build-gpu/tests/mpitest_dist --gtest_filter='NcclComm.*:MpiComm.*' --gtest_color=no

echo "== training steps on the GPU (tiny preset, synthetic data)"
D=$(mktemp -d)
build-gpu/tokenclip synth --preset quickstart --out "$D/data"
mpiexec -n "$NGPU" build-gpu/tokenclip train --data "$D/data/synth-industrial-a.h5" --out "$D/run" \
  --runtime.device cuda --runtime.comm nccl --max-steps 20 --train.epochs 1
tail -n 3 "$D/run/log.jsonl"

echo "== encode throughput: ViT-L/14 at 518 (random weights), bf16 then fp32"
build-gpu/tokenclip synth --preset quickstart --size 518 --out "$D/big"
for prec in bf16 fp32; do
  t1=$(date +%s.%N)
  build-gpu/tokenclip encode --data "$D/big/synth-medical.h5" --out "$D/enc-$prec.h5" \
    --model.preset ViT-L-14 --model.image_size 518 --model.precision $prec --runtime.device cuda --batch 8
  echo "encode $prec: $(echo "72 / ($(date +%s.%N) - $t1)" | bc -l) images/s (72 images, incl. start-up)"
done
echo "gpu_check: done in $(( $(date +%s) - t0 )) s"
