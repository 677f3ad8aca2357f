"""What balancing will do to a match, before (or instead of) sampling: the exact expected curated
size for many t at once, and the exact expected number of curated texts per entry."""

from __future__ import annotations

import numpy as np

from ..match.output import MatchOutput
from ..runtime.executor import Executor, Local
from .probabilities import entry_probabilities, expected_size_flat, keep_probabilities_flat, tail_shares


def _match(match) -> MatchOutput:
    return match if isinstance(match, MatchOutput) else MatchOutput(match)


def restrict(rows: np.ndarray, offsets: np.ndarray, ids: np.ndarray, keep_rows) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, ids)`` of the texts whose row is in ``keep_rows`` only (per-image candidates)."""
    keep = np.isin(rows, np.asarray(keep_rows, dtype=np.int64))
    lengths = np.diff(offsets)
    return (np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64),
            ids[np.repeat(keep, lengths)])


def _shard_ids(match, name: str, rows: dict | None):
    r, offsets, ids = match.entry_ids(name)
    if rows is not None:
        offsets, ids = restrict(r, offsets, ids, rows.get(name, ()))
    return offsets, ids


def _expected_shard(shard: dict, shared):
    match, counts, ts, rows = shared
    offsets, ids = _shard_ids(match, shard["name"], rows)
    return expected_size_flat(offsets, ids, counts, ts)


def expected_size(match, ts, *, executor: Executor | None = None, rows: dict | None = None, counts=None):
    """Expected curated size and its variance for every t in ``ts``, without sampling.

    Parameters
    ----------
    match : a match folder (or :class:`~metadata_builder.match.output.MatchOutput`).
    ts : one t or many; all are computed in one pass over the shards.
    executor : where the shards are read (default: this process, no progress bar).
    rows : ``{shard: rows}`` of the candidates when they are not every matched text (``--per-image``:
        the chosen text of each image, :meth:`~.output.BalanceOutput.candidates`).
    counts : the counts p[e] comes from (default: the match's; ``--count-over images``: others).

    Returns
    -------
    pandas.DataFrame with columns ``t``, ``expected``, ``variance``, ``std`` and ``tail_share``.
    Shard results are added in manifest order, so the floats do not depend on the executor.
    """
    import pandas as pd

    executor = executor or Local(progress=False)
    match = _match(match)
    counts = match.counts if counts is None else np.asarray(counts, dtype=np.uint64)
    given = np.atleast_1d(np.asarray(ts))  # returned as given (integers stay integers)
    ts = given.astype(np.float64)
    results = {s["name"]: r for s, r in executor.map(_expected_shard, match.shards, shared=(match, counts, ts, rows),
                                                      desc="expected size")}
    expected = np.zeros(len(ts))
    variance = np.zeros(len(ts))
    for shard in match.shards:  # manifest order, not completion order: identical floats for any executor
        e, v = results[shard["name"]]
        expected += e
        variance += v
    return pd.DataFrame({"t": given, "expected": expected, "variance": variance, "std": np.sqrt(variance),
                         "tail_share": tail_shares(counts, ts)})


def expected_entry_counts(match, ts, *, rows: dict | None = None, counts=None) -> np.ndarray:
    """Exact expected number of curated texts per entry for each ``t``: array of shape ``(len(ts), N)``.

    ``E[count'_e] = sum over texts containing e of P(keep text)``: a text kept because another of
    its entries won the draw still counts for ``e``, so this is at least ``min(count, t)`` (over
    all matched texts). Streams the shards, one at a time. ``rows`` and ``counts`` as in
    :func:`expected_size`.
    """
    match = _match(match)
    counts = match.counts if counts is None else np.asarray(counts, dtype=np.uint64)
    p_entry = [entry_probabilities(counts, int(t)) for t in ts]
    out = np.zeros((len(p_entry), len(counts)), dtype=np.float64)
    for shard in match.shards:
        offsets, ids = _shard_ids(match, shard["name"], rows)
        if len(ids) == 0:
            continue
        lengths = np.diff(offsets)
        for i, p in enumerate(p_entry):
            keep = keep_probabilities_flat(offsets, ids, p)
            out[i] += np.bincount(ids, weights=np.repeat(keep, lengths), minlength=len(counts))
    return out
