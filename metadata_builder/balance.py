"""Balancing (Algorithm 1 of MetaCLIP): cap every metadata entry at about ``t`` texts, reproducibly.

Each entry ``e`` gets ``p[e] = t / max(count[e], t)``; a text is kept if any of its matched entries
wins an independent draw with probability ``p[e]``, so ``P(keep) = 1 - prod(1 - p[e])``
(``../shared/SPEC.md`` §3). Entries with ``count <= t`` (the *tail*) keep all their texts; *head*
entries keep about ``t`` of theirs, plus the texts they share with winning entries.

What this module adds to the published code, beside the exact algorithm:

- **Reproducible draws.** The published code draws from an unseeded generator. Here the draw of
  text ``(shard, row)`` for entry ``e`` is a *counter-based hash* of ``(seed, shard, row, e)``
  (splitmix64's finaliser, below), not a position in a random stream. So the kept set does not
  depend on the shard order, the worker count or the engine, and the same seed gives byte-identical
  outputs.
- **t from the tail share.** The authors chose each t so that tail entries hold ~6% of all matches;
  :func:`tail_share` and its exact inverse :func:`t_for_tail_share` make that the input.
- **Size before sampling.** Texts are kept independently, so the curated size is a sum of
  Bernoulli variables: :func:`expected_size` gives its exact mean and variance for many t at once.

The hash
--------
``mix64`` is the finaliser of splitmix64 (Steele, Lea & Flood 2014; constants of Stafford's
"Mix13"), a bijection of 64-bit integers whose output bits each depend on every input bit. In
uint64 arithmetic (wrapping), with ``G = 0x9E3779B97F4A7C15``::

    shard_key = mix64(mix64(seed * G ^ DOMAIN) ^ blake2b_64(shard name))
    text_key  = mix64(shard_key + (row + 1) * G)        # one per text: text_key(shard, row)
    entry_key = mix64((e + 1) * G ^ ENTRY_DOMAIN)       # one per entry
    u         = (mix64(text_key ^ entry_key) >> 11) / 2**53     # uniform in [0, 1)
    entry e wins for the text  <=>  u < p[e]

The text identity is :func:`metadata_builder.match_output.text_key` (shard name + row).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import storage
from .errors import UserError

# --------------------------------------------------------------------------- tail share and t


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
    try:
        import pyarrow as pa

        if isinstance(entry_ids_lists, pa.ChunkedArray):
            entry_ids_lists = entry_ids_lists.combine_chunks()
        if isinstance(entry_ids_lists, (pa.ListArray, pa.LargeListArray)):
            offsets = entry_ids_lists.offsets.to_numpy().astype(np.int64)
            ids = entry_ids_lists.values.to_numpy()[offsets[0]:offsets[-1]]
            return offsets - offsets[0], ids.astype(np.int64, copy=False)
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    lists = list(entry_ids_lists)
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = (np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if offsets[-1]
           else np.zeros(0, dtype=np.int64))
    return offsets, ids


def _per_text(ufunc, values: np.ndarray, offsets: np.ndarray, empty):
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
    miss = _per_text(np.multiply, 1.0 - p_entry[ids], offsets, 1.0)
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
    smallest = _per_text(np.minimum, count_per_match, offsets, np.inf)
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


def _match_output(match):
    from .match_output import MatchOutput

    return match if isinstance(match, MatchOutput) else MatchOutput(match)


def read_entry_ids(match, name: str, columns: Sequence[str] = ("row", "entry_ids")):
    """One shard of a match folder as a pyarrow table (fast path for ``entry_ids`` lists)."""
    from .match_output import shard_marker, shard_parquet

    match = _match_output(match)
    if not storage.is_file(shard_marker(match.path, name)):
        raise UserError(f"{shard_marker(match.path, name)}: missing; shard {name} did not finish "
                        "(rerun the match to resume)")
    return storage.read_table(shard_parquet(match.path, name), columns=list(columns))


def _expected_shard(task, shared):
    match_path, name = task
    counts, ts = shared
    table = read_entry_ids(match_path, name, ("entry_ids",))
    offsets, ids = flatten_entry_ids(table["entry_ids"])
    return expected_size_flat(offsets, ids, counts, ts)


def expected_size(match, ts, *, workers: int = 1, engine: str = "local", progress: bool = False,
                  ray_address: str | None = None):
    """Expected curated size and its variance for every t in ``ts``, without sampling.

    Parameters
    ----------
    match : a match folder (or :class:`~metadata_builder.match_output.MatchOutput`).
    ts : one t or many; all are computed in one pass over the shards.

    Returns
    -------
    pandas.DataFrame with columns ``t``, ``expected``, ``variance``, ``std`` and ``tail_share``.
    Shard results are added in manifest order, so the floats do not depend on ``workers``.
    """
    import pandas as pd

    from .executor import map_tasks

    match = _match_output(match)
    counts = match.counts
    given = np.atleast_1d(np.asarray(ts))  # returned as given (integers stay integers)
    ts = given.astype(np.float64)
    tasks = [(str(match.path), s["name"]) for s in match.shards]
    results = dict(map_tasks(_expected_shard, tasks, shared=(counts, ts), workers=workers, engine=engine,
                             desc="expected size", progress=progress, ray_address=ray_address))
    expected = np.zeros(len(ts))
    variance = np.zeros(len(ts))
    for task in tasks:  # task order, not completion order: identical floats for any worker count
        e, v = results[task]
        expected += e
        variance += v
    return pd.DataFrame({"t": given, "expected": expected, "variance": variance, "std": np.sqrt(variance),
                         "tail_share": tail_shares(counts, ts)})


# --------------------------------------------------------------------------- counter-based draws

_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_DOMAIN = np.uint64(0x6D657461636C6970)  # "metaclip": separates the seed stream from others
_ENTRY_DOMAIN = np.uint64(0x656E747279696473)  # "entryids"
_CHOICE_DOMAIN = np.uint64(0x63686F6F73653121)  # "choose1!": per-image choice of one text
_MASK64 = (1 << 64) - 1


def mix64(z) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic): a well-mixed bijection."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def shard_key(seed: int, shard_name: str) -> np.uint64:
    """The key every draw of one shard starts from: mixes the seed and the shard's stable name."""
    name_hash = int.from_bytes(hashlib.blake2b(shard_name.encode("utf-8"), digest_size=8).digest(), "little")
    with np.errstate(over="ignore"):
        seeded = mix64(np.array([int(seed) & _MASK64], dtype=np.uint64) * _G ^ _DOMAIN)
    return mix64(seeded ^ np.uint64(name_hash))[0]


