#!/usr/bin/env bash
# `tokenclip prep` failure handling and `tokenclip info`: an unreadable image fails (exit 3,
# naming the file) or is skipped and listed with --on-bad-image skip; a mask whose size differs
# from its image is refused naming both files even with skip; a failed run leaves an existing
# output untouched and no temporary behind; info dispatches on `format`, lists unknown formats
# generically, refuses non-tokenclip files, and --verify catches a modified pixel.
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
def img(path, w=20, h=20, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)).save(path)
def mask(path, w=20, h=20):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    a = np.zeros((h, w), np.uint8); a[: h // 2] = 255
    Image.fromarray(a).save(path)
for root in ("ok", "corrupt", "mismatch"):
    r = f"{src}/{root}"
    img(f"{r}/good/a.png", seed=1)
    img(f"{r}/good/b.png", seed=2)
    img(f"{r}/anomalous/c.png", seed=3)
    mask(f"{r}/masks/c_mask.png")
open(f"{src}/corrupt/good/b.png", "wb").write(b"\x89PNG\r\n\x1a\n truncated")
mask(f"{src}/mismatch/masks/c_mask.png", w=21)
PY

OUTD="$WORK/out"
mkdir -p "$OUTD"

# ---------------------------------------------------------------- a good run, --name
run "$TOKENCLIP" prep folder --root "$SRC/ok" --out "$OUTD/ok.h5" --size 16 --name line3
expect_rc 0 "prep folder"
expect_out "dataset 'line3'" "--name overrides the layout name"
expect_out "total                           2          1            1" "summary totals"

# ---------------------------------------------------------------- unreadable image
echo "previous contents" >"$OUTD/keep.h5"
run "$TOKENCLIP" prep folder --root "$SRC/corrupt" --out "$OUTD/keep.h5" --size 16
expect_rc 3 "unreadable image fails by default"
expect_err "cannot decode image '$SRC/corrupt/good/b.png'" "error names the unreadable file"
[ "$(cat "$OUTD/keep.h5")" = "previous contents" ] && pass || fail "failed prep replaced the existing output"

run "$TOKENCLIP" prep folder --root "$SRC/corrupt" --out "$OUTD/skip.h5" --size 16 --on-bad-image skip
expect_rc 0 "--on-bad-image skip"
expect_out "2 images at 16x16" "skipped image not written"
expect_out "1 image(s) skipped" "skip count in the summary"
expect_out "$SRC/corrupt/good/b.png" "skipped file listed"

# ---------------------------------------------------------------- mask/image size mismatch
run "$TOKENCLIP" prep folder --root "$SRC/mismatch" --out "$OUTD/mm.h5" --size 16 --on-bad-image skip
expect_rc 3 "mask size mismatch refused even with skip"
expect_err "mask '$SRC/mismatch/masks/c_mask.png' is 21x20 but its image '$SRC/mismatch/anomalous/c.png' is 20x20" \
  "mismatch names both files and sizes"
[ ! -e "$OUTD/mm.h5" ] && pass || fail "refused prep left mm.h5"
ls "$OUTD" | grep -q '\.tmp\.' && fail "temporary files left: $(ls "$OUTD")" || pass

# ---------------------------------------------------------------- info
run "$TOKENCLIP" info "$OUTD/ok.h5" "$OUTD/skip.h5"
expect_rc 0 "info on two files"
expect_out "name:         line3" "info name"
expect_out "labels:       2 normal, 1 anomalous" "info label counts"
expect_out "mask coverage of anomalous images with masks (1): mean 50.0000%" "info mask coverage"
expect_out "file:         $OUTD/skip.h5" "second file printed"

run "$TOKENCLIP" info "$OUTD/keep.h5"
expect_rc 3 "info on a text file"
expect_err "'$OUTD/keep.h5' is not an HDF5 file" "non-HDF5 message"
run "$TOKENCLIP" info "$OUTD/none.h5"
expect_rc 3 "info on a missing file"
expect_err "file '$OUTD/none.h5' does not exist" "missing file message"

$PY - "$OUTD" <<'PY' || fail "h5py fixture"
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(f"{d}/plain.h5", "w") as f:
    f["x"] = np.zeros(3)
with h5py.File(f"{d}/other.h5", "w") as f:
    f.attrs["format"] = "tokenclip-future"; f.attrs["version"] = 7
    f["weights"] = np.zeros((2, 5), np.float32)
    f.create_group("opt")
PY
run "$TOKENCLIP" info "$OUTD/plain.h5"
expect_rc 3 "info on HDF5 without format"
expect_err "missing attribute 'format'" "no-format message"
run "$TOKENCLIP" info "$OUTD/other.h5"
expect_rc 0 "info on an unknown format"
expect_out "tokenclip-future (no printer registered for it; generic listing)" "generic listing header"
expect_out "weights              float32 [2,5]" "generic listing of a dataset"
expect_out "opt                  group" "generic listing of a group"

run "$TOKENCLIP" info --verify --brief "$OUTD/ok.h5"
expect_rc 0 "info --verify"
expect_out "content hash verified" "verify ok"
$PY - "$OUTD/ok.h5" <<'PY' || fail "tamper"
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    f["images"][1, 3, 4, 0] ^= 1
PY
run "$TOKENCLIP" info --verify --brief "$OUTD/ok.h5"
expect_rc 3 "info --verify on a modified file"
expect_err "$OUTD/ok.h5: attribute 'content_hash'" "verify mismatch names file and field"
finish
