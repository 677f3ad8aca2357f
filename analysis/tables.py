"""Tables of a matched pool: head/tail split (the paper's Table 2), top entries (Table 3), per source.

Inputs are plain: ``counts`` (one match count per metadata entry, ``MatchOutput.counts``) and the
metadata table (``metadata.parquet``: ``id``, ``entry``, ``source``, ...). Every table has an
``all`` row or adds up to the totals, so a reader can check it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metadata_builder.errors import UserError

from .curves import as_counts
from .dead import dead_entries


def head_tail_table(counts, t: int) -> pd.DataFrame:
    """Entries never matched, in the tail (``1 <= count < t``), at t (``count = t``) and in the head
    (``count > t``): the paper's definitions (docs/recipe.md §3.2).

    The tail share the paper tunes t by is the tail row's ``matches_share``. Entries at t are kept
    whole like the tail (``p = t / max(count, t) = 1``) but are not part of it; head entries are
    sub-sampled (each keeps at least ``t`` texts in expectation, more through the texts it shares
    with other entries). Columns: ``entries``, ``entries_share``, ``matches``, ``matches_share``;
    the four rows add up to the ``all`` row.
    """
    c = as_counts(counts)
    groups = {
        "never matched (count = 0)": c == 0,
        f"tail (1 <= count < {t:,})": (c >= 1) & (c < t),
        f"at t (count = {t:,}, kept whole)": (c == t) & (c > 0),
        f"head (count > {t:,})": c > t,
    }
    total_entries, total_matches = len(c), int(c.sum())
    rows = []
    for name, mask in list(groups.items()) + [("all", np.ones(len(c), bool))]:
        n, m = int(mask.sum()), int(c[mask].sum())
        rows.append({"group": name, "entries": n, "entries_share": n / max(total_entries, 1),
                     "matches": m, "matches_share": m / max(total_matches, 1)})
    return pd.DataFrame(rows).set_index("group")


def top_entries(counts, metadata: pd.DataFrame, k: int = 20, *, t: int | None = None, expected_kept=None,
                kept=None) -> pd.DataFrame:
    """The ``k`` most matched entries (Table 3), ties broken by id: rank, id, entry, source, count, share.

    With ``expected_kept`` (exact expected kept texts per entry at ``t``) and ``kept`` (what a
    balance run kept), also ``kept_expected``, ``kept_expected_over_t`` and ``kept``, ``kept_over_t``:
    how far balancing brought each top entry down.
    """
    c = as_counts(counts)
    order = np.lexsort((np.arange(len(c)), -c))[:k]
    meta = _by_id(metadata, len(c))
    table = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "id": order,
        "entry": meta["entry"].to_numpy()[order],
        "source": meta["source"].to_numpy()[order],
        "count": c[order],
        "share": c[order] / max(int(c.sum()), 1),
    })
    if expected_kept is not None:
        table["kept_expected"] = np.asarray(expected_kept, dtype=np.float64)[order]
        if t:
            table["kept_expected_over_t"] = table["kept_expected"] / t
    if kept is not None:
        table["kept"] = np.asarray(kept, dtype=np.int64)[order]
        if t:
            table["kept_over_t"] = table["kept"] / t
    return table.set_index("rank")


def head_vs_t(counts, t: int, expected_kept, kept=None) -> pd.DataFrame:
    """How close balancing brings head entries (``count > t``) to t: kept / t before and after.

    Rows: ``before balancing (count / t)``, ``after, expected (E[kept] / t)`` and, with ``kept``
    (a balance run), ``after, sampled (kept / t)``. Columns: ``head_entries``, ``median``,
    ``p90``, ``max``, ``above_1_1t`` (share of head entries ending above 1.1 t) and
    ``kept_share`` (kept texts of the head entries over their matched texts). Alone, a head entry
    would keep t texts in expectation (ratio 1); it keeps more through the texts it shares with
    entries that won their draw.
    """
    c = as_counts(counts)
    head = c > t
    rows = {"before balancing (count / t)": c[head].astype(np.float64),
            "after, expected (E[kept] / t)": np.asarray(expected_kept, dtype=np.float64)[head]}
    if kept is not None:
        rows["after, sampled (kept / t)"] = np.asarray(kept, dtype=np.float64)[head]
    out = []
    total = max(float(c[head].sum()), 1.0)
    for name, values in rows.items():
        ratio = values / t
        out.append({"": name, "head_entries": int(head.sum()),
                    "median": float(np.median(ratio)) if len(ratio) else np.nan,
                    "p90": float(np.quantile(ratio, 0.9)) if len(ratio) else np.nan,
                    "max": float(ratio.max()) if len(ratio) else np.nan,
                    "above_1_1t": float((ratio > 1.1).mean()) if len(ratio) else np.nan,
                    "kept_share": float(values.sum()) / total})
    return pd.DataFrame(out).set_index("")


def worst_head_entries(counts, metadata: pd.DataFrame, t: int, expected_kept, kept=None, k: int = 10) -> pd.DataFrame:
    """The ``k`` head entries that end farthest above t after balancing (by expected kept / t):
    entry, source, count, count / t, expected kept, expected kept / t, [kept, kept / t], and the
    share of the entry's texts that stay."""
    c = as_counts(counts)
    meta = _by_id(metadata, len(c))
    expected = np.asarray(expected_kept, dtype=np.float64)
    head = np.flatnonzero(c > t)
    order = head[np.lexsort((head, -expected[head]))][:k]
    table = pd.DataFrame({"id": order, "entry": meta["entry"].to_numpy()[order],
                          "source": meta["source"].to_numpy()[order], "count": c[order],
                          "count_over_t": c[order] / t, "kept_expected": expected[order],
                          "kept_expected_over_t": expected[order] / t})
    if kept is not None:
        table["kept"] = np.asarray(kept, dtype=np.int64)[order]
        table["kept_over_t"] = table["kept"] / t
    table["kept_share"] = expected[order] / np.maximum(c[order], 1)
    return table