def text_keys(seed: int, shard_name: str, rows) -> np.ndarray:
    """One uint64 per text from its identity (shard name, row): ``mix64(shard_key + (row + 1) * G)``."""
    rows = np.asarray(rows, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return mix64(shard_key(seed, shard_name) + (rows + np.uint64(1)) * _G)


def entry_keys(ids) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return mix64((ids + np.uint64(1)) * _G ^ _ENTRY_DOMAIN)


def to_unit(bits: np.ndarray) -> np.ndarray:
    """The top 53 bits of uint64 values as floats uniform in [0, 1)."""
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def match_draws(keys: np.ndarray, offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Uniform draw for every (text, entry) match: ``u = mix64(text_key ^ entry_key)`` in [0, 1)."""
    per_match = np.repeat(keys, np.diff(offsets))
    return to_unit(mix64(per_match ^ entry_keys(ids)))


def sample_flat(offsets, ids, p_entry, keys) -> np.ndarray:
    """Algorithm 1 on one block of texts: kept if any entry wins (``u < p[e]``); bool per text."""
    wins = match_draws(keys, offsets, ids) < p_entry[ids]
    return _per_text(np.logical_or, wins, offsets, False)


def choice_scores(keys: np.ndarray) -> np.ndarray:
    """Per-text random score for ``--per-image``: the text with the smallest score is the image's."""
    return mix64(keys ^ _CHOICE_DOMAIN)


# --------------------------------------------------------------------------- the balance run

#: Columns added to the pool's own columns in the curated shards.
ROW_COLUMN = "row"
P_COLUMN = "keep_probability"


@dataclass
class _Shared:
    """What every shard task needs (sent to each worker once)."""

    match_dir: str
    out_dir: str
    p_entry: np.ndarray
    seed: int
    config: dict
    chosen: dict | None  # per-image: shard name -> sorted rows chosen for their image
    has_id: bool
    text_column: object = None


def _read_pool_rows(shard: dict, rows: np.ndarray, text_column=None, batch_size: int = 65_536):
    """The pool's original rows ``rows`` (sorted) of one pool file, as a pyarrow table.

    Parquet is read by record batch with its own schema. Other formats are streamed line by line
    with the row numbering of :mod:`metadata_builder.pools` (data rows, header excluded): jsonl
    keeps each object's keys, tsv/csv the header's names (``"0"``, ``"1"``... without a header),
    txt a ``text`` column, COCO each annotation's keys.
    """
    import pyarrow as pa

    path = storage.canonical(shard["path"])
    fmt = shard.get("format", "parquet")
    if fmt != "parquet":
        return _records_table(_text_pool_records(shard, rows, text_column))
    try:
        pool = storage.parquet_file(path)
    except (OSError, pa.ArrowException, UserError) as exc:
        raise UserError(f"{path}: cannot read the pool file the match used ({exc})") from None
    if pool.metadata.num_rows != shard.get("rows", pool.metadata.num_rows):
        raise UserError(f"{path}: has {pool.metadata.num_rows} rows, the match saw {shard['rows']}; "
                        "the pool changed since the match, rerun it")
    pieces, start = [], 0
    for batch in pool.iter_batches(batch_size=batch_size):
        lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
        if hi > lo:
            pieces.append(batch.take(pa.array(rows[lo:hi] - start)))
        start += batch.num_rows
    if pieces:
        return pa.Table.from_batches(pieces)
    return pool.schema_arrow.empty_table()


def _records_table(records: list[dict]):
    """Records with possibly different keys as one table: every key seen, in first-seen order.

    A column whose values arrow cannot type together (a jsonl field that is a number here and a
    string there) is kept as JSON text.
    """
    import pyarrow as pa

    names = list(dict.fromkeys(key for record in records for key in record))
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values])
    return pa.table(columns) if columns else pa.table({})


