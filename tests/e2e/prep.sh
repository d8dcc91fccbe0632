#!/usr/bin/env bash
# `tokenclip prep` on miniature copies of several dataset layouts (written here with PIL):
# counts, labels, classes, has_mask, mask binarisation (> 0 vs > 127), pixels and order checked
# with h5py against the source files; `tokenclip info` on the result; and the refusals with
# their exit codes (2 usage, 3 input), leaving no output file behind.
source "$(dirname "$0")/lib/assert.sh"
PY=/usr/bin/python3
"$TOKENCLIP" prep --help >/dev/null 2>&1 || { echo "skipped: no 'prep' command"; exit 77; }
$PY -c "import PIL, numpy, h5py" 2>/dev/null || { echo "skipped: /usr/bin/python3 lacks PIL/numpy/h5py"; exit 77; }

SRC="$WORK/src"
$PY - "$SRC" <<'PY' || { echo "FAIL: fixture writer"; exit 1; }
import os, sys
import numpy as np
from PIL import Image
src = sys.argv[1]

def img(path, mode="RGB", w=16, h=16, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.RandomState(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(rng.randint(0, 256, shape).astype(np.uint8), mode).save(path)

def mask(path, value=255, w=16, h=16, low=None):
    # Left half `value`; with `low`, the top-right quarter holds `low` (an anti-aliasing rim).
    os.makedirs(os.path.dirname(path), exist_ok=True)
    a = np.zeros((h, w), np.uint8)
    a[:, : w // 2] = value
    if low is not None:
        a[: h // 2, w // 2 :] = low
    Image.fromarray(a, "L").save(path)

# MVTec: bottle (RGB) with 001 lacking its mask, grid (grayscale), one train image.
m = f"{src}/mvtec"
img(f"{m}/bottle/train/good/000.png", seed=1)
img(f"{m}/bottle/test/good/000.png", seed=2)
for i, n in enumerate(["000", "001", "002"]):
    img(f"{m}/bottle/test/broken/{n}.png", seed=10 + i)
mask(f"{m}/bottle/ground_truth/broken/000_mask.png")
mask(f"{m}/bottle/ground_truth/broken/002_mask.png")
img(f"{m}/grid/test/good/000.png", "L", seed=3)
img(f"{m}/grid/test/bent/000.png", "L", seed=4)
mask(f"{m}/grid/ground_truth/bent/000_mask.png")
open(f"{m}/license.txt", "w").write("x")

# VisA: class-index masks (value 3) binarised with > 0.
v = f"{src}/visa"
img(f"{v}/candle/Data/Images/Normal/0001.JPG", seed=5)   # JPEG, upper-case extension
img(f"{v}/candle/Data/Images/Anomaly/000.JPG", seed=6)
mask(f"{v}/candle/Data/Masks/Anomaly/000.png", value=3)
os.makedirs(f"{v}/split_csv")
open(f"{v}/split_csv/1cls.csv", "w").write(
    "object,split,label,image,mask\n"
    "candle,test,normal,candle/Data/Images/Normal/0001.JPG,\n"
    "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n")

# Kvasir: > 127, so the rim at 100 is background and the half at 200 foreground.
k = f"{src}/kvasir"
for i, n in enumerate(["1", "2"]):
    img(f"{k}/images/{n}.png", seed=20 + i)
    mask(f"{k}/masks/{n}.png", value=200, low=100)

# BrainMRI (image-level): a space in a name, mixed extensions.
b = f"{src}/brainmri/brain_tumor_dataset"
img(f"{b}/no/1 no.png", seed=30)
img(f"{b}/yes/Y1.png", seed=31)
img(f"{b}/yes/Y2.png", seed=32)

# Br35H with the unlabelled pred/ folder.
r = f"{src}/br35h"
img(f"{r}/no/no0.png", seed=40)
img(f"{r}/yes/y0.png", seed=41)
img(f"{r}/pred/p0.png", seed=42)

# TN3K: test and trainval splits.
t = f"{src}/tn3k"
for n in ["0", "1"]:
    img(f"{t}/test-image/{n}.png", "L", seed=50 + int(n))
    mask(f"{t}/test-mask/{n}.png")
img(f"{t}/trainval-image/7.png", "L", seed=57)
mask(f"{t}/trainval-mask/7.png")

# folder: own names.
f = f"{src}/widgets"
img(f"{f}/ok/a.png", seed=60)
img(f"{f}/ng/b.png", seed=61)
mask(f"{f}/gt/b_gt.png")

# An MVTec tree with an empty class.
e = f"{src}/mvtec_empty"
img(f"{e}/bottle/test/good/000.png", seed=70)
os.makedirs(f"{e}/cable/test/good")
PY

OUTD="$WORK/out"
mkdir -p "$OUTD"
prep() { run "$TOKENCLIP" prep --size 16 --threads 2 "$@"; }

# ---------------------------------------------------------------- mvtec
prep mvtec --root "$SRC/mvtec" --out "$OUTD/mvtec.h5"
expect_rc 0 "prep mvtec"
expect_out "6 images at 16x16" "prep mvtec summary"
expect_out "dataset 'mvtec'" "a public layout names its dataset after the layout"
expect_out "bottle/test/broken/001.png' has no mask" "missing mask reported"
$PY - "$OUTD/mvtec.h5" "$SRC/mvtec" <<'PY' && pass || fail "mvtec.h5 content"
import sys, h5py, numpy as np
from PIL import Image
f = h5py.File(sys.argv[1], "r"); src = sys.argv[2]
paths = list(f["source_path"].asstr()[:])
assert paths == ["bottle/test/broken/000.png", "bottle/test/broken/001.png", "bottle/test/broken/002.png",
                 "bottle/test/good/000.png", "grid/test/bent/000.png", "grid/test/good/000.png"], paths
assert list(f["class_names"].asstr()[:]) == ["bottle", "grid"]
assert list(f["class_id"][:]) == [0, 0, 0, 0, 1, 1]
assert list(f["label"][:]) == [1, 1, 1, 0, 1, 0]
assert list(f["has_mask"][:]) == [1, 0, 1, 1, 1, 1], list(f["has_mask"][:])
assert list(f["defect"].asstr()[:]) == ["broken", "broken", "broken", "good", "bent", "good"]
half = np.zeros((16, 16), np.uint8); half[:, :8] = 1
for i, want in enumerate([half, 0 * half, half, 0 * half, half, 0 * half]):
    assert (f["masks"][i] == want).all(), i
# Same size in and out: the stored pixels are the source's (grayscale replicated).
for i, p in enumerate(paths):
    ref = np.asarray(Image.open(f"{src}/{p}").convert("RGB"))
    assert (f["images"][i] == ref).all(), p
assert f.attrs["mask_rule"] in ("> 0", b"> 0"), f.attrs["mask_rule"]
PY
run "$TOKENCLIP" info "$OUTD/mvtec.h5"
expect_rc 0 "info mvtec.h5"
expect_out "6 at 16x16" "info image count"
expect_out "mvtec" "info names the layout"

prep mvtec --root "$SRC/mvtec" --split all --out "$OUTD/mvtec_all.h5" --name mvtec-all
expect_rc 0 "prep mvtec --split all"
expect_out "dataset 'mvtec-all'" "--name works for a public layout too"
expect_out "7 images at 16x16" "train + test"

# ---------------------------------------------------------------- visa: class-index masks, > 0
prep visa --root "$SRC/visa" --out "$OUTD/visa.h5"
expect_rc 0 "prep visa"
$PY - "$OUTD/visa.h5" <<'PY' && pass || fail "visa.h5 content"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert list(f["label"][:]) == [1, 0] and list(f["has_mask"][:]) == [1, 1]
assert int(f["masks"][0].sum()) == 16 * 8 and int(f["masks"][1].sum()) == 0
PY

# ---------------------------------------------------------------- kvasir: > 127
prep kvasir --root "$SRC/kvasir" --out "$OUTD/kvasir.h5"
expect_rc 0 "prep kvasir"
$PY - "$OUTD/kvasir.h5" <<'PY' && pass || fail "kvasir.h5 content (> 127 rule)"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
half = np.zeros((16, 16), np.uint8); half[:, :8] = 1   # 200 kept, the 100 rim dropped
assert list(f["label"][:]) == [1, 1] and list(f["has_mask"][:]) == [1, 1]
assert all((f["masks"][i] == half).all() for i in range(2))
assert f.attrs["mask_rule"] in ("> 127", b"> 127"), f.attrs["mask_rule"]
assert f.attrs["domain"] in ("medical", b"medical")
PY

# ---------------------------------------------------------------- image-level sets
prep brainmri --root "$SRC/brainmri" --out "$OUTD/brainmri.h5"
expect_rc 0 "prep brainmri"
$PY - "$OUTD/brainmri.h5" <<'PY' && pass || fail "brainmri.h5 content"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert list(f["source_path"].asstr()[:]) == ["brain_tumor_dataset/no/1 no.png", "brain_tumor_dataset/yes/Y1.png",
                                             "brain_tumor_dataset/yes/Y2.png"]
assert list(f["label"][:]) == [0, 1, 1] and list(f["has_mask"][:]) == [0, 0, 0]
assert f["masks"][:].sum() == 0
PY
prep br35h --root "$SRC/br35h" --out "$OUTD/br35h.h5"
expect_rc 0 "prep br35h"
expect_out "2 images at 16x16" "br35h without pred/"
expect_out "pred' ignored" "pred/ reported"

# ---------------------------------------------------------------- splits, folder
prep tn3k --root "$SRC/tn3k" --split train --out "$OUTD/tn3k_train.h5"
expect_rc 0 "prep tn3k --split train"
expect_out "1 images at 16x16" "tn3k trainval split"
prep folder --root "$SRC/widgets" --normal-dir ok --anomalous-dir ng --mask-dir gt --mask-suffix _gt \
  --out "$OUTD/widgets.h5"
expect_rc 0 "prep folder"
expect_out "dataset 'widgets'" "folder: the dataset is named after its root folder"
$PY - "$OUTD/widgets.h5" <<'PY' && pass || fail "widgets.h5 content"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert list(f["class_names"].asstr()[:]) == ["widgets"]
assert list(f["source_path"].asstr()[:]) == ["ng/b.png", "ok/a.png"]
assert list(f["label"][:]) == [1, 0] and list(f["has_mask"][:]) == [1, 1]
assert int(f["masks"][0].sum()) == 128
PY

# ---------------------------------------------------------------- refusals
prep mvtex --root "$SRC/mvtec" --out "$OUTD/x.h5"
expect_rc 2 "unknown layout"
expect_err "unknown layout 'mvtex'" "unknown layout message"
expect_err "did you mean 'mvtec'" "unknown layout suggestion"

prep mvtec --root "$SRC/nowhere" --out "$OUTD/x.h5"
expect_rc 3 "missing root"
expect_err "dataset root '$SRC/nowhere' does not exist" "missing root message"

prep mvtec --root "$SRC/br35h" --out "$OUTD/x.h5"
expect_rc 3 "layout mismatch"
expect_err "no <cls>/test folders found under '$SRC/br35h'; expected the MVTec AD layout" "mismatch message"

prep mvtec --root "$SRC/mvtec_empty" --out "$OUTD/x.h5"
expect_rc 3 "empty class"
expect_err "class 'cable' has no images for split 'test'" "empty class message"

prep brainmri --root "$SRC/brainmri" --split train --out "$OUTD/x.h5"
expect_rc 2 "train split of a test-only set"
expect_err "layout 'brainmri' has no train split" "no train split message"

printf 'object,split,label,image,mask\ncandle,test,broken,candle/Data/Images/Normal/0001.JPG,\n' \
  >"$SRC/visa/split_csv/1cls.csv"
prep visa --root "$SRC/visa" --out "$OUTD/x.h5"
expect_rc 3 "bad split file"
expect_err "1cls.csv:2: field 'label' is 'broken'; expected normal or anomaly" "split file line and field"

[ ! -e "$OUTD/x.h5" ] && pass || fail "a refused prep left $OUTD/x.h5 behind"
ls "$OUTD" | grep -q tmp && fail "temporary files left in $OUTD: $(ls "$OUTD")" || pass
finish
