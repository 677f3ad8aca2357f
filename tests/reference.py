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
