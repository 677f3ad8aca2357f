"""Reproducible draws: the draw of text ``(shard, row)`` for entry ``e`` is a *counter-based hash* of
``(seed, shard, row, e)``, not a position in a random stream. So the kept set does not depend on the
shard order, the worker count or the executor, and the same seed gives byte-identical outputs (the
published code draws from an unseeded generator).

``mix64`` is the finaliser of splitmix64 (Steele, Lea & Flood 2014; constants of Stafford's
"Mix13"), a bijection of 64-bit integers whose output bits each depend on every input bit. In
uint64 arithmetic (wrapping), with ``G = 0x9E3779B97F4A7C15``::

    shard_key = mix64(mix64(seed * G ^ DOMAIN) ^ blake2b_64(shard name))
    text_key  = mix64(shard_key + (row + 1) * G)        # one per text: text_key(shard, row)
    entry_key = mix64((e + 1) * G ^ ENTRY_DOMAIN)       # one per entry
    u         = (mix64(text_key ^ entry_key) >> 11) / 2**53     # uniform in [0, 1)
    entry e wins for the text  <=>  u < p[e]

The text identity is :func:`metadata_builder.match.output.text_key` (shard name + row).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .probabilities import per_text

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
    return per_text(np.logical_or, wins, offsets, False)


def choice_scores(keys: np.ndarray) -> np.ndarray:
    """Per-text random score for ``--per-image``: the text with the smallest score is the image's."""
    return mix64(keys ^ _CHOICE_DOMAIN)

