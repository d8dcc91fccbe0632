#!/usr/bin/env bash
# Runs and results are never replaced or damaged, and faults end with the documented code
# (issue 12):
#  1. `train` into an OUT that holds a run is refused without --resume/--overwrite, leaving it
#     untouched; --overwrite replaces it (no mixed log);
#  2. --resume refuses another recipe, dataset or backbone before anything is written (not even
#     config.ini), and accepts what only says how often to record (save/log interval, --max-steps);
#  3. a checkpoint holding NaN/Inf is refused by every load (infer, calibrate, eval, train
#     --init-from/--resume), naming the file and the tensor;
#  4. duplicate class names in a dataset and a report of a folder without results are refused;
#  5. a full disk (a 2 MB tmpfs) ends synth and train with exit 4 (not a crash), no temporary
#     left and every earlier checkpoint intact;
#  6. SIGTERM to one rank of a 2-rank train stops both after the same step with a checkpoint
#     (exit 75), and --resume completes to the uninterrupted run's state bit for bit (same
#     world size, threads and machine: the bound is 0).
source "$(dirname "$0")/lib/assert.sh"
PY=/usr/bin/python3
TOOLS="$(dirname "$0")/lib/dist_tools.py"
[ -x "$PY" ] && "$PY" -c "import h5py, numpy, PIL" 2>/dev/null || { echo "no /usr/bin/python3 with h5py, PIL"; exit 77; }
command -v mpiexec >/dev/null || { echo "no mpiexec"; exit 77; }
tools() { "$PY" "$TOOLS" "$@"; }
sums() { md5sum "$@" 2>&1; }

run "$TOKENCLIP" synth --size 32 --threads 1 --out "$WORK/synth"
expect_rc 0 "synth"
D="$WORK/small.h5"
tools subset "$WORK/synth/synth-medical.h5" "$D" 12 e2e-small && pass || fail "subset dataset"
tools subset "$WORK/synth/synth-medical.h5" "$WORK/other.h5" 13 e2e-other && pass || fail "subset other"
COMMON=(--data "$D" --model.image_size 32 --train.epochs 2 --train.global_batch 6 --runtime.threads 1)

# 1. An OUT that holds a run.
A="$WORK/A"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$A" --max-steps 1
expect_rc 0 "first run"
BEFORE=$(sums "$A/config.ini" "$A/checkpoint.h5" "$A/log.jsonl")
run "$TOKENCLIP" train "${COMMON[@]}" --out "$A"
expect_rc 2 "train into a run without --resume"
expect_err "--out '$A' already holds a training run (checkpoint.h5, checkpoints, log.jsonl, config.ini)" "names the run"
expect_err "continue it with --resume, or give a new --out, or replace it with --overwrite" "names the ways out"
[ "$(sums "$A/config.ini" "$A/checkpoint.h5" "$A/log.jsonl")" = "$BEFORE" ] && pass || fail "refused run changed OUT"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$A" --resume --overwrite
expect_rc 2 "--resume with --overwrite"

# 2. --resume refusals, before anything is written.
run "$TOKENCLIP" train "${COMMON[@]}" --out "$A" --resume --train.lr 0.002 --method.topk 1
expect_rc 2 "resume with another recipe"
expect_err "was trained with another recipe (2 key(s) differ)" "recipe refusal"
expect_err "method.topk: 2 in the checkpoint, 1 now" "recipe refusal names the key"
expect_err "train.lr: 1e-3 in the checkpoint, 0.002 now" "recipe refusal names the key"
run "$TOKENCLIP" train "${COMMON[@]}" --data "$WORK/other.h5" --out "$A" --resume
expect_rc 2 "resume on another dataset"
expect_err "was trained on dataset 'e2e-small'" "dataset refusal"
expect_err "holds 'e2e-other'" "dataset refusal names the new data"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$A" --resume --model.init_seed 5
expect_rc 2 "resume with another backbone"
expect_err "was trained with backbone" "backbone refusal"
[ "$(sums "$A/config.ini" "$A/checkpoint.h5" "$A/log.jsonl")" = "$BEFORE" ] && pass ||
  fail "a refused --resume changed OUT (config.ini, checkpoint or log)"
# How often a run records is not its recipe: a resumed job may change it, and --max-steps.
run "$TOKENCLIP" train "${COMMON[@]}" --out "$A" --resume --train.save_every_steps 1 --train.log_every_steps 1 \
  --max-steps 2