def _text_pool_records(shard: dict, rows: np.ndarray, text_column) -> list[dict]:
    """Records of the wanted rows of a jsonl / tsv / csv / txt / COCO pool, streamed."""
    import csv

    from . import pools

    path, fmt = str(shard["path"]), shard["format"]
    wanted = iter(rows.tolist())
    target = next(wanted, None)
    records: list[dict] = []
    if target is None:
        return records

    def lines():
        if fmt == "coco":
            with pools._open_binary(path) as fh:
                doc = json.loads(pools._decode(fh.read(), {}))
            yield from doc.get("annotations", [])
            return
        source = pools._lines(path)
        header = None
        if fmt in ("tsv", "csv"):
            probed = pools.probe(pools.PoolFile(path, fmt, shard["name"]),
                                 None if text_column is None else str(text_column), None)
            if probed.header:
                header = next(csv.reader([pools._decode(next(source), {})], delimiter="\t" if fmt == "tsv" else ","))
        for line in source:
            text = pools._decode(line, {})
            if fmt == "txt":
                yield {"text": text}
            elif fmt == "jsonl":
                try:
                    record = json.loads(text)
                except ValueError:
                    record = None
                yield record if isinstance(record, dict) else {}
            else:
                fields = text.split("\t") if fmt == "tsv" else next(csv.reader([text]), [])
                names = header or [str(i) for i in range(len(fields))]
                yield dict(zip(names, fields))

    for row, record in enumerate(lines()):
        if row == target:
            records.append(record if isinstance(record, dict) else {})
            target = next(wanted, None)
            if target is None:
                break
    return records


