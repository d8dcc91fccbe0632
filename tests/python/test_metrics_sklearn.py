#!/usr/bin/python3
"""Parity of tc::eval metrics and blur with the Python references.

References (written out here from their published definitions):
  - sklearn roc_auc_score, average_precision_score, precision_recall_curve (F1-max);
  - AnomalyCLIP's metrics.cal_pro_score (skimage.measure.label/regionprops, 200 np.arange steps);
  - the official MVTec AD evaluation: pro_curve_util.compute_pro + generic_util.trapezoid;
  - scipy.ndimage.gaussian_filter(sigma=4, mode='reflect', truncate=4) on float32 maps.
The C++ side runs as the MetricsDriver.Run case of the test_eval binary (found next to
$TOKENCLIP as tests/test_eval, or at $TC_TEST_EVAL_BIN). Random data with many ties, normal
images with all-zero masks, a threshold grid with 201 steps, one-label cases.
"""
import json
import os
import subprocess
import sys
import tempfile
from bisect import bisect

try:
    import numpy as np
    import scipy.ndimage
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score
except ImportError:
    sys.exit(77)
try:
    from skimage import measure
except ImportError:  # fall back to scipy's labelling with the same 8-connectivity
    measure = None


def find_tool():
    p = os.environ.get("TC_TEST_EVAL_BIN")
    if not p and os.environ.get("TOKENCLIP"):
        p = os.path.join(os.path.dirname(os.environ["TOKENCLIP"]), "tests", "test_eval")
    if not p or not os.path.exists(p):
        print("test_eval binary not found (set TC_TEST_EVAL_BIN); skipped")
        sys.exit(77)
    return p


# ------------------------------------------------------------------ references

def regions_of(mask):
    """(coords list) of the 8-connected regions of a 2-D mask."""
    if measure is not None:
        return [r.coords for r in measure.regionprops(measure.label(mask))]
    lab, n = scipy.ndimage.label(mask, structure=np.ones((3, 3)))
    return [np.argwhere(lab == k) for k in range(1, n + 1)]


def cal_pro_score(masks, amaps, max_step=200, expect_fpr=0.3):
    """AnomalyCLIP metrics.cal_pro_score (from cflow-ad)."""
    binary_amaps = np.zeros_like(amaps, dtype=bool)
    min_th, max_th = amaps.min(), amaps.max()
    delta = (max_th - min_th) / max_step
    pros, fprs, ths = [], [], []
    for th in np.arange(min_th, max_th, delta):
        binary_amaps[amaps <= th], binary_amaps[amaps > th] = 0, 1
        pro = []
        for binary_amap, mask in zip(binary_amaps, masks):
            for coords in regions_of(mask):
                tp_pixels = binary_amap[coords[:, 0], coords[:, 1]].sum()
                pro.append(tp_pixels / len(coords))
        inverse_masks = 1 - masks
        fp_pixels = np.logical_and(inverse_masks, binary_amaps).sum()
        fpr = fp_pixels / inverse_masks.sum()
        pros.append(np.array(pro).mean())
        fprs.append(fpr)
        ths.append(th)
    pros, fprs, ths = np.array(pros), np.array(fprs), np.array(ths)
    idxes = fprs < expect_fpr
    fprs = fprs[idxes]
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    return auc(fprs, pros[idxes])


def compute_pro_official(anomaly_maps, ground_truth_maps):
    """MVTec AD evaluation pro_curve_util.compute_pro."""
    structure = np.ones((3, 3), dtype=int)
    num_ok_pixels = 0
    num_gt_regions = 0
    shape = anomaly_maps.shape
    fp_changes = np.zeros(shape, dtype=np.uint32)
    pro_changes = np.zeros(shape, dtype=np.float64)
    for gt_ind, gt_map in enumerate(ground_truth_maps):
        labeled, n_components = scipy.ndimage.label(gt_map, structure)
        num_gt_regions += n_components
        ok_mask = labeled == 0
        num_ok_pixels += np.sum(ok_mask)
        fp_change = np.zeros_like(gt_map, dtype=fp_changes.dtype)
        fp_change[ok_mask] = 1
        _, region_sizes = np.unique(labeled, return_counts=True)
        pro_change = np.zeros_like(gt_map, dtype=np.float64)
        for k in range(1, n_components + 1):
            pro_change[labeled == k] = 1. / region_sizes[k]
        fp_changes[gt_ind, :, :] = fp_change
        pro_changes[gt_ind, :, :] = pro_change
    scores = np.array(anomaly_maps).ravel()
    idx = np.argsort(scores).astype(np.uint32)[::-1]
    scores = scores[idx]
    fp = np.cumsum(fp_changes.ravel()[idx]).astype(np.float32)
    fprs = np.divide(fp, num_ok_pixels, out=fp)
    pros = np.cumsum(pro_changes.ravel()[idx]) / num_gt_regions
    keep = np.append(np.diff(scores) != 0, np.True_)
    fprs, pros = fprs[keep], pros[keep]
    np.clip(fprs, a_min=None, a_max=1., out=fprs)
    np.clip(pros, a_min=None, a_max=1., out=pros)
    fprs = np.concatenate((np.array([0.]), fprs, np.array([1.])))
    pros = np.concatenate((np.array([0.]), pros, np.array([1.])))
    return fprs, pros


