"""Curves of an entry distribution: rank-frequency, the paper's tail-to-head cumulative curve (Figures 2-3)
and the effect of the balancing threshold ``t`` over a grid.

All functions take ``counts`` (one match count per metadata entry) and return arrays or DataFrames;
:mod:`analysis.figures` draws them. The effect of ``t`` uses the balancing module's exact expected
curated size and, for the balance of the curated distribution, its exact expected number of curated
texts per entry (:func:`metadata_builder.balance.expected_entry_counts`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The tail share the published recipe aims at (docs/recipe.md §3: t = 20k on 1.6B pairs gives ~6%).
PAPER_TAIL_SHARE = 0.06


def as_counts(counts) -> np.ndarray:
    """One match count per entry as int64 (the analyses subtract and compare freely)."""
    return np.asarray(counts, dtype=np.int64)


def rank_frequency(counts) -> np.ndarray:
    """Counts of the matched entries, highest first (rank 1 = most matched): the Zipf plot's y values."""
    c = as_counts(counts)
    return np.sort(c[c > 0])[::-1]


def cumulative_curve(counts, t: int | None = None) -> np.ndarray:
    """Figure 2 of the paper: entries sorted by count ascending (tail -> head), cumulative sum of counts.

    With ``t`` the counts are clipped at ``t`` first (what balancing keeps of each entry, roughly),
    so the curve ends at ``sum(min(count, t))``; without, at the total number of matches. All
    entries are on the x axis, never-matched ones included (they make the flat start).
    """
    c = np.sort(as_counts(counts))
    if t is not None:
        c = np.minimum(c, t)
    return np.cumsum(c)


def t_grid(counts, n: int = 40, extra=()) -> np.ndarray:
    """``n`` integer thresholds spaced evenly on a log scale from 1 to the largest count, plus ``extra``."""
    top = max(int(as_counts(counts).max(initial=1)), 1)
    grid = np.unique(np.round(np.geomspace(1, top, n)).astype(np.int64))
    extra = [int(x) for x in extra if x is not None]
    return np.unique(np.concatenate([grid, np.asarray(extra, dtype=np.int64)]))


def entropy_measures(weights) -> tuple[float, float]:
    """``(normalised entropy, effective number of entries)`` of a distribution over entries.

    The normalised entropy is ``H / log(number of entries with weight > 0)``: 1 when every present
    entry has the same weight (perfect balance), near 0 when a few entries hold everything. The
    effective number of entries is ``exp(H)``: how many equally weighted entries the distribution
    is worth.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w[w > 0]
    if len(w) == 0:
        return float("nan"), 0.0
    p = w / w.sum()
    h = float(-(p * np.log(p)).sum())
    return (h / np.log(len(p)) if len(p) > 1 else 1.0), float(np.exp(h))


def effect_of_t(counts, ts, match=None, rows: dict | None = None, expected=None) -> pd.DataFrame:
    """What each threshold ``t`` does: one row per ``t``.

    Columns: ``t``; ``tail_share`` (the recipe's: share of matches held by entries with count < t);
    ``head_entries`` (entries with count > t, the ones balancing sub-samples); ``clipped_matches``
    (``sum(min(count, t))``). With the ``match`` output (a folder or ``MatchOutput``) also:
    ``expected_size`` and ``expected_std`` (texts kept, exact expectation from
    ``metadata_builder.balance.expected_size``), ``expected_fraction`` (of the matched texts), and
    the balance of the expected curated entry distribution: ``entropy_norm`` and
    ``effective_entries`` (:func:`entropy_measures`). Without it the balance columns are computed
    on the clipped counts ``min(count, t)`` instead (a lower bound of each entry's curated count).
    ``rows`` (``{shard: rows}``) restricts the candidates, as ``balance --per-image`` does
    (``expected_fraction`` is then of those); ``counts`` are always what p[e] comes from.
    ``expected``: ``expected_entry_counts(match, sorted ts, ...)`` when the caller has it already
    (one pass over the shards less).
    """
    from metadata_builder.balance import tail_shares

    c = as_counts(counts)
    ts = np.asarray(sorted({int(t) for t in ts}), dtype=np.int64)
    table = pd.DataFrame({
        "t": ts,
        "tail_share": tail_shares(c, ts),
        "head_entries": [int((c > t).sum()) for t in ts],
        "clipped_matches": [int(np.minimum(c, t).sum()) for t in ts],
    })
    if match is None:
        weights = [np.minimum(c, t) for t in ts]
    else:
        from metadata_builder.balance import expected_entry_counts, expected_size
        from metadata_builder.match.output import MatchOutput

        match = match if isinstance(match, MatchOutput) else MatchOutput(match)
        size = expected_size(match, [int(t) for t in ts], rows=rows, counts=c).set_index("t").reindex(ts)
        matched = match.matched_texts if rows is None else sum(len(r) for r in rows.values())
        table["expected_size"] = size["expected"].to_numpy()
        table["expected_std"] = np.sqrt(size["variance"].to_numpy())
        table["expected_fraction"] = table["expected_size"] / max(matched, 1)
        weights = expected if expected is not None else expected_entry_counts(match, ts, rows=rows, counts=c)
    measures = [entropy_measures(w) for w in weights]
    table["entropy_norm"] = [m[0] for m in measures]
    table["effective_entries"] = [m[1] for m in measures]
    return table


def t_at_tail_share(counts, share: float = PAPER_TAIL_SHARE) -> int:
    """The smallest ``t`` whose tail share reaches ``share`` (the balancing module's rule)."""
    from metadata_builder.balance import t_for_tail_share

    return int(t_for_tail_share(as_counts(counts), share))
