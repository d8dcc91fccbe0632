#!/usr/bin/python3
"""The synthetic benchmark's files, read back with h5py (independently of the C++ reader).

Runs `tokenclip synth --size 64` into a temporary folder, then checks with numpy/h5py: the
content hash recomputed from its definition in docs/FORMATS.md, masks binary, label == any(mask)
(masks non-empty exactly for anomalous images), every class has normal and anomalous images,
grayscale categories have equal channels, categories and defect types of synth-industrial-b do
not occur in synth-industrial-a, and a trivial detector (max |I - median3x3(I)| per image)
ranks anomalous above normal images better than chance on synth-industrial-b (mean sklearn
AUROC > 0.5; printed per class).
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
    from scipy.ndimage import median_filter
    from sklearn.metrics import roc_auc_score
except ImportError:
    sys.exit(77)

TC = os.environ.get("TOKENCLIP")
if not TC or not os.path.exists(TC):
    print("TOKENCLIP not set; skipped")
    sys.exit(77)

GRAY = {"mesh", "screw", "brain", "chest", "cells"}
fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)
        print("FAIL:", msg)


with tempfile.TemporaryDirectory() as d:
    subprocess.run([TC, "synth", "--out", d, "--size", "64", "--seed", "3"], check=True,
                   stdout=subprocess.DEVNULL)
    sets = {}
    for name in ["synth-industrial-a", "synth-industrial-b", "synth-medical"]:
        with h5py.File(os.path.join(d, name + ".h5"), "r") as f:
            check(f.attrs["name"] == name, f"{name}: name attribute")
            check(f.attrs["domain"] == "synthetic", f"{name}: domain")
            check(int(f.attrs["image_size"]) == 64, f"{name}: image_size")
            imgs, masks = f["images"][:], f["masks"][:]
            label, cid, has = f["label"][:], f["class_id"][:], f["has_mask"][:]
            classes = list(f["class_names"].asstr()[:])
            defects = list(f["defect"].asstr()[:])
            h = hashlib.sha256()
            for i in range(len(label)):
                h.update(imgs[i].tobytes())
                h.update(masks[i].tobytes())
                h.update(struct.pack("<BiB", label[i], cid[i], has[i]))
            for c in classes:
                b = c.encode()
                h.update(struct.pack("<I", len(b)) + b)
            check(h.hexdigest() == f.attrs["content_hash"], f"{name}: content hash")
        check(set(np.unique(masks)) <= {0, 1}, f"{name}: masks not 0/1")
        check(bool(np.all(has == 1)), f"{name}: has_mask")
        nonempty = masks.reshape(len(label), -1).any(axis=1)
        check(bool(np.all(nonempty == (label == 1))), f"{name}: label != any(mask)")
        check(all((dfc == "good") == (lb == 0) for dfc, lb in zip(defects, label)),
              f"{name}: defect 'good' iff label 0")
        aurocs = []
        for k, c in enumerate(classes):
            sel = cid == k
            check(0 < label[sel].sum() < sel.sum(), f"{name}/{c}: needs normal and anomalous")
            if c in GRAY:
                x = imgs[sel].astype(int)
                check(bool(np.all((x[..., 0] == x[..., 1]) & (x[..., 1] == x[..., 2]))),
                      f"{name}/{c}: grayscale class has colour")
            g = imgs[sel].astype(np.float64).mean(axis=3)
            score = [np.abs(im - median_filter(im, size=3)).max() for im in g]
            auc = roc_auc_score(label[sel], score)
            aurocs.append(auc)
            print(f"{name:20s} {c:8s} images {sel.sum():3d} anomalous {label[sel].sum():3d} "
                  f"trivial AUROC {auc:.3f}")
        sets[name] = (set(classes), {x for x in defects if x != "good"})
        if name == "synth-industrial-b":  # DATASETS.md §4.4: a trivial reference beats chance on B
            check(float(np.mean(aurocs)) > 0.5, f"{name}: mean trivial AUROC {np.mean(aurocs):.3f}")
    a, b = sets["synth-industrial-a"], sets["synth-industrial-b"]
    check(not (a[0] & b[0]), f"classes in both A and B: {a[0] & b[0]}")
    check(not (a[1] & b[1]), f"defect types in both A and B: {a[1] & b[1]}")

print("ok" if not fails else f"{len(fails)} failures")
sys.exit(1 if fails else 0)
