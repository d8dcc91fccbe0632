#!/usr/bin/python3
"""Generates src/clip/tokenizer_tables.inc: the character tables of the CLIP tokenizer.

Run with Debian's Python (/usr/bin/python3 tools/gen_unicode_tables.py); the output is
committed, so builds never need Python. Everything comes from the running Python's
unicodedata / str methods / html module, i.e. the behaviour of OpenAI's tokenizer under that
Python (Unicode version printed into the file):
  - letter / number ranges (\\p{L}, \\p{N}) over all planes, plus the code points that the
    `regex` module's IGNORECASE adds because a case variant is a letter (U+0345 -> iota);
  - characters that fold to an ASCII letter of the pattern's literals under IGNORECASE (U+017F
    long s matches the `s` of `'s` and `<|startoftext|>`);
  - str.isspace() (used by str.strip());
  - str.lower() for every code point whose lowercase differs, and the Cased / Case_Ignorable
    sets (derived from str.lower()'s final-sigma rule) so that Σ lowers as Python does;
  - html.unescape's tables: all HTML5 named entities, the invalid numeric references and the
    code points it drops;
  - the character-level fixes of ftfy.fix_text that change well-formed text (ftfy 6 defaults):
    C1 controls read as Windows-1252, Latin ligatures expanded, full/half-width forms folded
    (NFKC), curly quotes straightened, control characters removed; composed per character to
    the fixed point ftfy's loop reaches.
"""
import html
import html.entities
import os
import sys
import unicodedata
from collections import defaultdict

MAXCP = 0x110000


def ranges(pred):
    out, start = [], None
    for cp in range(MAXCP):
        ok = pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, MAXCP - 1))
    return out


def cat(cp):
    return unicodedata.category(chr(cp))


def is_letter(cp):
    return cat(cp)[0] == "L"


def is_number(cp):
    return cat(cp)[0] == "N"


# Case classes approximating the simple case folding `regex` uses for IGNORECASE.
classes = defaultdict(set)
for cp in range(MAXCP):
    c = chr(cp)
    key = c.casefold() if len(c.casefold()) == 1 else (c.lower() if len(c.lower()) == 1 else c)
    classes[key].add(cp)
    classes[key].add(ord(key))
letter_ic = set()
number_ic = set()
for members in classes.values():
    if any(is_letter(m) for m in members):
        letter_ic |= {m for m in members if not is_letter(m)}
    if any(is_number(m) for m in members):
        number_ic |= {m for m in members if not is_number(m)}
literal_fold = {}
for ch in sorted(set("startofendxlvm")):
    for m in classes[ch]:
        if m != ord(ch) and chr(m).lower() == chr(m):  # survives lowercasing
            literal_fold[m] = ch


def cased(cp):
    c = chr(cp)
    return c.islower() or c.isupper() or c.istitle()


def case_ignorable(cp):
    # str.lower() turns a final capital sigma into ς when a cased letter precedes it, skipping
    # case-ignorable characters: probe with a cased (A) or uncased (1) character in front.
    c = chr(cp)
    if cp == 0x3A3 or (0xD800 <= cp <= 0xDFFF):
        return False
    if cased(cp):
        return ("1" + c + "\u03a3").lower()[-1] == "\u03c3"
    return ("A" + c + "\u03a3").lower()[-1] == "\u03c2"


FTFY_LIGATURES = {
    "\u0132": "IJ", "\u0133": "ij", "\u0149": "\u02bcn", "\u01f1": "DZ", "\u01f2": "Dz",
    "\u01f3": "dz", "\u01c4": "D\u017d", "\u01c5": "D\u017e", "\u01c6": "d\u017e",
    "\u01c7": "LJ", "\u01c8": "Lj", "\u01c9": "lj", "\u01ca": "NJ", "\u01cb": "Nj",
    "\u01cc": "nj", "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
    "\ufb04": "ffl", "\ufb05": "\u017ft", "\ufb06": "st",
}
FTFY_CONTROL = set(range(0x00, 0x09)) | {0x0B} | set(range(0x0E, 0x20)) | {0x7F} | \
    set(range(0x206A, 0x2070)) | {0xFEFF} | set(range(0xFFF9, 0xFFFD))


def ftfy_width(cp):
    if cp == 0x3000:
        return " "
    if 0xFF01 <= cp < 0xFFF0:
        alt = unicodedata.normalize("NFKC", chr(cp))
        if alt != chr(cp):
            return alt
    return None


