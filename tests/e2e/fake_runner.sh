#!/usr/bin/env bash
# The sweep's model-free stand-in for train/eval ("builtin-fake") is a test build's: the shipped
# `tokenclip` has no such runner (a sweep naming it fails its points, saying the command is
# not part of this build), while tests' `tokenclip_fake` (the same command with
# tests/sweep/fake_runner.cpp linked in) runs the sweep on it, [fake] options included.
source "$(dirname "$0")/lib/assert.sh"
if [ -z "${TOKENCLIP_FAKE:-}" ] || [ ! -x "$TOKENCLIP_FAKE" ]; then
  echo "SKIP: TOKENCLIP_FAKE does not name the built tokenclip_fake (CTest sets it)"
  exit 77
fi

for d in a b c; do echo "$d" >"$WORK/$d.h5"; done
cat >"$WORK/fake.ini" <<INI
[sweep]
name = fake-e2e
train_command = builtin-fake
eval_command = builtin-fake
visualize = 1
[grid]
method.topk = 1, 2
[protocol]
a = b, c
[data]
a = a.h5
b = b.h5
c = c.h5
[fake]
fail_eval = c
steps = 6
INI

# The shipped command: no stand-in.
run "$TOKENCLIP" sweep plan --sweep "$WORK/fake.ini" --out "$WORK/shipped"
expect_rc 0 "plan (shipped)"
run "$TOKENCLIP" sweep run --out "$WORK/shipped" --all
expect_rc 4 "run (shipped): its points fail"
expect_out "2 point(s) run: 0 ok, 2 failed" "run (shipped) summary"
expect_out "'tokenclip builtin-fake', which is not part of this build" "run (shipped) names the missing command"
[ -z "$(find "$WORK/shipped/points" -name metrics.json)" ] && pass || fail "the shipped command wrote metrics"
if grep -q "fake runner" "$TOKENCLIP"; then fail "the shipped binary holds the fake runner's strings"; else pass; fi

# The test build: the stand-in runs every point, [fake] fail_eval included.
run "$TOKENCLIP_FAKE" sweep plan --sweep "$WORK/fake.ini" --out "$WORK/test"
expect_rc 0 "plan (test build)"
run "$TOKENCLIP_FAKE" sweep run --out "$WORK/test" --all
expect_rc 4 "run (test build): evaluation on c fails as configured"
expect_out "2 point(s) run: 0 ok, 2 failed" "run (test build) summary"
expect_out "fake runner: evaluation on c is configured to fail" "run (test build) failure"
expect_err "points run the stand-in 'builtin-fake' of this test build" "run (test build) warns"
[ "$(find "$WORK/test/points" -name metrics.json | wc -l)" = 2 ] && pass || fail "expected 2 metrics.json (on b)"
[ "$(find "$WORK/test/points" -path '*/eval/b/pictures/000.png' | wc -l)" = 2 ] && pass || fail "expected a picture per point"
for log in "$WORK"/test/points/*/train/log.jsonl; do
  [ "$(grep -c '"kind":"step"' "$log")" = 6 ] && pass || fail "$log: expected 6 steps ([fake] steps = 6)"
done
run "$TOKENCLIP_FAKE" report "$WORK/test"
expect_rc 0 "report of the fake sweep"
[ -s "$WORK/test/report/report.md" ] && pass || fail "no report.md"
finish
