#!/usr/bin/env python3
"""Checks that the build graph of src/ is its include graph, and that the layers hold.

For every concern src/<concern>/ it collects what the concern's files (#include lines of its
.h, .cpp and .inc files) reach: other concerns ("dist/dist.h" -> dist) and external libraries
(<ATen/...> -> torch, <H5Cpp.h> -> hdf5, ...). From CMakeLists.txt it collects what the
concern's library tc_<concern> links (`tc_library(<concern> DEPS ...)` and any
`target_link_libraries(tc_<concern> ...)`). It fails (exit 1) when

  * a concern includes a concern or library its target does not link, or links one it does
    not include (direct edges only: what a header of a linked concern pulls in arrives with
    that concern's own link, PUBLIC);
  * a concern includes one of a higher layer (the order in LAYERS below);
  * a concern of TORCH_FREE reaches a torch header through any chain of project headers, or a
    library of TORCH_FREE_LINK links torch through any chain of libraries;
  * a file includes an external header this script does not know (map it in EXTERNAL).

usage: tools/check_layers.py [--graph] [ROOT]
       tools/check_layers.py --self-test
  --graph      print the include graph per concern (the table in docs/ARCHITECTURE.md)
  --self-test  check the checker on small trees with one fault each
Run by CTest as `layers` and `layers_self_test` (tests/CMakeLists.txt).
"""
import argparse
import os
import re
import sys

# Lowest first: a concern includes only concerns before it.
LAYERS = ["util", "config", "dist", "data", "clip", "method", "train", "eval", "sweep", "app"]
# Concerns whose sources never see a torch header, directly or through project headers.
TORCH_FREE = {"util", "config", "dist", "eval", "sweep"}
# Libraries that must not link torch at all (directly or through the libraries they link).
TORCH_FREE_LINK = {"util", "config", "dist"}
# Header-only folders that stand for an external library ("compat/torch_compat.h" is torch's).
HEADER_ONLY = {"compat": "torch"}
# Generated headers (build/generated/): no concern.
GENERATED = {"version.h"}

# External headers (by prefix or exact name) -> library, and the CMake names of each library.
EXTERNAL = [
    (("ATen/", "torch/", "c10/", "caffe2/"), "torch"),
    (("H5Cpp.h", "H5Epublic.h", "H5Ipublic.h", "hdf5.h"), "hdf5"),
    (("mpi.h",), "mpi"),
    (("nccl.h",), "nccl"),
    (("cuda_runtime.h",), "cuda"),
    (("opencv2/",), "opencv"),
    (("zlib.h",), "zlib"),
    (("fmt/",), "fmt"),
    (("nlohmann/",), "nlohmann"),
    (("boost/",), "boost"),
]
CMAKE_NAMES = {
    "${TORCH_LIBRARIES}": "torch",
    "HDF5::HDF5": "hdf5",
    "MPI::MPI_C": "mpi",
    "NCCL::NCCL": "nccl",
    "CUDA::cudart": "cuda",
    "tc_opencv": "opencv",
    "ZLIB::ZLIB": "zlib",
    "fmt::fmt": "fmt",
    "nlohmann_json::nlohmann_json": "nlohmann",
    "Boost::program_options": "boost",
}
# C and POSIX headers (C++ standard headers have no ".h" and no "/").
SYSTEM_H = {"unistd.h", "fcntl.h", "signal.h", "errno.h", "dlfcn.h", "execinfo.h", "pthread.h",
            "poll.h", "netdb.h", "stdio.h", "stdlib.h", "string.h"}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def external_of(header):
    for prefixes, lib in EXTERNAL:
        if any(header == p or (p.endswith("/") and header.startswith(p)) for p in prefixes):
            return lib
    return None


def is_system(header):
    if "/" not in header and not header.endswith((".h", ".hpp")):
        return True  # <vector>, <cstdio>, ...
    return header in SYSTEM_H or header.startswith("sys/")


