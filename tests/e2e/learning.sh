#!/usr/bin/env bash
# Learning, end to end (issue 16): with the shipped demo CLIP (models/demo-clip), a short
# `train` of the AnomalyCLIP base on synth-industrial-a lifts pixel AUROC on the unseen
# categories and defect types of synth-industrial-b above the same backbone with hand-written
# prompts (no prompt learning) by a stated margin, and above the same training on the random
# backbone. A few minutes on 2 cores (the quickstart benchmark: 216 training, 176 test images).
source "$(dirname "$0")/lib/assert.sh"
PY=/usr/bin/python3
ROOT=${TOKENCLIP_SOURCE_DIR:?}
W="$ROOT/models/demo-clip/weights.h5"
V="$ROOT/models/demo-clip/vocab.txt"
[ -s "$W" ] && [ -s "$V" ] && pass || { fail "the shipped weights are missing: $W, $V"; finish; exit 1; }
[ -x "$PY" ] || { echo "no /usr/bin/python3"; exit 77; }

run "$TOKENCLIP" synth --preset quickstart --threads 2 --out "$WORK/data"
expect_rc 0 "synth"
A="$WORK/data/synth-industrial-a.h5"
B="$WORK/data/synth-industrial-b.h5"
T=(--runtime.threads 2)

pixel_auroc() {  # metrics.json -> mean pixel AUROC x 100
  "$PY" -c "import json,sys; print(round(100 * json.load(open(sys.argv[1]))['mean']['pixel']['auroc'], 2))" "$1"
}

# Hand-written prompts on the demo CLIP (nothing to train: the checkpoint is written at once).
run "$TOKENCLIP" train --config "$ROOT/configs/handwritten.ini" --weights "$W" --bpe "$V" --data "$A" \
  --out "$WORK/hw" "${T[@]}"
expect_rc 0 "hand-written checkpoint"
expect_out "nothing to train" "no training for hand-written prompts"
run "$TOKENCLIP" eval --checkpoint "$WORK/hw/checkpoint.h5" --bpe "$V" --data "$B" --out "$WORK/hw/eval" "${T[@]}"
expect_rc 0 "eval hand-written"

# Learned prompts (AnomalyCLIP base, 3 epochs as the quickstart) on the demo CLIP and on the
# random one.
run "$TOKENCLIP" train --config "$ROOT/configs/anomalyclip.ini" --train.epochs 3 --weights "$W" --bpe "$V" \
  --data "$A" --out "$WORK/demo" "${T[@]}"
expect_rc 0 "train on the demo CLIP"
run "$TOKENCLIP" eval --checkpoint "$WORK/demo/checkpoint.h5" --bpe "$V" --data "$B" --out "$WORK/demo/eval" "${T[@]}"
expect_rc 0 "eval learned (demo)"
run "$TOKENCLIP" train --config "$ROOT/configs/anomalyclip.ini" --train.epochs 3 --data "$A" --out "$WORK/random" "${T[@]}"
expect_rc 0 "train on the random CLIP"
run "$TOKENCLIP" eval --checkpoint "$WORK/random/checkpoint.h5" --data "$B" --out "$WORK/random/eval" "${T[@]}"
expect_rc 0 "eval learned (random)"

HW=$(pixel_auroc "$WORK/hw/eval/metrics.json")
LD=$(pixel_auroc "$WORK/demo/eval/metrics.json")
LR=$(pixel_auroc "$WORK/random/eval/metrics.json")
echo "synth-industrial-b pixel AUROC: hand-written $HW, learned on the demo CLIP $LD, learned on the random CLIP $LR"
# MARGINS are set from the measured figures (docs/PRETRAIN.md): see the assertions below.
"$PY" -c "import sys; sys.exit(0 if $LD >= $HW + ${MARGIN_HW:-5} else 1)" && pass ||
  fail "learned prompts ($LD) not at least ${MARGIN_HW:-5} points above hand-written ones ($HW)"
"$PY" -c "import sys; sys.exit(0 if $LD >= $LR + ${MARGIN_RANDOM:-5} else 1)" && pass ||
  fail "the demo CLIP ($LD) not at least ${MARGIN_RANDOM:-5} points above the random one ($LR)"
finish
