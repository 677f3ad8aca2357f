"""Find, for every text of a batch, the set of metadata entries whose key is a substring of it.

Two engines give identical results (docs/recipe.md §2, every entry tested independently, overlapping and
nested matches all count, one *set* of ids per text):

- ``hash`` (default whenever every key is space-padded, as in ``metaclip-v1``): a key
  ``" " + entry + " "`` can only occur from one space of the spaced text to a later one. So the
  engine hashes the stretches between spaces of a whole batch at once with numpy (polynomial
  hashes of UTF-8 bytes), looks them up in an open-addressing table of the keys and of their
  space-bounded prefixes (a stretch that is no key prefix is not extended), and checks every hit
  byte by byte, so a hash collision can never add a match. Its lookups are independent of each
  other, so the CPU overlaps their memory accesses, where an automaton walk waits for one random
  node per character: this is why it beats the published pyahocorasick loop.
- ``automaton``: one pyahocorasick automaton (integer values) walked over the batch joined into a
  single string. It takes any key, padded or not.
- ``mixed`` (the ``auto`` choice when only some keys are space-padded, as with ``script-aware``
  on a language written with spaces): the padded keys go to the hash table, the others to an
  automaton, which walks only the texts holding a character such a key must contain (the
  unpadded edge character: for a Latin-script list under the released rule, the few ASCII
  punctuation marks its entries start or end with). Keys that can never occur in a spaced text
  (a wrapped character glued to a neighbour inside the key) are left out of that automaton.

``duplicates``: ``all`` (default) credits every id of a duplicated entry string, as the published
plain matcher does; ``last`` credits only the last id, as the released pyahocorasick matchers do
(``add_word`` on an existing key replaces its value).

A batch is joined into one byte string with a NUL between texts; a match end is mapped back to
its text by a binary search over the separator positions. Keys are built once per run; forked
workers share them copy-on-write (nothing in them is written after the build).
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import UserError
from .normalize import TO_SPACE, WHITESPACE, WRAPPED, Normalizer

ENGINES = ("auto", "hash", "automaton", "mixed")
DUPLICATES = ("all", "last")
SEP = b"\x00"
#: A trigger set larger than this (a no-space script's characters) makes the pre-filter useless.
_MAX_TRIGGER_BYTES = 64
#: First and last UTF-8 bytes of the characters ``str.strip`` removes: a text starting or ending with
#: none of them needs no strip (a superset test: the texts it flags are stripped in Python).
_WS_FIRST = np.unique(np.frombuffer(b"".join(ch.encode("utf-8")[:1] for ch in WHITESPACE), dtype=np.uint8))
_WS_LAST = np.unique(np.frombuffer(b"".join(ch.encode("utf-8")[-1:] for ch in WHITESPACE), dtype=np.uint8))


def strip_joined(raw: bytes, single: bool = False) -> bytes:
    """``str.strip`` of every NUL-separated text of a joined batch (of the one text when ``single``)."""
    if single:
        return raw.decode("utf-8", "surrogatepass").strip().encode("utf-8", "surrogatepass")
    if not raw:
        return raw
    buf = np.frombuffer(raw, dtype=np.uint8)
    seps = np.flatnonzero(buf == 0)
    starts = np.concatenate([[0], seps + 1])
    ends = np.append(seps, len(buf))
    filled = ends > starts
    first = buf[np.minimum(starts, len(buf) - 1)]
    last = buf[np.maximum(ends - 1, 0)]
    flagged = np.flatnonzero(filled & (np.isin(first, _WS_FIRST) | np.isin(last, _WS_LAST)))
    if not len(flagged):
        return raw
    parts = raw.split(SEP)
    for i in flagged.tolist():
        parts[i] = parts[i].decode("utf-8", "surrogatepass").strip().encode("utf-8", "surrogatepass")
    return SEP.join(parts)
_P1 = np.uint64(0x9E3779B97F4A7C15)  # odd multipliers: invertible modulo 2**64
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)


def _inverse(p: int) -> int:
    return pow(int(p), -1, 1 << 64)


def _powers(p: np.uint64, n: int) -> np.ndarray:
    out = np.full(n, p, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(out, dtype=np.uint64)


class _Hasher:
    """Polynomial hashes modulo 2**64 of any stretch ``[x, y)`` of a byte buffer."""

    def __init__(self, p: np.uint64):
        self.p, self.pinv = p, np.uint64(_inverse(p))
        self.pow = _powers(self.p, 1024)
        self.ipow = _powers(self.pinv, 1024)

    def _grow(self, n: int) -> None:
        if n > len(self.pow):  # rounded up, not doubled: these tables are a worker's largest arrays
            size = -(-n // 65536) * 65536
            self.pow, self.ipow = _powers(self.p, size), _powers(self.pinv, size)

    def prefix(self, buf: np.ndarray) -> np.ndarray:
        n = len(buf)
        self._grow(n + 1)
        h = np.zeros(n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum((buf.astype(np.uint64) + np.uint64(1)) * self.pow[:n], out=h[1:])
        return h

    def stretch(self, h: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = (h[y] - h[x]) * self.ipow[x]
        out[out == 0] = 1  # 0 marks an empty table slot
        return out


class _Table:
    """Open-addressing hash table ``uint64 hash -> int32 value``, built and probed with numpy."""

    def __init__(self, hashes: np.ndarray, values: np.ndarray):
        bits = max(10, int(np.ceil(np.log2(max(1, len(hashes)) * 2.5))))
        self.mask, self.shift = (1 << bits) - 1, np.uint64(64 - bits)
        self.keys = np.zeros(1 << bits, dtype=np.uint64)
        self.values = np.full(1 << bits, -1, dtype=np.int32)
        slot = (hashes >> self.shift).astype(np.int64)
        todo = np.arange(len(hashes))
        while todo.size:  # linear probing, one round per displacement
            s = slot[todo]
            free = self.keys[s] == 0
            cand, s = todo[free], s[free]
            s_unique, first = np.unique(s, return_index=True)
            won = cand[first]
            self.keys[s_unique], self.values[s_unique] = hashes[won], values[won]
            placed = np.zeros(len(hashes), dtype=bool)
            placed[won] = True
            todo = todo[~placed[todo]]
            slot[todo] = (slot[todo] + 1) & self.mask

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.values.nbytes

    def get(self, hashes: np.ndarray) -> np.ndarray:
        out = np.full(len(hashes), -1, dtype=np.int32)
        slot = (hashes >> self.shift).astype(np.int64)
        todo = np.arange(len(hashes))
        while todo.size:
            s = slot[todo]
            k = self.keys[s]
            hit = k == hashes[todo]
            out[todo[hit]] = self.values[s[hit]]
            todo = todo[~hit & (k != 0)]
            slot[todo] = (slot[todo] + 1) & self.mask
        return out


def _positions_of(keys: list[str], ch: str) -> list[int]:
    """Indexes of the keys that contain ``ch`` (one pass over their concatenation)."""
    joined = "".join(keys)
    if ch not in joined:
        return []
    ends = np.cumsum([len(k) for k in keys])
    hits, at = [], joined.find(ch)
    while at >= 0:
        hits.append(int(np.searchsorted(ends, at, side="right")))
        at = joined.find(ch, at + 1)
    return sorted(set(hits))


def _dead(key: str) -> bool:
    """A key holding a wrapped character glued to a neighbour inside it can never occur in a spaced
    text, where every wrapped character has a space on both sides (docs/recipe.md §2.3)."""
    for i, ch in enumerate(key):
        if ch in WRAPPED and ((i > 0 and key[i - 1] != " ") or (i + 1 < len(key) and key[i + 1] != " ")):
            return True
    return False


def _ragged_equal(a: np.ndarray, a_start: np.ndarray, b: np.ndarray, b_start: np.ndarray,
                  length: np.ndarray) -> np.ndarray:
    """Per pair i: ``a[a_start[i]:+length[i]] == b[b_start[i]:+length[i]]`` (vectorised)."""
    if not len(length):
        return np.zeros(0, dtype=bool)
    assert length.min() > 0  # keys hold at least their two padding spaces
    first = np.cumsum(length) - length
    offs = np.arange(int(length.sum())) - np.repeat(first, length)
    diff = a[np.repeat(a_start, length) + offs] != b[np.repeat(b_start, length) + offs]
    return np.add.reduceat(diff.astype(np.int32), first) == 0


class Engine:
    """The metadata, compiled once per run, and the batch matching that uses it (the fast engine
    behind ``match``; :class:`metadata_builder.match.Matcher` is the convenience layer over it).

    Parameters
    ----------
    entries : the metadata (an entry's id is its index). Duplicates each keep their own id.
    normalizer : how texts are spaced and keys padded (:mod:`metadata_builder.match.normalize`).
    engine : ``auto`` (hash when every key is space-padded, mixed when some are, automaton when
        none is), ``hash``, ``automaton``, ``mixed``: the same results.
    duplicates : ``all`` ids of a duplicated entry string are credited, or only the ``last``.
    """

    def __init__(self, entries: list[str], normalizer: Normalizer | None = None, engine: str = "auto",
                 duplicates: str = "all"):
        start = time.perf_counter()
        self.normalizer = normalizer or Normalizer()
        self.n_entries = len(entries)
        if engine not in ENGINES:
            raise UserError(f"unknown matcher engine {engine!r}; choose one of {', '.join(ENGINES)}")
        if duplicates not in DUPLICATES:
            raise UserError(f"--duplicate-ids {duplicates!r}: choose one of {', '.join(DUPLICATES)}")
        self.duplicates = duplicates
        if self.normalizer.name == "metaclip-v1":
            keys = [f" {e} " for e in entries]
        else:
            keys = [self.normalizer.key(e) for e in entries]
        all_padded = self.normalizer.space_padded or all(len(k) > 1 and k[0] == " " and k[-1] == " " for k in keys)
        if engine == "hash" and not all_padded:
            raise UserError("the hash engine needs space-padded keys; use --matcher automaton or mixed "
                            f"with --normalize {self.normalizer.name}")
        if engine == "auto":
            engine = "hash" if all_padded else "mixed"
        # one automaton/table row per distinct key; duplicate entries share it (CSR key -> entries)
        distinct = dict.fromkeys(keys)
        self.unique_keys = len(distinct) == len(keys)
        if self.unique_keys:
            entry_key = np.arange(len(keys), dtype=np.int64)
        else:
            key_index = {k: i for i, k in enumerate(distinct)}
            entry_key = np.fromiter((key_index[k] for k in keys), dtype=np.int64, count=len(keys))
            keys = list(distinct)
        del distinct
        if duplicates == "last" and not self.unique_keys:  # one id per key: the last entry holding it
            reverse_first = np.unique(entry_key[::-1], return_index=True)[1]
            self.key_entries = (len(entry_key) - 1 - reverse_first).astype(np.int32)
            self.key_offsets = np.arange(len(keys) + 1)
        else:
            order = np.argsort(entry_key, kind="stable")
            self.key_entries = order.astype(np.int32)  # entries grouped by key, ascending inside a key
            self.key_offsets = np.concatenate([[0], np.cumsum(np.bincount(entry_key, minlength=len(keys)))])
        self.n_keys = len(keys)
        # a key holding \t \n \r can never occur in a spaced text: leave it out
        unsearchable = {i for ch in TO_SPACE for i in _positions_of(keys, ch)}
        searchable = [i for i in range(len(keys)) if i not in unsearchable] if unsearchable else range(len(keys))
        self.triggers = None  # mixed: first UTF-8 bytes a text needs for the automaton part to be walked
        if engine == "mixed":
            padded = [i for i in searchable if len(keys[i]) > 1 and keys[i][0] == " " and keys[i][-1] == " "]
            rest = [i for i in searchable if not (len(keys[i]) > 1 and keys[i][0] == " " and keys[i][-1] == " ")
                    and not _dead(keys[i])]
            if not rest:
                engine = "hash"
            elif not padded:
                engine = "automaton"
                searchable = rest
        self.engine = engine
        if engine == "hash":
            self._build_hash(keys, searchable)
        elif engine == "automaton":
            self._build_automaton(keys, searchable)
        else:
            self._build_hash(keys, padded)
            hash_bytes = self.nbytes
            self._build_automaton(keys, rest)
            self.nbytes += hash_bytes
            edges = {keys[i][0] if keys[i][0] != " " else keys[i][-1] for i in rest}
            lead = np.unique(np.frombuffer(b"".join(ch.encode("utf-8", "surrogatepass")[:1] for ch in edges),
                                           dtype=np.uint8))
            self.triggers = lead if len(lead) <= _MAX_TRIGGER_BYTES else None
        self.build_seconds = time.perf_counter() - start

    # ---- building -------------------------------------------------------------------------------
    def _build_automaton(self, keys: list[str], searchable) -> None:
        import ahocorasick

        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for i in searchable:
            automaton.add_word(keys[i], i)
        if len(searchable):
            automaton.make_automaton()
        self.automaton = automaton if len(searchable) else None
        self.key_chars = np.array([len(k) for k in keys], dtype=np.int64)
        self.nbytes = automaton.get_stats()["total_size"] if len(searchable) else 0

    def _build_hash(self, keys: list[str], searchable) -> None:
        encoded = [keys[i].encode("utf-8", "surrogatepass") for i in searchable]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        self.key_buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        del encoded
        starts = np.cumsum(lengths) - lengths
        ids = np.asarray(searchable, dtype=np.int64)
        self.key_start = np.zeros(len(keys), dtype=np.int64)
        self.key_len = np.zeros(len(keys), dtype=np.int64)
        self.key_start[ids], self.key_len[ids] = starts, lengths
        # every space-bounded prefix of a key ([start, space + 1) for each space after the first byte)
        spaces = np.flatnonzero(self.key_buf == 32)
        owner = np.searchsorted(starts, spaces, side="right") - 1
        inner = spaces > starts[owner]
        spaces, owner = spaces[inner], owner[inner]
        ends = spaces + 1
        is_full = ends == starts[owner] + lengths[owner]
        # hashes relative to each key's start: powers indexed by the offset inside the key, so the
        # power tables stay as short as the longest key
        local = np.arange(len(self.key_buf)) - np.repeat(starts, lengths)
        codes = self.key_buf.astype(np.uint64) + np.uint64(1)
        hashes = []
        for p in (_P1, _P2):  # a second, independent hash proves the table keys are distinct
            pw = _powers(p, int(lengths.max(initial=0)) + 1)
            cum = np.zeros(len(self.key_buf) + 1, dtype=np.uint64)
            with np.errstate(over="ignore"):
                np.cumsum(codes * pw[local], out=cum[1:])
                h = cum[ends] - cum[starts[owner]]
            h[h == 0] = 1
            hashes.append(h)
        del local, codes, cum
        h1, h2 = hashes
        self.hasher = _Hasher(_P1)
        order = np.lexsort((h2, h1))
        h1s, h2s = h1[order], h2[order]
        clash = (h1s[1:] == h1s[:-1]) & (h2s[1:] != h2s[:-1])
        if clash.any():
            raise UserError("two different metadata keys share a 64-bit hash; please report this "
                            "metadata file, and match it with --matcher automaton meanwhile")
        node_hash, node_of = np.unique(h1, return_inverse=True)
        self.node_key = np.full(len(node_hash), -1, dtype=np.int64)
        self.node_key[node_of[is_full]] = ids[owner[is_full]]
        self.node_prefix = np.zeros(len(node_hash), dtype=bool)
        self.node_prefix[node_of[~is_full]] = True
        self.table = _Table(node_hash, np.arange(len(node_hash), dtype=np.int32))
        self.nbytes = (self.table.nbytes + self.key_buf.nbytes + self.node_key.nbytes
                       + self.node_prefix.nbytes + self.key_start.nbytes + self.key_len.nbytes)

    # ---- spacing -------------------------------------------------------------------------------
    def space_joined(self, raw: bytes, single: bool = False) -> bytes:
        """Space a NUL-joined batch exactly as each text would be spaced alone (docs/recipe.md §2).

        ``single``: ``raw`` is one text, whose own NUL characters are no separators.
        """
        norm = self.normalizer
        if norm.nfkc or norm.casefold:
            raw = norm.transform(raw.decode("utf-8", "surrogatepass")).encode("utf-8", "surrogatepass")
        if norm.strip:  # str.strip of each text
            raw = strip_joined(raw, single)
        s = b" " + raw + b" "
        for ch in norm.wrapped:
            c = ch.encode("utf-8")
            s = s.replace(c, b" " + c + b" ")
        for ch in TO_SPACE:
            s = s.replace(ch.encode(), b" ")
        return s if single else s.replace(SEP, b" " + SEP + b" ")

    # ---- matching -------------------------------------------------------------------------------
    def match_texts(self, texts: list) -> tuple[np.ndarray, np.ndarray]:
        """Match a list of texts (``None`` matches nothing) -> sorted distinct (text, entry) pairs."""
        null = np.array([t is None for t in texts], dtype=bool)
        encoded = [t.encode("utf-8", "surrogatepass") if t is not None else b"" for t in texts]
        return self.match_encoded(encoded, null)

    def match_arrow(self, array) -> tuple[np.ndarray, np.ndarray]:
        """Match a pyarrow string/binary array of valid UTF-8 without making a Python str per text."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        n = len(array)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        null = array.is_null().to_numpy(zero_copy_only=False) if array.null_count else np.zeros(n, bool)
        filled = pc.fill_null(array.cast(pa.large_string()), "")
        joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array([0, n], pa.int64()), filled), pa.scalar("\x00", pa.large_string()))
        raw = joined[0].as_buffer().to_pybytes() if joined[0].is_valid else b""
        if raw.count(SEP) != n - 1:  # a text holds a NUL itself: separators would be ambiguous
            return self.match_encoded(filled.cast(pa.large_binary()).to_pylist(), null)
        return self._match_raw(raw, n, null)

    def match_encoded(self, encoded: list[bytes], null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = SEP.join(encoded)
        if raw.count(SEP) == len(encoded) - 1:
            return self._match_raw(raw, len(encoded), null)
        parts = [self._match_raw(t, 1, null[i:i + 1]) for i, t in enumerate(encoded)]  # NUL inside
        return (np.concatenate([p[0] + i for i, p in enumerate(parts)]) if parts else np.zeros(0, np.int64),
                np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32))

    def _match_raw(self, raw: bytes, n: int, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        spaced = self.space_joined(raw, single=n == 1)
        if self.engine == "hash":
            text, key = self._hash_pairs(spaced, single=n == 1)
        elif self.engine == "automaton":
            text, key = self._automaton_pairs(spaced, single=n == 1)
        else:
            text_h, key_h = self._hash_pairs(spaced, single=n == 1)
            text_a, key_a = self._filtered_automaton_pairs(spaced, single=n == 1)
            text, key = np.concatenate([text_h, text_a]), np.concatenate([key_h, key_a])
        if null.any():
            keep = ~null[text]
            text, key = text[keep], key[keep]
        return self._to_entries(text, key)

    def _hash_pairs(self, spaced: bytes, single: bool):
        buf = np.frombuffer(spaced, dtype=np.uint8)
        spaces = np.flatnonzero(buf == 32)
        h = self.hasher.prefix(buf)
        a = np.arange(len(spaces) - 1)
        b = a + 1
        found_x, found_y, found_key = [], [], []
        while a.size:
            x, y = spaces[a], spaces[b] + 1
            node = self.table.get(self.hasher.stretch(h, x, y))
            hit = node >= 0
            a, b, x, y, node = a[hit], b[hit], x[hit], y[hit], node[hit]
            key = self.node_key[node]
            full = key >= 0
            found_x.append(x[full]), found_y.append(y[full]), found_key.append(key[full])
            more = self.node_prefix[node] & (b + 1 < len(spaces))
            a, b = a[more], b[more] + 1
        x, y, key = (np.concatenate(v) if v else np.zeros(0, np.int64) for v in (found_x, found_y, found_key))
        same = y - x == self.key_len[key]
        x, y, key = x[same], y[same], key[same]
        ok = _ragged_equal(buf, x, self.key_buf, self.key_start[key], y - x)
        x, y, key = x[ok], y[ok], key[ok]
        if single:
            return np.zeros(len(key), np.int64), key
        seps = np.flatnonzero(buf == 0)
        text = np.searchsorted(seps, x)
        inside = text == np.searchsorted(seps, y - 1)  # a key holding NUL must not span two texts
        return text[inside], key[inside]

    def _automaton_pairs(self, spaced: bytes, single: bool):
        import itertools

        if self.automaton is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        text_str = spaced.decode("utf-8", "surrogatepass")
        flat = np.fromiter(itertools.chain.from_iterable(self.automaton.iter(text_str)), dtype=np.int64)
        end, key = flat[0::2], flat[1::2]
        if single:
            return np.zeros(len(key), np.int64), key
        chars = np.frombuffer(text_str.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        seps = np.flatnonzero(chars == 0)
        text = np.searchsorted(seps, end)
        inside = text == np.searchsorted(seps, end - self.key_chars[key] + 1)
        return text[inside], key[inside]

    def _filtered_automaton_pairs(self, spaced: bytes, single: bool):
        """The automaton part of ``mixed``, walked only over the texts holding a trigger byte."""
        if self.triggers is None or single:
            return self._automaton_pairs(spaced, single)
        buf = np.frombuffer(spaced, dtype=np.uint8)
        hits = np.flatnonzero(np.isin(buf, self.triggers))
        if not len(hits):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        seps = np.flatnonzero(buf == 0)
        texts = np.unique(np.searchsorted(seps, hits))
        if len(texts) * 2 > len(seps) + 1:  # most texts: walk them all
            return self._automaton_pairs(spaced, single)
        starts = np.concatenate([[0], seps + 1])[texts]
        ends = np.append(seps, len(buf))[texts]
        sub = SEP.join(spaced[a:b] for a, b in zip(starts.tolist(), ends.tolist()))
        text, key = self._automaton_pairs(sub, single=False)
        return texts[text], key

    def _to_entries(self, text: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(text, key) hits -> sorted distinct (text, entry id) pairs."""
        if not self.unique_keys:
            count = self.key_offsets[key + 1] - self.key_offsets[key]
            first = np.repeat(self.key_offsets[key], count)
            offs = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
            text, entry = np.repeat(text, count), self.key_entries[first + offs].astype(np.int64)
        else:
            entry = self.key_entries[key].astype(np.int64)
        code = np.unique(text.astype(np.int64) * max(1, self.n_entries) + entry)
        return code // max(1, self.n_entries), (code % max(1, self.n_entries)).astype(np.int32)
