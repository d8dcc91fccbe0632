#!/usr/bin/env bash
# GPU checks: build tokenclip against the libtorch of a pip-installed CUDA torch (which also
# brings CUDA and NCCL) and run what needs a GPU: the NCCL all-reduce, training steps on the
# GPU, and encode throughput of ViT-L/14 at 518 in bf16. Aims to finish within 10 minutes.
#
#   launch/gpu_check.sh fetch   # here (Debian 12 with apt): downloads the build dependencies
#                               # other than torch as .deb files into .gpu-deps/debs (ignored by
#                               # git, ~30 MB; carry that folder to the GPU machine)
#   launch/gpu_check.sh run     # on the GPU machine (a C++ compiler, CMake, python3 with torch;
#                               # no package access, none of our -dev packages): unpacks the .debs
#                               # with `dpkg -x` into .gpu-deps/root (never into /), builds into
#                               # build-gpu without OpenCV (TOKENCLIP_OPENCV=OFF: PNG only, no
#                               # pictures) and runs the checks. Log: ${OUT:-.gpu-deps}/gpu_check.log
#
# Environment: PYTHON (default python3), TORCH_CMAKE_PREFIX (skip asking python for torch's
# CMake prefix), NCCL_ROOT (default: the pip nvidia-nccl package), GPU_CHECK_CPU=1 (no GPU:
# build the same way and run the same steps on the CPU with MPI; used to rehearse the
# procedure on a machine without the -dev packages, see docs/DEPLOY.md).
#
# STATUS: the procedure (fetch, unpack, relocated OpenMPI, build, run) was rehearsed with
# GPU_CHECK_CPU=1 in a Debian 12 chroot holding only a compiler, CMake, python3 and a libtorch;
# the GPU steps themselves have not run yet (no GPU machine was lent to the sessions so far).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEPS=${GPU_DEPS:-$ROOT/.gpu-deps}
mode=${1:-run}
ARCH=x86_64-linux-gnu

# Headers and CMake files of what we build against.
DEV_PKGS=(libopenmpi-dev openmpi-bin openmpi-common libhdf5-dev libboost-program-options-dev
          libboost-program-options1.74-dev libboost1.74-dev libfmt-dev nlohmann-json3-dev
          libgtest-dev libgmock-dev zlib1g-dev)
# Their shared libraries and what those load (ldd closure of libmpi, libhdf5_serial(_cpp),
# libboost_program_options, libfmt, the OpenMPI/PMIx plugins and orted, on Debian 12), less
# the C/C++ runtime. Libraries the GPU machine already has are pruned at unpack time.
RUN_PKGS=(libopenmpi3 libpmix2 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7
          libfabric1 libucx0 libibverbs1 ibverbs-providers librdmacm1 libnl-3-200
          libnl-route-3-200 libpsm2-2 libpsm-infinipath1 libmunge2 libnuma1 libatomic1
          libhdf5-103-1 libhdf5-cpp-103-1 libhdf5-hl-100 libsz2 libaec0 libcurl4 libnghttp2-14
          libpsl5 librtmp1 libssh2-1 libldap-2.5-0 libsasl2-2 libgssapi-krb5-2 libkrb5-3
          libk5crypto3 libkrb5support0 libbrotli1 libidn2-0 libunistring2 libgnutls30
          libnettle8 libhogweed6 libgmp10 libp11-kit0 libtasn1-6 libssl3 libzstd1 libffi8
          libuuid1 libudev1 libboost-program-options1.74.0 libfmt9)

if [ "$mode" = fetch ]; then
  mkdir -p "$DEPS/debs"
  (cd "$DEPS/debs" && apt-get download "${DEV_PKGS[@]}" "${RUN_PKGS[@]}")
  du -sh "$DEPS/debs"
  exit 0
fi
[ "$mode" = run ] || { echo "usage: $0 fetch|run" >&2; exit 2; }