def source_breakdown(counts, metadata: pd.DataFrame, t: int) -> pd.DataFrame:
    """What each source contributes: entries, entries ever matched, dead and zero-match entries, matches, head entries.

    Each entry belongs to the one source that added it first (``metadata.parquet``), so the
    source rows add up to the ``all`` row. ``dead`` entries can never match under the
    ``metaclip-v1`` normaliser (:func:`analysis.dead.dead_entries`); ``zero_match`` counts the
    entries with count 0 (dead ones included).
    """
    c = as_counts(counts)
    meta = _by_id(metadata, len(c))
    dead = dead_entries(meta["entry"])
    frame = pd.DataFrame({
        "source": meta["source"].to_numpy(),
        "entries": 1,
        "matched_entries": (c > 0).astype(np.int64),
        "zero_match": (c == 0).astype(np.int64),
        "dead": dead.astype(np.int64),
        "matches": c,
        "head_entries": (c > t).astype(np.int64),
        "head_matches": np.where(c > t, c, 0),
    })
    order = [s for s in _SOURCE_ORDER if s in set(frame["source"])]
    order += sorted(set(frame["source"]) - set(order))
    table = frame.groupby("source", sort=False).sum().reindex(order)
    table.loc["all"] = table.sum()
    table["matches_share"] = table["matches"] / max(int(c.sum()), 1)
    return table.astype({col: "int64" for col in table.columns if col != "matches_share"})


def dead_entry_examples(counts, metadata: pd.DataFrame, per_source: int = 5) -> pd.DataFrame:
    """A few dead entries of each source (first in id order), to show *why* they never match."""
    c = as_counts(counts)
    meta = _by_id(metadata, len(c))
    dead = dead_entries(meta["entry"])
    rows = meta.loc[dead, ["id", "entry", "source"]]
    return rows.groupby("source", sort=False).head(per_source).reset_index(drop=True)


_SOURCE_ORDER = ("seed", "wordnet", "unigram", "bigram", "title")


def _by_id(metadata: pd.DataFrame, n: int) -> pd.DataFrame:
    """The metadata rows in id order, checked against the counts' length."""
    if len(metadata) != n:
        raise UserError(f"the metadata table has {len(metadata):,} entries but the match counted {n:,}: "
                        "give the metadata.parquet written beside the metadata.json the match used")
    if "id" in metadata.columns:
        metadata = metadata.sort_values("id", kind="stable")
        if not np.array_equal(metadata["id"].to_numpy(), np.arange(n)):
            raise UserError("the metadata table's ids are not 0..N-1: give the metadata.parquet written by assemble")
    return metadata.reset_index(drop=True)
