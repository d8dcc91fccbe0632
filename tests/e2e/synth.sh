#!/usr/bin/env bash
# `tokenclip synth`: writes the three dataset files and a summary; the same seed gives the same
# content hash whatever the thread count, another seed another; bad presets/sizes are usage
# errors; nothing is left behind by a refused run.
source "$(dirname "$0")/lib/assert.sh"

run "$TOKENCLIP" synth --out "$WORK/a" --size 32 --threads 2
expect_rc 0 "synth quickstart at S=32"
expect_out "synth-industrial-a" "summary lists dataset a"
expect_out "synth-medical" "summary lists the medical dataset"
for f in synth-industrial-a.h5 synth-industrial-b.h5 synth-medical.h5 synth_summary.json synth_config.ini; do
  [ -s "$WORK/a/$f" ] && pass || fail "missing output $f"
done
[ -z "$(find "$WORK/a" -name '*.tmp*')" ] && pass || fail "temporary files left in the output"

hashes() { grep -o '"content_hash": *"[0-9a-f]*"' "$1/synth_summary.json"; }
run "$TOKENCLIP" synth --out "$WORK/b" --size 32 --threads 1
expect_rc 0 "synth again with one thread"
[ "$(hashes "$WORK/a")" = "$(hashes "$WORK/b")" ] && [ -n "$(hashes "$WORK/a")" ] && pass ||
  fail "same seed, different thread count: content hashes differ"
run "$TOKENCLIP" synth --out "$WORK/c" --size 32 --seed 1
expect_rc 0 "synth with seed 1"
[ "$(hashes "$WORK/a")" != "$(hashes "$WORK/c")" ] && pass || fail "seed 1 gave the same content"

run "$TOKENCLIP" synth --out "$WORK/d" --preset huge
expect_rc 2 "unknown preset"
expect_err "huge" "unknown preset named"
run "$TOKENCLIP" synth --out "$WORK/e" --size 16
expect_rc 2 "size below 32"
expect_err "--size 16" "bad size named"
[ ! -e "$WORK/e/synth-industrial-a.h5" ] && pass || fail "refused run left a file"
run "$TOKENCLIP" synth
expect_rc 2 "missing --out"

finish