LOG=${OUT:-$DEPS}/gpu_check.log
mkdir -p "$(dirname "$LOG")"
exec > >(tee "$LOG") 2>&1
t0=$(date +%s)
say() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }
die() { echo "gpu_check: $*" >&2; exit 1; }

CPU=${GPU_CHECK_CPU:-0}
if [ "$CPU" = 1 ]; then
  DEVICE=cpu; COMM=mpi; NGPU=1
  echo "gpu_check: GPU_CHECK_CPU=1: rehearsal on the CPU (no NCCL, no CUDA)"
else
  command -v nvidia-smi >/dev/null && nvidia-smi -L || die "no GPU visible (nvidia-smi); GPU_CHECK_CPU=1 rehearses on the CPU"
  DEVICE=cuda; COMM=nccl; NGPU=$(nvidia-smi -L | wc -l)
fi
command -v c++ >/dev/null || command -v g++ >/dev/null || die "no C++ compiler (c++/g++) on this machine"
command -v cmake >/dev/null || die "no cmake on this machine"
[ -d "$DEPS/debs" ] || die "$DEPS/debs missing: run '$0 fetch' on a Debian 12 machine and carry .gpu-deps"
PY=${PYTHON:-python3}
if [ -z "${TORCH_CMAKE_PREFIX:-}" ]; then
  TORCH_CMAKE_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)') ||
    die "python3 has no torch (set PYTHON, or TORCH_CMAKE_PREFIX to libtorch's share/cmake)"
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())'
fi
if [ -z "${NCCL_ROOT:-}" ] && [ "$CPU" != 1 ]; then
  NCCL_ROOT=$($PY -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))' 2>/dev/null ||
              $PY -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "nccl"))')
