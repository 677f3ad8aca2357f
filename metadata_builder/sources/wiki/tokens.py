"""Tokens of recipe ``metaclip-v1``: the unigram rule of docs/recipe.md §1.4 and sentence-level runs for bigrams.

Unigrams (docs/recipe.md §1, the word-frequency list the MetaCLIP maintainers pointed to):
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
ever formed across something that is not a word. Bigram tokens keep their case (docs/recipe.md §1.5: PMI "no
case folding"; Meta CLIP 2's top bigrams are "United States", "New York"), so PMI uses the unigram
counts of the same case-kept tokens and N = their total, exactly as NLTK's
``BigramCollocationFinder.from_words`` would on the token stream.

Forms: :func:`unigram_tokens` and :func:`runs` are the reference (plain regular expressions);
:class:`ShardCounts` counts a shard's texts with them, as fast as possible: the compiled kernel
``_tokencount.c`` (:class:`CompiledShardCounts`, built by ``pip install``/``make setup`` when a C
compiler is there) or else Arrow (:class:`ArrowShardCounts`). Tests check that all three give the
same tables on every real dump and on every code point.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter, defaultdict
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from ...runtime import arrays

try:  # the compiled form (C); absent when the package was installed without a C compiler
    from . import _tokencount
except ImportError:  # pragma: no cover - depends on the installation
    _tokencount = None
if _tokencount is not None and getattr(_tokencount, "VERSION", None) != 1:  # pragma: no cover
    _tokencount = None  # built from an older _tokencount.c: rerun `make setup` (or pip install) to rebuild it

_PIECE = re.compile(r"[\w'-]+")
#: A piece the rule keeps: starts and ends with a word character, no digit anywhere.
_WORD = re.compile(r"[^\W\d](?:[^\W\d]|['-])*(?<!['-])")
#: Run boundaries: anything but word characters, ``-``, ``'`` and horizontal white space; line breaks.
_RUN_BREAK = re.compile(r"(?:[^\w'\s-]|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029])+")
#: Run boundaries as :func:`run_tokens` finds them: every run of characters that are neither word
#: characters, ``-``, ``'`` nor white space (line breaks are first turned into ``|``, which this then matches).
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
    """The docs/recipe.md §1.4 words of ``text``, lower-cased, in order (reference form of the rule)."""
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

    The Python form of :func:`_pieces` (which does the same for many texts in Arrow; a test compares
    them on every code point): line breaks become ``|``, every other boundary character run becomes
    `` | ``, and what is left between white space is exactly the pieces (the regex ``\\s`` and
    ``str.split`` use the same white space).
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
        # a missing string gets the next id; itertools.count, not ``self.ids.__len__``: the dict
        # must not refer to itself (a cycle frees it only at a full garbage collection)
        self.ids = defaultdict(itertools.count().__next__)
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


def re2_class(code_points, negate: bool = False) -> str:
    """An RE2 character class of exactly ``code_points`` (as ranges ``\\x{..}-\\x{..}``), for Arrow's regexes."""
    code_points = sorted(code_points)
    parts, i = [], 0
    while i < len(code_points):
        j = i
        while j + 1 < len(code_points) and code_points[j + 1] == code_points[j] + 1:
            j += 1
        a, b = code_points[i], code_points[j]
        parts.append(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}")
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


class ArrowRules(NamedTuple):
    """RE2 patterns equal to this Python's character classes (see :func:`arrow_rules`)."""

    breaks: str  # a run of run-boundary characters (anything but \w ' - and horizontal white space)
    space: str  # a run of horizontal white space
    same_space: bool  # Arrow's utf8_split_whitespace splits on exactly str.isspace()
    not_word: str  # a piece that is no word: a digit (\d) anywhere, or ' or - first or last


_ARROW: ArrowRules | None = None


