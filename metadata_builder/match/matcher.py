"""Matching from Python: which entries a text matches, and why a near miss does not.

:class:`Matcher` wraps the fast engine of ``match`` (:class:`~.engine.Engine`, the same results
byte for byte) for notebooks and data loaders::

    from metadata_builder.match import Matcher

    m = Matcher("build/metadata.json")            # or metadata.parquet, or a list of entries
    m.match(["a dog on a hot-dog stand", None])  # [['a', 'dog', 'on', 'stand'], []]
    m.match(df["caption"])                        # a pandas Series of lists, same index
    m.match(table["TEXT"], ids=True)              # an Arrow list<int32> array of entry ids
    print(m.explain("Dog's hot-dog stand in the U.S."))

:meth:`Matcher.explain` shows the text as the recipe spaces it, every match with its position and
the source that added the entry (from ``metadata.parquet``), and the *near misses*: entries a
looser normaliser would match, each with the reason the recipe does not (case, punctuation
attached to the word, an entry holding a character texts always get spaces around, Unicode form).
"""

from __future__ import annotations

import itertools
import os
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from ..runtime import storage
from .engine import Engine
from .metadata import load_metadata, load_metadata_table
from .normalize import EXTRA_WRAPPED, OPTIONS, TO_SPACE, Normalizer, parse

#: Texts matched per engine call (bounds memory on long inputs).
CHUNK = 65_536
#: The options a near miss is tried under, one at a time, then in pairs, then all three.
_LOOSENERS = ("casefold", "separators", "nfkc")


def spaced_with_positions(normalizer: Normalizer, text: str) -> tuple[str, list | None]:
    """The spaced text (exactly ``normalizer.space_text(text)``) and, for each of its characters,
    the index of the character of ``text`` it comes from (None for an added space).

    ``casefold`` maps character by character; ``nfkc`` too for most texts (full-width letters,
    ligatures). When NFKC composes across characters (a letter and a combining accent), the
    positions are not known and the second item is None.
    """
    pieces = []
    for ch in text:
        piece = unicodedata.normalize("NFKC", ch) if normalizer.nfkc else ch
        pieces.append(piece.casefold() if normalizer.casefold else piece)
    if normalizer.nfkc and "".join(pieces) != normalizer.transform(text):
        return normalizer.space_text(text), None
    wrapped = set(normalizer.wrapped)
    chars, where = [" "], [None]
    for i, piece in enumerate(pieces):
        for c in piece:
            if c in wrapped:
                chars += [" ", c, " "]
                where += [None, i, None]
            else:
                chars.append(" " if c in TO_SPACE else c)
                where.append(i)
    chars.append(" ")
    where.append(None)
    return "".join(chars), where


def _occurrences(haystack: str, needle: str) -> list[int]:
    """Every start of ``needle`` in ``haystack``, overlapping ones included."""
    found, at = [], haystack.find(needle)
    while at >= 0:
        found.append(at)
        at = haystack.find(needle, at + 1)
    return found


def _span(where: list | None, start: int, end: int) -> tuple[int | None, int | None]:
    """The span of the original text behind spaced characters ``[start, end)``."""
    if where is None:
        return None, None
    inside = [w for w in where[start:end] if w is not None]
    return (inside[0], inside[-1] + 1) if inside else (None, None)


def _word_around(text: str, start: int | None, end: int | None, separators=()) -> tuple[int | None, int | None]:
    """``[start, end)`` grown to the word(s) of the text around it (``dog`` -> ``hot-dog``), up to
    white space or a character the recipe separates anyway (``,`` in ``Dog,``)."""
    if start is None:
        return None, None

    def inside(ch: str) -> bool:
        return not ch.isspace() and ch not in separators

    while start > 0 and inside(text[start - 1]):
        start -= 1
    while end < len(text) and inside(text[end]):
        end += 1
    return start, end


