"""Read what ``metadata-builder balance`` wrote (the report and notebooks use this, nothing else)."""

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
        """The folder of curated parquet files (the pool's columns + ``row``, ``keep_probability``)."""
        return storage.under(self.path, "shards")
