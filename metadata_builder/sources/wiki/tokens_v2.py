"""Tokens of recipe ``metaclip-v2``: Meta CLIP 2's n-gram tokenisation (released ``metadata/build_ngram.py``).

Languages written with spaces (every Wikipedia but the 11 of ``languages.NO_SPACE_LANGUAGES``):

- split at white space (``str.isspace``);
- every *CJK-like* character is a token of its own: the CJK ideograph blocks, Thai, Lao, Myanmar,
  Khmer and Tibetan (the 16 ranges of :data:`CJK_LIKE_RANGES`), and every punctuation mark of
  :data:`PUNCTUATION` (the 32 ASCII marks plus 26 CJK and typographic ones);
- nothing is lower-cased or normalised.

Languages without spaces: the text is split at white space and each chunk goes to the language's
word segmenter (:mod:`.segment`); the segmenter's tokens are kept as they are (punctuation inside a
token stays there).

Then every token is stripped; an empty one is skipped; a token made only of :data:`PUNCTUATION` is
dropped and **breaks the bigram chain**; in a no-space language a *weird* token (:func:`is_weird`:
first character a punctuation mark, or one half of a bracket or quote pair without the other) is
dropped and breaks the chain too. Every other token counts as a unigram and forms a bigram with the
token before it unless the chain was broken. Line and paragraph breaks do not break the chain; an
article's end does (each article is counted on its own; see docs/recipe.md §4 for the release's
file-wide chain). ``tables()`` gives what ``counts/shard.py`` writes: ``words`` (token, count,
articles), ``cased`` (token, count: PMI's c1 and c2, the same counts since nothing is lower-cased)
and ``bigrams`` (w1, w2, count).

:func:`tokens` and :func:`count_reference` are the plain reference forms (a character loop as the
release writes it); :class:`ShardCountsV2` is the fast form (Arrow for spaced languages), and tests
check that both give the same counts on real dumps.
"""

from __future__ import annotations

import string
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .tokens import re2_class

#: Code points that are tokens of their own (released ``is_cjk_or_similar``; inclusive ranges).
CJK_LIKE_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF), (0x2E80, 0x2EFF), (0x2F00, 0x2FDF),
    (0x2FF0, 0x2FFF),  # CJK
    (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x0F00, 0x0FFF),  # Thai .. Tibetan
)
#: The 26 marks the release adds to ``string.punctuation`` (``additional_punctuation``).
EXTRA_PUNCTUATION = "，。、；：？¿！“”‘’（）【】《》〈〉「」『』～—"
PUNCTUATION = frozenset(string.punctuation + EXTRA_PUNCTUATION)
#: Bracket and quote pairs of the release's ``check_weird_token``; ``"『 "`` keeps the release's
#: trailing space, so a token holding ``』`` is always weird and ``『`` alone never is.
WEIRD_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"), ("‘", "’"), ("（", "）"), ("【", "】"),
               ("《", "》"), ("〈", "〉"), ("「", "」"), ("『 ", "』"))

#: ``str.isspace()`` code points (Unicode White_Space plus the C0 separators 0x1C-0x1F); a test checks
#: this list against every code point of the running Python.
WHITE_SPACE = (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
               0x2028, 0x2029, 0x202F, 0x205F, 0x3000)


def is_cjk_like(ch: str) -> bool:
    """A character that is a token of its own in a language with spaces."""
    code = ord(ch)
    return ch in PUNCTUATION or any(a <= code <= b for a, b in CJK_LIKE_RANGES)


def is_pure_punctuation(token: str) -> bool:
    """Every character is in :data:`PUNCTUATION` (dropped; breaks the chain)."""
    return all(ch in PUNCTUATION for ch in token)


def is_weird(token: str) -> bool:
    """The release's ``check_weird_token`` (applied in no-space languages only)."""
    if token[0] in PUNCTUATION:
        return True
    return any((a in token) != (b in token) for a, b in WEIRD_PAIRS)


def split_spaced(text: str) -> list[str]:
    """Tokens of a language with spaces, character by character (reference form)."""
    out, current = [], []
    for ch in text:
        if is_cjk_like(ch):
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


def tokens(text: str, segment=None) -> list[str]:
    """The raw token stream of one text: :func:`split_spaced`, or ``segment`` on each white-space chunk
    (``segment``: a function ``chunk -> tokens``, e.g. a :class:`.segment.Segmenter`'s ``segment``)."""
    if segment is None:
        return split_spaced(text)
    return [token for chunk in text.split() for token in segment(chunk)]


