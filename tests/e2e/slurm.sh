#!/usr/bin/env bash
# A real single-node Slurm on this machine (slurm-wlm + munge, localhost, CPU only): plans a
# tiny sweep, submits slurm/sweep.sbatch as a job array (each task a 2-rank MPI job started by
# srun --mpi=pmix) and slurm/train.sbatch (2 ranks started by mpirun inside the allocation),
# waits, and checks markers, results, a recorded failure, resubmission and the report. With
# the real commands, a second train.sbatch job gets Slurm's time-limit warning mid-epoch
# (scancel --batch --signal=USR1, what --signal=B:USR1@300 sends): it checkpoints, requeues
# itself and resumes, ending with the uninterrupted job's learnable tensors (tolerance 0: same
# world size, threads and machine).
#
# Points run the real `train`/`eval` commands on the synthetic benchmark when this build has
# them (and TC_SLURM_TEST_FAKE is not 1); otherwise the test build tokenclip_fake ($TOKENCLIP_FAKE)
# runs everything and its model-free stand-in "builtin-fake" trains and evaluates the points
# (the harness, Slurm and MPI parts are the same) and train.sbatch runs `tokenclip config`.
# Skipped (exit 77, with the reason) only when the Slurm packages cannot be installed (or, for
# the fake run, tokenclip_fake is not built).
source "$(dirname "$0")/lib/assert.sh"
source "$(dirname "$0")/lib/slurm_cluster.sh"
SRC="${TOKENCLIP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

if ! slurm_available; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "slurm.sh: installing slurm-wlm munge (launch/install-deps.sh lists them)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge \
      >"$WORK/apt.log" 2>&1 || tail -5 "$WORK/apt.log"
  fi
  if ! slurm_available; then
    echo "SKIP: the Slurm packages (slurm-wlm, munge) are not installed and could not be installed here"
    exit 77
  fi
fi
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: starting slurmd (SlurmdUser=root) and a private munged needs root"
  exit 77
fi

SLURM_DIR=$(mktemp -d /tmp/tc_slurm.XXXXXX)  # under /tmp: munged needs a traversable path
cleanup() {
  slurm_stop
  rm -rf "$WORK" "$SLURM_DIR"
}
trap cleanup EXIT
slurm_start "$SLURM_DIR" || { fail "single-node Slurm did not start"; finish; exit 1; }
pass

REAL=0
if [ "${TC_SLURM_TEST_FAKE:-0}" != 1 ] && "$TOKENCLIP" train --help >/dev/null 2>&1 &&
   "$TOKENCLIP" eval --help >/dev/null 2>&1 && "$TOKENCLIP" synth --help >/dev/null 2>&1; then
  REAL=1
fi
if [ $REAL = 0 ]; then
  if [ -z "${TOKENCLIP_FAKE:-}" ] || [ ! -x "$TOKENCLIP_FAKE" ]; then
    echo "SKIP: the fake-trainer run needs TOKENCLIP_FAKE (tests' tokenclip_fake; CTest sets it)"
    exit 77
  fi
  export TOKENCLIP="$TOKENCLIP_FAKE"  # for sweep.sbatch and train.sbatch too
fi
echo "slurm.sh: $(sinfo -h -o '%P %D nodes, %c CPUs, state %t'); points run $([ $REAL = 1 ] && echo 'the real train/eval commands' || echo "the fake trainer of $TOKENCLIP")"

SW="$WORK/sweep"  # (not OUT: run() puts a command's stdout there)
mkdir -p "$WORK/logs"
if [ $REAL = 1 ]; then
  run "$TOKENCLIP" synth --out "$WORK/data" --preset quickstart --size 64
  expect_rc 0 "synth"
  cat >"$WORK/tiny.ini" <<INI
[sweep]
name = slurm-e2e
root = $SRC
base = configs/tokenclip.ini
visualize = 2
[set]
model.preset = tiny
model.image_size = 64
train.epochs = 1
[train_flags]
max-steps = 4
[grid]
method.topk = 1, 2
train.seed = 1, 2
[protocol]
synth-industrial-a = synth-industrial-b, synth-medical
[data]
synth-industrial-a = $WORK/data/synth-industrial-a.h5
synth-industrial-b = $WORK/data/synth-industrial-b.h5
synth-medical = $WORK/data/synth-medical.h5
INI
  EXPECT_FAILED=0
else
  for d in synth-industrial-a synth-industrial-b synth-medical; do echo "$d" >"$WORK/$d.h5"; done
  cat >"$WORK/tiny.ini" <<INI
