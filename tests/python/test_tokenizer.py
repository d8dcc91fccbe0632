#!/usr/bin/python3
"""Parity of the C++ CLIP tokenizer with a pure-Python reimplementation of OpenAI's
simple_tokenizer.py: ftfy's character fixes (quotes, ligatures, width, C1/control characters)
but not its mojibake repair, NFC or HTML pass.

The reference uses Python's own engines: html.unescape, str.strip/lower, and Python `re` with
IGNORECASE and \\p{L} / \\p{N} classes built here from unicodedata (the `regex` module is not
installed). A small vocabulary is learned here by plain BPE on a multilingual corpus and
written as OpenAI's .txt.gz and as a Hugging Face vocab.json + merges.txt; hand-written and
random texts are encoded by both (`tokenclip debug-tokenize`) and compared: cleaned text,
pre-tokens, ids and the padded/truncated 77-id rows; also the byte-level fallback.
"""
import gzip
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter

TOKENCLIP = os.environ.get("TOKENCLIP")
if not TOKENCLIP or not os.path.exists(TOKENCLIP):
    print("TOKENCLIP not set or missing: skipped")
    sys.exit(77)


# ---------------------------------------------------------------- reference (OpenAI's algorithm)
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _class_of(pred):
    parts, start = [], None
    for cp in range(0x110000 + 1):
        ok = cp < 0x110000 and not (0xD800 <= cp <= 0xDFFF) and pred(chr(cp))
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(cp - 1)) if cp - 1 > start else ""))
            start = None
    return "".join(parts)


L = _class_of(lambda c: unicodedata.category(c)[0] == "L")
N = _class_of(lambda c: unicodedata.category(c)[0] == "N")
WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # White_Space
PAT = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[" + L + "]+|[" + N +
                 "]|[^" + WS + L + N + "]+", re.IGNORECASE)
WS_RE = re.compile("[" + WS + "]+")


_LIG = dict(zip("\u0132\u0133\u0149\u01f1\u01f2\u01f3\u01c4\u01c5\u01c6\u01c7\u01c8\u01c9\u01ca\u01cb\u01cc"
                "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06",
                ["IJ", "ij", "\u02bcn", "DZ", "Dz", "dz", "D\u017d", "D\u017e", "d\u017e", "LJ", "Lj", "lj",
                 "NJ", "Nj", "nj", "ff", "fi", "fl", "ffi", "ffl", "\u017ft", "st"]))
_CTRL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]")


def ftfy_chars(text):
    """ftfy.fix_text's character fixes (C1 as cp1252, ligatures, width, quotes, controls),
    repeated to a fixed point as ftfy's loop does; no mojibake repair, no NFC."""
    while True:
        t = re.sub("[\x80-\x9f]", lambda m: bytes([ord(m.group())]).decode("cp1252", "ignore") or m.group(), text)
        t = "".join(_LIG.get(c, c) for c in t)
        t = "".join(" " if c == "\u3000" else unicodedata.normalize("NFKC", c) if "\uff01" <= c <= "\uffef" else c
                    for c in t)
        t = re.sub("[\u02bc\u2018-\u201b]", "'", t)
        t = re.sub("[\u201c-\u201f]", '"', t)
        t = _CTRL.sub("", t)
        if t == text:
            return t
        text = t


def clean(text):
    text = html.unescape(html.unescape(ftfy_chars(text))).strip()
    return WS_RE.sub(" ", text).strip().lower()


class RefTokenizer:
    def __init__(self, merge_lines, sot_eot=None):
        self.byte_encoder = bytes_to_unicode()
        merges = [tuple(m.split()) for m in merge_lines]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        for m in merges:
            vocab.append("".join(m))
        vocab.extend(["<|startoftext|>", "<|endoftext|>"])
        self.encoder = dict(zip(vocab, range(len(vocab))))
        if sot_eot:  # byte-level fallback: SOT/EOT at the top of the model's vocabulary
            self.encoder["<|startoftext|>"], self.encoder["<|endoftext|>"] = sot_eot
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
        self.cache[token] = " ".join(word)
        return self.cache[token]

    def pre(self, text):
        return re.findall(PAT, clean(text))

    def encode(self, text):
        ids = []
        for tok in self.pre(text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok).split(" "))
        return ids

    def padded(self, text, context=77):
        toks = [self.encoder["<|startoftext|>"]] + self.encode(text) + [self.encoder["<|endoftext|>"]]
        if len(toks) > context:
            toks = toks[:context]
            toks[-1] = self.encoder["<|endoftext|>"]
        return toks + [0] * (context - len(toks))


# ---------------------------------------------------------------- a small learned vocabulary
CORPUS = """
A photo of a damaged object. A photo of a flawless object. The quick brown fox jumps over
the lazy dog; it's 12:45 and we'll see what they've done. Don't stop! I'm here, you'd go.
Crème brûlée, naïve café, façade, Ångström, Straße, Øresund, São Paulo, Łódź, İstanbul.
ΟΔΟΣ ΣΟΦΟΣ καλημέρα κόσμε, ΑΘΗΝΑ. Привет, мир! Съешь же ещё этих мягких французских булок.
日本語のテキスト、中文文本。 한국어 텍스트. שלום עולם. مرحبا بالعالم. नमस्ते दुनिया.
Numbers: 3.14159, 2,718, ½ ¾ ² ³ Ⅻ ٣ ৫. Emoji: 😀🚀 ❤️ done.
scratch crack hole contamination broken bent cut defect anomaly normal good bottle cable capsule
carpet grid hazelnut leather metal nut pill screw tile toothbrush transistor wood zipper
"""


