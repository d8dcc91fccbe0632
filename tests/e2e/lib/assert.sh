# Small assertion helpers for the end-to-end shell tests (sourced, not run).
set -uo pipefail
: "${TOKENCLIP:?TOKENCLIP must point at the built tokenclip binary}"
TC_FAILS=0
TC_PASSES=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tc_e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

pass() { TC_PASSES=$((TC_PASSES + 1)); }
fail() { echo "FAIL: $*" >&2; TC_FAILS=$((TC_FAILS + 1)); }

# run CMD...: captures stdout/stderr/exit code into OUT, ERR, RC
run() {
  OUT=$("$@" 2>"$WORK/stderr"); RC=$?
  ERR=$(cat "$WORK/stderr")
}
expect_rc() { [ "$RC" = "$1" ] && pass || fail "$2: exit code $RC, expected $1; stderr: $ERR"; }
expect_out() { grep -qF -- "$1" <<<"$OUT" && pass || fail "$2: stdout lacks '$1'; got: ${OUT:0:600}"; }
expect_err() { grep -qF -- "$1" <<<"$ERR" && pass || fail "$2: stderr lacks '$1'; got: ${ERR:0:600}"; }
finish() {
  echo "$TC_PASSES passed, $TC_FAILS failed"
  [ "$TC_FAILS" = 0 ]
}
