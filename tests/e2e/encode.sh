#!/usr/bin/env bash
# `tokenclip convert-weights`, `encode`, `encode-text` end to end on random tiny weights:
# output layout and provenance, errors naming the file/field, and mpiexec -n 2/3 writing the
# same single file as one process (no part files left behind).
source "$(dirname "$0")/lib/assert.sh"
PY=/usr/bin/python3
$PY -c "import h5py, numpy, PIL" 2>/dev/null || { echo "skipped: /usr/bin/python3 lacks h5py/numpy/PIL"; exit 77; }

run "$TOKENCLIP" convert-weights --out "$WORK/w.h5" --model.init_seed 4
expect_rc 0 "convert-weights random tiny"
expect_out "random weights" "convert-weights says random"

mkdir -p "$WORK/imgs/sub"
$PY - "$WORK/imgs" <<'PY'
import sys, numpy as np
from PIL import Image
r = np.random.default_rng(1)
d = sys.argv[1]
Image.fromarray(r.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(f"{d}/a.png")
Image.fromarray(r.integers(0, 256, (90, 140, 3), dtype=np.uint8)).save(f"{d}/b.jpg", quality=95)
Image.fromarray(r.integers(0, 256, (64, 64), dtype=np.uint8)).save(f"{d}/sub/c.png")
open(f"{d}/notes.txt", "w").write("not an image")
PY

run "$TOKENCLIP" encode --weights "$WORK/w.h5" --images "$WORK/imgs" --out "$WORK/f1.h5" --layers 2,6 --batch 2 --runtime.threads 1
expect_rc 0 "encode images"
expect_out "3 images" "encode counts images"
$PY - "$WORK/f1.h5" <<'PY' && pass || fail "encode output layout"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f["image_embed"].shape == (3, 64) and f["image_embed"].dtype == np.float32
assert f["image_global"].shape == (3, 64)
assert f["tokens/2"].shape == (3, 65, 64) and f["tokens/6"].shape == (3, 65, 64)
p = [x.decode() if isinstance(x, bytes) else x for x in f["paths"][()]]
assert [q.split("/")[-1] for q in p] == ["a.png", "b.jpg", "c.png"], p
assert f.attrs["random_weights"] == 1 and f.attrs["format"] == "tokenclip-encoded"
assert f.attrs["weights_fingerprint"] == "random-tiny-seed-4", f.attrs["weights_fingerprint"]
assert list(f.attrs["layers"]) == [2, 6] and f.attrs["vv_from"] == 2 and f.attrs["image_size"] == 128
# the standard embedding is token 0 of the last layer (layer 6 comes from the V-V stream,
# whose CLS row differs): check the global instead is not the embedding
assert not np.allclose(f["image_embed"][()], f["image_global"][()])
PY

# Ranks against one process within rtol = atol = 1e-5, not bit for bit: the ranks forward
# other batches (other sizes, other BLAS paths), and last-bit differences grow through the 6
# blocks to the printed max |diff| (<= 2e-6 on AMD EPYC: 1-2 ulps of values up to ~10, whose
# bound here is rtol*|x| + atol >= 1e-5); another image, layer or preprocessing differs by far
# more.
if command -v mpiexec >/dev/null; then
  for np in 2 3; do
    run mpiexec -n $np "$TOKENCLIP" encode --weights "$WORK/w.h5" --images "$WORK/imgs" --out "$WORK/f$np.h5" --layers 2,6 --runtime.threads 1
    expect_rc 0 "encode under mpiexec -n $np"
    $PY - "$WORK/f1.h5" "$WORK/f$np.h5" <<'PY' && pass || fail "mpiexec -n $np output equals one process"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in ["image_embed", "image_global", "tokens/2", "tokens/6"]:
    assert a[k].shape == b[k].shape, k
    assert np.allclose(a[k][()], b[k][()], rtol=1e-5, atol=1e-5), (k, np.abs(a[k][()] - b[k][()]).max())
    print(k, "max |diff|", np.abs(a[k][()] - b[k][()]).max())
assert list(a["paths"][()]) == list(b["paths"][()])
PY
  done
  ls "$WORK" | grep -q part && fail "part files left behind: $(ls $WORK)" || pass
fi

run "$TOKENCLIP" encode-text --weights "$WORK/w.h5" --text "a photo of a damaged object." --text "normal" --out "$WORK/t.h5"
expect_rc 0 "encode-text"
$PY - "$WORK/t.h5" <<'PY' && pass || fail "encode-text output layout"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
ids = f["token_ids"][()]
assert ids.shape == (2, 77) and ids.dtype == np.int32
assert ids[0, 0] == 49406 and (ids[0] == 49407).sum() == 1
assert f["text_embed"].shape == (2, 64)
PY

# A dataset file (--data): one row per sample in file order, indices recorded; the dataset's
# S is the model's S; under mpiexec the same file.
run "$TOKENCLIP" synth --out "$WORK/synth" --size 32 --threads 1
expect_rc 0 "synth for --data"
run "$TOKENCLIP" encode --weights "$WORK/w.h5" --data "$WORK/synth/synth-medical.h5" --out "$WORK/d1.h5" --batch 16 --runtime.threads 1
expect_rc 0 "encode --data"
if command -v mpiexec >/dev/null; then
  run mpiexec -n 2 "$TOKENCLIP" encode --weights "$WORK/w.h5" --data "$WORK/synth/synth-medical.h5" --out "$WORK/d2.h5" --batch 5 --runtime.threads 1
  expect_rc 0 "encode --data under mpiexec -n 2"
else
  cp "$WORK/d1.h5" "$WORK/d2.h5"
fi
$PY - "$WORK/d1.h5" "$WORK/d2.h5" "$WORK/synth/synth-medical.h5" <<'PY' && pass || fail "encode --data output"
import sys, h5py, numpy as np
a, b, d = (h5py.File(p, "r") for p in sys.argv[1:4])
n = d["images"].shape[0]
assert a["image_embed"].shape == (n, 64) and a["tokens/6"].shape == (n, 1 + 4, 64)
assert list(a["indices"][()]) == list(range(n)) and a.attrs["image_size"] == 32
for k in ["image_embed", "image_global", "tokens/6"]:  # batch 16 vs 5: the same bound as above
    assert np.allclose(a[k][()], b[k][()], rtol=1e-5, atol=1e-5), k
    print(k, "max |diff|", np.abs(a[k][()] - b[k][()]).max())
PY
run "$TOKENCLIP" encode --weights "$WORK/w.h5" --data "$WORK/synth/synth-medical.h5" --image-size 64 --out "$WORK/x.h5"
expect_rc 2 "--data with another image size"
expect_err "holds images of size 32" "--data size message"

# No --weights with a preset other than tiny: that preset on random weights (what
# launch/gpu_check.sh encodes ViT-L-14 with), marked random; the tokens have its width.
run "$TOKENCLIP" encode --model.preset ViT-B-32 --image-size 64 --images "$WORK/imgs/a.png" --out "$WORK/b32.h5" --runtime.threads 1
expect_rc 0 "encode a random ViT-B-32"
$PY - "$WORK/b32.h5" <<'PY' && pass || fail "random ViT-B-32 output"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["random_weights"] == 1 and f.attrs["weights_fingerprint"] == "random-ViT-B-32-seed-0", dict(f.attrs)
assert f["image_embed"].shape == (1, 512) and f["tokens/12"].shape == (1, 1 + 4, 512)
PY

# Errors: exit code and a message naming the file or field.
run "$TOKENCLIP" encode --weights "$WORK/w.h5" --images "$WORK/nope.png" --out "$WORK/x.h5"
expect_rc 3 "missing image"
expect_err "nope.png" "missing image named"
run "$TOKENCLIP" encode --weights "$WORK/w.h5" --images "$WORK/imgs" --data "$WORK/d.h5" --out "$WORK/x.h5"
expect_rc 2 "--images and --data"
run "$TOKENCLIP" encode --weights "$WORK/w.h5" --images "$WORK/imgs" --image-size 130 --out "$WORK/x.h5"
expect_rc 2 "image size not a multiple of the patch"
expect_err "multiple of the patch size 16" "image size message"
run "$TOKENCLIP" encode --weights "$WORK/w.h5" --images "$WORK/imgs" --layers 7 --out "$WORK/x.h5"
expect_rc 2 "layer out of range"
expect_err "expected 1..6" "layer range message"
echo "garbage" >"$WORK/bad.pt"
run "$TOKENCLIP" encode --weights "$WORK/bad.pt" --images "$WORK/imgs" --out "$WORK/x.h5"
expect_rc 3 "bad weights"
expect_err "bad.pt" "bad weights named"
run "$TOKENCLIP" encode --weights "$WORK/w.h5" --model.preset ViT-B-16 --images "$WORK/imgs" --out "$WORK/x.h5"
expect_rc 3 "preset mismatch"
expect_err "preset ViT-B-16 was requested" "preset mismatch message"
[ -e "$WORK/x.h5" ] && fail "a failed run left an output" || pass
finish