def learn_merges(n_merges):
    be = bytes_to_unicode()
    words = Counter()
    for tok in re.findall(PAT, clean(CORPUS * 3)):
        enc = "".join(be[b] for b in tok.encode("utf-8"))
        words[tuple(enc[:-1]) + (enc[-1] + "</w>",)] += 1
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for i in range(len(w) - 1):
                pairs[(w[i], w[i + 1])] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        new_words = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    return [f"{a} {b}" for a, b in merges]


HAND = [
    "a photo of a damaged object.",
    "X X X X X X X X X X X X object.",
    "X X X X X X X X X X X X damaged object.",
    "Hello, World!! It's 2024; they'll say we've won. I'd... maybe.",
    "  leading\tand\n\ntrailing   whitespace\u3000and\u00a0nbsp  ",
    "ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ. Α'Σ ΣΑ",
    "İstanbul ǅemal ß ẞ ﬁ Ⅻ ⓐⒶ",
    "Crème brûlée &amp; caf&eacute; &lt;b&gt;bold&lt;/b&gt; &amp;amp; &#39;q&#x27; &notit; &#128;",
    "&ampfoo &#0; &#x110000; &zzz; &#xD800; &#1;x",
    "<|startoftext|>inside<|endoftext|> a.<|endoftext|> <|STARTOFTEXT|>",
    "it'ſ long ſ, it'S, IT'LL, 'RE 'VE 'M 'D",
    "日本語のテキスト、中文文本。한국어 😀🚀❤️ mixed123numbers4567 ٣৫",
    "a\u0345b \u0345 \u1fbe",
    "\x1c\x1dcontrol\x1e\x1fchars\x85next",
    "e\u0301 combining accent and zero\u200bwidth\u200dspace",
    "It\u2019s \u201cquoted\u201d \u2018single\u2019 \ufb01ne \ufb03x \u0149 \uff21\uff22\uff23\uff11\uff12\uff01 \uff76\uff9e \x91x\x92 \x85 a\x0bb\ufeffc",
    "",
    "   ",
    " ".join(["long"] * 100),
    "tile grid screw toothbrush metal nut hazelnut",
]


def random_texts(n, seed=0):
    rng = random.Random(seed)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") +
            list(" .,;:!?'\"-()[]{}<>|/\\@#$%^*_+=~`") + [" "] * 10 +
            list("éèêëÉÀàçÇñÑøØåÅßẞıİſǅ") + list("ΑΒΓΔΣσςαβγ") + list("АБВЖЯабвжя") +
            list("日本中文한국") + ["😀", "❤️", "\u0301", "\u2019", "\u201c", "\ufb01", "\uff21", "\uff07", "\x92", "\x0b", "\ufeff", "\u0149", "\u0345", "\u00a0", "\u3000", "\t", "\n",
                                     "\u2028", "\x1c", "\u200b", "²", "½", "Ⅻ", "٣"] +
            ["&amp;", "&lt;", "&#39;", "&#x41;", "&eacute;", "&notin;", "&amp;amp;", "&", "'s", "'ll",
             "<|endoftext|>", "<|startoftext|>"])
    return ["".join(rng.choice(pool) for _ in range(rng.randint(0, 60))) for _ in range(n)]


def main():
    failures = []
    merges = learn_merges(300)
    texts = HAND + random_texts(300)
    with tempfile.TemporaryDirectory() as d:
        bpe = os.path.join(d, "bpe.txt.gz")
        with gzip.open(bpe, "wb") as f:
            f.write(("#version: 0.2 - test vocabulary\n" + "\n".join(merges)).encode("utf-8"))
        ref = RefTokenizer(merges)
        hf = os.path.join(d, "hf")
        os.makedirs(hf)
        with open(os.path.join(hf, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(ref.encoder, f, ensure_ascii=False)
        with open(os.path.join(hf, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        tfile = os.path.join(d, "texts.json")
        with open(tfile, "w", encoding="utf-8") as f:
            json.dump(texts, f, ensure_ascii=False)

        for label, vocab, reference in (
                ("openai .txt.gz", bpe, ref),
                ("hf vocab.json+merges.txt", hf, ref),
                ("byte fallback", "", RefTokenizer([], sot_eot=(49406, 49407)))):
            out = os.path.join(d, "out.json")
            r = subprocess.run([TOKENCLIP, "debug-tokenize", "--bpe", vocab, "--texts", tfile,
                                "--out", out], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{label}: exit {r.returncode}: {r.stderr[-500:]}")
                continue
            with open(out, encoding="utf-8") as f:
                got = json.load(f)
            for i, t in enumerate(texts):
                checks = (("clean", clean(t), got["clean"][i]), ("pre", reference.pre(t), got["pre"][i]),
                          ("ids", reference.encode(t), got["ids"][i]),
                          ("padded", reference.padded(t), got["padded"][i]))
                for what, want, have in checks:
                    if want != have:
                        failures.append(f"{label}: text {i} {t!r}: {what}: want {want!r} got {have!r}")
                        break
            print(f"{label}: {len(texts)} texts compared")
    for fl in failures[:20]:
        print("FAIL:", fl[:600])
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print(f"tokenizer parity: OK ({len(merges)} merges)")


if __name__ == "__main__":
    main()