expect_rc 0 "resume with another save/log interval and --max-steps"
[ "$(tools ckpt_step "$A/checkpoint.h5")" = 2 ] && pass || fail "resumed run did not reach step 2"
# --overwrite: the earlier run's checkpoints and log lines go.
run "$TOKENCLIP" train "${COMMON[@]}" --out "$A" --overwrite --max-steps 1
expect_rc 0 "--overwrite"
[ "$(tools steps "$A/log.jsonl")" = 1 ] && pass || fail "log after --overwrite: steps $(tools steps "$A/log.jsonl")"
[ "$(ls "$A/checkpoints")" = "epoch-0001-step-000001.h5" ] && pass || fail "checkpoints after --overwrite: $(ls "$A/checkpoints")"
# A run stopped before its first checkpoint: nothing to resume, and still a run.
mkdir -p "$WORK/B" && cp "$A/config.ini" "$WORK/B/"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$WORK/B" --resume
expect_rc 3 "resume without a checkpoint"
expect_err "stopped before its first checkpoint: start it again with --overwrite" "no-checkpoint hint"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$WORK/B"
expect_rc 2 "train into a run without a checkpoint"
expect_err "it has no checkpoint to resume" "no-checkpoint refusal"

# 3. Non-finite checkpoints, refused at every load.
"$PY" -c "import numpy as np; from PIL import Image; Image.fromarray((np.arange(32*32*3) % 251).astype(np.uint8).reshape(32,32,3)).save('$WORK/one.png')"
N="$WORK/nan"
cp -r "$A" "$N" && rm "$N/checkpoint.h5" && cp "$A/checkpoint.h5" "$N/checkpoint.h5"
tools set_value "$N/checkpoint.h5" learnable/base.ctx_normal nan && pass || fail "poison the checkpoint"
NANMSG="$N/checkpoint.h5: tensor 'learnable/base.ctx_normal' holds 1 non-finite value(s)"
run "$TOKENCLIP" infer --checkpoint "$N/checkpoint.h5" --out "$WORK/inf" --runtime.threads 1 "$WORK/one.png"
expect_rc 3 "infer with a NaN checkpoint"
expect_err "$NANMSG" "infer names file and tensor"
[ ! -e "$WORK/inf" ] || [ -z "$(find "$WORK/inf" -name '*.png')" ] && pass || fail "infer wrote overlays"
run "$TOKENCLIP" calibrate --checkpoint "$N/checkpoint.h5" --normal "$D" --false-alarm 0.1 --runtime.threads 1
expect_rc 3 "calibrate with a NaN checkpoint"
expect_err "$NANMSG" "calibrate names file and tensor"
run "$TOKENCLIP" eval --checkpoint "$N/checkpoint.h5" --data "$WORK/other.h5" --out "$WORK/ev" --runtime.threads 1
expect_rc 3 "eval with a NaN checkpoint"
expect_err "$NANMSG" "eval names file and tensor"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$WORK/init" --init-from "$N/checkpoint.h5"
expect_rc 3 "train --init-from a NaN checkpoint"
expect_err "$NANMSG" "--init-from names file and tensor"
[ ! -e "$WORK/init/config.ini" ] && pass || fail "refused --init-from wrote config.ini"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$N" --resume
expect_rc 3 "train --resume from a NaN checkpoint"
expect_err "$NANMSG" "--resume names file and tensor"
cp "$A/checkpoint.h5" "$N/checkpoint.h5"
tools set_value "$N/checkpoint.h5" trainer/exp_avg inf && pass || fail "poison the Adam moments"
run "$TOKENCLIP" train "${COMMON[@]}" --out "$N" --resume
expect_rc 3 "train --resume with infinite Adam moments"
expect_err "$N/checkpoint.h5: tensor 'trainer/exp_avg' holds 1 non-finite value(s)" "names the trainer tensor"

# 4. Duplicate class names; a report of nothing.
tools dup_class "$WORK/synth/synth-industrial-a.h5" "$WORK/dup.h5" && pass || fail "dup_class"
run "$TOKENCLIP" info "$WORK/dup.h5"
expect_rc 3 "dataset with a class named twice"
expect_err "$WORK/dup.h5: class_names[0] and class_names[" "duplicate class refusal"
mkdir -p "$WORK/empty"
run "$TOKENCLIP" report "$WORK/empty"
expect_rc 3 "report of an empty folder"
expect_err "report: no metrics.json under '$WORK/empty'; nothing written" "empty report refusal"
[ ! -e "$WORK/empty/report" ] && pass || fail "refused report left a folder"