def arrow_rules() -> ArrowRules:
    r"""The tokenizer's rules as RE2 patterns, built from Python's own character classes (once).

    Python's ``\w`` (``str.isalnum()`` or ``_``), ``\d`` (``str.isdecimal()``) and ``str.isspace()``
    follow the Unicode tables of this Python; RE2's ``\w`` is ASCII only and its ``\pL`` may follow
    another Unicode version. So the classes are listed here from Python's answers for every code
    point, and Arrow's ``utf8_split_whitespace`` is used only if it splits on exactly Python's white
    space (checked on every code point, ~0.5 s once per process); otherwise a regex split on
    Python's class is used.
    """
    import pyarrow.compute as pc  # here: only the Arrow form needs it (0.1 s to import)

    global _ARROW
    if _ARROW is None:
        points = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
        space = [c for c in points if chr(c).isspace()]
        line = {ord(c) for c in "\n" + _LINE_BREAKS}
        kept = sorted({c for c in points if chr(c).isalnum()} | {ord("_"), ord("'"), ord("-")}
                      | (set(space) - line))
        split = pc.utf8_split_whitespace(pa.array(["a" + chr(c) + "b" for c in points]))
        splits = np.flatnonzero(np.diff(split.offsets.to_numpy()) != 1)
        digits = re2_class([c for c in points if chr(c).isdecimal()])
        _ARROW = ArrowRules(breaks=re2_class(kept, negate=True) + "+",
                            space=re2_class(sorted(set(space) - line)) + "+",
                            same_space=np.array(points)[splits].tolist() == space,
                            not_word=f"{digits}|^['-]|['-]$")
    return _ARROW


_TABLE: bytes | None = None


def char_table() -> bytes:
    r"""One byte per code point (0x110000): the classes the compiled counter needs, once per process.

    Bits: ``_tokencount.WORD`` (``\w``), ``DIGIT`` (``\d``), ``SPACE`` (``\s`` but not a line break of
    ``str.splitlines``: white space inside a run). Built in C (~10 ms) from the very predicates
    Python's ``re`` applies to ``\w``, ``\d`` and ``\s``; :func:`char_table_from_re` builds it by
    running ``re`` itself over every code point, and a test checks that both are equal.
    """
    global _TABLE
    if _TABLE is None:
        _TABLE = _tokencount.char_table()
    return _TABLE