@dataclass
class Explanation:
    """What :meth:`Matcher.explain` found for one text; ``print()`` it, or use the two tables.

    Attributes
    ----------
    text, spaced : the text, and the text as the normaliser spaces it (what keys are searched in).
    normalize : the normaliser's name (``metaclip-v1`` by default).
    matches : DataFrame, one row per occurrence: ``id``, ``entry``, ``source``, ``start``, ``end``
        (the entry's span in ``text``; None under ``nfkc``), ``spaced_start`` (in ``spaced``).
    near_misses : DataFrame: ``id``, ``entry``, ``source``, ``start``, ``end``, ``found`` (the
        word(s) of the text where a looser rule matches it), ``options`` (the ``--normalize``
        options that would match it) and ``reason``.
    """

    text: str
    spaced: str
    normalize: str
    matches: "object" = field(repr=False)
    near_misses: "object" = field(repr=False)

    def __str__(self) -> str:
        lines = [f"text:   {self.text!r}", f"spaced: {self.spaced!r}  ({self.normalize})",
                 f"matches ({len(self.matches)}):"]
        for m in self.matches.itertuples(index=False):
            where = f"[{m.start}:{m.end}]" if m.start is not None and m.start == m.start else ""
            source = f"  {m.source}" if m.source is not None else ""
            lines.append(f"  {m.entry!r:<24} id {m.id:<7} {where:<10}{source}")
        lines.append(f"near misses ({len(self.near_misses)}):")
        for m in self.near_misses.itertuples(index=False):
            source = f" ({m.source})" if m.source is not None else ""
            where = f" in {m.found!r}" if m.found else ""
            lines.append(f"  {m.entry!r}{source}{where}: {m.reason}")
        return "\n".join(lines)

    __repr__ = __str__


