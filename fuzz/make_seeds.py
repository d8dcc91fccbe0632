#!/usr/bin/python3
"""Writes the committed seed corpus for safetensors_fuzz (run once; output is committed)."""
import json, os, struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")
os.makedirs(out, exist_ok=True)

def image(header, buf=b"", pad=True, n=None):
    h = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h) if n is None else n) + h + buf

def t(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}

seeds = {
    # valid
    "valid_empty": image({}),
    "valid_one_f32": image({"w": t("F32", [2, 2], 0, 16)}, struct.pack("<4f", 1, 2, 3, 4)),
    "valid_all_dtypes": image(
        {"__metadata__": {"format": "pt"},
         "a": t("F64", [1], 0, 8), "b": t("F32", [1], 8, 12), "c": t("F16", [2], 12, 16),
         "d": t("BF16", [2], 16, 20), "e": t("I64", [1], 20, 28), "f": t("I32", [1], 28, 32),
         "g": t("I16", [2], 32, 36), "h": t("I8", [2], 36, 38), "i": t("U8", [1], 38, 39),
         "j": t("BOOL", [1], 39, 40)}, bytes(range(40))),
    "valid_scalar_and_empty": image({"s": t("F32", [], 0, 4), "z": t("F32", [0, 3], 4, 4)}, b"\0\0\x80?"),
    # invalid
    "bad_dtype": image({"w": t("F8", [1], 0, 1)}, b"\0"),
    "bad_overlap": image({"a": t("U8", [4], 0, 4), "b": t("U8", [4], 2, 6)}, bytes(6)),
    "bad_gap": image({"a": t("U8", [2], 0, 2), "b": t("U8", [2], 4, 6)}, bytes(6)),
    "bad_size_mismatch": image({"a": t("F32", [3], 0, 8)}, bytes(8)),
    "bad_past_end": image({"a": t("U8", [16], 0, 16)}, bytes(4)),
    "bad_negative_shape": image({"a": t("U8", [-1], 0, 0)}),
    "bad_overflow_shape": image({"a": t("F64", [2**62, 8], 0, 0)}),
    "bad_header_len": image({}, n=2**40),
    "bad_truncated": image({"a": t("U8", [4], 0, 4)}, bytes(4))[:12],
    "bad_not_json": image(b"{not json at all", pad=False),
    "bad_deep": image(b"{\"a\":" + b"[" * 40 + b"]" * 40 + b"}"),
    "bad_extra_field": image({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": 1}}, b"\0"),
    "bad_metadata_type": image({"__metadata__": {"k": 3}}),
    "bad_float_offset": image(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}}', b"\0"),
    "bad_short": b"\x08\0\0",
}
for name, data in seeds.items():
    with open(os.path.join(out, name + ".safetensors"), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