def char_table_from_re() -> bytes:
    """:func:`char_table`'s reference form: the regular expressions of the reference forms run over a
    string of every code point (~0.2 s)."""
    every = np.arange(0x110000, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    flags = np.zeros(0x110000, dtype=np.uint8)
    for flag, pattern in ((_tokencount.WORD, r"\w+"), (_tokencount.DIGIT, r"\d+"), (_tokencount.SPACE, r"\s+")):
        for m in re.finditer(pattern, every):
            flags[m.start():m.end()] |= flag
    flags[[ord(c) for c in "\n" + _LINE_BREAKS]] &= ~np.uint8(_tokencount.SPACE)
    return flags.tobytes()


def _word_flags(pieces: list[str]) -> np.ndarray:
    r""":func:`is_word` of many pieces (strings of ``[\w'-]+``) at once, in Arrow: 1 or 0 each."""
    import pyarrow.compute as pc  # here: only the Arrow form needs it (0.1 s to import)

    if not pieces:
        return np.zeros(0, dtype=np.int64)
    bad = pc.match_substring_regex(pa.array(pieces, pa.string()), arrow_rules().not_word)
    return 1 - bad.to_numpy(zero_copy_only=False).astype(np.int64)


def _pieces(texts: list[str]):
    """:func:`run_tokens` of many normalised texts at once, in Arrow (C++): a list array, one list a text.

    Same pieces as :func:`run_tokens`, possibly with more ``|`` in a row (harmless: ``|`` only stops
    pairs) and ``""`` at a text's ends (callers treat it as ``|``).
    """
    import pyarrow.compute as pc  # here: only the Arrow form needs it (0.1 s to import)

    rules = arrow_rules()
    text = pc.replace_substring_regex(pa.array(texts, pa.large_string()), rules.breaks, " | ")
    return pc.utf8_split_whitespace(text) if rules.same_space else pc.split_pattern_regex(text, rules.space)


def _grown(counts: np.ndarray, size: int) -> np.ndarray:
    """``counts`` padded with zeros to ``size`` (the vocabulary grew)."""
    if len(counts) >= size:
        return counts
    out = np.zeros(size, dtype=np.int64)
    out[: len(counts)] = counts
    return out


def _add(counts: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """``counts`` grown to ``size`` plus the occurrences of ``ids``."""
    out = np.bincount(ids, minlength=size)
    out[: len(counts)] += counts
    return out


def _sum_by_key(parts: list) -> pa.Table:
    """One (key, count) table from several: counts of equal keys summed (Arrow's hash aggregation)."""
    table = pa.concat_tables(parts)
    return table.group_by("key", use_threads=False).aggregate([("count", "sum")]).rename_columns(["key", "count"])


def _cased_values(lower: _Vocab, new: list[str]) -> np.ndarray:
    """Values of new case-kept pieces: passes the rule (1/0), id in ``lower`` of the piece lower-cased.

    -1 for a piece with a ``_LOWER_CONTEXT`` character (only met on texts that take the reference path).
    """
    out = np.full((len(new), 2), -1, dtype=np.int64)
    out[:, 0] = _word_flags(new)
    if new and new[0] == _SEP:  # only ever the first string (id 0)
        out[0, 0] = 0
    sigma, dotted_i = _LOWER_CONTEXT
    simple = [i for i, s in enumerate(new) if not (s == _SEP or sigma in s or dotted_i in s)]
    if simple:
        out[simple, 1] = lower.encode([new[i].lower() for i in simple])
    return out


class ArrowShardCounts:
    """Counters of one shard (or one spill of it): words, case-kept tokens, bigrams, links.

    Arrow form of :func:`unigram_tokens` and :func:`runs` (used when the compiled one is not
    installed), same counts. Texts wait until
    ``BATCH_CHARS`` characters are pending, then are tokenised together in Arrow (:func:`_pieces`,
    C++); each batch's distinct pieces become int ids (:class:`_Vocab`, one dict look-up per
    distinct piece, not per token), pairs one int ``id1 << 32 | id2`` counted with Arrow's hash
    aggregation, and word and token occurrences summed with ``np.bincount``. :meth:`tables` gives
    the partial tables ``count.py`` writes: ``words`` (lower-cased recipe words, count, articles),
    ``cased`` (case-kept tokens: PMI's c1, c2) and ``bigrams`` (``w1, w2`` case-kept, count).
    ``links`` (raw link target -> occurrences) is filled by the caller.
    """

    BATCH_CHARS = 1 << 22

    def __init__(self):
        self.links = Counter()
        # lower-cased pieces; value: 1 if it passes the rule
        self._lower = _Vocab(lambda new: _word_flags(new)[:, None], 1)
        # case-kept pieces; values: passes the rule (1/0), id of the piece lower-cased (-1: unknown,
        # a piece with a _LOWER_CONTEXT character, only met on pages that take the reference path)
        # (a function of the lower-case vocabulary, not a bound method: a reference cycle through
        # self would keep every spilled ShardCounts alive until a full garbage collection, which
        # millions of strings never trigger; workers grew by ~0.5 GB a shard that way)
        self._cased = _Vocab(functools.partial(_cased_values, self._lower), 2)
        self._cased.encode([_SEP])  # id 0: a run boundary
        self._texts: list[str] = []
        self._chars = 0
        self._words = self._articles = self._cased_counts = np.zeros(0, dtype=np.int64)
        self._pairs = None  # (key, count) table of the pairs summed so far
        self._pair_parts: list = []  # per-batch (key, count) tables not yet summed in
        self._pending_pairs = 0  # rows in _pair_parts

    def add_text(self, text: str) -> None:
        """Count one article's clean text (tokenised with the next batch)."""
        self._texts.append(normalize(text))
        self._chars += len(text)
        if self._chars >= self.BATCH_CHARS:
            self._tokenise()

    def _tokenise(self) -> None:
        """Count the pending texts.

        Pairs are adjacent pieces of one text with no ``|`` between them; those touching a piece the
        rule drops are removed in :meth:`tables`, as a dropped piece between two words keeps them
        apart in :func:`runs`. Lower-cased pieces are the case-kept ones lower-cased one by one,
        which equals the pieces of ``text.lower()`` unless the text holds a character of
        ``_LOWER_CONTEXT``; such a text takes the reference form.
        """
        import pyarrow.compute as pc  # here: only the Arrow form needs it (0.1 s to import)

        texts, self._texts, self._chars = self._texts, [], 0
        if not texts:
            return
        lists = _pieces(texts)
        encoded = pc.dictionary_encode(lists.flatten())
        # work on the batch's own entry numbers (``local``: one per token) and translate only the
        # distinct entries and pairs to global ids: per-token arrays stay few and small
        distinct = encoded.dictionary.to_pylist()
        if "" in distinct:  # the ends of a text that starts or ends with white space
            distinct[distinct.index("")] = _SEP
        gid = self._cased.encode(distinct)
        local = encoded.indices.to_numpy(zero_copy_only=False)
        page = np.repeat(np.arange(len(texts)), np.diff(lists.offsets.to_numpy()))

        stop = (gid == 0)[local]  # "|": no pair across it
        pair = ~stop[:-1] & ~stop[1:] & (page[:-1] == page[1:])
        keys = (local[:-1][pair].astype(np.int64) << 32) | local[1:][pair]
        if len(keys):  # distinct pairs by hashing (dictionary_encode), their counts by np.bincount
            distinct_keys = pc.dictionary_encode(keys)
            counted = np.bincount(distinct_keys.indices.to_numpy(), minlength=len(distinct_keys.dictionary))
            first, second = np.divmod(distinct_keys.dictionary.to_numpy(), 1 << 32)
            self._pair_parts.append(pa.table({"key": (gid[first] << 32) | gid[second], "count": counted}))
            self._pending_pairs += len(counted)

        occurrences = np.bincount(local, minlength=len(gid))
        values = self._cased.values[gid]
        cased = (gid != 0) & (values[:, 0] == 1)  # distinct entries are distinct pieces: += is exact
        self._cased_counts = _grown(self._cased_counts, len(self._cased))
        self._cased_counts[gid[cased]] += occurrences[cased]

        sigma, dotted_i = _LOWER_CONTEXT
        special = [i for i, t in enumerate(texts) if sigma in t or dotted_i in t]
        if special:  # these texts take the reference form below: leave their tokens out here
            keep = ~np.isin(page, special)
            local, page = local[keep], page[keep]
            occurrences = np.bincount(local, minlength=len(gid))
        low = np.where(gid != 0, values[:, 1], -1)
        word = low >= 0
        word[word] = self._lower.values[low[word], 0] == 1
        self._words = _grown(self._words, len(self._lower))
        np.add.at(self._words, low[word], occurrences[word])  # "The" and "the": one word
        at = word[local]
        per_article = [(page[at] << 32) | low[local[at]]]
        for i in special:  # the reference form: pieces of text.lower()
            ids = self._lower.encode(_PIECE.findall(texts[i].lower()))
            ids = ids[self._lower.values[ids, 0] == 1]
            self._words = _add(self._words, ids, len(self._lower))
            per_article.append((i << 32) | ids)
        distinct_pairs = pc.unique(np.concatenate(per_article)).to_numpy()
        self._articles = _add(self._articles, distinct_pairs & 0xFFFFFFFF, len(self._lower))

    def _compact(self) -> None:
        parts = ([self._pairs] if self._pairs is not None else []) + self._pair_parts
        if parts:
            self._pairs = _sum_by_key(parts)
        self._pair_parts, self._pending_pairs = [], 0

    def size(self) -> int:
        """Keys held: pieces, pair rows (pending batches' rows counted as if all new), links.

        An upper bound of the distinct keys, exact right after :meth:`full` has summed the pairs.
        """
        pairs = (0 if self._pairs is None else self._pairs.num_rows) + self._pending_pairs
        return len(self._lower) + len(self._cased) - 1 + pairs + len(self.links)

    def full(self, limit: int) -> bool:
        """True when the counters hold ``limit`` keys or more (time to spill them).

        Pending pair rows are summed first when the bound reaches ``limit``, so a spill is never
        caused by rows that are the same pair; this sums at most once per batch.
        """
        if self.size() >= limit and self._pair_parts:
            self._compact()
        return self.size() >= limit

    def tables(self) -> dict:
        """The partial tables of the words the rule keeps: ``words``, ``cased``, ``bigrams``."""
        self._tokenise()
        self._compact()
        low, cased = pa.array(self._lower.strings, pa.string()), pa.array(self._cased.strings, pa.string())
        used = np.flatnonzero(self._words)
        words = pa.table({"word": low.take(used), "count": self._words[used],
                          "articles": self._articles[used]})
        used = np.flatnonzero(self._cased_counts)
        cased_table = pa.table({"word": cased.take(used), "count": self._cased_counts[used]})
        if self._pairs is None:
            keys = counts = np.zeros(0, dtype=np.int64)
        else:
            keys = self._pairs.column("key").to_numpy()
            counts = self._pairs.column("count").to_numpy()
        w1, w2 = keys >> 32, keys & 0xFFFFFFFF
        good = self._cased.values[: len(self._cased), 0] == 1
        keep = good[w1] & good[w2]
        bigrams = pa.table({"w1": cased.take(w1[keep]), "w2": cased.take(w2[keep]), "count": counts[keep]})
        return {"words": words, "cased": cased_table, "bigrams": bigrams}


class CompiledShardCounts:
    """Counters of one shard (or one spill of it), counted by the compiled kernel ``_tokencount.c``.

    Same interface and tables as :class:`ArrowShardCounts`: ``add_text(text)``, ``full(limit)``,
    ``tables()`` and ``links`` (raw link target -> occurrences, filled by the caller). Each text is
    counted at once, in one pass over its characters (see the C file's header); the classes of
    characters come from :func:`char_table` and lower-casing from ``str.lower``, so the rule stays
    Python's own. A text holding a ``_LOWER_CONTEXT`` character also passes its lower-cased form,
    whose pieces are its words (as the reference lower-cases the whole text).
    """

    def __init__(self):
        self.links = Counter()
        self._counter = _tokencount.Counter(char_table())

    def add_text(self, text: str) -> None:
        """Count one article's clean text."""
        sigma, dotted_i = _LOWER_CONTEXT
        if sigma in text or dotted_i in text:
            self._counter.add(text, normalize(text).lower())
        else:
            self._counter.add(text)

    def size(self) -> int:
        """Keys held: distinct pieces (case kept and lower-cased), pairs, raw link targets."""
        return self._counter.size() + len(self.links)

    def full(self, limit: int) -> bool:
        """True when the counters hold ``limit`` keys or more (time to spill them)."""
        return self.size() >= limit

    def tables(self) -> dict:
        """The partial tables of the words the rule keeps: ``words``, ``cased``, ``bigrams``."""
        (offsets, data), counts, articles = self._counter.words()
        words = pa.table({"word": arrays.utf8(offsets, data), "count": arrays.int64s(counts),
                          "articles": arrays.int64s(articles)})
        (offsets, data), counts = self._counter.cased()
        cased = pa.table({"word": arrays.utf8(offsets, data), "count": arrays.int64s(counts)})
        first, second, counts = self._counter.bigrams()
        bigrams = pa.table({"w1": arrays.utf8(*first), "w2": arrays.utf8(*second), "count": arrays.int64s(counts)})
        return {"words": words, "cased": cased, "bigrams": bigrams}


#: The counter ``wiki-count`` uses: compiled when installed, else Arrow (same tables).
ShardCounts = CompiledShardCounts if _tokencount is not None else ArrowShardCounts


def prepare_counter() -> None:
    """Compute once what :class:`ShardCounts` needs (a parent does it before forking its workers):
    the compiled form's :func:`char_table` (~0.1 s), or the Arrow form's :func:`arrow_rules` (~0.5 s)."""
    if ShardCounts is CompiledShardCounts:
        char_table()
    else:
        arrow_rules()
