#!/usr/bin/env python3
"""Parity of the method's numerical core (tokenclip debug-method) with an independent
re-implementation in PyTorch of the AnomalyCLIP formulas (similarity as in the reference's
compute_similarity, probabilities upsampled with F.interpolate, FocalLoss / BinaryDiceLoss /
cross entropy as in its loss.py and train.py) and of the TokenCLIP additions (plain
double-precision Sinkhorn in numpy, topK, dynamic scores, orthogonality).

Exit 77 (skipped) when the binary or the Python packages are missing."""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(77)

EXE = os.environ.get("TOKENCLIP", "")
SRC = os.environ.get("TOKENCLIP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
if not EXE or not os.path.exists(EXE):
    print("TOKENCLIP not set or missing: skipped")
    sys.exit(77)

torch.set_default_dtype(torch.float64)


def plain_sinkhorn(C, eps, nu):
    """Scaling-form Sinkhorn, double precision, to a tight tolerance. C [N,Q]."""
    N, Q = C.shape
    K = np.exp(-C / eps)
    a, b = np.ones(N), np.ones(Q)
    for _ in range(100000):
        a = (1.0 / N) / (K @ b)
        b = nu / (K.T @ a)
        P = a[:, None] * K * b[None, :]
        if np.abs(P.sum(1) - 1.0 / N).max() < 1e-15:
            break
    return a[:, None] * K * b[None, :]


def topk_rows(P, k):
    """Keep the k largest of each row (stable: ties to the lower index), renormalise."""
    out = np.zeros_like(P)
    margin = np.inf
    for idx in np.ndindex(P.shape[:-1]):
        row = P[idx]
        order = sorted(range(len(row)), key=lambda q: (-row[q], q))
        keep = order[:k]
        if k < len(row):
            margin = min(margin, (row[order[k - 1]] - row[order[k]]) / row[order[k - 1]])
        out[idx][keep] = row[keep] / row[keep].sum()
    return out, margin


def focal_ref(P, mask):
    B = P.shape[0]
    logit = P.reshape(B, 2, -1).permute(0, 2, 1).reshape(-1, 2)
    target = mask.reshape(-1, 1).long()
    one_hot = torch.zeros(target.shape[0], 2).scatter_(1, target, 1)
    one_hot = torch.clamp(one_hot, 1e-5 / (2 - 1), 1.0 - 1e-5)
    pt = (one_hot * logit).sum(1) + 1e-5
    return (-1 * torch.pow(1 - pt, 2) * pt.log()).mean()


def dice_ref(inp, tgt):
    N = tgt.shape[0]
    i, t = inp.reshape(N, -1), tgt.reshape(N, -1)
    eff = (2 * (i * t).sum(1) + 1) / (i.sum(1) + t.sum(1) + 1)
    return 1 - eff.sum() / N


def reference(inp, o):
    tau = o["temperature"]
    dbl = lambda x, **kw: torch.tensor(x, dtype=torch.float64, **kw)
    tokens = dbl(inp["tokens"])
    glob = dbl(inp["global"])
    tb = dbl(inp["text_base"], requires_grad=True)
    tg = dbl(inp["text_global"], requires_grad=True)
    ts = dbl(inp["text_sub"], requires_grad=True)
    masks = dbl(inp["masks"])
    labels = dbl(inp["labels"]).long()
    L, B, T, D = tokens.shape
    N, S, Q = T - 1, masks.shape[1], ts.shape[0]
    side = int(round(N ** 0.5))
    nu = np.exp(inp["log_nu"].astype(np.float64)) if "log_nu" in inp else np.full(Q, 1.0 / Q)
    r = {"base_probs": [], "dyn_probs": [], "plan": [], "assignment": [], "base_maps": []}
    base_local = 0
    dyn_local = 0
    amap = 0
    margin = np.inf
    for l in range(L):
        pf = tokens[l] / tokens[l].norm(dim=-1, keepdim=True)
        sim = (pf.reshape(B, T, 1, D) * tb.reshape(1, 1, 2, D)).sum(-1)  # compute_similarity
        P = (sim / tau).softmax(-1)[:, 1:, :]
        sm = F.interpolate(P.reshape(B, side, side, 2).permute(0, 3, 1, 2), (S, S), mode="bilinear",
                           align_corners=False)
        r["base_probs"].append(P)
        r["base_maps"].append(sm)
        patches = pf[:, 1:, :]
        s = torch.einsum("bnd,qcd->bnqc", patches, ts)
        if o["ot_cost"] == "max":
            C = 1 - s.max(-1).values
        else:
            cen = ts.sum(1)
            cen = cen / cen.norm(dim=-1, keepdim=True)
            C = 1 - patches @ cen.T
        Cn = C.detach().numpy()
        if o["assign"] == "ot":
            plan = np.stack([plain_sinkhorn(Cn[b], o["ot_eps"], nu) for b in range(B)])
        else:
            z = -Cn / o["ot_eps"]
            z = z - z.max(-1, keepdims=True)
            plan = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
        A, mg = topk_rows(plan, o["topk"])
        margin = min(margin, mg)
        A = torch.tensor(A)  # the plan is detached
        r["plan"].append(plan)
        r["assignment"].append(A)
        Pd = ((A.unsqueeze(-1) * s).sum(2) / tau).softmax(-1)
        r["dyn_probs"].append(Pd)
        dm = F.interpolate(Pd.reshape(B, side, side, 2).permute(0, 3, 1, 2), (S, S), mode="bilinear",
                           align_corners=False)
        base_local = base_local + focal_ref(sm, masks) + dice_ref(sm[:, 1], masks) + dice_ref(sm[:, 0], 1 - masks)
        dyn_local = dyn_local + focal_ref(dm, masks) + dice_ref(dm[:, 1], masks) + dice_ref(dm[:, 0], 1 - masks)
        # Test-time map, as the reference's test.py writes it: (P_a + 1 - P_n) / 2 per layer.
        if o["map_source"] == "base":
            amap = amap + (sm[:, 1] + 1 - sm[:, 0]) / 2.0
        else:
            amap = amap + dm[:, 1] + o["beta"] * sm[:, 1]
    g = glob / glob.norm(dim=-1, keepdim=True)
    logits = (g.unsqueeze(1) @ tg.T.unsqueeze(0))[:, 0, :] / tau
    ce = F.cross_entropy(logits, labels)
    G = torch.einsum("qcd,pcd->cqp", ts, ts)
    reg = ((G - torch.eye(Q)) ** 2).sum() / (Q * (Q - 1)) if Q > 1 else torch.tensor(0.0)
    total = ce + o["lambda_loc"] * (base_local + (dyn_local if o["dyn_loss"] else 0))
    if o["lambda_reg"] > 0 and Q > 1:
        total = total + o["lambda_reg"] * reg
    gb, gg, gs = torch.autograd.grad(total, [tb, tg, ts], allow_unused=True)
    prob = logits.softmax(-1)[:, 1]
    score = (1 - o["gamma"]) * prob + o["gamma"] * amap.reshape(B, -1).max(1).values / L
    r.update(map=amap, global_logits=logits, image_score=score, loss_total=total, loss_global=ce,
             loss_base=base_local, loss_dyn=dyn_local, loss_reg=reg,
             grad_text_base=gb if gb is not None else torch.zeros_like(tb),
             grad_text_global=gg if gg is not None else torch.zeros_like(tg),
             grad_text_sub=gs if gs is not None else torch.zeros_like(ts))
    return r, margin


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_inputs(seed, B=2, L=2, side=6, D=32, Q=4, S=48, learned_nu=False):
    rng = np.random.default_rng(seed)
    inp = {
        "global": rng.standard_normal((B, D)),
        "tokens": rng.standard_normal((L, B, 1 + side * side, D)),
        "text_base": unit(rng.standard_normal((2, D))),
        "text_global": unit(rng.standard_normal((2, D))),
        "text_sub": unit(rng.standard_normal((Q, 2, D))),
        "masks": (rng.random((B, S, S)) > 0.8).astype(np.float64),
        "labels": np.arange(B, dtype=np.float64) % 2,
    }
    inp["masks"][0] = 0
    # Tokens leaning towards the text directions make non-trivial probabilities.
    inp["tokens"][..., 1:, :] += 2.0 * inp["text_sub"][rng.integers(0, Q, (L, B, side * side)), rng.integers(0, 2, (L, B, side * side))]
    if learned_nu:
        inp["log_nu"] = np.log(np.array([0.1, 0.2, 0.3, 0.4])[:Q] / np.array([0.1, 0.2, 0.3, 0.4])[:Q].sum())
    return {k: v.astype(np.float32) for k, v in inp.items()}


CASES = [
    ("anomalyclip", "anomalyclip.ini", {}, 1, False),
    ("tokenclip", "tokenclip.ini", {"beta": 0.5, "gamma": 0.3}, 4, False),
    ("greedy-centre-learned", "tokenclip-greedy.ini",
     {"ot_cost": "centre", "topk": 3, "ot_eps": 0.05}, 4, True),
    ("ot-centre-learned", "tokenclip.ini", {"ot_cost": "centre", "gamma": 0.5}, 4, True),
]

DEFAULTS = {"temperature": 0.07, "ot_eps": 0.1, "topk": 2, "assign": "ot", "ot_cost": "max",
            "map_source": "dyn", "beta": 0.0, "gamma": 0.0, "lambda_loc": 4.0, "lambda_reg": 1.0,
            "dyn_loss": True}
PRESETS = {"anomalyclip.ini": {"topk": 1, "map_source": "base", "lambda_reg": 0.0, "dyn_loss": False},
           "tokenclip.ini": {}, "tokenclip-greedy.ini": {"assign": "greedy"}}


def check(name, got, want, rtol, atol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{name}: shape {got.shape} vs {want.shape}")
    scale = max(np.abs(want).max(), 1e-30)
    err = np.abs(got - want).max()
    if not np.allclose(got, want, rtol=rtol, atol=atol * scale):
        raise AssertionError(f"{name}: max abs diff {err:.3g} (scale {scale:.3g})")
    return err / scale


def check_import(tmp):
    """import-anomalyclip on a file saved the way the reference saves its prompt learner."""
    class PL(torch.nn.Module):
        def __init__(self, n=12, w=64, depth=9, with_neg=True):
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.ctx_pos = torch.nn.Parameter(torch.randn(1, 1, n, w, generator=g, dtype=torch.float32))
            if with_neg:
                self.ctx_neg = torch.nn.Parameter(torch.randn(1, 1, n, w, generator=g, dtype=torch.float32))
            self.compound_prompts_text = torch.nn.ParameterList(
                [torch.nn.Parameter(torch.randn(4, w, generator=g, dtype=torch.float32)) for _ in range(depth - 1)])
            self.compound_prompt_projections = torch.nn.ModuleList(
                [torch.nn.Linear(w, 8).float() for _ in range(depth - 1)])
            self.register_buffer("token_prefix_pos", torch.zeros(1, 1, 1, w, dtype=torch.float32))
            self.register_buffer("tokenized_prompts_pos", torch.zeros(1, 77, dtype=torch.int64))

    good, bad = PL(), PL(with_neg=False)
    fg, fb = os.path.join(tmp, "ac.pth"), os.path.join(tmp, "bad.pth")
    torch.save({"prompt_learner": good.state_dict()}, fg)
    torch.save({"prompt_learner": bad.state_dict()}, fb)
    out = os.path.join(tmp, "ac.h5")
    r = subprocess.run([EXE, "import-anomalyclip", fg, "--out", out], capture_output=True, text=True)
    if r.returncode == 2 and "unknown" in (r.stderr + r.stdout).lower():
        print("import-anomalyclip: command not built here, skipped")
        return 0
    if r.returncode != 0:
        print("import-anomalyclip: FAILED", r.stdout, r.stderr)
        return 1
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "tokenclip-checkpoint", f.attrs["format"]
        L = f["learnable"]
        np.testing.assert_array_equal(L["base.ctx_normal"][()], good.ctx_pos.detach().numpy()[0, 0])
        np.testing.assert_array_equal(L["base.ctx_abnormal"][()], good.ctx_neg.detach().numpy()[0, 0])
        for i in range(8):
            np.testing.assert_array_equal(L[f"base.deep.{i}"][()],
                                          good.compound_prompts_text[i].detach().numpy())
        assert "decouple_prompts = false" in f.attrs["config"]
    r = subprocess.run([EXE, "import-anomalyclip", fb, "--out", os.path.join(tmp, "bad.h5")],
                       capture_output=True, text=True)
    if r.returncode != 3 or "ctx_neg" not in r.stderr + r.stdout or os.path.exists(os.path.join(tmp, "bad.h5")):
        print("import-anomalyclip: bad file not refused properly:", r.returncode, r.stderr)
        return 1
    print("import-anomalyclip: ok (normal = ctx_pos, abnormal = ctx_neg, 8 deep prompts; missing ctx_neg refused)")
    return 0


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, preset, over, Q, learned in CASES:
            o = dict(DEFAULTS)
            o.update(PRESETS[preset])
            o.update(over)
            # A seed whose topK has no near-ties (float32 vs double plans would pick differently).
            for seed in range(100):
                inp = make_inputs(seed, Q=Q, learned_nu=learned)
                ref, margin = reference(inp, o)
                if margin > 1e-3:
                    break
            fin, fout = os.path.join(tmp, label + "_in.h5"), os.path.join(tmp, label + "_out.h5")
            with h5py.File(fin, "w") as f:
                for k, v in inp.items():
                    f[k] = v
            cmd = [EXE, "debug-method", "--in", fin, "--out", fout, "--config",
                   os.path.join(SRC, "configs", preset), "--method.subspaces", str(Q),
                   "--method.ot_tol", "1e-6", "--method.ot_max_iters", "10000"]
            if learned:
                cmd += ["--method.ot_subspace_marginal", "learned"]
            for k, v in over.items():
                cmd += ["--method." + k, str(v).lower() if isinstance(v, bool) else str(v)]
            subprocess.run(cmd, check=True)
            with h5py.File(fout, "r") as f:
                got = {k: f[k][()] for k in f.keys()}
            try:
                rel = {}
                stack = lambda xs: np.stack([x.detach().numpy() if torch.is_tensor(x) else x for x in xs])
                rel["base_probs"] = check("base_probs", got["base_probs"], stack(ref["base_probs"]), 1e-4, 1e-5)
                rel["base_maps"] = check("base_maps", got["base_maps"], stack(ref["base_maps"]), 1e-4, 1e-5)
                rel["plan"] = check("plan", np.exp(got["log_plan"]), stack(ref["plan"]), 1e-3, 1e-4)
                rel["assignment"] = check("assignment", got["assignment"], stack(ref["assignment"]), 1e-3, 1e-4)
                rel["dyn_probs"] = check("dyn_probs", got["dyn_probs"], stack(ref["dyn_probs"]), 1e-3, 1e-4)
                for k in ["map", "global_logits", "image_score", "loss_total", "loss_global", "loss_base",
                          "loss_dyn", "loss_reg", "grad_text_base", "grad_text_global", "grad_text_sub"]:
                    w = ref[k].detach().numpy() if torch.is_tensor(ref[k]) else ref[k]
                    rel[k] = check(k, got[k], w, 1e-3, 2e-4)
                print(f"{label}: ok (seed {seed}, topK margin {margin:.2g}); max rel. error " +
                      ", ".join(f"{k} {v:.1e}" for k, v in rel.items()))
            except AssertionError as e:
                failures += 1
                print(f"{label}: FAILED {e}")
        failures += check_import(tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