def _paths(out_dir, name):
    """A shard's outputs: Paths in a local folder, URL strings on object storage."""
    under = storage.under
    return {"subset": under(out_dir, "shards", f"{name}.parquet"),
            "entries": under(out_dir, "shards", f"{name}.entries.npz"),
            "marker": under(out_dir, "shards", f"{name}.done.json"),
            "online": under(out_dir, "online", f"{name}.parquet")}


def _balance_shard(shard: dict, shared: _Shared) -> dict:
    """Sample one shard, write its curated rows, its online file and its per-entry counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = shard["name"]
    paths = _paths(shared.out_dir, name)
    if storage.is_file(paths["marker"]):
        done = json.loads(storage.read_text(paths["marker"]))
        if done.get("config") == shared.config and storage.is_file(paths["entries"]):
            return done  # finished by an earlier run with the same settings
    columns = ["row", "entry_ids"] + (["id"] if shared.has_id else [])
    table = read_entry_ids(shared.match_dir, name, columns)
    rows = table["row"].to_numpy().astype(np.int64)
    offsets, ids = flatten_entry_ids(table["entry_ids"])
    keys = text_keys(shared.seed, name, rows)
    probability = keep_probabilities_flat(offsets, ids, shared.p_entry)
    kept = sample_flat(offsets, ids, shared.p_entry, keys)
    if shared.chosen is not None:
        chosen = np.isin(rows, shared.chosen.get(name, np.zeros(0, dtype=np.int64)))
        kept &= chosen
        probability = np.where(chosen, probability, 0.0)

    # online balancing: every candidate text with its keep probability, for loaders that draw later
    candidates = probability > 0
    online = {"shard": pa.array([name] * int(candidates.sum()), pa.string()),
              "row": pa.array(rows[candidates]), "p": pa.array(probability[candidates])}
    if shared.has_id:
        online["id"] = table["id"].filter(pa.array(candidates))
    with storage.atomic_local_path(paths["online"]) as tmp:  # a URL: written locally, then uploaded
        pq.write_table(pa.table({k: online[k] for k in ("shard", "row", "id", "p") if k in online}), tmp)

    # the curated subset: the pool's own columns, plus the row and its keep probability
    subset = _read_pool_rows(shard, rows[kept], shared.text_column)
    extra = {ROW_COLUMN: pa.array(rows[kept]), P_COLUMN: pa.array(probability[kept])}
    for column, values in extra.items():
        subset = subset.append_column(column if column not in subset.column_names else f"{column}_balance", values)
    with storage.atomic_local_path(paths["subset"]) as tmp:
        pq.write_table(subset, tmp)

    # per entry: texts kept, and texts expected kept (sum of P over the texts containing it)
    lengths = np.diff(offsets)
    present, inverse = np.unique(ids, return_inverse=True)
    kept_per_entry = np.bincount(inverse, weights=np.repeat(kept, lengths), minlength=len(present))
    expected_per_entry = np.bincount(inverse, weights=np.repeat(probability, lengths), minlength=len(present))
    with storage.atomic_local_path(paths["entries"]) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=present, kept=kept_per_entry.astype(np.uint64), expected=expected_per_entry)
    done = {"shard": name, "texts": int(len(rows)), "candidates": int(candidates.sum()), "kept": int(kept.sum()),
            "expected": float(probability.sum()), "variance": float((probability * (1 - probability)).sum()),
            "config": shared.config}
    storage.write_text(paths["marker"], json.dumps(done, indent=1) + "\n")  # last: the shard is complete
    return done


def _image_ids(task, shared_args) -> "object":
    """Per-image pass: (row, image id, score) of every matched text of one shard."""
    import pandas as pd
    import pyarrow as pa

    from .match_output import text_key

    match_dir, seed, image_column, shards, text_column = shared_args
    shard = shards[task[0]]
    name = shard["name"]
    if image_column is None:
        table = read_entry_ids(match_dir, name, ("row", "id"))
        rows, images = table["row"].to_numpy().astype(np.int64), table["id"]
    else:
        rows = read_entry_ids(match_dir, name, ("row",))["row"].to_numpy().astype(np.int64)
        pool = _read_pool_rows(shard, rows, text_column)
        if image_column not in pool.column_names:
            raise UserError(f"{shard['path']}: no column {image_column!r} (columns: {', '.join(pool.column_names)}); "
                            "give the column that identifies the image with --image-column")
        images = pool[image_column]
    images = pa.chunked_array([images] if isinstance(images, pa.Array) else images.chunks, images.type)
    images = images.cast(pa.string()).to_pandas()
    missing = images.isna().to_numpy()
    if missing.any():  # a text without an image id is its own image
        images[missing] = ["\0" + text_key(name, r) for r in rows[missing]]
    return pd.DataFrame({"image": images, "score": choice_scores(text_keys(seed, name, rows)),
                         "row": rows})


def choose_one_text_per_image(match, seed: int, image_column: str | None = None, *, workers: int = 1,
                              engine: str = "local", progress: bool = False, ray_address: str | None = None) -> dict:
    """Meta CLIP 2's per-image variant: pick one matched text per image, at random but reproducibly.

    The image of a text is its value in ``image_column`` of the pool (e.g. the URL), or the match's
    ``id`` column when ``image_column`` is None. Each text gets a score from the same counter-based
    hash as the draws (``mix64(text_key ^ CHOICE_DOMAIN)``); the image's text with the smallest
    score wins (ties, which need a 64-bit collision, go to the first shard and row). Images
    spanning several shards are handled: the choice is global. A text without an image id (null)
    is its own image. Memory: one row per matched text.

    Returns ``{shard name: sorted rows chosen}``.
    """
    import pandas as pd

    from .executor import map_tasks

    match = _match_output(match)
    if image_column is None and not match.manifest.get("id_column"):
        raise UserError(f"{storage.under(match.path, 'manifest.json')}: the match has no id column, so images are unknown; "
                        "give --image-column (e.g. URL) or rerun match with --id-column")
    shards = match.shards
    tasks = [(i, s["name"]) for i, s in enumerate(shards)]
    results = dict(map_tasks(_image_ids, tasks,
                             shared=(str(match.path), seed, image_column, shards, match.manifest.get("text_column")), workers=workers, engine=engine,
                             desc="per-image choice", progress=progress, ray_address=ray_address))
    frames = []
    for i in range(len(shards)):  # manifest order
        frames.append(results[tasks[i]].assign(shard=i))
    if not frames:
        return {}
    texts = pd.concat(frames, ignore_index=True)
    texts = texts.sort_values(["image", "score", "shard", "row"], kind="stable")
    winners = texts.drop_duplicates("image", keep="first")
    return {shards[i]["name"]: np.sort(group["row"].to_numpy())
            for i, group in winners.groupby("shard", sort=True)}


def _head_excess(counts: np.ndarray, expected_kept: np.ndarray, kept: np.ndarray, t: float) -> dict:
    """How far head entries (count > t) end above t through the texts they share with winners.

    Alone, a head entry would keep ``t`` texts in expectation; it keeps more when its texts are
    also kept for another entry. Reported as ratios to t, exact (expected) and sampled.
    """
    head = counts > t
    if not head.any():
        return {"head_entries": 0}
    ratio = expected_kept[head] / t
    sampled = kept[head] / t
    return {"head_entries": int(head.sum()),
            "head_expected_over_t": {"mean": float(ratio.mean()), "median": float(np.median(ratio)),
                                     "p90": float(np.quantile(ratio, 0.9)), "max": float(ratio.max())},
            "head_sampled_over_t": {"mean": float(sampled.mean()), "median": float(np.median(sampled)),
                                    "max": float(sampled.max())},
            "head_share_above_1_1t": float((ratio > 1.1).mean())}


def balance(match_dir, out_dir, *, t: float | None = None, tail_share_target: float | None = None,
            seed: int = 0, per_image: bool = False, image_column: str | None = None,
            workers: int = 1, engine: str = "local", progress: bool = True, ray_address: str | None = None) -> dict:
    """Run Algorithm 1 on a match folder and write the curated subset; return the stats.

    Parameters
    ----------
    match_dir : output of ``metadata-builder match``.
    out_dir : receives ``shards/SHARD.parquet`` (the pool's original columns of the kept texts,
        plus ``row`` and ``keep_probability``), ``online/SHARD.parquet`` (``shard``, ``row``,
        [``id``], ``p``: every candidate text with its keep probability, for loaders that draw at
        training time), ``stats.json``, ``entry_kept.npy`` (uint64, kept texts per entry) and
        ``entry_expected_kept.npy`` (float64, expected kept texts per entry).
    t, tail_share_target : the cap, or the tail share that chooses it (:func:`t_for_tail_share`).
    seed : every draw is a hash of (seed, shard, row, entry): same seed, same bytes.
    per_image : Meta CLIP 2's variant, one matched text per image first
        (:func:`choose_one_text_per_image`); ``image_column`` names the pool column identifying the image.

    Shards already finished with the same settings are kept (resume); stats are added in manifest
    order, so they do not depend on the worker count.
    """
    from .executor import map_tasks

    match = _match_output(match_dir)
    out_dir = storage.canonical(out_dir)
    counts = match.counts
    if (t is None) == (tail_share_target is None):
        raise UserError("give exactly one of --t and --tail-share")
    if t is None:
        t = t_for_tail_share(counts, tail_share_target)
    if not t > 0:
        raise UserError(f"--t must be > 0, got {t!r}")
    t = int(t) if float(t).is_integer() else float(t)
    for shard in match.shards:
        if not match.is_complete(shard["name"]):
            raise UserError(f"{match.path}: shard {shard['name']} did not finish; rerun the match to resume")
    chosen = None
    if per_image:
        chosen = choose_one_text_per_image(match, seed, image_column, workers=workers, engine=engine,
                                           progress=progress, ray_address=ray_address)
    config = {"t": t, "seed": int(seed), "per_image": bool(per_image), "image_column": image_column,
              "metadata_sha256": match.manifest["metadata"].get("sha256")}
    shared = _Shared(str(match.path), str(out_dir), entry_probabilities(counts, t), int(seed), config,
                     chosen, bool(match.manifest.get("id_column")), match.manifest.get("text_column"))
    for _ in map_tasks(_balance_shard, match.shards, shared=shared, workers=workers, engine=engine,
                       desc="balance", progress=progress, ray_address=ray_address):
        pass

    # combine in manifest order (floats added in a fixed order: identical for any worker count)
    n = len(counts)
    entry_kept = np.zeros(n, dtype=np.uint64)
    entry_expected = np.zeros(n, dtype=np.float64)
    totals = {"texts": 0, "candidates": 0, "kept": 0, "expected": 0.0, "variance": 0.0}
    for shard in match.shards:
        paths = _paths(out_dir, shard["name"])
        done = json.loads(storage.read_text(paths["marker"]))
        for key in totals:
            totals[key] += done[key]
        with storage.load_numpy(paths["entries"]) as entries:
            entry_kept[entries["ids"]] += entries["kept"]
            entry_expected[entries["ids"]] += entries["expected"]
    std = float(np.sqrt(totals["variance"]))
    stats = {"t": t, "tail_share": tail_share(counts, t), "seed": int(seed), "per_image": bool(per_image),
             "image_column": image_column, "pool_texts": int(sum(s.get("rows", 0) for s in match.shards)),
             **totals, "std": std,
             "z": (totals["kept"] - totals["expected"]) / std if std > 0 else 0.0,
             "entries": n, "tail_entries": int(((counts > 0) & (counts <= t)).sum()),
             **_head_excess(counts, entry_expected, entry_kept.astype(np.float64), t),
             "match_dir": str(match.path)}
    with storage.atomic_local_path(storage.under(out_dir, "entry_kept.npy")) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, entry_kept)
    with storage.atomic_local_path(storage.under(out_dir, "entry_expected_kept.npy")) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, entry_expected)
    storage.write_text(storage.under(out_dir, "stats.json"), json.dumps(stats, indent=1) + "\n")
    return stats
