#!/usr/bin/env python3
"""CLIP parity: `tokenclip encode` / `encode-text` against an OpenAI-CLIP-style forward written
here in PyTorch (nn.MultiheadAttention as OpenAI's model.py uses it; the V-V path as
AnomalyCLIP's Attention class computes it), on random weights written by this script in the
tokenclip HDF5 weight format (an independent writer) with every bias and LayerNorm random."""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print("skipped:", e)
    sys.exit(77)

TOKENCLIP = os.environ.get("TOKENCLIP")
if not TOKENCLIP or not os.path.exists(TOKENCLIP):
    print("skipped: TOKENCLIP not set")
    sys.exit(77)

torch.set_num_threads(2)
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

# tiny preset (docs/CLIP.md)
VW, VL, VH, P, NATIVE = 128, 6, 4, 16, 128
TW, TL, TH, D, VOCAB = 64, 12, 2, 64, 49408


def random_weights(seed, act):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, std=1.0: (torch.randn(*s, generator=g) * std)
    w = {}

    def block(pre, W, L):
        w[pre + "attn.in_proj_weight"] = r(3 * W, W, std=W ** -0.5)
        w[pre + "attn.in_proj_bias"] = r(3 * W, std=0.1)
        w[pre + "attn.out_proj.weight"] = r(W, W, std=W ** -0.5)
        w[pre + "attn.out_proj.bias"] = r(W, std=0.1)
        w[pre + "ln_1.weight"] = 1 + r(W, std=0.2)
        w[pre + "ln_1.bias"] = r(W, std=0.1)
        w[pre + "ln_2.weight"] = 1 + r(W, std=0.2)
        w[pre + "ln_2.bias"] = r(W, std=0.1)
        w[pre + "mlp.c_fc.weight"] = r(4 * W, W, std=W ** -0.5)
        w[pre + "mlp.c_fc.bias"] = r(4 * W, std=0.1)
        w[pre + "mlp.c_proj.weight"] = r(W, 4 * W, std=(4 * W) ** -0.5)
        w[pre + "mlp.c_proj.bias"] = r(W, std=0.1)

    g0 = NATIVE // P
    w["visual.conv1.weight"] = r(VW, 3, P, P, std=(3 * P * P) ** -0.5)
    w["visual.class_embedding"] = r(VW, std=0.5)
    w["visual.positional_embedding"] = r(1 + g0 * g0, VW, std=0.5)
    w["visual.ln_pre.weight"] = 1 + r(VW, std=0.2)
    w["visual.ln_pre.bias"] = r(VW, std=0.1)
    for i in range(VL):
        block(f"visual.transformer.resblocks.{i}.", VW, VL)
    w["visual.ln_post.weight"] = 1 + r(VW, std=0.2)
    w["visual.ln_post.bias"] = r(VW, std=0.1)
    w["visual.proj"] = r(VW, D, std=VW ** -0.5)
    w["token_embedding.weight"] = r(VOCAB, TW, std=0.5)
    w["positional_embedding"] = r(77, TW, std=0.5)
    for i in range(TL):
        block(f"transformer.resblocks.{i}.", TW, TL)
    w["ln_final.weight"] = 1 + r(TW, std=0.2)
    w["ln_final.bias"] = r(TW, std=0.1)
    w["text_projection"] = r(TW, D, std=TW ** -0.5)
    w["logit_scale"] = torch.tensor(float(np.log(1 / 0.07)))
    return {k: v.float() for k, v in w.items()}


def write_h5(path, w, act):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "tokenclip-clip-weights"
        f.attrs["version"] = np.int64(1)
        f.attrs["preset"] = "tiny"
        f.attrs["activation"] = act
        f.attrs["vision_heads"] = np.int64(VH)
        f.attrs["text_heads"] = np.int64(TH)
        f.attrs["source_format"] = "python-test"
        f.attrs["source_fingerprint"] = ""
        f.attrs["source_path"] = ""
        f.attrs["random"] = np.int64(0)
        f.attrs["init_seed"] = np.int64(0)
        g = f.create_group("tensors")
        for k, v in w.items():
            g.create_dataset(k, data=v.numpy().astype(np.float32))


# ---------------------------------------------------------------- reference (OpenAI model.py style)

def act_fn(x, act):
    return x * torch.sigmoid(1.702 * x) if act == "quickgelu" else F.gelu(x)


