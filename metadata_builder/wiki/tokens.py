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
from collections import Counter, defaultdict

import numpy as np

_PIECE = re.compile(r"[\w'-]+")
#: A piece the rule keeps: starts and ends with a word character, no digit anywhere.
_WORD = re.compile(r"[^\W\d](?:[^\W\d]|['-])*(?<!['-])")
#: Run boundaries: anything but word characters, ``-``, ``'`` and horizontal white space; line breaks.
_RUN_BREAK = re.compile(r"(?:[^\w'\s-]|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029])+")
_HSPACE = r"[^\S\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+"
#: Two maximal pieces separated only by horizontal white space (overlapping: the second is a lookahead).
_PAIR = re.compile(rf"(?<![\w'-])([\w'-]+){_HSPACE}(?=([\w'-]+))")
#: Fast form of the run boundaries: every run of characters that are neither word characters, ``-``,
#: ``'`` nor white space (line breaks are first turned into ``|``, which this then matches).
_BREAK = re.compile(r"[^\w\s'-]+")
_LINE_BREAKS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # besides "\n"; rare, so each is tested with `in`
_SEP = "|"  # the token standing for a run boundary: never a piece, since "|" is not in [\w'-]
#: Characters whose lower-case form depends on context (final sigma) or is not one character of the same
#: class (``İ`` -> ``i̇``, whose dot is no word character). Found by checking every code point: without
#: them ``text.lower()``'s pieces are exactly the pieces of ``text``, each lower-cased on its own.
_LOWER_CONTEXT = ("\u03a3", "\u0130")


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


def run_tokens(text: str) -> list[str]:
    """Maximal pieces of normalised ``text`` in order, with ``"|"`` wherever a run ends.

    One regex pass and ``str.split`` (C speed) instead of one ``findall`` for pieces and another for
    pairs: line breaks become ``|``, every other boundary character run becomes `` | ``, and what
    is left between white space is exactly the pieces (the regex ``\\s`` and ``str.split`` use the
    same white space).
    """
    text = text.replace("\n", _SEP)
    for ch in _LINE_BREAKS:
        if ch in text:
            text = text.replace(ch, _SEP)
    return _BREAK.sub(" | ", text).split()


