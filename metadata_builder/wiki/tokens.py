"""Tokens of recipe ``metaclip-v1``: the unigram rule of SPEC §1 and sentence-level runs for bigrams.

Unigrams (SPEC §1, the word-frequency list the MetaCLIP maintainers pointed to):
lower-case the text; map ``–`` (en dash) to ``-`` and ``’`` to ``'``; split on every character that
is not a word character (``\\w``), ``-`` or ``'``; keep a piece only if it starts and ends with a word
character and contains no digit (``\\d``: Unicode decimal digits). A piece that fails is dropped
whole, never trimmed (``'hello`` and ``dog-`` are not words). The rule's last part, "words seen in >=
3 articles", is a threshold, not tokenisation: ``unigrams.parquet`` keeps every word with its
``articles`` count and ``assemble`` applies ``articles >= 3`` together with ``--unigram-min``.

Bigrams: two adjacent tokens of the same sentence-level run. Runs are cut at every character that
is neither a word character, ``-``, ``'`` nor horizontal white space (so at any punctuation mark,
bracket or symbol), at every line break (the cleaner keeps paragraph, heading and list-item breaks
as line breaks), and at every piece the unigram rule drops (a number, ``-``, ``'x``...): no pair is
ever formed across something that is not a word. Bigram tokens keep their case (SPEC §1: PMI "no
case folding"; Meta CLIP 2's top bigrams are "United States", "New York"), so PMI uses the unigram
counts of the same case-kept tokens and N = their total, exactly as NLTK's
``BigramCollocationFinder.from_words`` would on the token stream.
"""

from __future__ import annotations

import re
from collections import Counter

_NORMALIZE = str.maketrans({"\u2013": "-", "\u2019": "'"})
_PIECE = re.compile(r"[\w'-]+")
#: A maximal piece the rule drops: it has a digit, or starts or ends with ``-``/``'``.
_INVALID = re.compile(r"(?<![\w'-])(?:['-][\w'-]*|[\w'-]*?(?:\d[\w'-]*|['-]))(?![\w'-])")
#: Run boundaries: anything but word characters, ``-``, ``'`` and horizontal white space; line breaks.
_RUN_BREAK = re.compile(r"(?:[^\w'\s-]|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029])+")


def normalize(text: str) -> str:
    return text.translate(_NORMALIZE)


def unigram_tokens(text: str) -> list[str]:
    """The SPEC §1 words of ``text``, lower-cased, in order."""
    return _PIECE.findall(_INVALID.sub(" ", normalize(text).lower()))


def runs(text: str) -> list[list[str]]:
    """Case-kept tokens of ``text`` grouped in sentence-level runs (bigrams never cross runs)."""
    out = []
    for run in _RUN_BREAK.split(_INVALID.sub("\n", normalize(text))):
        tokens = run.split()
        if tokens:
            out.append(tokens)
    return out


def is_word(token: str) -> bool:
    """True when ``token`` alone passes the unigram rule (a helper for tests and callers)."""
    return bool(_PIECE.fullmatch(token)) and not _INVALID.fullmatch(token)


class ShardCounts:
    """Counters of one shard (or one spill of it): words, case-kept tokens, bigrams, links."""

    def __init__(self):
        self.words = Counter()  # lower-cased SPEC words -> occurrences
        self.articles = Counter()  # lower-cased SPEC words -> articles containing it
        self.cased = Counter()  # case-kept tokens -> occurrences (PMI's c1, c2)
        self.bigrams = Counter()  # (w1, w2) case-kept -> occurrences
        self.links = Counter()  # normalised link target -> occurrences

    def add_text(self, text: str) -> int:
        """Count one article's clean text; return its number of (lower-cased) words."""
        words = unigram_tokens(text)
        self.words.update(words)
        self.articles.update(set(words))
        cased, bigrams = self.cased, self.bigrams
        for tokens in runs(text):
            cased.update(tokens)
            if len(tokens) > 1:
                bigrams.update(zip(tokens, tokens[1:]))
        return len(words)

    def size(self) -> int:
        return len(self.bigrams) + len(self.words) + len(self.cased) + len(self.links)