def count_reference(texts, segment=None) -> tuple[Counter, Counter, Counter]:
    """Unigram counts, bigram counts (keys ``(w1, w2)``) and article counts of ``texts`` (one per
    article), following the rules token by token as the release writes them (reference form)."""
    unigrams, bigrams, articles = Counter(), Counter(), Counter()
    for text in texts:
        prev = None
        seen = set()
        for token in tokens(text, segment):
            token = token.strip()
            if not token:
                continue
            if is_pure_punctuation(token) or (segment is not None and is_weird(token)):
                prev = None
                continue
            unigrams[token] += 1
            seen.add(token)
            if prev is not None:
                bigrams[(prev, token)] += 1
            prev = token
        articles.update(seen)
    return unigrams, bigrams, articles


#: RE2 patterns: a character that stands alone; a run of white space; a token of punctuation only; a
#: token that holds a punctuation mark or a pair's half (only those can be weird).
_ALONE = re2_class({ord(c) for c in PUNCTUATION}
                    | {c for a, b in CJK_LIKE_RANGES for c in range(a, b + 1)})
_SPACE_RUN = re2_class(WHITE_SPACE) + "+"
_PUNCT_CLASS = re2_class({ord(c) for c in PUNCTUATION})
_PUNCT_FIRST = "^" + _PUNCT_CLASS
_PAIR_HALF = re2_class({ord(c) for pair in WEIRD_PAIRS for half in pair for c in half if not c.isspace()})
_PUNCT_VALUES = pa.array(sorted(PUNCTUATION), pa.large_string())


def _grown(counts: np.ndarray, size: int) -> np.ndarray:
    if len(counts) >= size:
        return counts
    out = np.zeros(max(size, 2 * len(counts)), dtype=np.int64)
    out[: len(counts)] = counts
    return out