def mha(w, pre, x, heads, mask=None):
    """nn.MultiheadAttention forward with OpenAI CLIP's parameters; x is [T,B,W] (LND)."""
    W = x.shape[-1]
    m = torch.nn.MultiheadAttention(W, heads)
    with torch.no_grad():
        m.in_proj_weight.copy_(w[pre + "attn.in_proj_weight"])
        m.in_proj_bias.copy_(w[pre + "attn.in_proj_bias"])
        m.out_proj.weight.copy_(w[pre + "attn.out_proj.weight"])
        m.out_proj.bias.copy_(w[pre + "attn.out_proj.bias"])
    return m(x, x, x, need_weights=False, attn_mask=mask)[0]


def vv_attention(w, pre, x, heads):
    """AnomalyCLIP's Attention: [x (v-v), x_ori (q-k)] on [B,N,C]."""
    B, N, C = x.shape
    qkv = F.linear(x, w[pre + "attn.in_proj_weight"], w[pre + "attn.in_proj_bias"])
    qkv = qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    scale = (C // heads) ** -0.5
    attn_ori = ((q @ k.transpose(-2, -1)) * scale).softmax(dim=-1)
    attn = ((v @ v.transpose(-2, -1)) * scale).softmax(dim=-1)
    x_ori = (attn_ori @ v).transpose(1, 2).reshape(B, N, C)
    x = (attn @ v).transpose(1, 2).reshape(B, N, C)
    proj = lambda t: F.linear(t, w[pre + "attn.out_proj.weight"], w[pre + "attn.out_proj.bias"])
    return proj(x), proj(x_ori)


def ln(x, w, pre):
    return F.layer_norm(x, (x.shape[-1],), w[pre + ".weight"], w[pre + ".bias"], 1e-5)


def mlp(w, pre, x, act):
    h = F.linear(x, w[pre + "mlp.c_fc.weight"], w[pre + "mlp.c_fc.bias"])
    return F.linear(act_fn(h, act), w[pre + "mlp.c_proj.weight"], w[pre + "mlp.c_proj.bias"])


def ref_visual(w, images, act, vv_from, layers):
    S = images.shape[-1]
    g, g0 = S // P, NATIVE // P
    pos = w["visual.positional_embedding"]
    if g != g0:
        grid = pos[1:].reshape(1, g0, g0, VW).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(g, g), mode="bilinear", align_corners=False)
        pos = torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(g * g, VW)], 0)
    x = F.conv2d(images, w["visual.conv1.weight"], stride=P).flatten(2).transpose(1, 2)
    cls = w["visual.class_embedding"].view(1, 1, VW).expand(x.shape[0], 1, VW)
    x = torch.cat([cls, x], 1) + pos
    x = ln(x, w, "visual.ln_pre")
    z = None
    toks = {}
    for i in range(VL):
        pre = f"visual.transformer.resblocks.{i}."
        l = i + 1
        if vv_from > 0 and l >= vv_from:
            x_res, x_ori_res = vv_attention(w, pre, ln(x, w, pre + "ln_1"), VH)
            z = (x if l == vv_from else z) + x_res
            x = x + x_ori_res
            x = x + mlp(w, pre, ln(x, w, pre + "ln_2"), act)
        else:
            xl = x.permute(1, 0, 2)
            xl = xl + mha(w, pre, ln(xl, w, pre + "ln_1"), VH)
            xl = xl + mlp(w, pre, ln(xl, w, pre + "ln_2"), act)
            x = xl.permute(1, 0, 2)
        if l in layers:
            src = z if (vv_from > 0 and l >= vv_from) else x
            toks[l] = ln(src, w, "visual.ln_post") @ w["visual.proj"]
    cls = x[:, 0]
    return ln(cls, w, "visual.ln_post") @ w["visual.proj"], cls @ w["visual.proj"], toks


def ref_text(w, ids, act):
    x = w["token_embedding.weight"][ids] + w["positional_embedding"]
    mask = torch.empty(77, 77).fill_(float("-inf")).triu_(1)
    x = x.permute(1, 0, 2)
    for i in range(TL):
        pre = f"transformer.resblocks.{i}."
        x = x + mha(w, pre, ln(x, w, pre + "ln_1"), TH, mask)
        x = x + mlp(w, pre, ln(x, w, pre + "ln_2"), act)
    x = ln(x.permute(1, 0, 2), w, "ln_final")
    return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ w["text_projection"]


