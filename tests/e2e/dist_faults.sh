#!/usr/bin/env bash
# Multi-rank faults end the job cleanly (issue 12, sections 3 and 4), with real mpiexec runs of
# `tokenclip`: a stopped rank (SIGSTOP, from outside or from the test hook inside a collective)
# ends the job with exit 5 within the timeout + a few seconds, and the message names the silent
# rank (rank 1 of 2 and of 3, rank 0, in train's all-reduce and in eval's send/recv); a waiting
# rank sleeps instead of spinning; a rank that is slow but under the timeout is not killed; a
# rank that throws mid-step ends the job at once with its own message although its
# communicator's teardown is collective (as NCCL's is).
# The hook: TOKENCLIP_TEST_FAULT=RANK:OP:CALL:ACTION (src/dist/fault.h). Small data (S = 32,
# random tiny CLIP).
source "$(dirname "$0")/lib/assert.sh"
PY=/usr/bin/python3
TOOLS="$(dirname "$0")/lib/dist_tools.py"
[ -x "$PY" ] && "$PY" -c "import h5py, numpy" 2>/dev/null || { echo "no /usr/bin/python3 with h5py"; exit 77; }
command -v mpiexec >/dev/null || { echo "no mpiexec"; exit 77; }
MPI="mpiexec --bind-to none"
tools() { "$PY" "$TOOLS" "$@"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
# rank_pid MPIEXEC_PID RANK: the pid of that rank (OpenMPI puts the rank in each child's environment)
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
  done
}
# fault_time: when the hook fired in the last run (it prints the unix time), so that timings
# start at the fault and not at the launch
fault_time() { sed -n 's/.*TOKENCLIP_TEST_FAULT: .*(unix time \([0-9.]*\)).*/\1/p' <<<"$ERR" | head -1; }
# ended_after_fault: seconds from the hook's fault to the end of the last run (which ended at END)
ended_after_fault() { local f; f=$(fault_time); [ -n "$f" ] && echo "$END - $f" | bc || echo 999; }
# wait_steps DIR N MPIEXEC_PID: until the run in DIR has logged N steps (or the job ended)
wait_steps() {
  for _ in $(seq 1 600); do
    [ "$(steps_logged "$1")" -ge "$2" ] && return
    kill -0 "$3" 2>/dev/null || return
    sleep 0.2
  done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime
steps_logged() { local n; n=$(grep -c '"kind":"step"' "$1/log.jsonl" 2>/dev/null); echo "${n:-0}"; }
# alive PID: a process that exists and is not a zombie (pid 1 may take a while to reap orphans)
alive() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; }

run "$TOKENCLIP" synth --size 32 --threads 1 --out "$WORK/synth"
expect_rc 0 "synth"
D="$WORK/small.h5"; EVAL="$WORK/eval.h5"
tools subset "$WORK/synth/synth-medical.h5" "$D" 12 e2e-small && pass || fail "subset train"
tools subset "$WORK/synth/synth-industrial-b.h5" "$EVAL" 24 e2e-eval && pass || fail "subset eval"
# 12 images, global batch 6: 2 steps per epoch.
TRAIN=(train --data "$D" --model.image_size 32 --train.global_batch 6 --runtime.threads 1)
T=5          # the timeout of the runs that must time out
GRACE=2      # the time the waiting ranks give each other to answer (timeout / 10, at least 2 s)
BOUND=$((T + GRACE + 8))  # + launcher teardown and a loaded machine

# expect_timeout NAME SILENT_RANK: the last run ended with exit 5 within BOUND s of the stop
# (ELAPSED), and rank SILENT_RANK is named as the silent one.
expect_timeout() {
  expect_rc 5 "$1"
  grep -q "error (distributed): .* did not complete: waited" <<<"$ERR" && pass || fail "$1: no timeout message: ${ERR: -800}"
  grep -qE "; rank $2 did not reach a collective" <<<"$ERR" && pass ||
    fail "$1: the message does not name rank $2 as the silent one: ${ERR: -800}"
  (( $(echo "$ELAPSED < $BOUND" | bc) )) && pass || fail "$1: took $ELAPSED s (bound $BOUND s)"
  (( $(echo "$ELAPSED >= $T - 1" | bc) )) && pass || fail "$1: ended after $ELAPSED s, before the timeout ($T s)"
  echo "$1: exit $RC after $ELAPSED s; $(grep -m1 "did not complete" <<<"$ERR")"
}

