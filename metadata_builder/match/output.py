"""The match folder: what ``metadata-builder match`` writes, and the one reader ``balance``, ``report``
and notebooks use.

A match folder ``DIR`` holds

- ``manifest.json``: ``{"format_version", "metadata": {"path", "sha256" (of the file), "entries_sha256"
  (of the entries, :func:`entries_digest`), "entries"}, "normalize",
  "id_column", "shards": [{"name", "path", "format", "text_column", "header", "rows", ...}]}``,
  shards in sorted pool-path order, each with the text column *as resolved* on that file (so
  nothing downstream probes the pool again);
- ``shards/SHARD.parquet``: one row per text with at least one match (unmatched texts are dropped,
  as the published recipe drops them), columns ``row`` (int64, the text's 0-based row in its pool
  file), ``id`` (only with ``--id-column``) and ``entry_ids`` (list<int32>, sorted, distinct), rows
  in pool order;
- ``entry_counts.npy`` (uint64, one count per metadata entry: texts whose set contains it),
  ``entry_counts.json`` (``{entry: count}``, the format MetaCLIP released) and ``stats.json``;
- ``_job/``: the run's bookkeeping (:mod:`metadata_builder.runtime.shards`); its
  ``complete.json`` is written last, and :class:`MatchOutput` refuses a folder without it.

A **per-language match** (``--lang-id`` / ``--lang-column``, Meta CLIP 2) differs in this way:

- ``manifest.json`` gains ``"languages": {"source" (the model and its sha256, or the column),
  "map_sha256", "groups": [{"lang", "paths" (the list's files), "sha256", "entries_sha256",
  "entries", "offset"}]}``, languages sorted by code, only those present in the pool (the group
  ``other`` holds texts whose language has no list, with 0 entries unless ``other.json`` exists);
  ``metadata`` holds ``per_language`` and the total ``entries``;
- shards gain a ``lang`` column (dictionary string) after ``row``/``id`` (then ``entry_ids``,
  ``text_hash``); ``entry_ids`` index the text's own language's list (as MetaCLIP's per-language
  ids do);
- counts are ``entry_counts/{lang}.npy`` and ``entry_counts/{lang}.json``, one pair per language
  (no top-level ``entry_counts.*``); ``stats.json`` gains ``languages`` (per language: texts,
  matched texts, matches, entries, entries matched, its matcher's engine, size and build time) and
  ``language_id`` (labels found, CPU time);
- ``languages/``: the language-ID job (``shards/SHARD.parquet``: the raw label ``lid`` of every pool
  row, and ``lid_score`` for a model).

Readers see one **entry space** either way: a language's entry ``i`` is global entry
``offset + i``, so :attr:`MatchOutput.counts`, :meth:`MatchOutput.entry_ids` and
:attr:`MatchOutput.entries` are the languages' arrays laid end to end, and balancing, expected
sizes and reports work on them unchanged (with per-language p where they need it).

Everything downstream needs nothing but ``DIR``::

    out = MatchOutput("build/match")
    out.counts                         # np.ndarray uint64, one per entry (all languages)
    rows, offsets, ids = out.entry_ids(out.shards[0]["name"])
    out.language_slices                # {"en": slice(0, 86809), "ja": slice(86809, ...), ...}
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import UserError
from ..runtime import shards as jobs
from ..runtime import storage

FORMAT_VERSION = 2
RERUN = "rerun the same 'metadata-builder match' command to finish it"


def text_key(shard_name: str, row: int) -> str:
    """The stable identity of one text: its shard's name and its 0-based row in the pool file.

    Shard names derive from the sorted pool paths (``00000-test_10000``), not from processing
    order, so the key is the same whatever the worker count. An ``id`` column, when the pool has
    one, is kept as data beside it; it is not trusted to be unique.
    """
    return f"{shard_name}:{int(row)}"


def entries_digest(entries) -> str:
    """sha256 of the metadata's entries in id order: what identifies a metadata list, whatever the
    file it was read from (JSON spacing, or the ``entry`` column of ``metadata.parquet``)."""
    import hashlib

    text = json.dumps(list(entries), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shard_parquet(out_dir: str | Path, name: str) -> Path | str:
    """``DIR/shards/NAME.parquet``: a Path for a local folder, a URL string for object storage."""
    return storage.under(out_dir, "shards", f"{name}.parquet")


def flatten_lists(entry_ids) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, ids)`` of an Arrow list column: text i's entries are ``ids[offsets[i]:offsets[i+1]]``."""
    import pyarrow as pa

    if isinstance(entry_ids, pa.ChunkedArray):
        entry_ids = entry_ids.combine_chunks()
    offsets = entry_ids.offsets.to_numpy().astype(np.int64)
    ids = entry_ids.values.to_numpy()[offsets[0]:offsets[-1]]
    return offsets - offsets[0], ids.astype(np.int64, copy=False)


