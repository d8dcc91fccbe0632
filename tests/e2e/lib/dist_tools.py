#!/usr/bin/python3
"""Helpers of the distributed e2e tests (train_dist.sh, eval_dist.sh): small datasets written
with h5py following docs/FORMATS.md, and comparisons done independently of tokenclip.

  subset SRC DST N NAME [nomask]   N images of SRC (evenly spread) as a new dataset named NAME
                                   (nomask: every has_mask 0 and every mask 0); content hash
                                   recomputed as FORMATS.md defines it
  cmp_ckpt A B TOL[:FRAC] GROUP... every dataset (and the attributes) of GROUP(s) equal to TOL
                                   (TOL 0: bit for bit); with FRAC, at most that fraction of
                                   all values may differ by more than TOL
  ckpt_step A                      prints trainer/global_step (fails if the file is unreadable)
  cmp_losses LOG_A LOG_B RTOL N    loss terms of the first N step lines agree to RTOL
  cmp_metrics A.json B.json TOL    every numeric field of classes and mean agrees (nulls alike)
  pixel_null METRICS.json          the pixel metrics are null (image-only dataset)
  pngs DIR MIN                     at least MIN valid PNG files under DIR (opened with PIL)
  times LOG [SKIP]                 median of the time_* fields over step lines (after SKIP)
  set_value FILE DATASET VALUE     the first element of DATASET (e.g. learnable/base.ctx_normal)
                                   becomes VALUE (nan, inf, ...), in place
  dup_class SRC DST                a copy of dataset SRC whose last class name repeats the first
  steps LOG                        prints the global_step of every step line, space separated
Exit 0 on success; a failing check prints what differs and exits 1.
"""
import hashlib
import json
import math
import os
import statistics
import struct
import sys

import h5py
import numpy as np


def content_hash(f):
    h = hashlib.sha256()
    for i in range(int(f.attrs["size"])):
        h.update(f["images"][i].tobytes())
        h.update(f["masks"][i].tobytes())
        h.update(struct.pack("<BiB", int(f["label"][i]), int(f["class_id"][i]), int(f["has_mask"][i])))
    for c in f["class_names"].asstr()[:]:
        b = c.encode()
        h.update(struct.pack("<I", len(b)) + b)
    return h.hexdigest()


def subset(src, dst, n, name, nomask=False):
    n = int(n)
    with h5py.File(src, "r") as s, h5py.File(dst + ".tmp", "w") as d:
        # evenly spread picks, so every class and both labels are represented
        idx = np.unique(np.linspace(0, int(s.attrs["size"]) - 1, n).round().astype(np.int64))
        assert len(idx) == n, "N larger than the source"
        for k, v in s.attrs.items():
            d.attrs[k] = v
        for key in s.keys():
            ds = s[key]
            data = ds[:] if key == "class_names" else ds[idx]
            if nomask and key == "masks":
                data = np.zeros_like(data)
            if nomask and key == "has_mask":
                data = np.zeros_like(data)
            kw = {}
            if ds.chunks is not None and key in ("images", "masks"):
                kw = dict(chunks=(1,) + ds.shape[1:], maxshape=(None,) + ds.shape[1:],
                          compression="gzip", compression_opts=4, shuffle=True)
            d.create_dataset(key, data=data, dtype=ds.dtype, **kw)
        d.attrs["size"] = n
        d.attrs["name"] = name
        d.attrs["content_hash"] = content_hash(d)
    os.replace(dst + ".tmp", dst)


def cmp_ckpt(a, b, tol, groups):
    # TOL, or TOL:FRAC (at most the fraction FRAC of all elements may differ by more than TOL;
    # for Adam runs compared across rank counts, see train_dist.sh).
    tol, _, frac = str(tol).partition(":")
    tol, frac = float(tol), float(frac or 0)
    bad = 0
    worst = 0.0
    beyond = total = 0
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for g in groups:
            na, nb = sorted(fa[g].keys()), sorted(fb[g].keys())
            if na != nb:
                print(f"{g}: names differ: {na} vs {nb}")
                return 1
            for k in na:
                x, y = fa[g][k][()], fb[g][k][()]
                if x.shape != y.shape:
                    print(f"{g}/{k}: shape {x.shape} vs {y.shape}")
                    bad += 1
                    continue
                dd = np.abs(x.astype(np.float64) - y.astype(np.float64))
                d = float(np.max(dd)) if x.size else 0.0
                worst = max(worst, d)
                n_beyond = int(np.count_nonzero(dd > tol))
                beyond += n_beyond
                total += x.size
                if tol == 0 and not np.array_equal(x, y):
                    print(f"{g}/{k}: not bit for bit equal (max |diff| {d:.3g})")
                    bad += 1
                elif frac == 0 and d > tol:
                    print(f"{g}/{k}: max |diff| {d:.3g} > {tol}")
                    bad += 1
            aa, ab = dict(fa[g].attrs), dict(fb[g].attrs)
            if {k: str(v) for k, v in aa.items()} != {k: str(v) for k, v in ab.items()}:
                print(f"{g} attributes differ: {aa} vs {ab}")
                bad += 1
    if frac > 0 and beyond > frac * total:
        print(f"{beyond} of {total} values differ by more than {tol} (allowed: {frac * total:.0f})")
        bad += 1
    print(f"cmp_ckpt {' '.join(groups)}: max |diff| {worst:.3g}, {beyond} of {total} values beyond {tol:g}")
    return 1 if bad else 0


