#!/usr/bin/python3
"""Parity of the restricted torch.save reader with Python torch (1.13 here).

Writes real torch.save checkpoints (AnomalyCLIP-style one-key {"prompt_learner": state_dict()},
float16 and float32, strided views, bfloat16/int/bool tensors, nested dicts), reads them with
`tokenclip debug-torch-zip FILE --out F.safetensors` and compares every tensor bit for bit
(safetensors parsed here with numpy). Hostile files (os.system, unknown opcode,
torch.storage._load_from_bytes, legacy format) must be refused with exit code 3.
"""
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

try:
    import numpy as np
    import torch
except ImportError:
    sys.exit(77)

TOKENCLIP = os.environ.get("TOKENCLIP")
if not TOKENCLIP or not os.path.exists(TOKENCLIP):
    print("TOKENCLIP not set or missing: skipped")
    sys.exit(77)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    buf = data[8 + n:]
    dt = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
          "BF16": np.uint16}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = (v["dtype"], np.frombuffer(buf[b:e], dtype=dt[v["dtype"]]).reshape(v["shape"]))
    return out


def to_numpy_bits(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return "BF16", t.view(torch.int16).numpy().view(np.uint16)
    name = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64",
            torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
            torch.bool: "BOOL"}[t.dtype]
    return name, t.numpy()


def run(args):
    return subprocess.run([TOKENCLIP] + args, capture_output=True, text=True)


class PromptLearner(torch.nn.Module):
    """The tensors of AnomalyCLIP's prompt checkpoints (METHOD.md section 2), D_t = 768."""

    def __init__(self, dtype):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.ctx_pos = torch.nn.Parameter(torch.randn(1, 1, 12, 768, generator=g).to(dtype))
        self.ctx_neg = torch.nn.Parameter(torch.randn(1, 1, 12, 768, generator=g).to(dtype))
        self.compound_prompts_text = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(4, 768, generator=g).to(dtype)) for _ in range(8)])
        self.compound_prompt_projections = torch.nn.ModuleList(
            [torch.nn.Linear(768, 1024).to(dtype) for _ in range(2)])
        self.register_buffer("tokenized_prompts_pos", torch.randint(0, 49408, (1, 77), generator=g))
        self.register_buffer("token_prefix_pos", torch.randn(1, 1, 768, generator=g).to(dtype))


def compare_file(path, expected, label):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.safetensors")
        r = run(["debug-torch-zip", path, "--out", out])
        check(r.returncode == 0, f"{label}: exit code {r.returncode}: {r.stderr.strip()[-400:]}")
        if r.returncode != 0:
            return
        got = read_safetensors(out)
        check(sorted(got) == sorted(expected),
              f"{label}: names {sorted(got)[:6]}... vs {sorted(expected)[:6]}...")
        for name, t in expected.items():
            if name not in got:
                continue
            dt, arr = to_numpy_bits(t)
            gdt, garr = got[name]
            check(gdt == dt, f"{label}: {name}: dtype {gdt} vs {dt}")
            check(garr.shape == arr.shape, f"{label}: {name}: shape {garr.shape} vs {arr.shape}")
            check(garr.shape == arr.shape and garr.tobytes() == np.ascontiguousarray(arr).tobytes(),
                  f"{label}: {name}: values differ")
        return r.stdout


def main():
    with tempfile.TemporaryDirectory() as d:
        # 1. AnomalyCLIP-style checkpoints, float32 and float16, one-key dict.
        for dtype in (torch.float32, torch.float16):
            m = PromptLearner(dtype)
            path = os.path.join(d, f"pl_{dtype}.pth")
            torch.save({"prompt_learner": m.state_dict()}, path)
            expected = {"prompt_learner." + k: v for k, v in m.state_dict().items()}
            check(len(expected) == 2 + 8 + 4 + 2, "test setup: state_dict size")
            compare_file(path, expected, f"prompt learner {dtype}")

        # 2. Views sharing one storage, odd dtypes, nested dicts, lists, non-tensor leaves.
        base = torch.arange(40, dtype=torch.float32).reshape(5, 8)
        obj = {
            "view": base[1:4, 2:7:2],            # strided view, storage offset 10
            "tview": base.t(),                   # transposed
            "same": base,                        # shares the storage
            "bf16": torch.linspace(-3, 3, 7).to(torch.bfloat16),
            "i32": torch.tensor([[-1, 2], [3, -4]], dtype=torch.int32),
            "bool": torch.tensor([True, False, True]),
            "u8": torch.tensor([0, 255], dtype=torch.uint8),
            "f64": torch.tensor([1e-300, 2.5], dtype=torch.float64),
            "scalar": torch.tensor(3.5),
            "nested": {"deeper": {"w": torch.ones(2, 3)}},
            "lst": [torch.zeros(2), torch.full((1,), 7.0)],
            "epoch": 12,
            "name": "adam",
        }
        path = os.path.join(d, "mixed.pth")
        torch.save(obj, path)
        expected = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        expected["nested.deeper.w"] = obj["nested"]["deeper"]["w"]
        expected["lst.0"], expected["lst.1"] = obj["lst"]
        stdout = compare_file(path, expected, "mixed")
        check(stdout is not None and "epoch = 12" in stdout, "mixed: non-tensor leaf 'epoch' listed")
        check(stdout is not None and "name = 'adam'" in stdout, "mixed: non-tensor leaf 'name' listed")

        # 3. Hostile files: same archive with data.pkl replaced.
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo SHOULD-NOT-RUN",))

        def with_pickle(src, dst, pkl):
            with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
                for item in zin.infolist():
                    data = zin.read(item.filename)
                    if item.filename.endswith("/data.pkl"):
                        data = pkl
                    zout.writestr(item, data)

        src = os.path.join(d, "pl_torch.float32.pth")
        hostile = {
            "os_system": (pickle.dumps({"x": Evil()}, protocol=2), "system"),
            "unknown_opcode": (b"\x80\x02S'abc'\n.", "unsupported pickle opcode 0x53"),
            "load_from_bytes": (b"\x80\x02ctorch.storage\n_load_from_bytes\nq\x00.",
                                "torch.storage._load_from_bytes"),
            "builtins_eval": (pickle.dumps(eval, protocol=2), ".eval'"),  # __builtin__.eval in protocol 2
        }
        for name, (pkl, needle) in hostile.items():
            p = os.path.join(d, name + ".pth")
            with_pickle(src, p, pkl)
            r = run(["debug-torch-zip", p])
            check(r.returncode == 3, f"hostile {name}: exit code {r.returncode} (expected 3)")
            check(needle in r.stderr, f"hostile {name}: '{needle}' not in stderr: {r.stderr[-300:]}")
            check("SHOULD-NOT-RUN" not in r.stdout + r.stderr, f"hostile {name}: payload ran")
            if name == "os_system":
                check("refusing global" in r.stderr, "os.system refusal names the global")

        # 4. The legacy (pre-1.6) format is refused with a hint.
        p = os.path.join(d, "legacy.pth")
        torch.save({"a": torch.ones(2)}, p, _use_new_zipfile_serialization=False)
        r = run(["debug-torch-zip", p])
        check(r.returncode == 3 and "legacy" in r.stderr, f"legacy: {r.returncode} {r.stderr[-300:]}")

    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("torch_zip parity: OK")


if __name__ == "__main__":
    main()