[sweep]
name = slurm-e2e
train_command = builtin-fake
eval_command = builtin-fake
visualize = 2
[grid]
method.topk = 1, 2
train.seed = 1, 2
[protocol]
synth-industrial-a = synth-industrial-b, synth-medical
[data]
synth-industrial-a = synth-industrial-a.h5
synth-industrial-b = synth-industrial-b.h5
synth-medical = synth-medical.h5
[fake]
fail = 3
steps = 30
INI
  EXPECT_FAILED=1
fi

run "$TOKENCLIP" sweep plan --sweep "$WORK/tiny.ini" --out "$SW"
expect_rc 0 "sweep plan"
[ "$OUT" = 4 ] && pass || fail "sweep plan printed '$OUT', expected 4 points"

# The array: one point per task, 2 MPI ranks each (srun --mpi=pmix), CPU only.
array_job=$(cd "$WORK" && sbatch --parsable --array=0-3 --gpus-per-node=0 --ntasks-per-node=2 \
  --cpus-per-task=1 --time=10:00 --output="$WORK/logs/sweep-%A_%a.out" \
  "$SRC/slurm/sweep.sbatch" "$WORK/tiny.ini" "$WORK/sweep")
[ -n "$array_job" ] && pass || fail "sbatch of slurm/sweep.sbatch returned no job id"

# The training script: 2 ranks started by mpirun inside the allocation.
if [ $REAL = 1 ]; then
  train_args=(--config "$SRC/configs/tokenclip.ini" --model.preset tiny --model.image_size 64 --train.epochs 1
              --max-steps 12 --data "$WORK/data/synth-industrial-a.h5")
  train_cmd=train
else
  train_args=(--config "$SRC/configs/tokenclip.ini")
  train_cmd=config
fi
submit_train() {  # submit_train OUT: prints the job id
  (cd "$WORK" && TC_COMMAND=$train_cmd TC_LAUNCHER=mpirun sbatch --parsable --gpus-per-node=0 \
    --ntasks-per-node=2 --cpus-per-task=1 --time=10:00 --output="$WORK/logs/train-%j.out" \
    "$SRC/slurm/train.sbatch" "${train_args[@]}" --out "$1")
}
train_job=$(submit_train "$WORK/train-run")
[ -n "$train_job" ] && pass || fail "sbatch of slurm/train.sbatch returned no job id"
stop_job=""
if [ $REAL = 1 ]; then
  stop_job=$(submit_train "$WORK/train-stop")
  [ -n "$stop_job" ] && pass || fail "sbatch of the job to interrupt returned no job id"
fi

wait_jobs() {  # wait_jobs TIMEOUT_S JOBID...: until squeue lists none of them
  local limit=$1 t=0
  shift
  local ids
  ids=$(IFS=,; echo "$*")
  while [ -n "$(squeue -h -j "$ids" 2>/dev/null)" ]; do
    sleep 1
    t=$((t + 1))
    if [ $t -ge "$limit" ]; then
      fail "jobs $ids still queued/running after ${limit}s: $(squeue -j "$ids" 2>&1)"
      scancel "$@" 2>/dev/null
      return 1
    fi
  done
}
# Slurm's time-limit warning to the second training job once it is past its second step.
if [ -n "$stop_job" ]; then
  t=0
  until [ "$(cat "$WORK/train-stop/log.jsonl" 2>/dev/null | grep -c '"kind":"step"')" -ge 2 ]; do
    sleep 0.2
    t=$((t + 1))
    if [ $t -ge $((5 * ${TC_SLURM_TEST_TIMEOUT:-600})) ] || [ -z "$(squeue -h -j "$stop_job" 2>/dev/null)" ]; then
      fail "the job to interrupt did not reach its second step: $(tail -5 "$WORK"/logs/train-"$stop_job".out 2>&1)"
      break
    fi
  done
  scancel --batch --signal=USR1 "$stop_job" && pass || fail "scancel --signal=USR1 of job $stop_job"
  echo "slurm.sh: SIGUSR1 sent to job $stop_job after step $(grep -c '"kind":"step"' "$WORK/train-stop/log.jsonl")"
fi
wait_jobs "${TC_SLURM_TEST_TIMEOUT:-600}" "$array_job" "$train_job" $stop_job
echo "slurm.sh: jobs finished"

# Sweep results.
for i in 0 1 2 3; do
  log="$WORK/logs/sweep-${array_job}_$i.out"
  grep -q "task $i of array $array_job" "$log" && pass || fail "task $i log lacks its header: $(head -c 800 "$log")"
  grep -q "2 ranks via srun" "$log" && pass || fail "task $i did not start 2 ranks with srun"
