#!/usr/bin/python3
"""Parity of tc::data image decoding and resizing with Pillow (the Python reference).

Writes images with PIL, runs the C++ side through the `ImageTool.RunManifest` case of the
test_data binary (found next to $TOKENCLIP as tests/test_data, or at $TC_TEST_DATA_BIN), and
compares against PIL's Image.resize / the AnomalyCLIP mask pipeline / PIL decoding.
Must be within 1 intensity level everywhere; prints the maximum difference seen (expect 0).
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from PIL import Image
    import PIL
except ImportError:
    sys.exit(77)


def find_tool():
    p = os.environ.get("TC_TEST_DATA_BIN")
    if not p and os.environ.get("TOKENCLIP"):
        p = os.path.join(os.path.dirname(os.environ["TOKENCLIP"]), "tests", "test_data")
    if not p or not os.path.exists(p):
        print("test_data binary not found (set TC_TEST_DATA_BIN); skipped")
        sys.exit(77)
    return p


def structured(w, h, kind, rng):
    y, x = np.mgrid[0:h, 0:w]
    if kind == "checker":  # one-pixel checkerboard: worst case for ringing and aliasing
        g = ((x + y) % 2) * 255
    elif kind == "blocks":
        g = (((x // 7) + (y // 5)) % 2) * 255
    elif kind == "gradient":
        g = (x * 255 // max(w - 1, 1) + y * 3) % 256
    else:  # edges with overshoot: 0/255 steps
        g = np.where((x > w // 3) & (y < 2 * h // 3), 255, 0)
    g = g.astype(np.uint8)
    return np.stack([g, 255 - g, (g // 2 + rng.integers(0, 2, g.shape).astype(np.uint8))], -1)


def main():
    tool = find_tool()
    rng = np.random.default_rng(1234)
    work = tempfile.mkdtemp(prefix="tc_resize_pillow_")
    cases = []  # (op line, expected array, description)

    def add_resize(arr, ow, oh, filt, desc):
        i = len(cases)
        src = os.path.join(work, f"in{i}.png")
        dst = os.path.join(work, f"out{i}.png")
        Image.fromarray(arr).save(src)
        pf = Image.BICUBIC if filt == "bicubic" else Image.BILINEAR
        want = np.array(Image.fromarray(arr).resize((ow, oh), pf))
        cases.append((f"resize {src} {dst} {ow} {oh} {filt}", dst, want, desc))

    # Random images: up, down, odd sizes, aspect changes, both filters, RGB and gray.
    sizes = [(1, 1, 5, 3), (2, 3, 7, 11), (17, 13, 5, 9), (64, 48, 518, 518), (700, 700, 518, 518),
             (1024, 1024, 518, 518), (900, 900, 224, 224), (1500, 1000, 518, 518),
             (333, 517, 518, 518), (518, 518, 37, 37), (31, 200, 200, 31), (1000, 3, 999, 4),
             (519, 518, 518, 518), (518, 519, 518, 518), (5, 400, 518, 7)]
    for (w, h, ow, oh) in sizes:
        for filt in ("bicubic", "bilinear"):
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            add_resize(rgb, ow, oh, filt, f"random rgb {w}x{h}->{ow}x{oh} {filt}")
        gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
        add_resize(gray, ow, oh, "bilinear", f"random gray {w}x{h}->{ow}x{oh} bilinear")
        add_resize(gray, ow, oh, "bicubic", f"random gray {w}x{h}->{ow}x{oh} bicubic")
    # A random sweep of small sizes (1..160 px, any aspect, up and down, both filters).
    for _ in range(60):
        w, h, ow, oh = (int(v) for v in rng.integers(1, 161, 4))
        filt = ("bicubic", "bilinear")[int(rng.integers(0, 2))]
        ch = int(rng.integers(0, 2))
        arr = rng.integers(0, 256, (h, w, 3) if ch else (h, w), dtype=np.uint8)
        add_resize(arr, ow, oh, filt, f"sweep {'rgb' if ch else 'gray'} {w}x{h}->{ow}x{oh} {filt}")
    for kind in ("checker", "blocks", "gradient", "edges"):
        for (w, h, ow, oh) in [(640, 480, 518, 518), (97, 89, 518, 518), (1024, 768, 336, 336),
                               (50, 50, 51, 49)]:
            add_resize(structured(w, h, kind, rng), ow, oh, "bicubic",
                       f"{kind} {w}x{h}->{ow}x{oh} bicubic")

    # Masks: AnomalyCLIP's pipeline (binarise, x255, PIL bilinear resize, /255 > 0.5).
    for (w, h, s, thr) in [(1024, 1024, 518, 0), (700, 600, 518, 127), (37, 29, 518, 0),
                           (518, 518, 224, 0), (300, 900, 518, 127)]:
        i = len(cases)
        m = np.zeros((h, w), np.uint8)
        for _ in range(6):  # random ellipses with soft (anti-aliased-like) values
            cy, cx = rng.integers(0, h), rng.integers(0, w)
            ry, rx = rng.integers(1, max(2, h // 6)), rng.integers(1, max(2, w // 6))
            yy, xx = np.mgrid[0:h, 0:w]
            d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
            m = np.maximum(m, np.clip((1.5 - d) * 255, 0, 255).astype(np.uint8))
        src = os.path.join(work, f"in{i}.png")
        dst = os.path.join(work, f"out{i}.png")
        Image.fromarray(m).save(src)
        b = Image.fromarray(((m > thr) * 255).astype(np.uint8), mode="L")
        want = (np.array(b.resize((s, s), Image.BILINEAR)).astype(np.float32) / 255 > 0.5)
        cases.append((f"mask {src} {dst} {s} {thr}", dst, want.astype(np.uint8),
                      f"mask {w}x{h}->{s} >{thr}"))

    # Decoding: 16-bit gray (round(v/257)), JPEG (PIL's decoder), palette, gray+alpha.
    def add_decode(path, op, want, desc):
        i = len(cases)
        dst = os.path.join(work, f"out{i}.png")
        cases.append((f"{op} {path} {dst}", dst, want, desc))

    v16 = rng.integers(0, 65536, (23, 19), dtype=np.uint16)
    p16 = os.path.join(work, "g16.png")
    Image.fromarray(v16).save(p16)
    r16 = np.floor(v16.astype(np.float64) / 257 + 0.5).astype(np.uint8)
    add_decode(p16, "rgb", np.stack([r16] * 3, -1), "16-bit gray decode")
    add_decode(p16, "gray", r16, "16-bit gray mask decode")
    jpg = os.path.join(work, "photo.jpg")
    Image.fromarray(structured(120, 90, "gradient", rng)).save(jpg, quality=85)
    add_decode(jpg, "rgb", np.array(Image.open(jpg).convert("RGB")), "JPEG decode")
    pal = os.path.join(work, "pal.png")
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).quantize(16).save(pal)
    add_decode(pal, "rgb", np.array(Image.open(pal).convert("RGB")), "palette PNG decode")
    la = os.path.join(work, "la.png")
    Image.fromarray(rng.integers(0, 256, (10, 12, 2), dtype=np.uint8), mode="LA").save(la)
    add_decode(la, "rgb", np.array(Image.open(la).convert("RGB")), "gray+alpha decode")

    manifest = os.path.join(work, "manifest.txt")
    with open(manifest, "w") as f:
        f.write("\n".join(c[0] for c in cases) + "\n")
    env = dict(os.environ, TC_IMAGE_TOOL_MANIFEST=manifest)
    r = subprocess.run([tool, "--gtest_filter=ImageTool.RunManifest", "--gtest_color=no"],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0 or "[  PASSED  ] 1 test" not in r.stdout:
        print(r.stdout[-4000:], r.stderr[-4000:])
        print("FAIL: the C++ tool failed")
        return 1

    worst, failures, exact = 0, 0, 0
    for (_, dst, want, desc) in cases:
        got = np.array(Image.open(dst))
        if got.shape != want.shape:
            print(f"FAIL {desc}: shape {got.shape} vs {want.shape}")
            failures += 1
            continue
        d = int(np.abs(got.astype(np.int32) - want.astype(np.int32)).max())
        worst = max(worst, d)
        exact += d == 0
        if d > 1:
            print(f"FAIL {desc}: max diff {d}")
            failures += 1
        elif d:
            print(f"note {desc}: max diff {d}")
    print(f"Pillow {PIL.__version__}: {len(cases)} cases, {exact} bit-exact, "
          f"max abs difference {worst} levels")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