fi
if [ "$CPU" != 1 ]; then
  # Pre-checks, before anything is unpacked or built: where the CUDA toolkit and NCCL are, and
  # that the toolkit's CUDA major version is the one torch was built with (a CUDA 13 nvcc next
  # to a CUDA 12 torch configures, then fails at link or at run time).
  # A CUDA torch's CMake package runs find_package(CUDAToolkit) and enable_language(CUDA), so it
  # needs nvcc even though we compile no CUDA code; the image has one under /usr/local/cuda.
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
  command -v nvcc >/dev/null || die "no nvcc (torch's CMake package needs the CUDA toolkit; set PATH or CUDACXX)"
  NVCC_CUDA=$(nvcc --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
  TORCH_CUDA=$($PY -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null || true)
  echo "nvcc: $(command -v nvcc) (CUDA ${NVCC_CUDA:-?}); torch built with CUDA ${TORCH_CUDA:-?}"
  if [ -z "$TORCH_CUDA" ]; then
    echo "gpu_check: warning: cannot ask $PY for torch.version.cuda; the CUDA versions are not compared"
  elif [ "${NVCC_CUDA%%.*}" != "${TORCH_CUDA%%.*}" ]; then
    die "the CUDA toolkit ($(command -v nvcc), CUDA $NVCC_CUDA) and torch (CUDA $TORCH_CUDA) differ in the major version: put the matching toolkit first on PATH (or set CUDACXX)"
  fi
  [ -f "$NCCL_ROOT/include/nccl.h" ] || die "no nccl.h under NCCL_ROOT=$NCCL_ROOT (pip's nvidia-nccl package, or set NCCL_ROOT)"
  ls "$NCCL_ROOT"/lib/libnccl.so* >/dev/null 2>&1 || die "no libnccl.so under $NCCL_ROOT/lib"
  echo "NCCL: $NCCL_ROOT ($(awk '/^#define NCCL_(MAJOR|MINOR|PATCH) /{v = v (v ? "." : "") $3} END {print v}' "$NCCL_ROOT/include/nccl.h"))"
fi

say "unpacking $(ls "$DEPS"/debs/*.deb | wc -l) packages into a private prefix"
PREFIX="$DEPS/root"
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
for d in "$DEPS"/debs/*.deb; do dpkg -x "$d" "$PREFIX"; done
LIB="$PREFIX/usr/lib/$ARCH"
# The machine's own copy of a library wins (it may be newer, and two copies of one soname in a
# process break it): where ldconfig knows a soname, our file becomes a link to the machine's
# copy. The file names stay, since CMake package files name them.
SYSLIBS=$(ldconfig -p)   # read once; an early-exiting reader of a pipe would kill it (pipefail)
sys_lib() { awk -v n="$1" '!hit && $1 == n && /x86-64/ {print $NF; hit = 1}' <<<"$SYSLIBS"; }
pruned=0
for f in "$LIB"/*.so.*; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  s=$(sys_lib "$(basename "$f" | sed -E 's/(\.so\.[0-9]+).*/\1/')")
  if [ -n "$s" ]; then ln -sf "$s" "$f"; pruned=$((pruned + 1)); fi
done
echo "$pruned carried libraries replaced by the machine's own copies"
# Debian selects mpicc/mpiexec through update-alternatives, which dpkg -x does not run.
for t in mpicc mpicxx mpiexec mpirun; do
  [ -e "$PREFIX/usr/bin/$t.openmpi" ] && ln -sf "$t.openmpi" "$PREFIX/usr/bin/$t"
done
export PATH="$PREFIX/usr/bin:$PATH"
export LD_LIBRARY_PATH="$LIB:$LIB/openmpi/lib:$LIB/hdf5/serial${NCCL_ROOT:+:$NCCL_ROOT/lib}:${LD_LIBRARY_PATH:-}"
# Relocated OpenMPI and PMIx: their install prefixes were /usr and /usr/lib/$ARCH/pmix2.
export OPAL_PREFIX="$PREFIX/usr"
export PMIX_INSTALL_PREFIX="$LIB/pmix2"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_hwloc_base_binding_policy=none
# One node: shared memory between ranks (the GPU traffic goes through NCCL), no ssh, none of
# the network transports (UCX, OFI, PSM) whose probing only adds noise here.
export OMPI_MCA_plm_rsh_agent=false OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_mtl=^ofi,psm,psm2
export PMIX_MCA_pcompress_base_silence_warning=1 HWLOC_HIDE_ERRORS=2
# Sandboxed machines refuse the cross-process reads (CMA) of vader's single-copy transfers.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# NCCL says why it fails (our messages add ncclGetLastError, this adds NCCL's own log).
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}

say "configure"
if [ "$CPU" != 1 ]; then
  nvcc --version | tail -n 2
  # No architecture probe (we build no kernels); Hopper is 9.0.
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
fi
GEN=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
NCCL_FLAGS=(-DTOKENCLIP_NCCL=OFF)
[ "$CPU" = 1 ] || NCCL_FLAGS=(-DTOKENCLIP_NCCL=ON -DNCCL_ROOT="$NCCL_ROOT")
cmake -S . -B build-gpu -G "$GEN" -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON \
  -DCMAKE_PREFIX_PATH="$TORCH_CMAKE_PREFIX;$PREFIX/usr;$LIB/cmake;$PREFIX/usr/share/cmake" \
  -DMPI_C_COMPILER="$PREFIX/usr/bin/mpicc.openmpi" -DMPIEXEC_EXECUTABLE="$PREFIX/usr/bin/mpiexec.openmpi" \
  -DHDF5_ROOT="$LIB/hdf5/serial" \
  -DZLIB_ROOT="$PREFIX/usr" -DTOKENCLIP_OPENCV=OFF -DTOKENCLIP_BUILD_BENCH=OFF "${NCCL_FLAGS[@]}"
