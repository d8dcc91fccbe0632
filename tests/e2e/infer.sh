#!/usr/bin/env bash
# `tokenclip calibrate` and `tokenclip infer` on a tiny trained checkpoint (random tiny backbone,
# S = 64, 2 steps): the calibrated threshold equals the order-statistic rule recomputed in
# Python from infer's own scores of the normal images; an unresolvable rate is refused; auto
# without calibration or with another checkpoint's calibration is refused; infer on images of
# mixed sizes and formats writes one CSV row per readable image with decisions matching the
# threshold and overlays of the original size, lists the corrupt file and exits 3.
source "$(dirname "$0")/lib/assert.sh"
PY=/usr/bin/python3
SRCDIR="${TOKENCLIP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
"$TOKENCLIP" infer --help >/dev/null 2>&1 || { echo "skipped: no 'infer' command"; exit 77; }
$PY -c "import PIL, numpy" 2>/dev/null || { echo "skipped: /usr/bin/python3 lacks PIL/numpy"; exit 77; }

# One thread: on an oversubscribed machine two spinning OpenMP threads make a step ~100x slower.
T1="--runtime.threads 1"
D="$WORK/img"
$PY - "$D" <<'PY' || { echo "FAIL: fixture writer"; exit 1; }
import os, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
def textured(w, h, seed, defect=False):
    r = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    a = 120 + 40 * np.sin(xx / 3.0 + seed) [..., None] + r.randint(-20, 21, (h, w, 3))
    if defect:
        a[h // 3: h // 3 + h // 4, w // 3: w // 3 + w // 4] = [250, 30, 30]
    return np.clip(a, 0, 255).astype(np.uint8)
def save(path, a, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(a).save(path, **kw)
# training data (folder layout) and normal images for calibration
for i in range(4):
    save(f"{d}/train/good/{i}.png", textured(64, 64, i))
for i in range(3):
    save(f"{d}/train/anomalous/{i}.png", textured(64, 64, 10 + i, True))
    m = np.zeros((64, 64), np.uint8); m[21:37, 21:37] = 255
    save(f"{d}/train/masks/{i}_mask.png", m)
for i in range(10):
    save(f"{d}/normal/n{i:02d}.png", textured(40 + 3 * i, 50, 100 + i))
# a production batch: mixed sizes and formats, one corrupt file
save(f"{d}/line/a_wide.png", textured(120, 45, 200, True))
save(f"{d}/line/b_photo.jpg", textured(77, 91, 201), quality=90)
save(f"{d}/line/c_gray.bmp", textured(64, 64, 202)[..., 0])
save(f"{d}/line/sub/d tall, odd.tif", textured(33, 150, 203))
with open(f"{d}/line/e_corrupt.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n not really a png")
PY

# ---------------------------------------------------------------- a tiny checkpoint
run "$TOKENCLIP" prep folder --root "$D/train" --out "$WORK/train.h5" --size 64 --name line-train
expect_rc 0 "prep of the training images"
run "$TOKENCLIP" train --config "$SRCDIR/configs/tokenclip.ini" --model.preset tiny --model.image_size 64 \
  --train.epochs 1 --max-steps 2 --runtime.threads 1 --data "$WORK/train.h5" --out "$WORK/run"
expect_rc 0 "train"
CK="$WORK/run/checkpoint.h5"
[ -f "$CK" ] || { echo "FAIL: no checkpoint"; finish; exit 1; }

# ---------------------------------------------------------------- refusals before calibration
run "$TOKENCLIP" infer $T1 --checkpoint "$CK" --out "$WORK/o0" --threshold auto "$D/line"
expect_rc 3 "auto without calibration"
expect_err "no calibration '$CK.calibration.json'" "auto refusal names the missing file"
run "$TOKENCLIP" calibrate $T1 --checkpoint "$CK" --normal "$D/normal" --false-alarm 0.05
expect_rc 2 "a rate below 1/n is refused"
expect_err "cannot be resolved with 10 normal image(s)" "refusal names n"
[ ! -e "$CK.calibration.json" ] && pass || fail "refused calibration wrote a file"
run "$TOKENCLIP" infer $T1 --checkpoint "$CK" --out "$WORK/o0" --threshold abc "$D/line/a_wide.png"
expect_rc 2 "a non-numeric threshold is refused"

# ---------------------------------------------------------------- calibrate (rate 0.2: k = 2)
run "$TOKENCLIP" calibrate $T1 --checkpoint "$CK" --normal "$D/normal" --false-alarm 0.2 --batch 3
expect_rc 0 "calibrate"
expect_out "wrote $CK.calibration.json" "calibrate names its output"
# infer's scores of the same normal images (no threshold given: the calibration is used).
# Same batch of 3 and the same thread count as calibrate, so every image is scored by the same
# code on the same numbers in the same order and the rule can be checked exactly: another batch
# size takes other BLAS paths and moves scores by an ulp (seen on AMD EPYC vs Intel Xeon).
run "$TOKENCLIP" infer $T1 --checkpoint "$CK" --out "$WORK/onorm" --no-overlays --batch 3 "$D/normal"
expect_rc 0 "infer on the normal images"
$PY - "$CK.calibration.json" "$WORK/onorm/scores.csv" <<'PY' && pass || fail "calibration rule"
import csv, json, sys
import numpy as np
cal = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
s = np.array([float(r["score"]) for r in rows], np.float32)
assert len(s) == 10 == cal["n"], (len(s), cal["n"])
assert cal["false_alarm"] == 0.2 and cal["format"] == "tokenclip-calibration"
k = int(np.floor(0.2 * 10))
expect = np.nextafter(np.sort(s)[::-1][k], np.float32(np.inf))
t = np.float32(cal["image_threshold"])
assert t == expect, (t, expect, np.sort(s))
assert (s >= t).mean() <= 0.2
# decisions in the CSV follow the calibration
for r in rows:
    assert r["decision"] == ("anomalous" if np.float32(r["score"]) >= t else "normal"), r
assert 0 < cal["pixel_threshold"] and cal["pixels"] == 10 * 64 * 64
PY

# ---------------------------------------------------------------- infer on the line batch
run "$TOKENCLIP" infer $T1 --checkpoint "$CK" --out "$WORK/oauto" --threshold auto --batch 2 "$D/line"
expect_rc 3 "a corrupt file makes the exit code 3"
expect_err "1 file(s) could not be read" "failure count"
expect_err "$D/line/e_corrupt.png" "the corrupt file is listed"
expect_out "scored 4 image(s)" "the readable images are scored"
$PY - "$CK.calibration.json" "$WORK/oauto" "$D/line" <<'PY' && pass || fail "infer auto outputs"
import csv, json, os, sys
import numpy as np
from PIL import Image
cal, out, line = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
t = np.float32(cal["image_threshold"])
with open(f"{out}/scores.csv") as f:
    header = f.readline().strip()
assert header == "path,width,height,score,decision,overlay", header
rows = list(csv.DictReader(open(f"{out}/scores.csv")))
paths = [r["path"] for r in rows]
assert paths == [f"{line}/a_wide.png", f"{line}/b_photo.jpg", f"{line}/c_gray.bmp", f"{line}/sub/d tall, odd.tif"], paths
for r in rows:
    w, h = Image.open(r["path"]).size
    assert (int(r["width"]), int(r["height"])) == (w, h), r
    assert r["decision"] == ("anomalous" if np.float32(r["score"]) >= t else "normal"), r
    ov = Image.open(os.path.join(out, r["overlay"]))
    assert ov.size == (w, h) and ov.mode == "RGB", (ov.size, ov.mode, r)
    assert os.path.isfile(os.path.join(out, "figures", os.path.basename(r["overlay"])))
assert not [f for f in os.listdir(out) if f.startswith(".") or ".tmp" in f], os.listdir(out)
PY

# explicit threshold: decisions follow the number; scores equal to the auto run's within 1e-5.
# The two runs batch differently (3 vs 2), so BLAS sums in another order: scores are in (0, 1],
# where a float32 ulp is <= 6e-8; the batch-size noise seen on these images is 0 to 1 ulp
# (printed below), so 1e-5 leaves a wide margin and still catches another image or another
# preprocessing (which move scores by 1e-3 and more).
run "$TOKENCLIP" infer $T1 --checkpoint "$CK" --out "$WORK/oexp" --threshold 0.5 --batch 3 \
  "$D/line/a_wide.png" "$D/line/b_photo.jpg" "$D/line/c_gray.bmp"
expect_rc 0 "explicit threshold, all readable"
$PY - "$WORK/oauto/scores.csv" "$WORK/oexp/scores.csv" <<'PY' && pass || fail "explicit threshold"
import csv, sys
import numpy as np
a = {r["path"]: r for r in csv.DictReader(open(sys.argv[1]))}
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 3
for r in rows:
    assert r["decision"] == ("anomalous" if float(r["score"]) >= 0.5 else "normal"), r
    assert abs(float(r["score"]) - float(a[r["path"]]["score"])) < 1e-5, (r, a[r["path"]])
print("batch 3 vs batch 2: max |score diff| %.3g" % max(abs(float(r["score"]) - float(a[r["path"]]["score"])) for r in rows))
PY

# ---------------------------------------------------------------- calibrate from a dataset's label-0 images
cp "$CK" "$WORK/ds.h5ck"
run "$TOKENCLIP" calibrate $T1 --checkpoint "$WORK/ds.h5ck" --normal "$WORK/train.h5" --false-alarm 0.25
expect_rc 0 "calibrate from a tokenclip dataset"
$PY - "$WORK/ds.h5ck.calibration.json" "$WORK/train.h5" <<'PY' && pass || fail "dataset calibration record"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["n"] == 4 and c["normal"][0]["dataset"] == sys.argv[2] and c["normal"][0]["normal_images"] == 4, c
assert c["normal_flagged"] <= 1, c
PY
# Both thresholds recomputed from eval's own blurred maps and scores of the same images (an
# independent route: eval's maps file, sorted in numpy); also at 2 ranks, where each rank sends
# only its top k+1 map values.
# (eval refuses the training set, so a separate set of normal images: train/good plus normal/.
# Same batch of 3 in eval and calibrate: another batch split moves values by an ulp.)
mkdir -p "$D/cal/good" && cp "$D/train/good/"*.png "$D/cal/good/" && cp "$D/normal/"*.png "$D/cal/good/"
run "$TOKENCLIP" prep folder --root "$D/cal" --out "$WORK/cal.h5" --size 64 --name line-normal
expect_rc 0 "prep of a normal set"
run "$TOKENCLIP" eval $T1 --eval.batch 3 --checkpoint "$CK" --data "$WORK/cal.h5" --out "$WORK/evmaps" --dump-maps
expect_rc 0 "eval --dump-maps on the normal set"
CALS=()
for np_ in 1 2; do
  [ "$np_" = 2 ] && ! command -v mpiexec >/dev/null && continue
  cp "$CK" "$WORK/cal$np_.h5ck"
  launch=(); [ "$np_" = 2 ] && launch=(timeout 300 mpiexec -n 2)
  run "${launch[@]}" "$TOKENCLIP" calibrate $T1 --checkpoint "$WORK/cal$np_.h5ck" --normal "$WORK/cal.h5" \
    --false-alarm 0.25 --batch 3
  expect_rc 0 "calibrate from the normal set on $np_ rank(s)"
  CALS+=("$WORK/cal$np_.h5ck.calibration.json")
done
$PY - "$WORK/cal.h5" "$WORK/evmaps/maps.h5" "${CALS[@]}" <<'PY' && pass || fail "thresholds vs eval's maps"
import json, sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r") as d, h5py.File(sys.argv[2], "r") as m:
    normal = d["label"][:] == 0
    maps = m["maps"][:][normal].astype(np.float32).ravel()
    scores = m["scores"][:][normal].astype(np.float32)
def rule(v, a):
    k = int(np.floor(a * v.size + 1e-9))
    return np.nextafter(np.sort(v)[::-1][k], np.float32(np.inf))
for path in sys.argv[3:]:
    c = json.load(open(path))
    assert np.float32(c["pixel_threshold"]) == rule(maps, 0.25), (path, c["pixel_threshold"], rule(maps, 0.25))
    assert np.float32(c["image_threshold"]) == rule(scores, 0.25), (path, c["image_threshold"], rule(scores, 0.25))
    assert c["n"] == 14 == scores.size and c["pixels"] == maps.size, (c["n"], scores.size)
PY

# ---------------------------------------------------------------- another checkpoint's calibration
cp "$CK" "$WORK/other.h5"
$PY -c "import sys; open(sys.argv[1], 'ab').write(b'\0')" "$WORK/other.h5"
cp "$CK.calibration.json" "$WORK/other.h5.calibration.json"
run "$TOKENCLIP" infer $T1 --checkpoint "$WORK/other.h5" --out "$WORK/o2" --threshold auto "$D/line/a_wide.png"
expect_rc 3 "auto with another checkpoint's calibration"
expect_err "belongs to another checkpoint" "mismatch message"

# ---------------------------------------------------------------- the same under MPI (2 ranks)
# Batches are dealt to ranks round-robin; rank 0 writes the gathered results. Scores, decisions,
# overlay names, the failure list and the exit code equal the single-process run. Compared
# byte for byte on purpose: both runs use --batch 2 and one thread, so every batch holds the
# same images at 1 and 2 ranks and each score comes from the same code on the same numbers.
if command -v mpiexec >/dev/null; then
  run timeout 300 mpiexec -n 2 "$TOKENCLIP" infer $T1 --checkpoint "$CK" --out "$WORK/ompi" --threshold auto \
    --batch 2 "$D/line"
  expect_rc 3 "2 ranks: a corrupt file still makes the exit code 3"
  expect_err "$D/line/e_corrupt.png" "2 ranks: the corrupt file is listed"
  cmp -s "$WORK/oauto/scores.csv" "$WORK/ompi/scores.csv" && pass || fail "2-rank scores.csv differs from 1 rank"
  [ "$(ls "$WORK/ompi/overlays" | sort)" = "$(ls "$WORK/oauto/overlays" | sort)" ] && pass ||
    fail "2-rank overlay names differ"
  cp "$CK" "$WORK/mpi.h5ck"
  run timeout 300 mpiexec -n 2 "$TOKENCLIP" calibrate $T1 --checkpoint "$WORK/mpi.h5ck" --normal "$D/normal" \
    --false-alarm 0.2 --batch 3
  expect_rc 0 "calibrate on 2 ranks"
  # Exact: the same batches of 3 at 1 and 2 ranks (round-robin dealing), one thread each; the
  # thresholds are order statistics (selections, not sums) of those same numbers.
  $PY - "$CK.calibration.json" "$WORK/mpi.h5ck.calibration.json" <<'PY' && pass || fail "2-rank calibration"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("n", "pixels", "image_threshold", "pixel_threshold", "normal_flagged", "normal_score_min", "normal_score_max"):
    assert a[k] == b[k], (k, a[k], b[k])
PY
fi

finish
