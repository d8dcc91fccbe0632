#!/usr/bin/env python3
"""Lists the longest functions and the largest files of src/ (lines, with their location).

Function extents come from Universal Ctags (`end:` field; Debian package universal-ctags);
lambdas are counted inside the function that holds them, not on their own. Used to track
issue 13's "no function over ~80 lines" and to give before/after figures.

usage: tools/function_lengths.py [--top N] [--over LINES] [--files N] [ROOT]
  --top N      the N longest functions (default 25)
  --over L     instead, every function longer than L lines
  --files N    also the N largest files (default 15; 0 = none)
"""
import argparse
import os
import shutil
import subprocess
import sys


def source_files(root):
    out = []
    for dirpath, _, names in os.walk(os.path.join(root, "src")):
        for n in names:
            if n.endswith((".cpp", ".h")):
                out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def functions(root, files):
    ctags = shutil.which("ctags")
    if not ctags:
        sys.exit("function_lengths: ctags not found (apt-get install universal-ctags)")
    cmd = [ctags, "--languages=C++", "--kinds-C++=f", "--fields=+ne", "--extras=-F", "--sort=no",
           "-o", "-"] + files
    text = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        name, path = parts[0], parts[1]
        if name.startswith("__anon"):  # a lambda: part of its enclosing function
            continue
        fields = dict(p.split(":", 1) for p in parts[3:] if ":" in p)
        if "line" not in fields or "end" not in fields:
            continue
        owner = fields.get("class") or fields.get("struct")
        qual = owner.split("::")[-1] + "::" + name if owner else name
        start, end = int(fields["line"]), int(fields["end"])
        out.append((end - start + 1, f"{path}:{start}", qual))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--over", type=int, default=None)
    ap.add_argument("--files", type=int, default=15)
    a = ap.parse_args()
    files = source_files(a.root)
    fns = sorted(functions(a.root, files), key=lambda t: (-t[0], t[1]))
    if a.over is not None:
        fns = [f for f in fns if f[0] > a.over]
        print(f"functions over {a.over} lines: {len(fns)}")
    else:
        fns = fns[: a.top]
        print(f"longest {len(fns)} functions:")
    for n, where, name in fns:
        print(f"  {n:5d}  {name:38s} {where}")
    if a.files > 0:
        sizes = []
        for f in files:
            with open(os.path.join(a.root, f), encoding="utf-8", errors="replace") as fh:
                sizes.append((sum(1 for _ in fh), f))
        sizes.sort(key=lambda t: (-t[0], t[1]))
        print(f"largest {min(a.files, len(sizes))} files (lines):")
        for n, f in sizes[: a.files]:
            print(f"  {n:5d}  {f}")


if __name__ == "__main__":
    main()