say "build"
cmake --build build-gpu -j "$(nproc)" --target tokenclip mpitest_dist test_dist
build-gpu/tokenclip version
echo "-- where the binary's libraries come from:"
ldd build-gpu/tokenclip | awk '/=>/ {print "   " $1 " -> " $3}' | grep -v -E "^   (libc|libm|libgcc_s|libstdc\+\+|libpthread|libdl|librt)\.so" || true
if ldd build-gpu/tokenclip | grep "not found"; then die "unresolved libraries (above)"; fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MPIEXEC=(mpiexec -n "$NGPU" --oversubscribe)

say "communicator tests, $NGPU rank(s)"
build-gpu/tests/test_dist --gtest_color=no --gtest_brief=1
"${MPIEXEC[@]}" build-gpu/tests/mpitest_dist --gtest_color=no --gtest_brief=1
# Two ranks on one node through the relocated OpenMPI (host buffers; NCCL needs a GPU per rank).
mpiexec -n 2 --oversubscribe build-gpu/tests/mpitest_dist --gtest_color=no --gtest_brief=1 --gtest_filter='-*Nccl*'

say "training steps on $DEVICE (tiny preset, synthetic data, comm $COMM)"
build-gpu/tokenclip synth --preset quickstart --out "$TMP/data" >/dev/null
"${MPIEXEC[@]}" build-gpu/tokenclip train --data "$TMP/data/synth-industrial-a.h5" --out "$TMP/run" \
  --runtime.device "$DEVICE" --runtime.comm "$COMM" --max-steps 20 --train.epochs 1
tail -n 2 "$TMP/run/log.jsonl"

# The same 5 steps on the CPU and on the device (same seed, data and random backbone): the
# per-step losses must agree up to TF32/atomics noise, which shows the device path computes
# what the CPU path does (a wrong device transfer or an unsynchronised buffer shows up here).
if [ "$CPU" != 1 ]; then
say "CPU/device parity of 5 training steps"
for d in cpu "$DEVICE"; do
  c=mpi; [ "$d" = cuda ] && c=nccl
  "${MPIEXEC[@]}" build-gpu/tokenclip train --data "$TMP/data/synth-industrial-a.h5" --out "$TMP/par-$d" \
    --runtime.device "$d" --runtime.comm "$c" --max-steps 5 --train.epochs 1 >/dev/null
done
$PY - "$TMP/par-cpu/log.jsonl" "$TMP/par-$DEVICE/log.jsonl" <<'PY' || echo "gpu_check: PARITY FAILED (losses above)"
import json, sys
def losses(path):
    return [j["loss"] for j in map(json.loads, open(path)) if j.get("kind") == "step"]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
print("loss cpu   :", " ".join(f"{x:.7f}" for x in a))
print("loss device:", " ".join(f"{x:.7f}" for x in b))
worst = max((abs(x - y) / max(1e-9, abs(x)) for x, y in zip(a, b)), default=float("inf"))
print(f"largest relative difference {worst:.2e} (allowed 5e-3)")
sys.exit(0 if len(a) == len(b) == 5 and worst < 5e-3 else 1)
PY
fi

# The rehearsal encodes with the tiny preset: L/14 at 518 takes minutes per image on a CPU.
ENC=(--model.preset ViT-L-14 --model.image_size 518); ENC_DATA_SIZE=518; PRECS="bf16 fp32"
[ "$CPU" = 1 ] && { ENC=(--model.preset tiny --model.image_size 128); ENC_DATA_SIZE=128; PRECS=fp32; }
say "encode throughput: ${ENC[*]} (random weights)"
build-gpu/tokenclip synth --preset quickstart --size "$ENC_DATA_SIZE" --out "$TMP/big" >/dev/null
for prec in $PRECS; do
  t1=$(date +%s%N)
  build-gpu/tokenclip encode --data "$TMP/big/synth-medical.h5" --out "$TMP/enc-$prec.h5" "${ENC[@]}" \
    --model.precision "$prec" --runtime.device "$DEVICE" --batch 8 2>&1 | tail -n 3
  echo "encode $prec: $(( ($(date +%s%N) - t1) / 1000000 )) ms in all, start-up included"
done
say "gpu_check: done"