def ckpt_step(a):
    with h5py.File(a, "r") as f:
        print(int(f["trainer"].attrs["global_step"]))
        for k in f["learnable"].keys():
            if not np.all(np.isfinite(f["learnable"][k][()])):
                print(f"learnable/{k} is not finite", file=sys.stderr)
                return 1
    return 0


def step_lines(path):
    with open(path) as f:
        return [j for j in (json.loads(l) for l in f if l.strip()) if j.get("kind") == "step"]


def cmp_losses(la, lb, rtol, n):
    a, b = step_lines(la)[: int(n)], step_lines(lb)[: int(n)]
    if len(a) != int(n) or len(b) != int(n):
        print(f"expected {n} step lines, got {len(a)} and {len(b)}")
        return 1
    bad = 0
    worst = 0.0
    for x, y in zip(a, b):
        for k in x:
            if k.startswith("loss"):
                worst = max(worst, abs(x[k] - y[k]) / max(abs(x[k]), abs(y[k]), 1e-30))
                if not math.isclose(x[k], y[k], rel_tol=float(rtol), abs_tol=1e-7):
                    print(f"step {x['global_step']} {k}: {x[k]} vs {y[k]}")
                    bad += 1
    print(f"cmp_losses: max relative diff {worst:.3g} (rtol {rtol})")
    return 1 if bad else 0


def numeric_fields(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from numeric_fields(v, f"{prefix}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from numeric_fields(v, f"{prefix}[{i}]")
    elif obj is None or (isinstance(obj, (int, float)) and not isinstance(obj, bool)):
        yield prefix, obj


def cmp_metrics(a, b, tol):
    ja, jb = json.load(open(a)), json.load(open(b))
    fa = dict(numeric_fields({"classes": ja["classes"], "mean": ja["mean"]}))
    fb = dict(numeric_fields({"classes": jb["classes"], "mean": jb["mean"]}))
    if fa.keys() != fb.keys():
        print(f"fields differ: {sorted(set(fa) ^ set(fb))[:10]}")
        return 1
    bad = 0
    for k in fa:
        x, y = fa[k], fb[k]
        if (x is None) != (y is None) or (x is not None and abs(x - y) > float(tol)):
            print(f"{k}: {x} vs {y}")
            bad += 1
    print(f"{len(fa)} numeric fields compared, {bad} differ")
    return 1 if bad or not fa else 0


def pixel_null(path):
    # docs/METRICS.md: image-only sets get "pixel": null (never 0 or 1), image metrics stay defined
    j = json.load(open(path))
    classes = j["classes"] if isinstance(j["classes"], list) else list(j["classes"].values())
    entries = classes + [j["mean"]]
    pix_null = all(e.get("pixel", "missing") is None for e in entries)
    img_ok = all(e["image"]["auroc"] is not None and e["image"]["ap"] is not None for e in entries)
    print(f"{len(classes)} classes + mean: pixel null everywhere: {pix_null}; image AUROC/AP defined: {img_ok}")
    return 0 if pix_null and img_ok and classes else 1


def pngs(d, mn):
    from PIL import Image
    n = 0
    for root, _, files in os.walk(d):
        for fn in files:
            if fn.lower().endswith(".png"):
                with open(os.path.join(root, fn), "rb") as f:
                    if f.read(8) != b"\x89PNG\r\n\x1a\n":
                        print(f"{fn}: no PNG signature")
                        return 1
                with Image.open(os.path.join(root, fn)) as im:
                    im.verify()
                n += 1
    print(f"{n} valid PNG files")
    return 0 if n >= int(mn) else 1


def times(path, skip="0"):
    lines = step_lines(path)[int(skip):]
    keys = ["time_data_s", "time_forward_s", "time_backward_s", "time_allreduce_s", "step_s"]
    med = {k: statistics.median(j[k] for j in lines) for k in keys}
    print(" ".join(f"{k}={v:.3f}" for k, v in med.items()) + f" (median of {len(lines)} steps)")
    return 0


def set_value(path, name, value):
    with h5py.File(path, "r+") as f:
        d = f[name]
        a = d[()]
        a.reshape(-1)[0] = float(value)
        d[...] = a
    return 0


def dup_class(src, dst):
    import shutil
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        names = list(f["class_names"].asstr()[:])
        assert len(names) >= 2, "needs two classes"
        names[-1] = names[0]
        del f["class_names"]
        f.create_dataset("class_names", data=names, dtype=h5py.string_dtype("utf-8"))
    return 0


def steps(path):
    print(" ".join(str(j["global_step"]) for j in step_lines(path)))
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "subset":
        subset(args[0], args[1], args[2], args[3], len(args) > 4 and args[4] == "nomask")
        sys.exit(0)
    fn = {"cmp_ckpt": lambda a: cmp_ckpt(a[0], a[1], a[2], a[3:]), "ckpt_step": lambda a: ckpt_step(a[0]),
          "cmp_losses": lambda a: cmp_losses(*a), "cmp_metrics": lambda a: cmp_metrics(*a),
          "pixel_null": lambda a: pixel_null(a[0]), "pngs": lambda a: pngs(*a),
          "times": lambda a: times(*a), "set_value": lambda a: set_value(*a),
          "dup_class": lambda a: dup_class(*a), "steps": lambda a: steps(a[0])}[cmd]
    sys.exit(fn(args))
