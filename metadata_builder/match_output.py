"""Read what ``metadata-builder match`` wrote: the contract ``balance`` and ``report`` rely on.

A match folder ``DIR`` holds

- ``manifest.json``: ``{"format_version": 1, "metadata": {"path", "sha256", "entries"},
  "normalize", "text_column", "id_column", "shards": [{"name", "path", "format", "rows"}, ...]}``,
  shards in sorted pool-path order;
- ``shards/SHARD.parquet``: one row per text with at least one match (unmatched texts are dropped,
  as the published recipe drops them), columns ``row`` (int64, the text's 0-based row in its pool
  file), ``id`` (only with ``--id-column``) and ``entry_ids`` (list<int32>, sorted, distinct), rows
  in pool order; ``shards/SHARD.done.json`` is written last and marks the shard complete;
- ``entry_counts.npy`` (uint64, one count per metadata entry: texts whose set contains it),
  ``entry_counts.json`` (``{entry: count}``, the format MetaCLIP released) and ``stats.json``.

Everything downstream needs nothing but ``DIR``::

    out = MatchOutput("build/match")
    out.counts            # np.ndarray uint64, one per entry
    for shard, df in out.iter_shards():
        ...
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np

from . import storage
from .errors import UserError

FORMAT_VERSION = 1


def text_key(shard_name: str, row: int) -> str:
    """The stable identity of one text: its shard's name and its 0-based row in the pool file.

    Shard names derive from the sorted pool paths (``00000-test_10000``), not from processing
    order, so the key is the same whatever the worker count. An ``id`` column, when the pool has
    one, is kept as data beside it; it is not trusted to be unique.
    """
    return f"{shard_name}:{int(row)}"


def shard_parquet(out_dir: str | Path, name: str) -> Path | str:
    """``DIR/shards/NAME.parquet``: a Path for a local folder, a URL string for object storage."""
    return storage.under(out_dir, "shards", f"{name}.parquet")


def shard_marker(out_dir: str | Path, name: str) -> Path | str:
    return storage.under(out_dir, "shards", f"{name}.done.json")


class MatchOutput:
    """A finished (or partly finished) match folder, read lazily.

    Parameters
    ----------
    path : the ``--out`` folder of ``metadata-builder match``: a local folder (``self.path`` is a
        Path) or a URL such as ``s3://bucket/match`` (``self.path`` is that string).
    """

    def __init__(self, path: str | Path):
        self.path = storage.under(path)
        manifest = storage.under(self.path, "manifest.json")
        if not storage.is_file(manifest):
            raise UserError(f"{manifest}: missing; {self.path} is not a match folder "
                            "(run 'metadata-builder match ... --out DIR' first)")
        try:
            self.manifest: dict = json.loads(storage.read_text(manifest))
        except (OSError, ValueError) as exc:
            raise UserError(f"{manifest}: unreadable ({exc}); rerun the match") from None
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise UserError(f"{manifest}: format_version {self.manifest.get('format_version')!r}, "
                            f"expected {FORMAT_VERSION}; rerun the match with this version")

    def __repr__(self) -> str:
        return f"MatchOutput({str(self.path)!r}, shards={len(self.shards)}, entries={self.n_entries})"

    @property
    def shards(self) -> list[dict]:
        """Shard dicts ``{"name", "path", "format", "rows"}`` in the manifest's (sorted) order."""
        return self.manifest["shards"]

    @property
    def n_entries(self) -> int:
        return int(self.manifest["metadata"]["entries"])

    @cached_property
    def counts(self) -> np.ndarray:
        """uint64 array: ``counts[e]`` = number of texts whose matched set contains entry ``e``."""
        path = storage.under(self.path, "entry_counts.npy")
        if not storage.is_file(path):
            raise UserError(f"{path}: missing; the match run did not finish (rerun it to resume)")
        return storage.load_numpy(path).astype(np.uint64, copy=False)

    @cached_property
    def entries(self) -> list[str]:
        """The metadata entries (id = index), read from the file the manifest names."""
        path = self.manifest["metadata"]["path"]
        try:
            entries = json.loads(storage.read_text(path))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read the metadata this match used ({exc})") from None
        if len(entries) != self.n_entries:
            raise UserError(f"{path}: has {len(entries)} entries, the match used {self.n_entries}; "
                            "the metadata changed since the match, rerun it")
        return entries

    @cached_property
    def stats(self) -> dict:
        return json.loads(storage.read_text(storage.under(self.path, "stats.json")))

    def is_complete(self, name: str) -> bool:
        return storage.is_file(shard_marker(self.path, name))

    def read_shard(self, name: str, columns: list[str] | None = None):
        """One shard's matched texts as a DataFrame (``row``, [``id``], ``entry_ids``)."""
        import pandas as pd

        if not self.is_complete(name):
            raise UserError(f"{shard_marker(self.path, name)}: missing; shard {name} did not finish "
                            "(rerun the match to resume)")
        path = shard_parquet(self.path, name)
        if storage.is_local(path):
            return pd.read_parquet(path, columns=columns)
        return storage.read_parquet(path, columns=columns)

    def iter_shards(self, columns: list[str] | None = None) -> Iterator[tuple[dict, "object"]]:
        """Yield ``(shard_dict, DataFrame)`` for every shard, in manifest order."""
        for shard in self.shards:
            yield shard, self.read_shard(shard["name"], columns)