def global_entry_ids(table, langs: Sequence[str], lang_offsets) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, ids)`` of a per-language shard table (``lang``, ``entry_ids``), ids made global:
    each text's ids plus the offset of its language (``langs[i]`` starts at ``lang_offsets[i]``)."""
    offsets, ids = flatten_lists(table["entry_ids"])
    start = lang_start(table, langs, lang_offsets)
    return offsets, ids + np.repeat(start, np.diff(offsets))


def text_groups(table, langs: Sequence[str]) -> np.ndarray:
    """The index into ``langs`` of every text of a per-language shard table."""
    import pyarrow as pa

    column = table.select(["lang"]).unify_dictionaries()["lang"].combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    position = {lang: i for i, lang in enumerate(langs)}
    try:
        lookup = np.array([position[v] for v in column.dictionary.to_pylist()] or [0], dtype=np.int64)
    except KeyError as exc:
        raise UserError(f"a shard names language {exc.args[0]!r}, which its manifest does not list; {RERUN}") from None
    return lookup[column.indices.to_numpy(zero_copy_only=False)]


def lang_start(table, langs: Sequence[str], lang_offsets) -> np.ndarray:
    return np.asarray(lang_offsets, dtype=np.int64)[text_groups(table, langs)]


class MatchOutput:
    """A finished match folder, read lazily.

    Parameters
    ----------
    path : the ``--out`` folder of ``metadata-builder match``: a local folder (``self.path`` is a
        Path) or a URL such as ``s3://bucket/match`` (``self.path`` is that string).
    """

    def __init__(self, path: str | Path):
        self.path = storage.under(path)
        manifest = storage.under(self.path, "manifest.json")
        if not storage.is_file(manifest) and jobs.job_settings(self.path) is None:
            raise UserError(f"{manifest}: missing; {self.path} is not a match folder "
                            "(run 'metadata-builder match ... --out DIR' first)")
        self.record = jobs.require_complete(self.path, "match", RERUN)
        try:
            self.manifest: dict = json.loads(storage.read_text(manifest))
        except (OSError, ValueError, UserError) as exc:
            raise UserError(f"{manifest}: unreadable ({exc}); {RERUN}") from None
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise UserError(f"{manifest}: format_version {self.manifest.get('format_version')!r}, "
                            f"expected {FORMAT_VERSION}; rerun the match with this version")

    def __repr__(self) -> str:
        return f"MatchOutput({str(self.path)!r}, shards={len(self.shards)}, entries={self.n_entries})"

    @property
    def shards(self) -> list[dict]:
        """Shard dicts (``name``, ``path``, ``format``, ``text_column``, ``rows``...) in manifest order."""
        return self.manifest["shards"]

    @property
    def n_entries(self) -> int:
        """Entries of the match's entry space (all languages' lists, end to end)."""
        return int(self.manifest["metadata"]["entries"])

    @property
    def languages(self) -> list[dict]:
        """Per-language match: the languages (``lang``, ``paths``, ``entries``, ``offset``...) in order;
        ``[]`` for a match without languages."""
        return (self.manifest.get("languages") or {}).get("groups", [])

    @property
    def language_names(self) -> list[str]:
        return [g["lang"] for g in self.languages]

    @property
    def language_slices(self) -> dict[str, slice]:
        """``{lang: slice}`` of each language's entries in the entry space (:attr:`counts`, ids)."""
        return {g["lang"]: slice(g["offset"], g["offset"] + g["entries"]) for g in self.languages}

    @property
    def language_stats(self) -> dict[str, dict]:
        """Per language: texts (matched or not), matched texts, matches, entries, entries matched."""
        return self.stats.get("languages", {})

    @property
    def key(self) -> str:
        """What identifies this match's results (its job's settings key): balance records it."""
        return str(self.record.get("key"))

    def _load_counts(self, path, n: int) -> np.ndarray:
        try:
            counts = storage.load_numpy(path)
        except (OSError, ValueError, EOFError, UserError) as exc:
            raise UserError(f"{path}: unreadable ({exc}); {RERUN}") from None
        if counts.shape != (n,):
            raise UserError(f"{path}: holds {counts.shape} counts for {n} entries; {RERUN}")
        return counts.astype(np.uint64, copy=False)

    @cached_property
    def counts(self) -> np.ndarray:
        """uint64 array: ``counts[e]`` = number of texts whose matched set contains entry ``e``
        (per-language match: every language's counts, end to end; see :attr:`language_slices`)."""
        if self.languages:
            parts = [self.counts_for(g["lang"]) for g in self.languages]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
        return self._load_counts(storage.under(self.path, "entry_counts.npy"), self.n_entries)

    def counts_for(self, lang: str) -> np.ndarray:
        """One language's counts (ids of its own list), from ``entry_counts/{lang}.npy``."""
        group = next((g for g in self.languages if g["lang"] == lang), None)
        if group is None:
            raise UserError(f"{self.path}: no language {lang!r} in this match "
                            f"(languages: {', '.join(self.language_names) or 'none'})")
        return self._load_counts(storage.under(self.path, "entry_counts", f"{lang}.npy"), group["entries"])

    @cached_property
    def entries(self) -> list[str]:
        """The metadata entries (id = index), read from the file(s) the manifest names."""
        if self.languages:
            from .metadata import load_language

            entries: list[str] = []
            for group in self.languages:
                part = load_language(group["paths"]) if group["paths"] else []
                if len(part) != group["entries"]:
                    raise UserError(f"{group['paths'][0]}: has {len(part)} entries, the match used "
                                    f"{group['entries']}; the metadata changed since the match, rerun it")
                entries += part
            return entries
        from .metadata import load_metadata

        path = self.manifest["metadata"]["path"]
        try:
            entries = load_metadata(path)
        except UserError as exc:
            raise UserError(f"cannot read the metadata this match used: {exc}") from None
        if len(entries) != self.n_entries:
            raise UserError(f"{path}: has {len(entries)} entries, the match used {self.n_entries}; "
                            "the metadata changed since the match, rerun it")
        return entries

    @cached_property
    def stats(self) -> dict:
        return json.loads(storage.read_text(storage.under(self.path, "stats.json")))

    @property
    def texts(self) -> int:
        """Texts in the pool (matched or not)."""
        return sum(int(s.get("rows") or 0) for s in self.shards)

    @cached_property
    def matched_texts(self) -> int:
        """Texts with at least one match (rows of all shards), from the shards' parquet footers."""
        return sum(storage.parquet_file(shard_parquet(self.path, s["name"])).metadata.num_rows
                   for s in self.shards)

    def shard(self, name: str) -> dict:
        for shard in self.shards:
            if shard["name"] == name:
                return shard
        raise UserError(f"{self.path}: no shard {name!r}")

    def table(self, name: str, columns: Sequence[str] | None = None):
        """One shard's matched texts as a pyarrow table (``row``, [``id``], ``entry_ids``)."""
        path = shard_parquet(self.path, name)
        try:
            return storage.read_table(path, columns=None if columns is None else list(columns))
        except (OSError, ValueError, UserError) as exc:
            raise UserError(f"{path}: unreadable ({exc}); delete it and {RERUN}") from None
        except Exception as exc:  # pyarrow's errors on a damaged file
            raise UserError(f"{path}: unreadable ({type(exc).__name__}: {exc}); delete it and {RERUN}") from None

    def entry_ids(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, offsets, ids)`` of one shard: text ``rows[i]`` matched ``ids[offsets[i]:offsets[i+1]]``
        (ids in the entry space: a per-language match's ids plus their language's offset)."""
        if self.languages:
            table = self.table(name, ["row", "lang", "entry_ids"])
            offsets, ids = global_entry_ids(table, self.language_names, [g["offset"] for g in self.languages])
        else:
            table = self.table(name, ["row", "entry_ids"])
            offsets, ids = flatten_lists(table["entry_ids"])
        return table["row"].to_numpy().astype(np.int64), offsets, ids

    def text_languages(self, name: str) -> np.ndarray:
        """Per-language match: the index into :attr:`language_names` of every matched text of a shard."""
        return text_groups(self.table(name, ["lang"]), self.language_names)

    def read_shard(self, name: str, columns: list[str] | None = None):
        """One shard's matched texts as a DataFrame (``row``, [``id``], ``entry_ids``)."""
        return self.table(name, columns).to_pandas()

    def iter_shards(self, columns: list[str] | None = None) -> Iterator[tuple[dict, "object"]]:
        """Yield ``(shard_dict, DataFrame)`` for every shard, in manifest order."""
        for shard in self.shards:
            yield shard, self.read_shard(shard["name"], columns)
