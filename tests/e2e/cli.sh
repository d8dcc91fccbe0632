#!/usr/bin/env bash
# The `tokenclip` command line: help, unknown commands and options, config precedence,
# refusals with file:line and suggestions, the effective config, version, and MPI launch.
source "$(dirname "$0")/lib/assert.sh"

run "$TOKENCLIP" --help
expect_rc 0 "--help"
expect_out "usage: tokenclip <command>" "--help usage"
expect_out "version" "--help lists version"
expect_out "config" "--help lists config"

# Every listed subcommand has a working --help that shows defaults.
for cmd in $(sed -n '/^commands:/,/^$/p' <<<"$OUT" | awk 'NF>1 && $1!="commands:" {print $1}'); do
  run "$TOKENCLIP" "$cmd" --help
  expect_rc 0 "$cmd --help"
  expect_out "usage: tokenclip $cmd" "$cmd --help usage line"
done
run "$TOKENCLIP" config --help
expect_out "--method.subspaces" "config --help lists method keys"
expect_out "(default: 4)" "config --help shows defaults"

run "$TOKENCLIP" confg
expect_rc 2 "unknown command"
expect_err "unknown command 'confg'" "unknown command message"
expect_err "did you mean 'config'" "unknown command suggestion"

run "$TOKENCLIP" config --method.subspace 3
expect_rc 2 "unknown option"
expect_err "--method.subspace" "unknown option named"
expect_err "did you mean '--method.subspaces'" "unknown option suggestion"

run "$TOKENCLIP" config --method.topk two
expect_rc 2 "malformed value"
expect_err "command line: key 'method.topk': value 'two' is not an integer" "malformed value message"

cat >"$WORK/a.ini" <<INI
[method]
subspaces = 8
topk = 3
INI
cat >"$WORK/b.ini" <<INI
[method]
topk = 1
INI
run "$TOKENCLIP" config --config "$WORK/a.ini" --config "$WORK/b.ini" --method.subspaces 6
expect_rc 0 "config precedence"
expect_out "subspaces = 6  # from command line" "flag wins over files"
expect_out "topk = 1  # from $WORK/b.ini:2" "later file wins"

printf '[method]\n\nsubspacs = 2\n' >"$WORK/bad.ini"
run "$TOKENCLIP" config --config "$WORK/bad.ini"
expect_rc 2 "unknown key in file"
expect_err "$WORK/bad.ini:3: unknown key 'method.subspacs'" "file:line of unknown key"
expect_err "did you mean 'method.subspaces'" "suggestion for unknown key"

printf '[method]\not_eps = -1\n' >"$WORK/range.ini"
run "$TOKENCLIP" config --config "$WORK/range.ini"
expect_rc 2 "out of range"
expect_err "$WORK/range.ini:2: key 'method.ot_eps': value '-1' is out of range; expected a number > 0" "range message"

run "$TOKENCLIP" config --config "$WORK/missing.ini"
expect_rc 2 "missing config file"
expect_err "does not exist" "missing config file message"

run "$TOKENCLIP" config --config "$WORK/a.ini" --out "$WORK/run"
expect_rc 0 "effective config written"
grep -q "subspaces = 8  # from $WORK/a.ini:2" "$WORK/run/config.ini" && pass || fail "config.ini content"
# The effective config is itself a valid config file that reproduces the same hash.
h1=$(grep '^# config hash' "$WORK/run/config.ini")
run "$TOKENCLIP" config --config "$WORK/run/config.ini"
expect_out "$h1" "effective config reloads to the same hash"

run "$TOKENCLIP" version
expect_rc 0 "version"
expect_out "libtorch " "version names libtorch"
expect_out "NCCL compiled:" "version says NCCL"

run "$TOKENCLIP" version extra
expect_rc 2 "positional refused"

# Under an MPI launcher the command starts MPI on every rank and exits cleanly.
if command -v mpiexec >/dev/null; then
  run mpiexec -n 2 "$TOKENCLIP" version
  expect_rc 0 "version under mpiexec -n 2"
  # A usage error on every rank ends the job non-zero rather than hanging.
  run timeout 60 mpiexec -n 2 "$TOKENCLIP" config --method.topk 0
  [ "$RC" != 0 ] && [ "$RC" != 124 ] && pass || fail "usage error under mpiexec: rc $RC"
fi
finish
