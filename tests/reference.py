"""The sub-string matching rule written out plainly (docs/recipe.md §2), for the tests to compare the
fast matchers against. One place, no regular expressions, no tricks: slow and obviously right."""

from __future__ import annotations

import bisect

#: The 7 characters the recipe wraps in spaces, and the 3 it turns into a space.
WRAPPED = (",", ".", ";", ":", "?", "!", "`")
TO_SPACE = ("\t", "\n", "\r")


def space(text: str) -> str:
    """``" " + text + " "``, each wrapped character padded, tab/newline/return turned into a space."""
    spaced = f" {text} "
    for ch in WRAPPED:
        spaced = spaced.replace(ch, f" {ch} ")
    for ch in TO_SPACE:
        spaced = spaced.replace(ch, " ")
    return spaced


class Reference:
    """Entry ``e`` matches a text when ``" " + e + " "`` occurs in its spaced form; every id of a
    duplicated entry string is credited. ``match`` tries every stretch between two spaces."""

    def __init__(self, entries):
        self.ids: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            self.ids.setdefault(f" {e} ", []).append(i)
        self.maxlen = max((len(k) for k in self.ids), default=0)
        self.maxspaces = max((k.count(" ") for k in self.ids), default=0)  # bounds the stretches tried

    def match(self, text) -> list[int]:
        if text is None:
            return []
        spaced = space(text)
        spaces = [i for i, ch in enumerate(spaced) if ch == " "]
        found = set()
        for a, i in enumerate(spaces):
            last = min(bisect.bisect_right(spaces, i + self.maxlen - 1), a + self.maxspaces)
            for j in spaces[a + 1:last]:
                found.update(self.ids.get(spaced[i:j + 1], ()))
        return sorted(found)


def _cjk(ch: str, kana_hangul: bool) -> bool:
    cp = ord(ch)
    han = 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x3000 <= cp <= 0x303F \
        or 0xF900 <= cp <= 0xFAFF or 0x2E80 <= cp <= 0x2FDF or 0x20000 <= cp <= 0x3134F
    return han or kana_hangul and (0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9F
                                   or 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F)


def script_aware_sets(entries, texts, kana_hangul: bool = True) -> list[set[str]]:
    """Meta CLIP 2's padding, plainly: an entry's leading (trailing) space only when its first (last)
    character is not CJK-like; each key tested with ``in`` on the spaced text."""
    keys = [("" if _cjk(e[0], kana_hangul) else " ") + e + ("" if _cjk(e[-1], kana_hangul) else " ")
            for e in entries]
    return [{e for e, k in zip(entries, keys) if k in space(text)} for text in texts]


# --- Meta CLIP 2 as released (metaclip/curation/substr_matching.py and curate.py, docs/recipe.md §4.8):
# what `--normalize script-aware-released` must equal. Written from the released functions' behaviour,
# plainly: `released_cjk` is its is_cjk_or_similar, `released_keys` its get_spaced_metadata, `space`
# (above) its spacing, and `released_match` its substr_match after curate.py's txt.strip().

#: The 32 ASCII punctuation characters (Python's string.punctuation) and the released matcher's 25 marks.
ASCII_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
RELEASED_MARKS = [chr(c) for c in (0xFF0C, 0x3002, 0x3001, 0xFF1B, 0xFF1A, 0xFF1F, 0xFF01, 0x201C, 0x201D,
                                   0x2018, 0x2019, 0xFF08, 0xFF09, 0x3010, 0x3011, 0x300A, 0x300B, 0x3008,
                                   0x3009, 0x300C, 0x300D, 0x300E, 0x300F, 0xFF5E, 0x2014)]


def released_cjk(ch: str) -> bool:
    cp = ord(ch)
    if (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0x2CEB0 <= cp <= 0x2EBEF or 0xF900 <= cp <= 0xFAFF or 0x2E80 <= cp <= 0x2EFF
            or 0x2F00 <= cp <= 0x2FDF or 0x2FF0 <= cp <= 0x2FFF):
        return True  # Han
    if 0x0E00 <= cp <= 0x0EFF or 0x1000 <= cp <= 0x109F or 0x1780 <= cp <= 0x17FF or 0x0F00 <= cp <= 0x0FFF:
        return True  # Thai, Lao, Myanmar, Khmer, Tibetan
    return ch in ASCII_PUNCTUATION or ch in RELEASED_MARKS


def released_keys(entries) -> list[tuple[int, str]]:
    """``(id, key)``: a space before (after) the entry unless its first (last) character is CJK-like."""
    out = []
    for i, entry in enumerate(entries):
        key = entry if released_cjk(entry[0]) else " " + entry
        key = key if released_cjk(key[-1]) else key + " "
        out.append((i, key))
    return out


class ReleasedMatcher:
    """The released matcher: one pyahocorasick automaton of ``(id, key)`` values, ``iter`` over the
    stripped and spaced text, a set of ids. ``last_id``: a duplicated key keeps the last id only
    (``add_word`` replaces the value, as released); otherwise every id of the key is credited."""

    def __init__(self, entries, last_id: bool = False):
        import ahocorasick

        self.ids: dict[str, list[int]] = {}
        for i, key in released_keys(entries):
            self.ids.setdefault(key, []).append(i)
        self.automaton = ahocorasick.Automaton()
        for key, ids in self.ids.items():
            self.automaton.add_word(key, ids[-1:] if last_id else ids)
        if self.ids:
            self.automaton.make_automaton()

    def match(self, text) -> list[int]:
        if text is None or not self.ids:
            return []
        found = set()
        for _, ids in self.automaton.iter(space(text.strip())):
            found.update(ids)
        return sorted(found)


def released_p_to_t(entry_counts, p):
    """The released ``p_to_t`` (Meta CLIP 2 curate.py): sort, inclusive cumulative share, nearest p."""
    import numpy as np

    counts = np.sort(entry_counts)
    portion = np.cumsum(counts) / counts.sum()
    return counts[(np.abs(portion - p)).argmin()]


def released_t_to_p(entry_counts, t):
    """The released ``t_to_p``: the share of matches held by entries with count < t."""
    return float(entry_counts[entry_counts < t].sum() / entry_counts.sum())
