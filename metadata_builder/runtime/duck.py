"""The one DuckDB set-up of the toolkit (out-of-core merges of partial tables).

Settings go through DuckDB's connection config, never into SQL text, and the memory limit is
parsed first: ``--memory-limit`` is a user's string.
"""

from __future__ import annotations

import os
import re

from ..errors import UserError

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_bytes(text: str) -> int:
    """``"4GB"`` -> 4,000,000,000; a malformed or too small limit is one clear line."""
    match = _MEMORY.match(str(text))
    if not match:
        raise UserError(f"--memory-limit {text!r}: not a size; write it like 4GB, 512MB or 8GiB")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value < 64 * 2**20:
        raise UserError(f"--memory-limit {text!r}: too small for DuckDB; give at least 64MB")
    return value


def connect(*, memory_limit: str = "4GB", temp_directory: str | os.PathLike, threads: int = 1):
    """A DuckDB connection capped at ``memory_limit``, spilling to ``temp_directory``."""
    import duckdb

    config = {"memory_limit": f"{memory_bytes(memory_limit) // 2**20}MiB",
              "temp_directory": os.fspath(temp_directory),
              "threads": max(1, int(threads)),
              "preserve_insertion_order": False}
    return duckdb.connect(config=config)


def errors() -> tuple:
    """DuckDB's errors (an out-of-memory or a full disk surfaces as one of these)."""
    import duckdb

    return (duckdb.Error,)
