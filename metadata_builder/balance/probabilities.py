"""The arithmetic of Algorithm 1: tail share, t from a tail share, ``p[e]``, keep probabilities and
the exact expected curated size. Arrays in, arrays out: no files, no randomness.

The authors chose each t so that tail entries hold ~6% of all matches; :func:`tail_share` and its
exact inverse :func:`t_for_tail_share` make that share the input. Texts are kept independently, so
the curated size is a sum of Bernoulli variables: :func:`expected_size_flat` gives its exact mean
and variance for many t at once.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..match.output import flatten_lists

def _as_counts(counts) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise ValueError(f"counts must be one-dimensional, got shape {counts.shape}")
    if counts.size and counts.min() < 0:
        raise ValueError("counts must be >= 0")
    return counts.astype(np.uint64, copy=False)


def tail_share(counts, t) -> float:
    """Share of all matches held by tail entries (``count < t``): ``sum(count[count < t]) / sum(count)``.

    This is the quantity the authors tuned t by (~6%); 0.0 when there are no matches.
    """
    counts = _as_counts(counts)
    total = int(counts.sum())
    if total == 0:
        return 0.0
    return int(counts[counts < t].sum()) / total


def tail_shares(counts, ts) -> np.ndarray:
    """:func:`tail_share` for many t at once (sort once, then binary search); same floats."""
    counts = _as_counts(counts)
    ts = np.asarray(ts)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(ts.shape, dtype=np.float64)
    ordered = np.sort(counts)
    cumulative = np.concatenate([[0], np.cumsum(ordered, dtype=np.uint64)])
    below = np.searchsorted(ordered, ts, side="left")  # number of entries with count < t
    return np.array([int(cumulative[i]) / total for i in np.ravel(below)]).reshape(ts.shape)


def t_for_tail_share(counts, p: float) -> int:
    """The smallest integer ``t >= 1`` whose :func:`tail_share` reaches ``p`` (``>= p``).

    Tie rule: ``tail_share`` is a step function of t that only changes just above an entry count
    (t = c + 1 brings entries with count c into the tail), so every share is reached on a whole
    range of t; this returns the *smallest* t of the first range whose share is ``>= p``. It is
    therefore always 1 or one more than an entry count, and
    ``t_for_tail_share(counts, tail_share(counts, t))`` is the smallest t with the same tail share
    as ``t`` (shares are compared as the same float64 divisions, so exactly). ``p <= 0`` gives 1;
    ``p = 1`` gives ``max(count) + 1``; ``p > 1`` cannot be reached and raises.
    """
    counts = _as_counts(counts)
    if not 0.0 <= p <= 1.0 or p != p:
        raise UserError(f"tail share {p!r} is outside [0, 1]; give a share such as 0.06")
    total = int(counts.sum())
    if p <= 0.0 or total == 0:
        return 1
    ordered = np.sort(counts)
    cumulative = np.cumsum(ordered, dtype=np.uint64)
    last_of_value = np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))
    values = ordered[last_of_value]
    shares = np.array([int(c) / total for c in cumulative[last_of_value]])  # share of count <= value
    first = int(np.argmax(shares >= p))  # shares[-1] == 1.0 >= p, so one exists
    return int(values[first]) + 1


# --------------------------------------------------------------------------- probabilities


def entry_probabilities(counts, t) -> np.ndarray:
    """Per-entry win probability ``p[e] = t / max(count[e], t)`` (1.0 for the tail)."""
    if not t > 0:
        raise UserError(f"t must be > 0, got {t!r}")
    counts = _as_counts(counts).astype(np.float64)
    return float(t) / np.maximum(counts, float(t))


def flatten_entry_ids(entry_ids_lists) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, ids)``: text i's entries are ``ids[offsets[i]:offsets[i+1]]``.

    Accepts a pyarrow list array (zero-copy), a pandas Series or a list of sequences.
    """
    import pyarrow as pa

    if isinstance(entry_ids_lists, (pa.ChunkedArray, pa.ListArray, pa.LargeListArray)):
        return flatten_lists(entry_ids_lists)
    lists = list(entry_ids_lists)
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = (np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if offsets[-1]
           else np.zeros(0, dtype=np.int64))
    return offsets, ids


def per_text(ufunc, values: np.ndarray, offsets: np.ndarray, empty):
    """``ufunc.reduceat`` over each text's slice of ``values`` (texts with no entry get ``empty``)."""
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    nonempty = lengths > 0
    out = np.full((n,) + values.shape[1:], empty, dtype=values.dtype)
    if nonempty.any():
        out[nonempty] = ufunc.reduceat(values, offsets[:-1][nonempty], axis=0)
    return out


def keep_probabilities_flat(offsets, ids, p_entry) -> np.ndarray:
    """Per-text ``1 - prod(1 - p[e])`` from flattened ids (see :func:`flatten_entry_ids`)."""
    miss = per_text(np.multiply, 1.0 - p_entry[ids], offsets, 1.0)
    return 1.0 - miss


def keep_probabilities(entry_ids_lists, counts, t) -> np.ndarray:
    """Per text, the probability Algorithm 1 keeps it: ``1 - prod over its entries of (1 - p[e])``.

    A text with an entry in the tail (``count <= t``) has probability exactly 1; a text with no
    entry 0.
    """
    offsets, ids = flatten_entry_ids(entry_ids_lists)
    return keep_probabilities_flat(offsets, ids, entry_probabilities(counts, t))


# --------------------------------------------------------------------------- expected size


