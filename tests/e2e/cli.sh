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

# ---------------------------------------------------------------- bad input, in our words (issue 12, section 5)
# A repeatable option never splits its values at commas.
run "$TOKENCLIP" encode-text --text "a flawless bottle, seen from above" --text "normal" --out "$WORK/t.h5"
expect_rc 0 "encode-text with a comma in a text"
expect_out ": 2 texts" "a text with a comma stays one text"

# Numeric flags are checked with their range when the command line is parsed (exit 2).
run "$TOKENCLIP" eval --checkpoint "$WORK/none.h5" --data "$WORK/none.h5" --out "$WORK/e" --visualize foo
expect_rc 2 "--visualize foo"
expect_err "option '--visualize': value 'foo' is not an integer; expected an integer >= 0, or one of: none, anomalous, all" \
  "--visualize foo names the flag"
run "$TOKENCLIP" eval --checkpoint "$WORK/none.h5" --data "$WORK/none.h5" --out "$WORK/e" --visualize -3
expect_rc 2 "--visualize -3"
expect_err "option '--visualize': value '-3' is out of range" "--visualize -3 names the flag"
run "$TOKENCLIP" score --maps "$WORK/none.h5" --data "$WORK/none.h5" --out "$WORK/s.json" --aupro foo
expect_rc 2 "--aupro foo (before any file is opened)"
expect_err "option '--aupro': value 'foo' is not allowed; expected one of: anomalyclip, mvtec, both" "--aupro choices"
run "$TOKENCLIP" encode --out "$WORK/x.h5" --images "$WORK" --vv-from 0
expect_rc 2 "--vv-from 0"
expect_err "option '--vv-from': value '0' is out of range; expected an integer >= 1, or one of: none, off" "--vv-from range"
run "$TOKENCLIP" encode --out "$WORK/x.h5" --images "$WORK" --layers 2,x
expect_rc 2 "--layers 2,x"
expect_err "option '--layers': value '2,x' has item 'x' that is not an integer" "--layers item"

# A key given twice in one file is refused with both lines.
printf '[method]\nsubspaces = 8\ntopk = 1\nsubspaces = 2\n' >"$WORK/dup.ini"
run "$TOKENCLIP" config --config "$WORK/dup.ini"
expect_rc 2 "duplicate key"
expect_err "$WORK/dup.ini:4: key 'subspaces' of [method] is given twice (first at $WORK/dup.ini:2)" "duplicate key lines"

# A 100,000-digit integer is out of range; a 1 MB value is not echoed whole.
run "$TOKENCLIP" config --method.subspaces "$(printf '9%.0s' $(seq 1 100000))"
expect_rc 2 "100,000-digit integer"
expect_err "(100000 characters) is out of range; expected an integer >= 1" "huge integer: out of range, cut"
run "$TOKENCLIP" synth --size 4294967328 --out "$WORK/synth_wrap"
expect_rc 2 "an integer beyond 32 bits is refused, not wrapped (4294967328 = 2^32 + 32)"
[ ! -e "$WORK/synth_wrap" ] && pass || fail "synth ran with a wrapped --size"
# (from a file: one argument cannot be that long)
{ printf '[method]\nassign = '; head -c 1000000 /dev/zero | tr '\0' 'a'; printf '\n'; } >"$WORK/big.ini"
run "$TOKENCLIP" config --config "$WORK/big.ini"
expect_rc 2 "1 MB value"
expect_err "(1000000 characters) is not allowed" "1 MB value cut"
[ "${#ERR}" -lt 1000 ] && pass || fail "1 MB value: the message is ${#ERR} characters"

# One INI serves every command: keys of known sections a command does not read are skipped
# (listed at debug level); flags stay strict; unknown sections stay errors.
CFG="$(cd "$(dirname "$0")/../.." && pwd)/configs/anomalyclip.ini"
run "$TOKENCLIP" convert-weights --config "$CFG" --out "$WORK/wcfg.h5" --log-level debug
expect_rc 0 "convert-weights takes the training config"
expect_err "method.subspaces ($CFG:" "skipped keys listed at debug level"
run "$TOKENCLIP" cache build --config "$CFG" --data "$WORK/none.h5" --out "$WORK/c.h5"
expect_rc 3 "cache build with the training config gets past the config (the dataset is missing)"
run "$TOKENCLIP" convert-weights --method.subspaces 2 --out "$WORK/w2.h5"
expect_rc 2 "a flag of a section the command does not read"
printf '[methd]\nsubspaces = 2\n' >"$WORK/sec.ini"
run "$TOKENCLIP" convert-weights --config "$WORK/sec.ini" --out "$WORK/w2.h5"
expect_rc 2 "unknown section"
expect_err "$WORK/sec.ini:2: unknown section [methd] (did you mean [method]?)" "unknown section message"

# import-anomalyclip records the [model] setting the prompts were trained with, and eval builds
# the backbone from it (S = 64, layers 2,4, V-V from block 3 on the random tiny CLIP).
if /usr/bin/python3 -c "import torch, PIL, numpy" 2>/dev/null; then
  /usr/bin/python3 - "$WORK" <<'PY' || fail "AnomalyCLIP fixture"
import os, sys
import numpy as np, torch
from PIL import Image
w = sys.argv[1]
g = torch.Generator().manual_seed(0)
sd = {"ctx_pos": torch.randn(1, 1, 12, 64, generator=g) * 0.02, "ctx_neg": torch.randn(1, 1, 12, 64, generator=g) * 0.02}
for i in range(8):
    sd[f"compound_prompts_text.{i}"] = torch.randn(4, 64, generator=g) * 0.02
torch.save({"prompt_learner": sd}, f"{w}/ac.pth")
r = np.random.RandomState(0)
for sub, n in (("good", 3), ("anomalous", 2)):
    os.makedirs(f"{w}/line/{sub}", exist_ok=True)
    for i in range(n):
        Image.fromarray(r.randint(0, 256, (40, 40, 3)).astype(np.uint8)).save(f"{w}/line/{sub}/{i}.png")
PY
  run "$TOKENCLIP" convert-weights --out "$WORK/w.h5"
  expect_rc 0 "random tiny weights for the import"
  run "$TOKENCLIP" import-anomalyclip "$WORK/ac.pth" --weights "$WORK/w.h5" --out "$WORK/ac.h5" \
    --model.image_size 64 --model.layers 2,4 --model.vv_from 3
  expect_rc 0 "import-anomalyclip with [model] keys"
  run "$TOKENCLIP" prep folder --root "$WORK/line" --out "$WORK/line.h5" --size 64
  expect_rc 0 "prep folder"
  expect_out "dataset 'line'" "prep folder names the dataset after its root folder"
  run "$TOKENCLIP" eval --checkpoint "$WORK/ac.h5" --data "$WORK/line.h5" --out "$WORK/ac_eval" --runtime.threads 1
  expect_rc 0 "eval of the imported checkpoint at its own [model] setting"
  for want in '"image_size": 64' 'layers = 2,4' 'vv_from = 3'; do
    grep -qF "$want" "$WORK/ac_eval/metrics.json" && pass || fail "eval's metrics.json lacks '$want'"
  done
fi

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