# 1. The issue's case: SIGSTOP rank 1 of a 2-rank train from outside, mid-training. Rank 0
#    waits in a collective without burning its core, and the job ends with exit 5 naming rank 1.
$MPI -n 2 "$TOKENCLIP" "${TRAIN[@]}" --train.epochs 50 --out "$WORK/stop" --runtime.comm_timeout_s $T \
  >"$WORK/stop.out" 2>"$WORK/stop.err" &
MPIPID=$!
wait_steps "$WORK/stop" 2 $MPIPID
R0=$(rank_pid $MPIPID 0); R1=$(rank_pid $MPIPID 1)
if [ -n "$R0" ] && [ -n "$R1" ]; then
  T0=$(now)
  kill -STOP "$R1"
  sleep 1.5  # rank 0 finishes its step and is waiting from here on
  C0=$(cpu_ticks "$R0"); W0=$(now)
  sleep 2.5
  C1=$(cpu_ticks "$R0"); W1=$(now)
  wait $MPIPID; RC=$?
  ELAPSED=$(since "$T0"); ERR=$(cat "$WORK/stop.err")
  expect_timeout "SIGSTOP rank 1 of 2 (train)" 1
  CPU=$(echo "scale=3; ($C1 - $C0) / $(getconf CLK_TCK) / ($W1 - $W0)" | bc)
  echo "rank 0 used $CPU of a core while it waited"
  (( $(echo "$CPU < 0.2" | bc) )) && pass || fail "rank 0 used $CPU of a core while waiting (spinning)"
  for _ in $(seq 1 20); do alive "$R1" || break; sleep 0.25; done
  if alive "$R1"; then
    fail "the stopped rank 1 (pid $R1) outlived the job"
    kill -KILL "$R1"
  else
    pass
  fi
else
  fail "2-rank train did not get going: $(tail -5 "$WORK/stop.err")"
  kill $MPIPID 2>/dev/null; wait $MPIPID 2>/dev/null
fi

# 2. Three ranks, rank 1 stops inside its second all-reduce (test hook): only rank 1 is named;
#    ranks 0 and 2 were waiting.
run env TOKENCLIP_TEST_FAULT=1:allreduce:2:stop $MPI -n 3 "$TOKENCLIP" "${TRAIN[@]}" --train.epochs 3 \
  --out "$WORK/stop3" --runtime.comm_timeout_s $T
END=$(now); ELAPSED=$(ended_after_fault)
expect_timeout "rank 1 of 3 stops in allreduce" 1
grep -q "waiting: rank 0 in allreduce, rank 2 in allreduce" <<<"$ERR" && pass ||
  fail "3 ranks: ranks 0 and 2 should be listed as waiting: ${ERR: -600}"
grep -q "rank 2 did not reach\|ranks 1, 2" <<<"$ERR" && fail "3 ranks: rank 2 named as silent" || pass

# 3. Rank 0 is the silent one (stops in the checkpoint barrier); rank 1 names it.
run env TOKENCLIP_TEST_FAULT=0:barrier:1:stop $MPI -n 2 "$TOKENCLIP" "${TRAIN[@]}" --train.epochs 3 \
  --out "$WORK/stop0" --runtime.comm_timeout_s $T
END=$(now); ELAPSED=$(ended_after_fault)
expect_timeout "rank 0 of 2 stops in a barrier" 0