def expected_size_flat(offsets, ids, counts, ts, *, poly_below: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and variance of the curated size for each t in ``ts``, from flattened ids.

    The texts are kept independently, so the size is a sum of Bernoulli(P_i):
    ``E = sum P_i``, ``Var = sum P_i (1 - P_i)``. With ``x_e = 1 / c_e`` and the miss
    probability ``Q_i(t) = prod_e (1 - t / max(c_e, t))`` (``P_i = 1 - Q_i``), two facts make a
    sweep over many t cost little more than one t:

    - a text whose smallest count ``m_i`` is ``<= t`` has a tail entry, so ``P_i = 1`` exactly:
      text i needs work only for the t below ``m_i`` (its *segment*: how many of the sorted t are
      below ``m_i``);
    - for those t every factor is ``1 - t x_e`` (no clamp), so ``Q_i`` and ``Q_i^2`` are
      polynomials in t. For texts with ``k < poly_below`` entries their coefficients are summed
      per segment once (``bincount``), and every t then costs O(k) operations, whatever the
      number of texts. Longer texts (few) multiply their factors directly for each t.

    Rounding: the polynomial terms of an active text are bounded by binomial coefficients
    (``t x_e < 1``), so the absolute error per text is about ``2^k * 2^-53`` for the expectation
    (1e-10 at k = 20) and ``4^k * 2^-53`` for the variance (1e-4 at k = 20, in the worst case where
    every count is just above t). ``poly_below`` (default: 21, lowered for huge counts) also keeps
    every power ``t^j`` and coefficient (``~ x^j``, ``j < 2 k``) inside float64's range.
    """
    counts = _as_counts(counts)
    if poly_below is None:
        largest = max(float(counts.max()) if counts.size else 1.0, 2.0)
        poly_below = int(max(2, min(21, 300 / (2 * np.log10(largest)))))
    ts = np.atleast_1d(np.asarray(ts, dtype=np.float64))
    if (ts <= 0).any():
        raise UserError("every t must be > 0")
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    n_t = len(ts)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    starts = offsets[:-1]
    count_per_match = counts.astype(np.float64)[np.asarray(ids)]
    smallest = per_text(np.minimum, count_per_match, offsets, np.inf)
    inverse = 1.0 / count_per_match  # a matched entry has count >= 1
    segment = np.searchsorted(sorted_ts, smallest, side="left")  # text i is active for sorted t_j, j < segment
    segment[lengths == 0] = 0  # (a text without entries is never kept)

    def above(per_segment):  # per sorted t_j: the sum over segments > j
        return np.cumsum(per_segment[..., ::-1], axis=-1)[..., ::-1][..., 1:]

    active = above(np.bincount(segment, minlength=n_t + 1))  # texts with every entry in the head
    miss_sum = np.zeros(n_t)
    miss_sq = np.zeros(n_t)
    powers = sorted_ts[None, :] ** np.arange(2 * poly_below)[:, None]
    by_length = np.argsort(np.minimum(lengths, poly_below).astype(np.uint16), kind="stable")
    bounds = np.searchsorted(np.minimum(lengths, poly_below)[by_length], np.arange(1, poly_below + 1))
    for k in range(1, poly_below):
        texts = by_length[bounds[k - 1]:bounds[k]]
        texts = texts[segment[texts] > 0]
        if not len(texts):
            continue
        x = inverse[starts[texts][None, :] + np.arange(k)[:, None]]  # k x n
        q = np.zeros((k + 1, len(texts)))  # coefficients of Q = prod_r (1 - x_r t)
        q[0] = 1.0
        scratch = np.empty(len(texts))
        for r in range(k):
            for j in range(r + 1, 0, -1):
                q[j] -= np.multiply(x[r], q[j - 1], out=scratch)
        q2 = np.zeros((2 * k + 1, len(texts)))  # coefficients of Q^2
        for i in range(k + 1):
            q2[2 * i] += np.multiply(q[i], q[i], out=scratch)
            for j in range(i + 1, k + 1):
                np.multiply(q[i], q[j], out=scratch)
                scratch *= 2.0
                q2[i + j] += scratch
        seg = segment[texts]
        q_sums = above(np.stack([np.bincount(seg, weights=row, minlength=n_t + 1) for row in q]))
        q2_sums = above(np.stack([np.bincount(seg, weights=row, minlength=n_t + 1) for row in q2]))
        miss_sum += (q_sums * powers[:k + 1]).sum(axis=0)
        miss_sq += (q2_sums * powers[:2 * k + 1]).sum(axis=0)
    texts = by_length[bounds[poly_below - 1]:]
    texts = texts[np.argsort(-segment[texts], kind="stable")]  # most active first: prefixes
    long_lengths = lengths[texts]
    long_offsets = np.concatenate([[0], np.cumsum(long_lengths)]).astype(np.int64)
    long_inverse = inverse[np.repeat(starts[texts] - long_offsets[:-1], long_lengths) + np.arange(long_offsets[-1])]
    negative_segment = -segment[texts]
    factors = np.empty_like(long_inverse)  # reused for every t: no allocation in the loop
    for j, t in enumerate(sorted_ts):
        n_active = int(np.searchsorted(negative_segment, -j, side="left"))  # segment > j
        if n_active:
            f = factors[:long_offsets[n_active]]
            np.multiply(long_inverse[:len(f)], -t, out=f)
            f += 1.0
            miss = np.multiply.reduceat(f, long_offsets[:n_active])
            miss_sum[j] += float(miss.sum())
            miss_sq[j] += float(np.dot(miss, miss))
    kept_for_sure = int((lengths > 0).sum()) - active
    expected = np.empty(n_t)
    variance = np.empty(n_t)
    expected[order] = kept_for_sure + (active - miss_sum)
    variance[order] = np.maximum(miss_sum - miss_sq, 0.0)  # sum P (1 - P) = sum Q (1 - Q)
    return expected, variance