def to_input(pil_images, S):
    arr = np.stack([np.asarray(im.convert("RGB").resize((S, S), Image.BICUBIC)) for im in pil_images])
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
    return (t - MEAN) / STD


FAILS = []


def check(name, got, want, tol):
    got = torch.as_tensor(np.asarray(got)).double()
    want = want.double()
    if got.shape != want.shape:
        FAILS.append(f"{name}: shape {tuple(got.shape)} vs {tuple(want.shape)}")
        return
    rel = ((got - want).abs().max() / want.abs().max()).item()
    status = "ok" if rel < tol else "FAIL"
    print(f"{status}: {name}: max rel diff {rel:.2e} (tol {tol:g})")
    if rel >= tol:
        FAILS.append(f"{name}: {rel:.3e}")


def run(*args):
    r = subprocess.run([TOKENCLIP, *args, "--runtime.threads", "2"], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"tokenclip {' '.join(args)} failed with {r.returncode}")
    return r


def main():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for act in ("quickgelu", "gelu"):
            w = random_weights(11 if act == "quickgelu" else 12, act)
            wpath = os.path.join(tmp, f"w_{act}.h5")
            write_h5(wpath, w, act)
            # Images already at S (no resampling on either side) and one of another size.
            for S in (128, 160):
                d = os.path.join(tmp, f"img{S}_{act}")
                os.makedirs(d)
                ims = []
                for k in range(3):
                    im = Image.fromarray(rng.integers(0, 256, (S, S, 3), dtype=np.uint8))
                    im.save(os.path.join(d, f"{k}.png"))
                    ims.append(im)
                x = to_input(ims, S)
                for vv, layers in ((0, [2, 6]), (3, [1, 3, 6])):
                    out = os.path.join(tmp, f"f_{act}_{S}_{vv}.h5")
                    run("encode", "--weights", wpath, "--images", d, "--out", out, "--image-size", str(S),
                        "--layers", ",".join(map(str, layers)), "--vv-from", str(vv) if vv else "none",
                        "--batch", "2")
                    with torch.no_grad():
                        emb, glob, toks = ref_visual(w, x, act, vv, layers)
                    with h5py.File(out, "r") as f:
                        tag = f"{act} S={S} vv={vv or 'off'}"
                        check(f"image_embed {tag}", f["image_embed"][()], emb, 1e-4)
                        check(f"image_global {tag}", f["image_global"][()], glob, 1e-4)
                        for l in layers:
                            check(f"tokens/{l} {tag}", f[f"tokens/{l}"][()], toks[l], 1e-4)
                        paths = [p.decode() if isinstance(p, bytes) else p for p in f["paths"][()]]
                        if [os.path.basename(p) for p in paths] != ["0.png", "1.png", "2.png"]:
                            FAILS.append(f"paths order {paths}")
            # Text tower: ids as tokenised by the command, embedding against the reference.
            out = os.path.join(tmp, f"t_{act}.h5")
            run("encode-text", "--weights", wpath, "--text", "a photo of a damaged object.", "--text",
                "normal", "--out", out)
            with h5py.File(out, "r") as f:
                ids = torch.from_numpy(f["token_ids"][()].astype(np.int64))
                if ids.shape != (2, 77) or ids[0, 0] != 49406 or 49407 not in ids[0].tolist():
                    FAILS.append(f"token ids {ids[:, :8]}")
                with torch.no_grad():
                    check(f"text_embed {act}", f["text_embed"][()], ref_text(w, ids, act), 1e-4)
        # An image of another size goes through prep's Pillow resize: within resampling noise.
        im = Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
        im.save(os.path.join(tmp, "odd.png"))
        out = os.path.join(tmp, "odd.h5")
        run("encode", "--weights", os.path.join(tmp, "w_quickgelu.h5"), "--images", os.path.join(tmp, "odd.png"),
            "--out", out, "--vv-from", "none", "--layers", "6")
        w = random_weights(11, "quickgelu")
        with torch.no_grad():
            emb, _, _ = ref_visual(w, to_input([im], 128), "quickgelu", 0, [6])
        with h5py.File(out, "r") as f:
            check("image_embed after Pillow resize", f["image_embed"][()], emb, 1e-3)
    if FAILS:
        print("FAILED:", *FAILS, sep="\n  ")
        return 1
    print("all CLIP parity checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
