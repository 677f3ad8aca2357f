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

_PIECE = re.compile(r"[\w'-]+")
#: A piece the rule keeps: starts and ends with a word character, no digit anywhere.
_WORD = re.compile(r"[^\W\d](?:[^\W\d]|['-])*(?<!['-])")
#: Run boundaries: anything but word characters, ``-``, ``'`` and horizontal white space; line breaks.
_RUN_BREAK = re.compile(r"(?:[^\w'\s-]|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029])+")
_HSPACE = r"[^\S\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+"
#: Two maximal pieces separated only by horizontal white space (overlapping: the second is a lookahead).
_PAIR = re.compile(rf"(?<![\w'-])([\w'-]+){_HSPACE}(?=([\w'-]+))")


def normalize(text: str) -> str:
    """Map ``–`` to ``-`` and ``’`` to ``'`` (str.replace: far faster than str.translate)."""
    return text.replace("\u2013", "-").replace("\u2019", "'")


def is_word(token: str) -> bool:
    """True when ``token`` passes the unigram rule (starts/ends with a word character, no digit)."""
    return _WORD.fullmatch(token) is not None


def unigram_tokens(text: str) -> list[str]:
    """The SPEC §1 words of ``text``, lower-cased, in order (reference form of the rule)."""
    return [w for w in _PIECE.findall(normalize(text).lower()) if is_word(w)]


def runs(text: str) -> list[list[str]]:
    """Case-kept tokens of ``text`` in sentence-level runs (reference form; bigrams never cross runs).

    A dropped piece (a number, ``'x``...) ends a run as a punctuation mark does.
    """
    out = []
    for chunk in _RUN_BREAK.split(normalize(text)):
        run = []
        for piece in chunk.split():
            if is_word(piece):
                run.append(piece)
            else:
                if run:
                    out.append(run)
                run = []
        if run:
            out.append(run)
    return out


class ShardCounts:
    """Counters of one shard (or one spill of it): words, case-kept tokens, bigrams, links."""

    def __init__(self):
        self.words = Counter()  # lower-cased SPEC words -> occurrences
        self.articles = Counter()  # lower-cased SPEC words -> articles containing it
        self.cased = Counter()  # case-kept tokens -> occurrences (PMI's c1, c2)
        self.bigrams = Counter()  # (w1, w2) case-kept -> occurrences
        self.links = Counter()  # normalised link target -> occurrences

    def add_text(self, text: str) -> None:
        """Count one article's clean text.

        Fast form of :func:`unigram_tokens` and :func:`runs`: every maximal piece is counted and
        pairs are taken between pieces separated by horizontal space only, all in C
        (``Counter(re.findall(...))``); pieces the rule drops (and pairs touching one) are removed
        from the distinct keys in :meth:`valid`, which gives exactly the same counts, since a
        dropped piece between two words already keeps them from being adjacent.
        """
        text = normalize(text)
        words = _PIECE.findall(text.lower())
        self.words.update(words)
        self.articles.update(set(words))
        self.cased.update(_PIECE.findall(text))
        self.bigrams.update(_PAIR.findall(text))

    def valid(self) -> "ShardCounts":
        """Remove the pieces (and pairs touching one) the unigram rule drops; return self."""
        bad_words = [w for w in self.words if not is_word(w)]
        for w in bad_words:
            del self.words[w], self.articles[w]
        bad = {w for w in self.cased if not is_word(w)}
        for w in bad:
            del self.cased[w]
        if bad:
            for pair in [p for p in self.bigrams if p[0] in bad or p[1] in bad]:
                del self.bigrams[pair]
        return self

    def size(self) -> int:
        return len(self.bigrams) + len(self.words) + len(self.cased) + len(self.links)
