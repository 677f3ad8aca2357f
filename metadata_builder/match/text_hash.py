"""The identity of a text as the match saw it: a 64-bit hash of its UTF-8 bytes.

The match stores it beside each matched row (``text_hash``); ``balance``, which re-reads the curated
rows from the pool by row number, compares it to tell the matched pool from one rewritten since.
"""

from __future__ import annotations

import numpy as np

_HASH_P = np.uint64(0x9E3779B97F4A7C15)  # odd: invertible modulo 2**64
_HASH_P_INVERSE = np.uint64(pow(0x9E3779B97F4A7C15, -1, 1 << 64))
_HASH_M = np.uint64(0xBF58476D1CE4E5B9)


def text_hashes(texts) -> np.ndarray:
    """One uint64 per text: a polynomial hash of its UTF-8 bytes, mixed with its length (null -> 0).

    The match stores it beside each matched row (``text_hash``) so that ``balance``, which re-reads
    the curated rows from the pool by row number, can tell a pool rewritten since the match (rows
    shuffled, regenerated) from the one that was matched. Not a cryptographic hash: it detects
    accidents, not an adversary.
    """
    import pyarrow as pa

    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(list(texts), pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.large_string())
    step = 1 << 16  # texts per block: bounds the per-byte arrays below
    return np.concatenate([_hash_block(array.slice(i, step)) for i in range(0, len(array), step)]
                          or [np.zeros(0, np.uint64)])


def _hash_block(array) -> np.ndarray:
    nulls = array.is_null().to_numpy(zero_copy_only=False)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    buffer = array.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8)[offsets[0]:offsets[-1]] if buffer is not None \
        else np.zeros(0, np.uint8)
    start, end = offsets[:-1] - offsets[0], offsets[1:] - offsets[0]
    with np.errstate(over="ignore"):
        powers = np.ones(len(data) + 1, dtype=np.uint64)
        powers[1:] = np.cumprod(np.full(len(data), _HASH_P, dtype=np.uint64))
        inverse = np.ones(len(data) + 1, dtype=np.uint64)
        inverse[1:] = np.cumprod(np.full(len(data), _HASH_P_INVERSE, dtype=np.uint64))
        prefix = np.zeros(len(data) + 1, dtype=np.uint64)
        np.cumsum((data.astype(np.uint64) + np.uint64(1)) * powers[:-1], out=prefix[1:])
        # text i: the sum over its bytes of (b + 1) * P^(position - start)
        h = (prefix[end] - prefix[start]) * inverse[start]
        h = (h ^ (end - start + 1).astype(np.uint64)) * _HASH_M
        h ^= h >> np.uint64(29)
    h[nulls] = 0
    return h
