#!/usr/bin/env bash
# Rebuilds the shipped demo CLIP (models/demo-clip/, docs/PRETRAIN.md) from nothing:
#   captioned corpus (tokenclip synth --corpus captions) -> pretrain (2 MPI ranks x 1 thread,
#   configs/pretrain-demo.ini) -> weights.h5 (fp16) + vocab.txt + log, and prints the
#   fingerprint to compare with models/demo-clip/README.md.
# Bit-identical weights need the same world size, thread count, libtorch and CPU kind; on other
# machines the weights differ by float rounding and the detectors trained on them score alike.
#
# Environment: OUT (default results/pretrain-demo), NP (ranks, default 2),
#              INSTALL=1 (copy the result over models/demo-clip/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TC="$ROOT/${BUILD_DIR:-build}/tokenclip"
[ -x "$TC" ] || bash launch/setup.sh
OUT=${OUT:-results/pretrain-demo}
NP=${NP:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
t0=$(date +%s)
"$TC" synth --corpus captions --styles 8 --per-class 100 --out "$OUT/corpus"
t1=$(date +%s)
mpirun -np "$NP" --bind-to none "$TC" pretrain --config configs/pretrain-demo.ini \
  --data "$OUT/corpus/synth-captions.h5" --out "$OUT/run"
t2=$(date +%s)
echo "== corpus $((t1 - t0)) s, pretraining $((t2 - t1)) s"
echo "== weights sha256 $(sha256sum "$OUT/run/weights.h5" | cut -d' ' -f1)"
echo "== vocab   sha256 $(sha256sum "$OUT/run/vocab.txt" | cut -d' ' -f1)"
if [ "${INSTALL:-0}" = 1 ]; then
  mkdir -p models/demo-clip
  cp "$OUT/run/weights.h5" "$OUT/run/vocab.txt" models/demo-clip/
  echo "== installed into models/demo-clip/"
fi
