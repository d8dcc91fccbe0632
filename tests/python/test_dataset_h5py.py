#!/usr/bin/python3
"""The dataset file seen from Python (h5py), both directions.

1. `tokenclip prep folder` on images written with PIL (odd sizes, gray, RGBA, 16-bit, JPEG):
   h5py reads every field with the documented types, shapes, chunking and filters; pixels equal
   the Python reference preprocessing (PIL convert('RGB') + resize BICUBIC, 16-bit by v/257);
   masks equal AnomalyCLIP's pipeline; content_hash equals the docs/FORMATS.md recipe.
2. A file written by h5py from the documented schema is accepted by `tokenclip info --verify`;
   one with a wrong dtype is refused with exit code 3 naming the field.
"""
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    from PIL import Image
except ImportError:
    sys.exit(77)

TOKENCLIP = os.environ.get("TOKENCLIP")
if not TOKENCLIP or not os.path.exists(TOKENCLIP):
    print("TOKENCLIP not set; skipped")
    sys.exit(77)


def content_hash(f):
    h = hashlib.sha256()
    for i in range(int(f.attrs["size"])):
        h.update(f["images"][i].tobytes())
        h.update(f["masks"][i].tobytes())
        h.update(struct.pack("<BiB", f["label"][i], f["class_id"][i], f["has_mask"][i]))
    for c in f["class_names"].asstr()[:]:
        b = c.encode()
        h.update(struct.pack("<I", len(b)) + b)
    return h.hexdigest()


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def main():
    work = tempfile.mkdtemp(prefix="tc_dataset_h5py_")
    root = os.path.join(work, "widgets")
    rng = np.random.default_rng(7)
    os.makedirs(f"{root}/good")
    os.makedirs(f"{root}/anomalous/scratch")
    os.makedirs(f"{root}/masks/scratch")  # masks mirror the defect sub-folders
    S = 37
    # name -> (PIL-side reference image as RGB uint8 before resize)
    refs = {}
    a = rng.integers(0, 256, (50, 61, 3), dtype=np.uint8)
    Image.fromarray(a).save(f"{root}/good/a.png")
    refs["good/a.png"] = a
    g = rng.integers(0, 256, (23, 19), dtype=np.uint8)
    Image.fromarray(g).save(f"{root}/good/b.png")
    refs["good/b.png"] = np.stack([g] * 3, -1)
    rgba = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(f"{root}/good/c.png")
    refs["good/c.png"] = rgba[..., :3]
    v16 = rng.integers(0, 65536, (30, 33), dtype=np.uint16)
    Image.fromarray(v16).save(f"{root}/anomalous/scratch/d.png")
    refs["anomalous/scratch/d.png"] = np.stack([np.floor(v16 / 257 + 0.5).astype(np.uint8)] * 3, -1)
    j = (np.add.outer(np.arange(70), np.arange(90))[..., None] * [1, 2, 3] % 256).astype(np.uint8)
    Image.fromarray(j).save(f"{root}/anomalous/scratch/e.jpg", quality=90)
    refs["anomalous/scratch/e.jpg"] = np.asarray(Image.open(f"{root}/anomalous/scratch/e.jpg").convert("RGB"))
    masks = {}
    for stem, shape in (("d", (30, 33)), ("e", (70, 90))):
        m = np.zeros(shape, np.uint8)
        m[shape[0] // 3: shape[0] // 2 + 3, 2: shape[1] // 2] = 255
        m[0, 0] = 1  # a stray low value: foreground under the folder layout's "> 0"
        Image.fromarray(m).save(f"{root}/masks/scratch/{stem}_mask.png")
        masks[stem] = m

    out = os.path.join(work, "widgets.h5")
    r = subprocess.run([TOKENCLIP, "prep", "folder", "--root", root, "--out", out, "--size", str(S)],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"prep failed: {r.stdout} {r.stderr}")

    with h5py.File(out, "r") as f:
        attrs = {k: f.attrs[k] for k in f.attrs}
        check(attrs["format"] == "tokenclip-dataset" and int(attrs["version"]) == 1, f"format {attrs}")
        check(int(attrs["image_size"]) == S and int(attrs["size"]) == 5, f"size attrs {attrs}")
        for k in ("name", "domain", "layout", "source", "mask_rule", "content_hash"):
            check(isinstance(attrs[k], str), f"attribute {k} reads as str in h5py")
        # `prep folder` names the dataset after its root folder (widgets/)
        check(attrs["name"] == "widgets" and attrs["mask_rule"] == "> 0", f"name/rule {attrs}")
        n = 5
        for name, dtype, shape in (("images", np.uint8, (n, S, S, 3)), ("masks", np.uint8, (n, S, S)),
                                   ("label", np.uint8, (n,)), ("class_id", np.int32, (n,)),
                                   ("has_mask", np.uint8, (n,))):
            d = f[name]
            check(d.dtype == dtype and d.shape == shape, f"{name}: {d.dtype} {d.shape}")
        for name in ("images", "masks"):
            d = f[name]
            check(d.chunks == (1,) + d.shape[1:], f"{name} chunks {d.chunks}")
            check(d.compression == "gzip" and d.compression_opts == 4 and d.shuffle,
                  f"{name} filters {d.compression} {d.compression_opts} {d.shuffle}")
            check(d.maxshape[0] is None, f"{name} first dimension extendible")
        for name in ("class_names", "defect", "source_path"):
            check(h5py.check_string_dtype(f[name].dtype).encoding == "utf-8", f"{name} is UTF-8 vlen")
        paths = list(f["source_path"].asstr()[:])
        check(sorted(paths) == sorted(refs), f"paths {paths}")
        labels = list(f["label"][:])
        worst = 0
        for i, p in enumerate(paths):
            want = np.asarray(Image.fromarray(refs[p]).resize((S, S), Image.BICUBIC))
            diff = int(np.abs(f["images"][i].astype(int) - want.astype(int)).max())
            worst = max(worst, diff)
            check(diff == 0, f"{p}: max diff {diff} vs PIL")
            check(labels[i] == (1 if p.startswith("anomalous") else 0), f"label of {p}")
            stem = os.path.splitext(os.path.basename(p))[0]
            if stem in masks:
                b = Image.fromarray(((masks[stem] > 0) * 255).astype(np.uint8), "L")
                wm = (np.asarray(b.resize((S, S), Image.BILINEAR)).astype(np.float32) / 255 > 0.5)
                check((f["masks"][i] == wm).all(),
                      f"mask of {p}: {int(f['masks'][i].sum())} vs {int(wm.sum())} pixels")
                check(f["defect"].asstr()[i] == "scratch", f"defect of {p}")
            else:
                check(f["masks"][i].sum() == 0, f"zero mask of {p}")
        check(content_hash(f) == attrs["content_hash"], "content hash recipe of docs/FORMATS.md")
    print(f"prep -> h5py: 5 images bit-exact vs PIL (max diff {worst}), masks, schema, hash OK")

    # h5py -> tokenclip: a file written from the documented schema alone.
    own = os.path.join(work, "own.h5")

    def write_own(path, label_dtype=np.uint8):
        N, s = 3, 8
        with h5py.File(path, "w") as f:
            imgs = rng.integers(0, 256, (N, s, s, 3), dtype=np.uint8)
            f.create_dataset("images", data=imgs, chunks=(1, s, s, 3), compression="gzip")
            m = np.zeros((N, s, s), np.uint8)
            m[2, :3, :3] = 1
            f.create_dataset("masks", data=m, chunks=(1, s, s), compression="gzip")
            f.create_dataset("label", data=np.array([0, 0, 1], label_dtype))
            f.create_dataset("class_id", data=np.array([0, 1, 1], np.int32))
            f.create_dataset("has_mask", data=np.array([1, 1, 1], np.uint8))
            sd = h5py.string_dtype("utf-8")
            f.create_dataset("class_names", data=["nut", "b\u00f6lt"], dtype=sd)
            f.create_dataset("defect", data=["good", "good", "crack"], dtype=sd)
            f.create_dataset("source_path", data=["x", "y", "z"], dtype=sd)
            for k, v in (("format", "tokenclip-dataset"), ("name", "own"), ("domain", "user"),
                         ("layout", "h5py"), ("source", "test"), ("mask_rule", "> 0")):
                f.attrs[k] = v
            f.attrs["version"] = np.int32(1)
            f.attrs["image_size"] = np.int32(s)
            f.attrs["size"] = np.int64(N)
            f.attrs["content_hash"] = ""
        with h5py.File(path, "a") as f:
            if label_dtype == np.uint8:
                f.attrs["content_hash"] = content_hash(f)

    write_own(own)
    r = subprocess.run([TOKENCLIP, "info", "--verify", own], capture_output=True, text=True)
    check(r.returncode == 0, f"info on an h5py-written file: {r.stdout} {r.stderr}")
    check("content hash verified" in r.stdout and "b\u00f6lt" in r.stdout, f"info output: {r.stdout}")
    bad = os.path.join(work, "bad.h5")
    write_own(bad, label_dtype=np.float32)
    r = subprocess.run([TOKENCLIP, "info", bad], capture_output=True, text=True)
    check(r.returncode == 3, f"wrong dtype: exit {r.returncode}")
    check(f"{bad}: dataset 'label' has type float32 (expected uint8)" in r.stderr, f"message: {r.stderr}")
    print("h5py -> tokenclip: accepted with verified hash; wrong dtype refused (exit 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