# 5. A full disk: a 2 MB tmpfs (the suite runs as root in CI; skipped where mount is refused).
FULL="$WORK/full"
mkdir -p "$FULL"
if mount -t tmpfs -o size=2m tmpfs "$FULL" 2>/dev/null; then
  trap 'umount "$FULL" 2>/dev/null; rm -rf "$WORK"' EXIT
  run "$TOKENCLIP" synth --size 64 --threads 1 --out "$FULL/synth"
  expect_rc 4 "synth onto a full disk"
  expect_err "disk full" "synth names the cause"
  [ -z "$(find "$FULL" -name '*.tmp.*')" ] && pass || fail "synth left temporaries: $(find "$FULL" -name '*.tmp.*')"
  rm -rf "$FULL/synth"
  # A checkpoint every step until the disk is full: every earlier one stays readable.
  run "$TOKENCLIP" train "${COMMON[@]}" --train.epochs 200 --train.save_every_steps 1 --out "$FULL/run"
  expect_rc 4 "train onto a full disk"
  expect_err "disk full" "train names the cause"
  [ -z "$(find "$FULL" -name '*.tmp.*')" ] && pass || fail "train left temporaries: $(find "$FULL" -name '*.tmp.*')"
  n=0
  for c in "$FULL"/run/checkpoints/*.h5; do
    n=$((n + 1))
    [ "$(tools ckpt_step "$c")" = "$n" ] && pass || fail "checkpoint $c unreadable or not step $n"
  done
  echo "full disk: $n checkpoints written before it filled"
  [ "$n" -ge 2 ] && pass || fail "only $n checkpoints fitted: the test needs at least 2"
  [ "$(tools ckpt_step "$FULL/run/checkpoint.h5")" = "$n" ] && pass || fail "checkpoint.h5 is not the last good one"
else
  echo "SKIP (full-disk checks): mount -t tmpfs is not permitted here (needs root)"
fi

# 6. SIGTERM to one rank of a 2-rank train.
MPI="mpiexec --bind-to none -n 2"
SIG=(--data "$D" --model.image_size 32 --train.epochs 8 --train.global_batch 2 --runtime.threads 1)  # 48 steps
run $MPI "$TOKENCLIP" train "${SIG[@]}" --out "$WORK/sigref"
expect_rc 0 "uninterrupted 2-rank reference"
$MPI "$TOKENCLIP" train "${SIG[@]}" --out "$WORK/sig" >"$WORK/sig.out" 2>"$WORK/sig.err" &
MPIPID=$!
for _ in $(seq 1 1200); do
  [ "$(cat "$WORK/sig/log.jsonl" 2>/dev/null | grep -c '"kind":"step"')" -ge 3 ] && break
  kill -0 $MPIPID 2>/dev/null || break
  sleep 0.1
done
VICTIM=$(pgrep -P $MPIPID -f "$TOKENCLIP" | tail -1)
if [ -n "$VICTIM" ] && kill -0 $MPIPID 2>/dev/null; then
  kill -TERM "$VICTIM"
  wait $MPIPID; RC=$?
  [ "$RC" = 75 ] && pass || fail "SIGTERM to one rank: exit code $RC, expected 75; $(tail -5 "$WORK/sig.err")"
  grep -q "stopped by SIGTERM after step" "$WORK/sig.out" && pass || fail "no stop message: $(cat "$WORK/sig.out")"
  STEP=$(tools ckpt_step "$WORK/sig/checkpoint.h5") && pass || fail "stop checkpoint unreadable"
  echo "SIGTERM to rank pid $VICTIM: stopped with a checkpoint at step $STEP of 48"
  [ "$(tools steps "$WORK/sig/log.jsonl")" = "$(seq -s ' ' 1 "$STEP")" ] && pass || fail "log steps before the stop"
  grep -q "\"global_step\":$STEP,\"kind\":\"stop\",\"signal\":\"SIGTERM\"" "$WORK/sig/log.jsonl" && pass ||
    fail "log lacks the stop line at step $STEP"
  run $MPI "$TOKENCLIP" train "${SIG[@]}" --out "$WORK/sig" --resume
  expect_rc 0 "resume after the stop"
  # Bit for bit: both runs have 2 ranks and one thread each, so the resumed steps are the same
  # computation in the same order as the reference's.
  tools cmp_ckpt "$WORK/sigref/checkpoint.h5" "$WORK/sig/checkpoint.h5" 0 learnable trainer && pass ||
    fail "stopped + resumed run differs from the uninterrupted one"
  [ "$(tools steps "$WORK/sig/log.jsonl")" = "$(seq -s ' ' 1 48)" ] && pass || fail "resumed log: each step once"
else
  wait $MPIPID
  fail "could not find a rank to signal (job ended first? $(tail -3 "$WORK/sig.err"))"
fi

finish
