"""Baseline of ``make bench-worldwide``: Meta CLIP 2's way of counting n-grams, file by file.

Written for the benchmark from the released behaviour (``metadata/build_ngram.py``), not imported
from ``metadata_builder``, so the benchmark compares two pipelines. It runs in the benchmark's own
environment (with wikiextractor, AGPL, and mecab-python3 + ipadic), never in the project's.

For every wikiextractor output file (``wiki_NN``): read it whole, remove ``<...>`` and
``&lt;...&gt;`` spans, tokenise (languages with spaces: a loop over the characters, CJK-like
characters and punctuation alone; ja: MeCab + ipadic ``-Owakati`` on each white-space chunk), count
unigrams and bigrams (pure-punctuation tokens skipped and breaking the chain; weird tokens too in a
no-space language) and write the per-file JSON. The files are shared among ``--workers`` processes.
The merge into one table and PMI are not released, so the baseline stops at the per-file counts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import string
import sys
from collections import defaultdict

EXTRA = set("，。、；：？¿！“”‘’（）【】《》〈〉「」『』～—")
RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
          (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF), (0x2E80, 0x2EFF), (0x2F00, 0x2FDF),
          (0x2FF0, 0x2FFF), (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF),
          (0x0F00, 0x0FFF))
PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"), ("‘", "’"), ("（", "）"), ("【", "】"), ("《", "》"),
         ("〈", "〉"), ("「", "」"), ("『 ", "』"))
NO_SPACE = {"bo", "dz", "ja", "km", "lo", "my", "ryu", "th", "zh", "zh_classical", "zh_yue"}
TAGS = re.compile(r"(&lt;.*?&gt;|<.*?>)")


def punct(ch):
    return ch in string.punctuation or ch in EXTRA


def alone(ch):
    code = ord(ch)
    for a, b in RANGES:
        if a <= code <= b:
            return True
    return punct(ch)


def spaced_tokens(text):
    out, current = [], []
    for ch in text:
        if alone(ch):
            if current:
                out.append("".join(current))
                current = []
            out.append(ch)
        elif ch.isspace():
            if current:
                out.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current))
    return out


def weird(token):
    if punct(token[0]):
        return True
    for a, b in PAIRS:
        if (a in token and b not in token) or (b in token and a not in token):
            return True
    return False


_TAGGER = None


def tokens(text, lang):
    global _TAGGER
    if lang not in NO_SPACE:
        return spaced_tokens(text)
    if _TAGGER is None:
        import ipadic
        import MeCab

        _TAGGER = MeCab.Tagger(ipadic.MECAB_ARGS + " -Owakati")
    return [t for chunk in text.split() for t in _TAGGER.parse(chunk).split()]


def count_file(job):
    path, out, lang = job
    with open(path, encoding="utf-8") as f:
        text = TAGS.sub("", f.read())
    unigram, bigram = defaultdict(int), defaultdict(int)
    prev = None
    for token in tokens(text, lang):
        token = token.strip()
        if not token:
            continue
        if all(punct(c) for c in token):
            prev = None
            continue
        if lang in NO_SPACE and weird(token):
            prev = None
            continue
        unigram[token] += 1
        if prev is not None:
            bigram[f"{prev} {token}"] += 1
        prev = token
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"unigram": unigram, "bigram": bigram}, f, ensure_ascii=False)
    return sum(unigram.values()), len(unigram)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text_dir", help="wikiextractor's output folder")
    parser.add_argument("--out", required=True)
    parser.add_argument("--lang", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.text_dir) for f in fs if f.startswith("wiki_"))
    jobs = [(p, os.path.join(args.out, os.path.relpath(p, args.text_dir) + ".json"), args.lang) for p in files]
    with multiprocessing.Pool(args.workers) as pool:
        done = pool.map(count_file, jobs, chunksize=1)
    print(json.dumps({"files": len(files), "tokens": sum(n for n, _ in done)}), file=sys.stderr)


if __name__ == "__main__":
    main()