class ShardCountsV2:
    """Counters of one shard (or one spill of it) under recipe ``metaclip-v2``: the interface of
    :class:`..tokens.ShardCounts` (``add_text``, ``full``, ``tables``, ``links``).

    Texts wait until ``BATCH_CHARS`` characters are pending and are tokenised together: in Arrow
    (one RE2 pass isolating the CJK-like characters, one split at white space) for a language with
    spaces, chunk by chunk through ``segment`` otherwise. A batch's distinct tokens get int ids (one
    dict look-up each), unigram and article counts are summed with ``np.bincount`` and pairs, one int
    ``id1 << 32 | id2`` each, with Arrow's hash aggregation.
    """

    BATCH_CHARS = 1 << 22

    def __init__(self, segment=None):
        self.segment = segment
        self.links = Counter()
        self._texts: list[str] = []
        self._chars = 0
        self._ids: dict[str, int] = {}
        self._strings: list[str] = []
        self._counts = np.zeros(0, dtype=np.int64)
        self._articles = np.zeros(0, dtype=np.int64)
        self._pairs = None
        self._pair_parts: list = []
        self._pending_pairs = 0

    def add_text(self, text: str) -> None:
        """Count one article's clean text (tokenised with the next batch)."""
        self._texts.append(text)
        self._chars += len(text)
        if self._chars >= self.BATCH_CHARS:
            self._tokenise()

    # -- one batch -------------------------------------------------------------------------------
    def _spaced(self, texts: list[str]):
        """Flat tokens, their article, and the chain breaks of texts of a language with spaces."""
        spaced = pc.replace_substring_regex(pa.array(texts, pa.large_string()), _ALONE, " \\0 ")
        lists = pc.split_pattern_regex(spaced, _SPACE_RUN)
        flat = lists.flatten()
        article = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(lists.offsets.to_numpy()))
        keep = pc.not_equal(pc.utf8_length(flat), 0)  # the ends of a text that starts/ends with space
        flat, article = flat.filter(keep), article[keep.to_numpy(zero_copy_only=False)]
        brk = pc.is_in(flat, value_set=_PUNCT_VALUES)  # a punctuation token is one isolated mark
        return flat, article, brk.to_numpy(zero_copy_only=False)

    def _segmented(self, texts: list[str]):
        """Flat tokens, their article, and the chain breaks of texts of a no-space language."""
        segment = self.segment
        flat, article = [], []
        for text in texts:
            before = len(flat)
            for chunk in text.split():
                flat.extend(segment(chunk))  # stripped, empty tokens left out (see Segmenter.tokens)
            article.append(len(flat) - before)
        article = np.repeat(np.arange(len(texts), dtype=np.int64), article)
        array = pa.array(flat, pa.large_string())
        # pure punctuation and weird tokens break the chain: "starts with a mark" covers pure
        # punctuation and the first weird test; the pair test runs in Python on the few other tokens
        # that hold a pair's half
        brk = pc.match_substring_regex(array, _PUNCT_FIRST).to_numpy(zero_copy_only=False).copy()
        halves = pc.match_substring_regex(array, _PAIR_HALF).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(halves & ~brk).tolist():
            brk[i] = is_weird(flat[i])
        return array, article, brk

    def _tokenise(self) -> None:
        texts, self._texts, self._chars = self._texts, [], 0
        if not texts:
            return
        flat, article, brk = self._spaced(texts) if self.segment is None else self._segmented(texts)
        if len(flat) == 0:
            return
        encoded = pc.dictionary_encode(flat)
        local = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        distinct = encoded.dictionary.to_pylist()
        ids, old = self._ids, len(self._ids)
        gid = np.fromiter((ids.setdefault(s, len(ids)) for s in distinct), dtype=np.int64, count=len(distinct))
        if len(ids) > old:
            self._strings.extend(s for s, g in zip(distinct, gid.tolist()) if g >= old)
        size = len(ids)
        self._counts = _grown(self._counts, size)
        self._articles = _grown(self._articles, size)

        good = ~brk
        self._counts[gid] += np.bincount(local[good], minlength=len(gid))  # distinct entries: += is exact
        seen = pc.unique(pa.array((article[good] << 32) | local[good])).to_numpy()
        self._articles[gid] += np.bincount(seen & 0xFFFFFFFF, minlength=len(gid))

        pair = good[:-1] & good[1:] & (article[:-1] == article[1:])
        keys = (local[:-1][pair] << 32) | local[1:][pair]
        if len(keys):
            distinct_keys = pc.dictionary_encode(pa.array(keys))
            counted = np.bincount(distinct_keys.indices.to_numpy(), minlength=len(distinct_keys.dictionary))
            first, second = np.divmod(distinct_keys.dictionary.to_numpy(), 1 << 32)
            self._pair_parts.append(pa.table({"key": (gid[first] << 32) | gid[second], "count": counted}))
            self._pending_pairs += len(counted)

    # -- the counter interface -------------------------------------------------------------------
    def _compact(self) -> None:
        parts = ([self._pairs] if self._pairs is not None else []) + self._pair_parts
        if parts:
            table = pa.concat_tables(parts)
            self._pairs = table.group_by("key", use_threads=False).aggregate([("count", "sum")]) \
                .rename_columns(["key", "count"])
        self._pair_parts, self._pending_pairs = [], 0

    def size(self) -> int:
        """Keys held (an upper bound until pending pairs are summed): tokens, pair rows, links."""
        pairs = (0 if self._pairs is None else self._pairs.num_rows) + self._pending_pairs
        return len(self._ids) + pairs + len(self.links)

    def full(self, limit: int) -> bool:
        """True when the counters hold ``limit`` keys or more (pending pairs summed first)."""
        if self.size() >= limit and self._pair_parts:
            self._compact()
        return self.size() >= limit

    def tables(self) -> dict:
        """The partial tables: ``words`` (word, count, articles), ``cased`` (word, count), ``bigrams``."""
        self._tokenise()
        self._compact()
        strings = pa.array(self._strings, pa.string())
        used = np.flatnonzero(self._counts[: len(self._strings)])
        words = pa.table({"word": strings.take(used), "count": self._counts[used], "articles": self._articles[used]})
        cased = pa.table({"word": strings.take(used), "count": self._counts[used]})
        if self._pairs is None:
            keys = counts = np.zeros(0, dtype=np.int64)
        else:
            keys = self._pairs.column("key").to_numpy()
            counts = self._pairs.column("count").to_numpy()
        bigrams = pa.table({"w1": strings.take(keys >> 32), "w2": strings.take(keys & 0xFFFFFFFF), "count": counts})
        return {"words": words, "cased": cased, "bigrams": bigrams}
