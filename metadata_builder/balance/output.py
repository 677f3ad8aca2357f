"""Read what ``metadata-builder balance`` wrote (the report and notebooks use this, nothing else).

A balance folder ``OUT`` holds ``curated/`` (the curated rows: parquet files only, one schema, read
it as one table with any parquet reader or hand it to img2dataset), ``online/`` (every candidate
with its keep probability), ``audit/`` (with ``--audit``: every pool text and why it was kept or
dropped), ``entries/`` (per-shard per-entry counts), ``stats.json``, ``entry_counts.npy`` (the
counts p[e] came from), ``entry_kept.npy``, ``entry_expected_kept.npy``, and ``_job/``.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..runtime import shards as jobs
from ..runtime import storage

RERUN = "rerun the same 'metadata-builder balance' command to finish it"


class BalanceOutput:
    """A finished balance folder: its stats, per-entry kept and expected counts, and curated rows."""

    def __init__(self, path: str | Path):
        self.path = storage.under(path)
        if jobs.job_settings(self.path) is None:
            raise UserError(f"{self.path}: not a balance folder (no {jobs.JOB_DIR}/settings.json); "
                            "give the --out folder of 'metadata-builder balance'")
        self.record = jobs.require_complete(self.path, "balance", RERUN)

    def __repr__(self) -> str:
        return f"BalanceOutput({str(self.path)!r})"

    @property
    def match_key(self) -> str:
        """The key of the match this balance was made from."""
        return str(self.record.get("match"))

    @cached_property
    def stats(self) -> dict:
        return json.loads(storage.read_text(storage.under(self.path, "stats.json")))

    def _array(self, name: str, dtype) -> np.ndarray:
        path = storage.under(self.path, name)
        try:
            return storage.load_numpy(path).astype(dtype, copy=False)
        except (OSError, ValueError, EOFError, UserError) as exc:
            raise UserError(f"{path}: unreadable ({exc}); {RERUN}") from None

    @property
    def per_image(self) -> bool:
        return bool(self.stats.get("per_image"))

    @property
    def unit(self) -> str:
        """What was kept: ``"texts"``, or ``"images"`` with ``--per-image``."""
        return str(self.stats.get("unit") or ("images" if self.per_image else "texts"))

    @cached_property
    def counts(self) -> np.ndarray | None:
        """uint64 per entry: the counts p[e] came from (the match's, or over the chosen texts with
        ``--count-over images``); None for a folder written before they were recorded."""
        if not storage.is_file(storage.under(self.path, "entry_counts.npy")):
            return None
        return self._array("entry_counts.npy", np.uint64)

    def candidates(self) -> dict:
        """``{shard name: sorted rows}`` of the candidate texts (with ``--per-image``: the chosen
        text of each image), from ``online/``."""
        out: dict = {}
        for name in storage.listdir(storage.under(self.path, "online")):
            if name.endswith(".parquet"):
                path = storage.under(self.path, "online", name)
                table = storage.read_table(path, columns=["row"])
                out[name[: -len(".parquet")]] = np.sort(table["row"].to_numpy().astype(np.int64))
        return out

    @cached_property
    def kept(self) -> np.ndarray:
        """uint64 per entry: curated texts whose matched set contains it."""
        return self._array("entry_kept.npy", np.uint64)

    @cached_property
    def expected_kept(self) -> np.ndarray:
        """float64 per entry: expected curated texts whose matched set contains it."""
        return self._array("entry_expected_kept.npy", np.float64)

    @property
    def curated_folder(self):
        """The folder of curated parquet files (the pool's columns + ``shard``, ``row``,
        ``keep_probability``): one table for pandas, pyarrow.dataset, DuckDB or HF datasets."""
        return storage.under(self.path, "curated")

    @property
    def audit_folder(self):
        """The folder of audit parquet files (``balance --audit``), one row per pool text."""
        return storage.under(self.path, "audit")
