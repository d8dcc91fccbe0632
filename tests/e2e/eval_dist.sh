#!/usr/bin/env bash
# Distributed `tokenclip eval` end to end (issue 7): 1 rank and 3 ranks give the same metrics;
# `score --maps` reproduces eval's metrics; the protocol guard (own training data) and a
# different backbone fingerprint are refused; --visualize writes valid PNGs; an image-only
# dataset gets null pixel metrics. Small data (S = 32, random tiny CLIP).
source "$(dirname "$0")/lib/assert.sh"
PY=/usr/bin/python3
TOOLS="$(dirname "$0")/lib/dist_tools.py"
[ -x "$PY" ] && "$PY" -c "import h5py, numpy, PIL" 2>/dev/null || { echo "no /usr/bin/python3 with h5py, PIL"; exit 77; }
command -v mpiexec >/dev/null || { echo "no mpiexec"; exit 77; }
MPI="mpiexec --bind-to none"
tools() { "$PY" "$TOOLS" "$@"; }

run "$TOKENCLIP" synth --size 32 --threads 1 --out "$WORK/synth"
expect_rc 0 "synth"
TRAIN="$WORK/train.h5"; EVAL="$WORK/eval.h5"; IMGONLY="$WORK/imgonly.h5"
tools subset "$WORK/synth/synth-medical.h5" "$TRAIN" 12 e2e-train && pass || fail "subset train"
tools subset "$WORK/synth/synth-industrial-b.h5" "$EVAL" 24 e2e-eval && pass || fail "subset eval"
tools subset "$WORK/synth/synth-industrial-b.h5" "$IMGONLY" 24 e2e-imgonly nomask && pass || fail "subset image-only"

run "$TOKENCLIP" train --data "$TRAIN" --model.image_size 32 --train.global_batch 6 --max-steps 1 \
  --runtime.threads 1 --out "$WORK/run"
expect_rc 0 "train (1 step)"
CK="$WORK/run/checkpoint.h5"

# 1 rank vs 3 ranks: every numeric field of classes and mean, exactly. Exact on purpose: the
# 24 images shard 8/8/8 and the batch is 8, so every image is computed in the same batch by the
# same code at 1 and 3 ranks (one thread each), and rank 0 computes the metrics from the same
# numbers in the same order. (With a batch that does not divide the shards, maps would differ
# in the last bit and rank-based metrics such as AUROC could move by whole ties.)
EB=(--eval.batch 8 --runtime.threads 1)
run "$TOKENCLIP" eval --checkpoint "$CK" --data "$EVAL" --out "$WORK/e1" --dump-maps "${EB[@]}"
expect_rc 0 "eval np1"
run $MPI -n 3 "$TOKENCLIP" eval --checkpoint "$CK" --data "$EVAL" --out "$WORK/e3" "${EB[@]}"
expect_rc 0 "eval np3"
tools cmp_metrics "$WORK/e1/metrics.json" "$WORK/e3/metrics.json" 0 && pass || fail "np1 vs np3 metrics differ"

# score from the dumped maps = eval's metrics, exactly: the float32 maps and scores go through
# HDF5 unchanged and the same metric code reads them in the same order.
run "$TOKENCLIP" score --maps "$WORK/e1/maps.h5" --data "$EVAL" --out "$WORK/score.json"
expect_rc 0 "score --maps"
tools cmp_metrics "$WORK/e1/metrics.json" "$WORK/score.json" 0 && pass || fail "score != eval metrics"

# The protocol guard: never evaluate on the training dataset.
run "$TOKENCLIP" eval --checkpoint "$CK" --data "$TRAIN" --out "$WORK/guard"
expect_rc 2 "eval on the training dataset"
expect_err "is not zero-shot" "protocol guard message"
expect_err "give it its own name: tokenclip prep LAYOUT --root DIR --out FILE --name NEW_NAME" "the guard says how to rename"

# Another backbone (random tiny of seed 1, written as a weights file) is refused.
run "$TOKENCLIP" convert-weights --model.init_seed 1 --out "$WORK/seed1.h5"
expect_rc 0 "convert-weights seed 1"
run "$TOKENCLIP" eval --checkpoint "$CK" --data "$EVAL" --out "$WORK/fp" --weights "$WORK/seed1.h5"
expect_rc 2 "different backbone fingerprint"
expect_err "fingerprint" "fingerprint message"

# Pictures: 2 per class, valid PNGs (6 classes in the eval subset).
run "$TOKENCLIP" eval --checkpoint "$CK" --data "$EVAL" --out "$WORK/vis" --visualize 2 --runtime.threads 1
expect_rc 0 "eval --visualize 2"
tools pngs "$WORK/vis" 6 && pass || fail "--visualize 2: too few or invalid PNGs"

# Image-level-only dataset: pixel metrics null, image metrics defined.
run "$TOKENCLIP" eval --checkpoint "$CK" --data "$IMGONLY" --out "$WORK/io" --runtime.threads 1
expect_rc 0 "eval image-only"
tools pixel_null "$WORK/io/metrics.json" && pass || fail "image-only: pixel metrics not null"

finish