def ftfy_pass(text):
    """One pass of ftfy's character fixes, in its order."""
    out = "".join(bytes([ord(c)]).decode("cp1252", errors="ignore") or c if 0x80 <= ord(c) <= 0x9F
                  else c for c in text)                                   # fix_c1_controls
    out = "".join(FTFY_LIGATURES.get(c, c) for c in out)                  # fix_latin_ligatures
    out = "".join(ftfy_width(ord(c)) or c for c in out)                   # fix_character_width
    out = "".join("'" if c == "\u02bc" or "\u2018" <= c <= "\u201b" else
                  '"' if "\u201c" <= c <= "\u201f" else c for c in out)  # uncurl_quotes
    return "".join(c for c in out if ord(c) not in FTFY_CONTROL)          # remove_control_chars


def ftfy_char_map():
    cands = set(range(0x80, 0xA0)) | {ord(c) for c in FTFY_LIGATURES} | {0x3000} | \
        set(range(0xFF01, 0xFFF0)) | {0x2BC} | set(range(0x2018, 0x2020)) | FTFY_CONTROL
    out = {}
    for cp in sorted(cands):
        s = chr(cp)
        while True:
            t = ftfy_pass(s)
            if t == s:
                break
            s = t
        if s != chr(cp):
            out[cp] = s
    return out


def cpp_ranges(name, rs):
    body = ",\n".join("  {0x%X, 0x%X}" % r for r in rs)
    return f"const CpRange {name}[] = {{\n{body}\n}};\n"


def u32(s):
    return "{" + ", ".join("0x%X" % ord(ch) for ch in s) + "}"


def cstr(s):
    return '"' + "".join("\\x%02x" % b if (b < 0x20 or b >= 0x7f or b in b'"\\?') else chr(b)
                         for b in s.encode("utf-8")) + '"'


def main():
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "clip",
                            "tokenizer_tables.inc")
    parts = [
        "// GENERATED by tools/gen_unicode_tables.py -- do not edit.\n",
        f"// Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}.\n",
        "// Included once, by tokenizer.cpp, inside namespace tc::clip::detail_tokenizer.\n\n",
    ]
    parts.append(cpp_ranges("kLetter", ranges(is_letter)))
    parts.append(cpp_ranges("kNumber", ranges(is_number)))
    parts.append(cpp_ranges("kLetterIgnoreCaseExtra", ranges(lambda cp: cp in letter_ic)))
    parts.append(cpp_ranges("kNumberIgnoreCaseExtra", ranges(lambda cp: cp in number_ic) or [(1, 0)]))
    parts.append(cpp_ranges("kPySpace", ranges(lambda cp: chr(cp).isspace())))
    parts.append(cpp_ranges("kCased", ranges(cased)))
    parts.append(cpp_ranges("kCaseIgnorable", ranges(case_ignorable)))
    lf = ",\n".join("  {0x%X, '%s'}" % (cp, ch) for cp, ch in sorted(literal_fold.items()))
    parts.append(f"const LiteralFold kLiteralFold[] = {{\n{lf}\n}};\n")

    lower = []
    for cp in range(MAXCP):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        lo = chr(cp).lower()
        if lo != chr(cp):
            assert len(lo) <= 3
            lower.append("  {0x%X, %s}" % (cp, u32(lo)))
    parts.append("const LowerEntry kLower[] = {\n" + ",\n".join(lower) + "\n};\n")

    ents = sorted(html.entities.html5.items(), key=lambda kv: kv[0].encode("utf-8"))
    parts.append("const Entity kEntities[] = {\n" +
                 ",\n".join("  {%s, %s}" % (cstr(k), cstr(v)) for k, v in ents) + "\n};\n")
    refs = sorted(html._invalid_charrefs.items())
    parts.append("const CharRef kInvalidCharRefs[] = {\n" +
                 ",\n".join("  {0x%X, 0x%X}" % (k, ord(v)) for k, v in refs) + "\n};\n")
    parts.append("const uint32_t kInvalidCodepoints[] = {\n" +
                 ",\n".join("  0x%X" % c for c in sorted(html._invalid_codepoints)) + "\n};\n")
    fm = ftfy_char_map()
    assert all(len(v) <= 3 for v in fm.values())
    parts.append("const LowerEntry kFtfyMap[] = {\n" +
                 ",\n".join("  {0x%X, %s}" % (cp, u32(v) if v else "{0}") for cp, v in sorted(fm.items())) +
                 "\n};\n")
    with open(out_path, "w") as f:
        f.write("".join(parts))
    print(f"wrote {os.path.normpath(out_path)}: {len(lower)} lowercase entries, "
          f"{len(ents)} entities, {len(fm)} ftfy character fixes, letter-ic extras {sorted(hex(c) for c in letter_ic)}, "
          f"literal folds {[(hex(k), v) for k, v in literal_fold.items()]}")


if __name__ == "__main__":
    main()