class Graph:
    def __init__(self, root):
        self.root = root
        self.src = os.path.join(root, "src")
        self.concerns = sorted(d for d in os.listdir(self.src)
                               if os.path.isdir(os.path.join(self.src, d)) and d not in HEADER_ONLY)
        self.errors = []
        # Per file: (concern-or-external edges, quoted project headers it includes).
        self.files = {}
        for dirpath, _, names in os.walk(self.src):
            for n in names:
                if n.endswith((".h", ".cpp", ".inc")):
                    rel = os.path.relpath(os.path.join(dirpath, n), self.src)
                    self.files[rel] = self._scan(rel)

    def _scan(self, rel):
        with open(os.path.join(self.src, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        concerns, externals, headers = set(), set(), set()
        for kind, h in INCLUDE_RE.findall(text):
            if kind == '"':
                if h in GENERATED:
                    continue
                top = h.split("/")[0]
                if top in HEADER_ONLY:
                    externals.add(HEADER_ONLY[top])
                elif "/" in h and os.path.isdir(os.path.join(self.src, top)):
                    concerns.add(top)
                else:
                    self.errors.append(f"src/{rel}: #include \"{h}\" is not 'concern/file' (write it "
                                       "relative to src/)")
                    continue
                headers.add(h)
            else:
                lib = external_of(h)
                if lib:
                    externals.add(lib)
                elif not is_system(h):
                    self.errors.append(f"src/{rel}: #include <{h}>: an external header tools/check_layers.py "
                                       "does not map to a library (add it to EXTERNAL)")
        return concerns, externals, headers

    def includes(self, concern):
        """Concerns and libraries the files of src/<concern>/ include directly."""
        cs, ex = set(), set()
        for rel, (c, e, _) in self.files.items():
            if rel.split(os.sep)[0] == concern:
                cs |= c
                ex |= e
        cs.discard(concern)
        return cs, ex

    def reaches_torch(self, concern):
        """The first chain of project headers from a file of `concern` to a torch header."""
        for rel in sorted(self.files):
            if rel.split(os.sep)[0] != concern:
                continue
            seen, stack = set(), [(rel, [rel])]
            while stack:
                f, chain = stack.pop()
                if f in seen or f not in self.files:
                    continue
                seen.add(f)
                _, ex, headers = self.files[f]
                if "torch" in ex:
                    return chain
                stack.extend((h, chain + [h]) for h in sorted(headers))
        return None


def parse_links(root):
    """tc_<concern> -> the names it links, from CMakeLists.txt."""
    with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
        text = re.sub(r"#[^\n]*", "", f.read())
    links = {}
    for m in re.finditer(r"\btc_library\(\s*(\w+)\s+DEPS\s+([^)]*)\)", text):
        links.setdefault(m.group(1), set()).update(m.group(2).split())
    for m in re.finditer(r"\btarget_link_libraries\(\s*tc_(\w+)\s+([^)]*)\)", text):
        words = [w for w in m.group(2).split() if w not in ("PUBLIC", "PRIVATE", "INTERFACE")]
        links.setdefault(m.group(1), set()).update(words)
    return links


def link_ids(names, where, errors):
    out = set()
    for n in names:
        if n in CMAKE_NAMES:
            out.add(CMAKE_NAMES[n])
        elif n.startswith("tc_"):
            out.add(n[3:])
        else:
            errors.append(f"CMakeLists.txt: {where} links '{n}', which tools/check_layers.py does not "
                          "know (add it to CMAKE_NAMES)")
    return out


def check(root, graph=False):
    """The list of errors of the tree at `root` (printing the graph when asked)."""
    g = Graph(root)
    errors = g.errors
    raw = parse_links(root)
    links = {c: link_ids(names, f"tc_{c}", errors) for c, names in raw.items() if c in LAYERS}

    for c in g.concerns:
        if c not in LAYERS:
            errors.append(f"src/{c}/: a concern tools/check_layers.py does not place (add it to LAYERS)")
            continue
        cs, ex = g.includes(c)
        if graph:
            lower = " ".join(x for x in LAYERS if x in cs)
            print(f"{c:7s} includes: {lower or '-':40s} external: {' '.join(sorted(ex)) or '-'}")
        for d in sorted(cs):
            if d in LAYERS and LAYERS.index(d) > LAYERS.index(c):
                errors.append(f"src/{c}/ includes {d}/, a higher layer (order: {' < '.join(LAYERS)})")
        if c not in links:
            errors.append(f"src/{c}/ has no library in CMakeLists.txt (tc_library({c} DEPS ...))")
            continue
        want = cs | ex
        for d in sorted(want - links[c]):
            errors.append(f"tc_{c} does not link {d}, which src/{c}/ includes")
        for d in sorted(links[c] - want):
            errors.append(f"tc_{c} links {d}, which src/{c}/ does not include")
        if c in TORCH_FREE:
            chain = g.reaches_torch(c)
            if chain:
                errors.append(f"src/{c}/ is torch-free but reaches a torch header: {' -> '.join(chain)}")

    for c in sorted(TORCH_FREE_LINK):
        seen, stack = set(), [c]
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            stack.extend(links.get(x, ()))
        if "torch" in seen:
            errors.append(f"tc_{c} must not link torch, but its link closure does")

    return errors, len(g.concerns)


# A tree that passes: util <- config, data (torch) <- eval (torch-free), and the app.
CLEAN_TREE = {
    "CMakeLists.txt": "tc_library(util DEPS fmt::fmt)\ntc_library(config DEPS tc_util)\n"
                      "tc_library(data DEPS tc_util ${TORCH_LIBRARIES})\n"
                      "tc_library(eval DEPS tc_data) # a comment: tc_library(eval DEPS tc_app)\n"
                      "target_link_libraries(tc_app PUBLIC tc_eval tc_config)\n",
    "src/util/log.h": "#include <fmt/format.h>\n#include <vector>\n#include <sys/stat.h>\n",
    "src/config/config.cpp": '#include "util/log.h"\n',
    "src/data/batch.h": "#include <ATen/core/Tensor.h>\n",
    "src/data/dataset.h": '#include "util/log.h"\n',
    "src/eval/evaluate.cpp": '#include "data/dataset.h"\n',
    "src/app/main.cpp": '#include "eval/evaluate.h"\n#include "config/config.h"\n#include "version.h"\n',
}
# One fault each: (what changes, a phrase its error must contain).
FAULTS = [
    ({"src/eval/evaluate.cpp": '#include "data/dataset.h"\n#include "config/config.h"\n'},
     "tc_eval does not link config"),
    ({"CMakeLists.txt": CLEAN_TREE["CMakeLists.txt"].replace("DEPS tc_data)", "DEPS tc_data tc_util)")},
     "tc_eval links util"),
    ({"src/config/config.cpp": '#include "util/log.h"\n#include "eval/evaluate.h"\n'},
     "src/config/ includes eval/, a higher layer"),
    ({"src/eval/evaluate.cpp": '#include "data/batch.h"\n'},
     "src/eval/ is torch-free but reaches a torch header: eval/evaluate.cpp -> data/batch.h"),
    ({"CMakeLists.txt": CLEAN_TREE["CMakeLists.txt"].replace("DEPS tc_util)", "DEPS tc_data)"),
      "src/config/config.cpp": '#include "data/dataset.h"\n'},
     "tc_config must not link torch"),
    ({"src/util/log.h": "#include <fmt/format.h>\n#include <yaml-cpp/yaml.h>\n"},
     "<yaml-cpp/yaml.h>: an external header"),
    ({"src/data/dataset.h": '#include "dataset_impl.h"\n'}, "is not 'concern/file'"),
]


def self_test():
    import tempfile

    def run(files):
        with tempfile.TemporaryDirectory() as d:
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(d, rel)) or d, exist_ok=True)
                with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            return check(d)[0]

    failures = []
    errs = run(CLEAN_TREE)
    if errs:
        failures.append(f"the clean tree fails: {errs}")
    for change, phrase in FAULTS:
        errs = run({**CLEAN_TREE, **change})
        if not any(phrase in e for e in errs):
            failures.append(f"fault {sorted(change)} not reported as '{phrase}'; got {errs}")
    for f in failures:
        print(f"check_layers self-test: {f}", file=sys.stderr)
    if not failures:
        print(f"check_layers self-test: clean tree passes, {len(FAULTS)} faults reported")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--graph", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    errors, n = check(a.root, a.graph)
    for e in errors:
        print(f"check_layers: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_layers: {n} concerns: each library links exactly what its sources include; "
          f"layers {' < '.join(LAYERS)} hold; {', '.join(sorted(TORCH_FREE))} torch-free")
    return 0


if __name__ == "__main__":
    sys.exit(main())