class Matcher:
    """The metadata, compiled once, for matching texts from Python.

    Parameters
    ----------
    metadata : ``metadata.json`` (a JSON list of strings) or ``metadata.parquet`` (path or URL), or
        the entries themselves (a list or pandas Series of strings; an entry's id is its index).
        Given a path, each entry's source comes from ``metadata.parquet`` (the JSON's is read
        when it sits beside it).
    normalize : ``metaclip-v1`` (the recipe, default) or a comma-separated list of options, as
        ``match --normalize`` (:mod:`.normalize`).
    engine : ``auto`` (default), ``hash`` or ``automaton``: the same results.
    sources : with a list of entries, their sources (same length), shown by :meth:`explain`.
    """

    def __init__(self, metadata, *, normalize: str = "metaclip-v1", engine: str = "auto", sources=None):
        self.path = None
        if isinstance(metadata, (str, os.PathLike)):
            self.path = storage.canonical(metadata)
            self.entries = load_metadata(self.path)
            table = load_metadata_table(self.path, self.entries) if sources is None else None
            if table is not None and "source" in table.columns:
                sources = table["source"].tolist()
        else:
            entries = list(metadata.tolist() if hasattr(metadata, "tolist") else metadata)
            bad = next((i for i, e in enumerate(entries) if not isinstance(e, str)), None)
            if bad is not None:
                raise UserError(f"entry {bad} is {entries[bad]!r} ({type(entries[bad]).__name__}), not a string; "
                                "give a list of strings or a metadata path")
            self.entries = entries
        if sources is not None:
            sources = list(sources)
            if len(sources) != len(self.entries):
                raise UserError(f"{len(sources):,} sources for {len(self.entries):,} entries; give one source per entry")
        self.sources = sources
        self.normalizer = parse(normalize)
        self.engine = Engine(self.entries, self.normalizer, engine)
        self._values = None
        self._loose: Engine | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        where = f"{self.path!r}, " if self.path else ""
        return f"Matcher({where}{len(self):,} entries, normalize={self.normalizer.name!r}, engine={self.engine.engine!r})"

    # ---- matching --------------------------------------------------------------------------------
    def _pairs(self, texts) -> tuple[np.ndarray, np.ndarray, int]:
        """(offsets, entry ids, n) over a list of texts or an Arrow string array, by chunks."""
        import pyarrow as pa

        n = len(texts)
        offsets, ids = [np.zeros(1, np.int64)], []
        done = 0
        for first in range(0, n, CHUNK):
            chunk = texts[first:first + CHUNK]
            if isinstance(chunk, (pa.Array, pa.ChunkedArray)):
                chunk = chunk.combine_chunks() if isinstance(chunk, pa.ChunkedArray) else chunk
                text, entry = self.engine.match_arrow(chunk)
            else:
                text, entry = self.engine.match_texts([t if isinstance(t, str) else None for t in chunk])
            size = len(chunk)
            offsets.append(np.searchsorted(text, np.arange(1, size + 1)) + done)
            ids.append(np.asarray(entry, np.int32))
            done += len(entry)
        return (np.concatenate(offsets).astype(np.int64),
                np.concatenate(ids) if ids else np.zeros(0, np.int32), n)

    def _lists(self, offsets: np.ndarray, ids: np.ndarray, as_ids: bool):
        import pyarrow as pa

        if as_ids:
            values = pa.array(ids, pa.int32())
        else:
            if self._values is None:
                self._values = pa.array(self.entries, pa.string())
            values = self._values.take(pa.array(ids, pa.int32()))
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32) if offsets[-1] < 2**31 else offsets), values)

    def match(self, texts, *, ids: bool = False):
        """The entries each text matches (docs/recipe.md §2: a *set* per text, in id order).

        Parameters
        ----------
        texts : one ``str``; a list, tuple or numpy array of texts (None or a non-string matches
            nothing); a pandas Series; a pyarrow string array or chunked array.
        ids : entry ids (int32, the metadata's indexes) instead of entry strings.

        Returns
        -------
        A list for one ``str``; a list of lists for a list; a Series of lists with the same index
        for a Series; a pyarrow ``list<string>`` (``list<int32>`` with ``ids``) array for Arrow
        input, a chunked one for a chunked array. A null text gives an empty list.
        """
        import pyarrow as pa

        if isinstance(texts, str):
            return self.match([texts], ids=ids)[0]
        if isinstance(texts, pa.ChunkedArray):
            return pa.chunked_array([self.match(chunk, ids=ids) for chunk in texts.chunks],
                                    pa.list_(pa.int32() if ids else pa.string()))
        if isinstance(texts, pa.Array):
            if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
                raise UserError(f"an Arrow array of {texts.type} is not text; give a string array")
            return self._lists(*self._pairs(texts)[:2], ids)
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a dependency
            pd = None
        if pd is not None and isinstance(texts, pd.Series):
            lists = self._lists(*self._pairs(texts.tolist())[:2], ids).to_pylist()
            return pd.Series(lists, index=texts.index, name=texts.name, dtype=object)
        values = texts.tolist() if isinstance(texts, np.ndarray) else list(texts)
        return self._lists(*self._pairs(values)[:2], ids).to_pylist()

    # ---- explaining ------------------------------------------------------------------------------
    def _source(self, entry_id: int):
        return self.sources[entry_id] if self.sources is not None else None

    def _loose_engine(self) -> Engine:
        """The same entries under the loosest options the near misses are looked for with (built
        on the first :meth:`explain`: a second compile of the metadata, ~2 s for 500k entries)."""
        if self._loose is None:
            options = [o for o in OPTIONS if o in self.normalizer.name.split(",")] + list(_LOOSENERS)
            engine = "automaton" if not self.normalizer.space_padded else "auto"
            self._loose = Engine(self.entries, parse(",".join(dict.fromkeys(options))), engine)
        return self._loose

    def _with(self, extra: tuple[str, ...]) -> Normalizer:
        base = [o for o in self.normalizer.name.split(",") if o in OPTIONS]
        return parse(",".join(dict.fromkeys(base + list(extra))))

    def explain(self, text: str) -> Explanation:
        """Why ``text`` matches what it matches, and why its near misses do not.

        Each match is listed with its span in ``text`` and its source. A *near miss* is an entry
        the text would match with ``--normalize casefold``, ``separators`` or ``nfkc`` (alone or
        combined); its reason names what keeps the recipe from matching it: the case (``Dog``),
        punctuation attached to the word (``hot-dog``, ``Dog's``: ``-`` and ``'`` are not
        separators), an entry holding one of ``, . ; : ? ! ` `` glued to a neighbour (``U.S.``:
        texts always get spaces around those, so it can never match), or the Unicode form.
        """
        import pandas as pd

        if not isinstance(text, str):
            raise UserError(f"explain() takes one text (a str), not {type(text).__name__}")
        norm = self.normalizer
        spaced, where = spaced_with_positions(norm, text)
        matched = self.match([text], ids=True)[0]
        rows = []
        for e in matched:
            key = norm.key(self.entries[e])
            lead, trail = int(key.startswith(" ")), int(key.endswith(" "))
            for at in _occurrences(spaced, key):
                start, end = _span(where, at + lead, at + len(key) - trail)
                rows.append({"id": int(e), "entry": self.entries[e], "source": self._source(e),
                             "start": start, "end": end, "spaced_start": at + lead})
        matches = pd.DataFrame(rows, columns=["id", "entry", "source", "start", "end", "spaced_start"])
        matches = matches.sort_values(["spaced_start", "id"], kind="stable").reset_index(drop=True)

        strict = set(int(e) for e in matched)
        text_ids, entry_ids = self._loose_engine().match_texts([text])
        misses = []
        for e in sorted(set(int(e) for e in entry_ids) - strict):
            misses += self._near_misses(text, e)
        near = pd.DataFrame(misses, columns=["id", "entry", "source", "start", "end", "found", "options", "reason"])
        near = near.sort_values(["start", "id"], kind="stable", na_position="last").reset_index(drop=True)
        return Explanation(text, spaced, norm.name, matches, near)

    def _near_misses(self, text: str, e: int) -> list[dict]:
        """Where looser options match entry ``e`` in ``text``: one row per word of the text, with
        the fewest options that match it there and the reason in words."""
        entry = self.entries[e]
        missing = [o for o in _LOOSENERS if o not in self.normalizer.name.split(",")]
        found: dict = {}
        for size in range(1, len(missing) + 1):
            for extra in itertools.combinations(missing, size):
                norm = self._with(extra)
                key = norm.key(entry)
                spaced, where = spaced_with_positions(norm, text)
                lead, trail = int(key.startswith(" ")), int(key.endswith(" "))
                for at in _occurrences(spaced, key):
                    span = _word_around(text, *_span(where, at + lead, at + len(key) - trail),
                                        separators=self.normalizer.wrapped)
                    if span[0] is None and found:  # (positions unknown: only when nothing else says where)
                        continue
                    found.setdefault(span, extra)
        rows = []
        for (start, end), extra in sorted(found.items(), key=lambda item: (item[0][0] is None, item[0][0] or 0)):
            word = text[start:end] if start is not None else ""
            rows.append({"id": e, "entry": entry, "source": self._source(e), "start": start, "end": end,
                         "found": word, "options": ",".join(extra), "reason": self._reason(entry, word, extra)})
        return rows

    def _reason(self, entry: str, found: str, extra: tuple[str, ...]) -> str:
        parts = []
        found = found or "it"  # (where is unknown when NFKC composes across characters)
        glued = self.normalizer.unmatchable(entry)
        if glued is not None:
            parts.append(f"the entry holds {glued!r} glued to a neighbour, and texts always get spaces around "
                         f"{glued!r}: it can never match (--normalize separators spaces entries too)")
        if "casefold" in extra:
            parts.append(f"case: the text writes {found!r} and matching is case-sensitive (--normalize casefold)"
                         .replace("'it'", "it"))
        if "separators" in extra and glued is None:
            attached = "".join(dict.fromkeys(ch for ch in found if ch in EXTRA_WRAPPED))
            what = " and ".join(repr(ch) for ch in attached) or "punctuation"
            parts.append(f"attached punctuation: in {found!r}, {what} is not a separator, so {entry!r} is not "
                         "a word of the spaced text (--normalize separators)")
        if "nfkc" in extra:
            parts.append(f"Unicode form: the text writes {found!r} in another form (--normalize nfkc)".replace("'it'", "it"))
        return "; ".join(parts)


__all__ = ["Explanation", "Matcher", "spaced_with_positions"]