def trapezoid_official(x, y, x_max=None):
    """MVTec AD evaluation generic_util.trapezoid."""
    x, y = np.array(x), np.array(y)
    fin = np.logical_and(np.isfinite(x), np.isfinite(y))
    x, y = x[fin], y[fin]
    correction = 0.
    if x_max is not None:
        if x_max not in x:
            ins = bisect(x, x_max)
            assert 0 < ins < len(x)
            y_interp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1]))
            correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
        mask = x <= x_max
        x, y = x[mask], y[mask]
    return np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction


def f1_max(y, s):
    p, r, t = precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * p * r / (p + r)
    f1[~np.isfinite(f1)] = -1
    i = int(np.argmax(f1))
    return float(f1[i]), float(t[i])


# ------------------------------------------------------------------ data

def blob_masks(rng, n, h, w, normal_every=3):
    masks = np.zeros((n, h, w), dtype=np.uint8)
    for i in range(n):
        if i % normal_every == normal_every - 1:
            continue  # normal image: all-zero mask
        for _ in range(rng.integers(1, 5)):
            cy, cx = rng.integers(0, h), rng.integers(0, w)
            ry, rx = rng.integers(1, 6), rng.integers(1, 6)
            yy, xx = np.mgrid[0:h, 0:w]
            masks[i][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    return masks


def make_case(rng, name, n, h, w, levels=None, shift=0.3, normal_every=3):
    masks = blob_masks(rng, n, h, w, normal_every)
    maps = rng.normal(size=(n, h, w)) + shift * masks
    if levels:
        maps = np.round(maps * levels) / levels  # heavy ties
    maps = maps.astype(np.float32)
    labels = (masks.reshape(n, -1).max(1) > 0).astype(np.uint8)
    scores = maps.reshape(n, -1).max(1).astype(np.float32)
    if levels:
        scores = np.round(scores * 2) / 2
    return dict(name=name, n=n, h=h, w=w, maps=maps, masks=masks, labels=labels,
                scores=scores.astype(np.float32))


def find_201_case(rng):
    # A min/max for which np.arange(min, max, (max-min)/200) has 201 values.
    for _ in range(10000):
        lo = np.float32(rng.normal())
        hi = np.float32(lo + rng.uniform(0.1, 3))
        if len(np.arange(lo, hi, (hi - lo) / 200)) == 201:
            return lo, hi
    raise RuntimeError("no 201-step case found")


def main():
    tool = find_tool()
    rng = np.random.default_rng(2024)
    cases = [
        make_case(rng, "ties", 10, 48, 40, levels=4),
        make_case(rng, "continuous", 8, 64, 56, shift=1.0),
        make_case(rng, "fewlevels", 9, 32, 32, levels=1, shift=1.0),
    ]
    c = make_case(rng, "grid201", 8, 40, 40, shift=0.8)
    lo, hi = find_201_case(rng)
    m = c["maps"]
    m = (m - m.min()) / (m.max() - m.min())
    m = (lo + m.astype(np.float64) * (float(hi) - float(lo))).astype(np.float32)
    m.flat[0], m.flat[1] = lo, hi
    c["maps"] = m
    cases.append(c)
    c = make_case(rng, "alltest_anomalous", 6, 30, 30, normal_every=100)
    cases.append(c)
    # Realistic maps: blurred probabilities-like values (close but distinct scores), more pixels.
    c = make_case(rng, "blurred", 4, 160, 144, shift=1.5)
    c["maps"] = np.stack([scipy.ndimage.gaussian_filter(m, sigma=4) for m in c["maps"]]).astype(np.float32)
    c["maps"] = (1 / (1 + np.exp(-c["maps"]))).astype(np.float32)
    c["scores"] = c["maps"].reshape(4, -1).max(1).astype(np.float32)
    cases.append(c)

    blur_in = (rng.normal(size=(70, 53)) * 3).astype(np.float32)
    blur_in[0:5, 0:5] += 20
    with tempfile.TemporaryDirectory() as d:
        meta = {"cases": [], "blur": {"h": 70, "w": 53, "sigma": 4.0}}
        for c in cases:
            meta["cases"].append({k: c[k] for k in ("name", "n", "h", "w")})
            c["maps"].tofile(os.path.join(d, c["name"] + "_maps.f32"))
            c["masks"].tofile(os.path.join(d, c["name"] + "_masks.u8"))
            c["scores"].tofile(os.path.join(d, c["name"] + "_scores.f32"))
            c["labels"].tofile(os.path.join(d, c["name"] + "_labels.u8"))
        blur_in.tofile(os.path.join(d, "blur_in.f32"))
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f)
        env = dict(os.environ, TC_METRICS_DRIVER_DIR=d)
        r = subprocess.run([tool, "--gtest_filter=MetricsDriver.Run", "--gtest_color=no"], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            return 1
        with open(os.path.join(d, "out.json")) as f:
            out = json.load(f)
        blur_out = np.fromfile(os.path.join(d, "blur_out.f32"), dtype=np.float32).reshape(70, 53)

    failures = []

    def check(what, got, ref, tol=1e-9):
        if ref is None or (isinstance(ref, float) and not np.isfinite(ref)):
            ok = got is None
        else:
            ok = got is not None and abs(got - ref) <= tol
        print(f"  {what:34s} c++ {got!s:24s} ref {ref!s:24s} {'ok' if ok else 'MISMATCH'}")
        if not ok:
            failures.append(what)

    for c, o in zip(cases, out["cases"]):
        print(f"case {c['name']}:")
        y, s = c["labels"], c["scores"]
        if 0 < y.sum() < len(y):
            check("image auroc", o["image"]["auroc"], roc_auc_score(y, s))
            check("image ap", o["image"]["ap"], average_precision_score(y, s))
            f, t = f1_max(y, s)
            check("image f1_max", o["image"]["f1_max"], f)
            check("image f1_threshold", o["image"]["f1_threshold"], t, 0)
        else:
            check("image auroc (one label: n/a)", o["image"]["auroc"], None)
            check("image ap (one label: n/a)", o["image"]["ap"], None)
        gt = (c["masks"] > 0).ravel().astype(int)
        pm = c["maps"].ravel()
        check("pixel auroc", o["pixel"]["auroc"], roc_auc_score(gt, pm))
        check("pixel ap", o["pixel"]["ap"], average_precision_score(gt, pm))
        f, t = f1_max(gt, pm)
        check("pixel f1_max", o["pixel"]["f1_max"], f)
        check("pixel f1_threshold", o["pixel"]["f1_threshold"], t, 0)
        check("aupro_anomalyclip", o["pixel"]["aupro_anomalyclip"], float(cal_pro_score(c["masks"], c["maps"])))
        fprs, pros = compute_pro_official(c["maps"], c["masks"])
        check("aupro_mvtec", o["pixel"]["aupro_mvtec"], float(trapezoid_official(fprs, pros, 0.3) / 0.3))
        mn, mx = c["maps"].min(), c["maps"].max()
        ref_th = np.arange(mn, mx, (mx - mn) / 200).astype(np.float32)
        same = len(ref_th) == len(o["thresholds"]) and np.array_equal(ref_th, np.array(o["thresholds"], np.float32))
        print(f"  thresholds: {len(ref_th)} values, {'identical' if same else 'DIFFERENT'}")
        if not same:
            failures.append(c["name"] + " thresholds")

    ref_blur = scipy.ndimage.gaussian_filter(blur_in, sigma=4.0, mode="reflect", truncate=4.0)
    diff = np.abs(ref_blur.astype(np.float64) - blur_out)
    ndiff = int((ref_blur != blur_out).sum())
    print(f"blur vs scipy: max |diff| {diff.max():.3g}, {ndiff} of {blur_out.size} values differ in any bit")
    if diff.max() > 1e-6 * max(1.0, np.abs(ref_blur).max()):
        failures.append("blur")
    from scipy.ndimage._filters import _gaussian_kernel1d
    kref = _gaussian_kernel1d(4.0, 0, 16)
    kd = np.abs(np.array(out["kernel"]) - kref).max()
    print(f"kernel vs scipy: max |diff| {kd:.3g}")
    if kd > 1e-16:
        failures.append("kernel")

    if failures:
        print("FAILED:", failures)
        return 1
    print("all metrics match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