# 4. Point-to-point: eval's rank-ordered collection. Rank 1 stops before its first send, rank
#    0 waits in recv.
run "$TOKENCLIP" "${TRAIN[@]}" --max-steps 1 --out "$WORK/ck"
expect_rc 0 "train 1 step for eval"
run env TOKENCLIP_TEST_FAULT=1:send:1:stop $MPI -n 2 "$TOKENCLIP" eval --checkpoint "$WORK/ck/checkpoint.h5" \
  --data "$EVAL" --out "$WORK/ev" --runtime.threads 1 --runtime.comm_timeout_s $T
END=$(now); ELAPSED=$(ended_after_fault)
expect_timeout "rank 1 stops before its send (eval)" 1
grep -q "recv from rank 1 on rank 0 did not complete" <<<"$ERR" && pass || fail "eval: rank 0 should time out in recv: ${ERR: -600}"

# 5. Slow but alive, under the timeout: not killed. Rank 1 stopped from outside for 3 s
#    (timeout 12 s), and rank 0 sleeping 3 s inside the checkpoint barrier (rank 0 alone
#    writing a large checkpoint while the others wait).
$MPI -n 2 "$TOKENCLIP" "${TRAIN[@]}" --train.epochs 3 --out "$WORK/slow" --runtime.comm_timeout_s 12 \
  >"$WORK/slow.out" 2>"$WORK/slow.err" &
MPIPID=$!
wait_steps "$WORK/slow" 1 $MPIPID
R1=$(rank_pid $MPIPID 1)
[ -n "$R1" ] && { kill -STOP "$R1"; sleep 3; kill -CONT "$R1"; }
wait $MPIPID; RC=$?
[ -n "$R1" ] && [ "$RC" = 0 ] && pass || fail "rank 1 stopped for 3 s (timeout 12 s): exit $RC: $(tail -5 "$WORK/slow.err")"
[ "$(steps_logged "$WORK/slow")" = 6 ] && pass || fail "slow run: $(steps_logged "$WORK/slow") steps logged, expected 6"
run env TOKENCLIP_TEST_FAULT=0:barrier:1:sleep=3 $MPI -n 2 "$TOKENCLIP" "${TRAIN[@]}" --train.epochs 2 \
  --out "$WORK/slow0" --runtime.comm_timeout_s 12
expect_rc 0 "rank 0 sleeping 3 s in a barrier (timeout 12 s)"

# 6. A rank that throws mid-step ends the job at once with its own message and exit code (4),
#    long before the timeout, although the hook makes its communicator's teardown a collective
#    (an unbounded MPI barrier, as ncclCommDestroy): the failing rank must not tear it down
#    while the exception unwinds. Before that fix it hung in the teardown and the peer timed out.
run env TOKENCLIP_TEST_FAULT=1:allreduce:3:throw $MPI -n 2 "$TOKENCLIP" "${TRAIN[@]}" --train.epochs 3 \
  --out "$WORK/throw" --runtime.comm_timeout_s 60
END=$(now); ELAPSED=$(ended_after_fault)
echo "rank 1 throws: exit $RC $ELAPSED s after the throw"
expect_rc 4 "rank 1 throws mid-step"
expect_err "[rank 1] tokenclip: error (runtime): injected fault (TOKENCLIP_TEST_FAULT) at allreduce #3 on rank 1" \
  "rank 1 throws mid-step"
(( $(echo "$ELAPSED < 20" | bc) )) && pass || fail "rank 1 throws: the job took $ELAPSED s to end (timeout 60 s)"
grep -q "did not complete" <<<"$ERR" && fail "rank 1 throws: a peer timed out instead: ${ERR: -600}" || pass
# The same job completes when nobody throws: the collective teardown itself is harmless.
run env TOKENCLIP_TEST_FAULT=1:allreduce:99:throw $MPI -n 2 "$TOKENCLIP" "${TRAIN[@]}" --train.epochs 1 \
  --out "$WORK/nothrow" --runtime.comm_timeout_s 60
expect_rc 0 "hook armed but never firing"

finish
