#!/usr/bin/env bash
# Step-time figures of `tokenclip train` on this CPU: the split the trainer logs per step
# (time_data_s, time_forward_s = image tower + text tower + OT + losses, time_backward_s,
# time_allreduce_s) as the median over the logged steps (the first step is dropped when there
# are more than 2), at 1 and 2 ranks, for tiny (S = 128) and ViT-B-16 (random weights, S = 224),
# and the feature-cache speed-up. Prints figures only (never asserts times); notes the machine,
# the thread settings and the load average with each figure.
#
# usage: bench/train_step.sh TOKENCLIP [WORKDIR] [tiny|b16|all]
set -uo pipefail
T=${1:?usage: bench/train_step.sh TOKENCLIP [WORKDIR] [tiny|b16|all]}
W=${2:-$(mktemp -d /tmp/tc_bench_train.XXXXXX)}
WHICH=${3:-all}
PY=/usr/bin/python3
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/lib/dist_tools.py"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_WAIT_POLICY=passive
THREADS=${THREADS:-1}
export OMP_NUM_THREADS=$THREADS
mkdir -p "$W"
echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
  "runtime.threads=$THREADS OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive, mpiexec --bind-to none"

# one configuration: NAME NP DATA S STEPS BATCH [extra train flags...]
figure() {
  local name=$1 np=$2 data=$3 s=$4 steps=$5 batch=$6; shift 6
  local out="$W/$name"
  rm -rf "$out"
  local load0; load0=$(cut -d' ' -f1 /proc/loadavg)
  local launch=("$T")
  [ "$np" -gt 1 ] && launch=(mpiexec --bind-to none -n "$np" "$T")
  if ! "${launch[@]}" train --data "$data" --model.image_size "$s" --train.global_batch "$batch" \
      --max-steps "$steps" --runtime.threads "$THREADS" --out "$out" "$@" >"$out.log" 2>&1; then
    echo "$name: FAILED ($(tail -2 "$out.log"))"; return 1
  fi
  local skip=0; [ "$steps" -gt 2 ] && skip=1
  echo "$name (np $np, batch $batch, S $s): $("$PY" "$TOOLS" times "$out/log.jsonl" "$skip")" \
    "load $load0 -> $(cut -d' ' -f1 /proc/loadavg)"
}

if [ "$WHICH" = tiny ] || [ "$WHICH" = all ]; then
  [ -f "$W/synth/synth-industrial-a.h5" ] || "$T" synth --size 128 --threads 1 --out "$W/synth" >/dev/null 2>&1
  D="$W/synth/synth-industrial-a.h5"
  figure tiny_np1 1 "$D" 128 5 8
  figure tiny_np2 2 "$D" 128 5 8
  "$T" cache build --data "$D" --model.image_size 128 --runtime.threads "$THREADS" --out "$W/feat128.h5" >/dev/null 2>&1
  figure tiny_np1_cache 1 "$D" 128 5 8 --cache "$W/feat128.h5"
fi
if [ "$WHICH" = b16 ] || [ "$WHICH" = all ]; then
  [ -f "$W/synth224/synth-industrial-a.h5" ] || "$T" synth --size 224 --threads 1 --out "$W/synth224" >/dev/null 2>&1
  D="$W/synth224/synth-industrial-a.h5"
  figure b16_np1 1 "$D" 224 2 8 --model.preset ViT-B-16
  figure b16_np2 2 "$D" 224 2 8 --model.preset ViT-B-16
fi