done
run "$TOKENCLIP" sweep status --out "$SW"
expect_rc 0 "sweep status"
if [ $EXPECT_FAILED = 1 ]; then
  expect_out "4 points: 3 done, 0 running, 1 failed, 0 pending" "status after the array"
  id3=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["points"][3]["id"])' "$SW/manifest.json")
  grep -q "configured to fail" "$SW/points/$id3/failed.json" && pass || fail "failed.json of point 3 lacks the error"
  grep -q "rank 1: runtime error" "$SW/points/$id3/failed.json" && pass || fail "failed.json lacks rank 1's error"
else
  expect_out "4 points: 4 done, 0 running, 0 failed, 0 pending" "status after the array"
fi
n_metrics=$(find "$SW/points" -name metrics.json | wc -l)
[ "$n_metrics" = $(( (4 - EXPECT_FAILED) * 2 )) ] && pass || fail "found $n_metrics metrics.json files"
[ -z "$(find "$SW/points" -name lock)" ] && pass || fail "lock files left behind: $(find "$SW/points" -name lock)"
[ -z "$(find "$SW" -name '*.tmp.*')" ] && pass || fail "temporary files left behind"
id0=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["points"][0]["id"])' "$SW/manifest.json")
grep -q '"ranks": 2' "$SW/points/$id0/done.json" && pass || fail "point 0 did not run with 2 ranks: $(cat "$SW/points/$id0/done.json")"

# Resubmitting a finished point skips it (resumable, no duplicate work).
again=$(cd "$WORK" && sbatch --parsable --array=0 --gpus-per-node=0 --ntasks-per-node=1 --cpus-per-task=1 \
  --time=5:00 --output="$WORK/logs/again-%A_%a.out" "$SRC/slurm/sweep.sbatch" "$WORK/tiny.ini" "$WORK/sweep")
wait_jobs 120 "$again"
grep -q "1 done" "$WORK/logs/again-${again}_0.out" && grep -q "0 point(s) run" "$WORK/logs/again-${again}_0.out" &&
  pass || fail "resubmitted point 0 was not skipped: $(cat "$WORK/logs/again-${again}_0.out")"

# Training job.
tlog="$WORK/logs/train-$train_job.out"
grep -q "2 ranks via mpirun" "$tlog" && pass || fail "train.sbatch did not start 2 ranks with mpirun: $(head -c 800 "$tlog")"
if [ $REAL = 1 ]; then
  for f in checkpoint.h5 config.ini log.jsonl; do
    [ -s "$WORK/train-run/$f" ] && pass || fail "train.sbatch left no $f"
  done
  # The interrupted job: stopped with a checkpoint, requeued itself, resumed to the same end.
  slog="$WORK/logs/train-$stop_job.out"
  TOOLS="$SRC/tests/e2e/lib/dist_tools.py"
  for want in "SIGUSR1 received" "stopped by SIGUSR1 after step" "requeueing job $stop_job" \
              "(restart 1)" "resuming from $WORK/train-stop/checkpoint.h5"; do
    grep -qF -- "$want" "$slog" && pass || fail "interrupted job's log lacks '$want': $(tail -c 1500 "$slog")"
  done
  /usr/bin/python3 "$TOOLS" cmp_ckpt "$WORK/train-run/checkpoint.h5" "$WORK/train-stop/checkpoint.h5" 0 \
    learnable trainer && pass || fail "interrupted + requeued job ended with other tensors than the uninterrupted one"
  [ "$(/usr/bin/python3 "$TOOLS" steps "$WORK/train-stop/log.jsonl")" = "$(seq -s ' ' 1 12)" ] && pass ||
    fail "requeued job's log: steps $(/usr/bin/python3 "$TOOLS" steps "$WORK/train-stop/log.jsonl")"
  grep -q '"kind":"stop","signal":"SIGUSR1"' "$WORK/train-stop/log.jsonl" && pass || fail "log lacks the stop line"
else
  [ -s "$WORK/train-run/config.ini" ] && pass || fail "train.sbatch (config stand-in) wrote no config.ini: $(cat "$tlog")"
fi

# Report from the (partly failed) sweep.
run "$TOKENCLIP" report "$SW"
expect_rc 0 "report"
for f in report.md report.csv report.json index.html; do
  [ -s "$SW/report/$f" ] && pass || fail "report did not write $f"
done
grep -q "<svg" "$SW/report/index.html" && pass || fail "report.html has no training curves"
grep -q "data:image/png;base64," "$SW/report/index.html" && pass || fail "index.html has no heatmap thumbnails"
grep -q "prompts trained on synth-industrial-a" "$SW/report/report.md" && pass || fail "report names no training set"
if [ $EXPECT_FAILED = 1 ]; then
  grep -q "topk=2.*failed" "$SW/report/report.md" && pass || fail "report does not list the failed point"
  grep -qE '[0-9]\*' "$SW/report/report.md" && pass || fail "report does not mark the partial cells"
fi
finish
