"""Dead entries: metadata entries that no text can ever match under the ``metaclip-v1`` normaliser.

The normaliser (docs/recipe.md §2) spaces every text as ``" " + text + " "`` with each of the 7 characters
``, . ; : ? ! ` `` wrapped in one space on each side and ``\\t \\n \\r`` turned into spaces; an entry
matches when ``" " + entry + " "`` occurs in it. In a spaced text every wrapped character therefore
has a space on both sides, and two wrapped characters are at least two spaces apart; and it holds
no tab or line break. An entry whose padded form breaks one of these can never match: ``U.S.``,
``st. louis``, ``3.5``, ``what?`` are dead; ``a . b`` (already spaced) is not, though it is rare.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metadata_builder.match.normalize import unmatchable_char


def is_dead(entry: str) -> bool:
    """True when ``entry`` can never match any text under the ``metaclip-v1`` normaliser."""
    return unmatchable_char(entry) is not None


def dead_entries(entries) -> np.ndarray:
    """Boolean mask over ``entries`` (a sequence or Series of strings): which can never match."""
    return np.fromiter((is_dead(str(e)) for e in entries), dtype=bool, count=len(entries))


def dead_reason(entry: str) -> str:
    """Which wrapped character (or control character) kills ``entry``; empty when it can match."""
    char = unmatchable_char(entry)
    return "" if char is None else repr(char)


def dead_table(metadata: pd.DataFrame) -> pd.DataFrame:
    """The dead entries of ``metadata`` with the character that kills each: id, entry, source, char."""
    mask = dead_entries(metadata["entry"])
    rows = metadata.loc[mask, ["id", "entry", "source"]].copy()
    rows["char"] = [dead_reason(e) for e in rows["entry"]]
    return rows.reset_index(drop=True)