class _Vocab:
    """Strings <-> consecutive int ids, encoded at C speed, with ``width`` ints per id.

    ``encode`` is one dict look-up per token (a missing string gets the next id); the ints of a new
    string are computed once, in one call per batch (``values_of``).
    """

    def __init__(self, values_of, width: int):
        self.ids = defaultdict()
        self.ids.default_factory = self.ids.__len__
        self.strings: list[str] = []
        self.values = np.zeros((1024, width), dtype=np.int64)
        self.values_of = values_of  # list of new strings -> array (len, width)

    def __len__(self) -> int:
        return len(self.strings)

    def encode(self, tokens: list[str]) -> np.ndarray:
        old = len(self.strings)
        ids = np.fromiter(map(self.ids.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        if len(self.ids) > old:  # ids are given in order of first occurrence: record the new strings
            where = np.flatnonzero(ids >= old)
            first = where[np.unique(ids[where], return_index=True)[1]]
            new = [tokens[i] for i in first.tolist()]
            self.strings.extend(new)
            if len(self.strings) > len(self.values):
                grown = np.zeros((2 * len(self.strings), self.values.shape[1]), dtype=np.int64)
                grown[:old] = self.values[:old]
                self.values = grown
            self.values[old:len(self.strings)] = self.values_of(new)
        return ids


#: Pair keys ``id1 << 32 | id2`` are multiplied by this odd constant (mod 2^64, so it can be undone):
#: a Python int hashes to itself, and without the mixing every pair ending in the same word would share
#: the dict's low hash bits and collide.
_MIX = np.uint64(0x9E3779B97F4A7C15)
_UNMIX = np.uint64(pow(0x9E3779B97F4A7C15, -1, 1 << 64))


def _distinct(ids: np.ndarray) -> np.ndarray:
    """Distinct values of a page's ids (a sort: cheaper than ``np.unique`` on small arrays)."""
    ids = np.sort(ids)
    return ids[np.r_[True, ids[1:] != ids[:-1]]] if len(ids) else ids


def _add(counts: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """``counts`` grown to ``size`` plus the occurrences of ``ids``."""
    out = np.bincount(ids, minlength=size)
    out[: len(counts)] += counts
    return out


class ShardCounts:
    """Counters of one shard (or one spill of it): words, case-kept tokens, bigrams, links.

    Fast form of :func:`unigram_tokens` and :func:`runs`, same counts: tokens become int ids
    (:class:`_Vocab`), pairs one int ``id1 << 32 | id2`` counted with ``Counter.update`` on a list
    (C speed, no tuples); word and token occurrences are summed with ``np.bincount`` per batch of
    pages. :meth:`valid` turns them into the Counters ``count.py`` writes: ``words`` and
    ``articles`` (lower-cased SPEC words), ``cased`` (case-kept tokens, PMI's c1, c2) and
    ``bigrams`` (``(w1, w2)`` case-kept). ``links`` (link target -> occurrences) is filled by the
    caller. :meth:`size` counts exactly the distinct keys the plain Counters would hold before
    :meth:`valid` (every piece and pair, dropped ones included), so spills happen at the same pages.
    """

    BATCH = 1 << 20  # pending token ids summed at least this often

    def __init__(self):
        self.links = Counter()
        # lower-cased pieces; value: 1 if it passes the rule
        self._lower = _Vocab(lambda new: [[is_word(s)] for s in new], 1)
        # case-kept pieces; values: passes the rule (1/0), id of the piece lower-cased (-1: unknown,
        # a piece with a _LOWER_CONTEXT character, only met on pages that take the reference path)
        self._cased = _Vocab(self._cased_values, 2)
        self._cased.encode([_SEP])  # id 0: a run boundary
        self._pairs = Counter()  # id1 << 32 | id2 -> occurrences (every pair of adjacent pieces)
        self._words = self._articles = self._cased_counts = np.zeros(0, dtype=np.int64)
        self._pending = {"words": [], "articles": [], "cased": []}
        self._pending_n = 0

    def _cased_values(self, new: list[str]) -> np.ndarray:
        out = np.full((len(new), 2), -1, dtype=np.int64)
        out[:, 0] = [is_word(s) for s in new]
        sigma, dotted_i = _LOWER_CONTEXT
        simple = [i for i, s in enumerate(new) if not (s == _SEP or sigma in s or dotted_i in s)]
        if simple:
            out[simple, 1] = self._lower.encode([new[i].lower() for i in simple])
        return out

    def add_text(self, text: str) -> None:
        """Count one article's clean text.

        Pairs are adjacent tokens of :func:`run_tokens` (a ``|`` between them: no pair); those
        touching a piece the rule drops are removed in :meth:`valid`, as a dropped piece between two
        words keeps them apart in :func:`runs`. Lower-cased pieces are the case-kept ones lower-cased
        one by one, which equals the pieces of ``text.lower()`` unless the text holds a character of
        ``_LOWER_CONTEXT``; such a page takes the reference form.
        """
        text = normalize(text)
        ids = self._cased.encode(run_tokens(text))
        pieces = ids[ids != 0]
        keys = ((ids[:-1] << 32) | ids[1:]).astype(np.uint64) * _MIX
        self._pairs.update(keys[(ids[:-1] != 0) & (ids[1:] != 0)].tolist())
        values = self._cased.values[pieces]
        self._pending["cased"].append(pieces[values[:, 0] == 1])
        if _LOWER_CONTEXT[0] in text or _LOWER_CONTEXT[1] in text:
            low = self._lower.encode(_PIECE.findall(text.lower()))
        else:
            low = values[:, 1]
        low = low[self._lower.values[low, 0] == 1]
        self._pending["words"].append(low)
        self._pending["articles"].append(_distinct(low))
        self._pending_n += len(ids)
        if self._pending_n >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        """Sum the pending ids into the count arrays."""
        p = {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for k, v in self._pending.items()}
        self._words = _add(self._words, p["words"], len(self._lower))
        self._articles = _add(self._articles, p["articles"], len(self._lower))
        self._cased_counts = _add(self._cased_counts, p["cased"], len(self._cased))
        self._pending = {k: [] for k in self._pending}
        self._pending_n = 0

    def valid(self) -> "ShardCounts":
        """Set the Counters ``words``, ``articles``, ``cased`` and ``bigrams`` (words only); return self."""
        self._flush()
        low, cased = self._lower.strings, self._cased.strings
        used = np.flatnonzero(self._words).tolist()
        self.words = Counter(dict(zip(map(low.__getitem__, used), self._words[used].tolist())))
        self.articles = Counter(dict(zip(map(low.__getitem__, used), self._articles[used].tolist())))
        used = np.flatnonzero(self._cased_counts).tolist()
        self.cased = Counter(dict(zip(map(cased.__getitem__, used), self._cased_counts[used].tolist())))
        keys = np.fromiter(self._pairs, dtype=np.uint64, count=len(self._pairs)) * _UNMIX
        w1, w2 = (keys >> np.uint64(32)).astype(np.int64), (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)
        good = self._cased.values[:, 0]
        keep = (good[w1] == 1) & (good[w2] == 1)
        counts = np.fromiter(self._pairs.values(), dtype=np.int64, count=len(self._pairs))[keep]
        pairs = zip(map(cased.__getitem__, w1[keep].tolist()), map(cased.__getitem__, w2[keep].tolist()))
        self.bigrams = Counter(dict(zip(pairs, counts.tolist())))
        return self

    def size(self) -> int:
        """Distinct keys held: lower-cased and case-kept pieces, pairs, links."""
        return len(self._lower) + len(self._cased) - 1 + len(self._pairs) + len(self.links)
