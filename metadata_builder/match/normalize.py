"""How texts are spaced and entries padded before sub-string matching.

The default, ``metaclip-v1``, is the published rule (docs/recipe.md §2), exactly: the text becomes
``" " + text + " "``, each of the 7 characters ``, . ; : ? ! ` `` gets a space on both sides, each of
``\\t \\n \\r`` becomes a space; an entry matches when ``" " + entry + " "`` is a substring.
Nothing else: case-sensitive, no Unicode normalisation, runs of spaces kept.

Options beside it (off unless asked; combine them with commas, e.g. ``nfkc,casefold``):

- ``nfkc``: Unicode NFKC on texts and entries (full-width letters, ligatures, ``ﬁ`` -> ``fi``).
- ``casefold``: :meth:`str.casefold` on texts and entries (``Dog`` matches ``dog``).
- ``separators``: also wrap quotes, brackets, slashes and hyphens (``' " ( ) [ ] { } / \\ -`` and
  typographic quotes), and space *entries* with the same rule as texts, so ``Dog's``, ``hot-dog``,
  ``(dog)`` match ``dog`` and ``U.S.`` can match at all.
- ``script-aware-released``: Meta CLIP 2's matching as released (``get_spaced_metadata``,
  ``spacing`` and the ``txt.strip()`` of ``curate.py``; docs/recipe.md §4.8), exactly: the text is
  stripped (``str.strip``) before the v1 spacing; an entry gets its leading (trailing) space only if
  its first (last) character is not "CJK-like" by the released test (:func:`released_cjk_like`): Han
  ideographs in 11 code point ranges, Thai, Lao, Myanmar, Khmer, Tibetan, the 32 ASCII punctuation
  characters and 25 CJK/typographic marks. Kana and Hangul are *not* CJK-like there, so
  ``東京タワー`` does not match ``東京タワーの夜`` and ``서울`` not ``서울의 밤``.
- ``script-aware`` (the default of a per-language match): the same, with the scripts fixed
  (:func:`no_space_script`: kana, Hangul, every Han block, CJK symbols and full-width forms added)
  and punctuation taking the script of its word: an edge that is punctuation is padded unless the
  nearest non-punctuation character inward is of a script written without spaces. So ``(album)``
  keeps v1's ``" (album) "`` (an English list matches exactly as ``metaclip-v1``) while
  ``東京(駅)`` gets no padding.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from ..errors import UserError

DEFAULT = "metaclip-v1"
#: The 7 characters the published recipe wraps in spaces, and the 3 it turns into a space.
WRAPPED = (",", ".", ";", ":", "?", "!", "`")
TO_SPACE = ("\t", "\n", "\r")
#: Wrapped in addition by the ``separators`` option.
EXTRA_WRAPPED = ("'", '"', "(", ")", "[", "]", "{", "}", "/", "\\", "-",
                 "\u2018", "\u2019", "\u201c", "\u201d")
OPTIONS = ("nfkc", "casefold", "separators", "script-aware", "script-aware-released")
SCRIPT_AWARE = ("script-aware", "script-aware-released")
#: The characters :meth:`str.strip` removes (``str.isspace``), for stripping Arrow arrays exactly.
WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())

# --- the released test (Meta CLIP 2 substr_matching.py is_cjk_or_similar), exactly -----------------
#: Code point ranges the released test calls CJK-like: Han (URO, Ext A-F, compatibility ideographs,
#: radicals supplement, Kangxi radicals, ideographic description characters), then Thai, Lao,
#: Myanmar, Khmer and Tibetan.
RELEASED_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                   (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF),
                   (0x2E80, 0x2EFF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF),
                   (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x0F00, 0x0FFF))
#: The 25 marks the released matcher adds to ASCII punctuation (its metadata builder lists 26: ``¿`` too).
RELEASED_MARKS = "，。、；：？！“”‘’（）【】《》〈〉「」『』～—"
_RELEASED_PUNCTUATION = frozenset(string.punctuation + RELEASED_MARKS)

# --- ours: scripts written without spaces between words -------------------------------------------
#: The released ranges plus what they miss: Han Ext G-I and the compatibility supplement, CJK
#: symbols and punctuation, kana (with phonetic extensions and half-width forms), Hangul (jamo,
#: compatibility jamo, extensions, syllables), Bopomofo, CJK strokes, enclosed CJK, CJK
#: compatibility, half-width and full-width forms, Myanmar extensions and Khmer symbols.
NO_SPACE_RANGES = RELEASED_RANGES + (
    (0x2EBF0, 0x2EE5F), (0x2F800, 0x2FA1F), (0x30000, 0x323AF),
    (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x31F0, 0x31FF),
    (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF),
    (0x3100, 0x312F), (0x31A0, 0x31BF), (0x31C0, 0x31EF), (0x3200, 0x32FF), (0x3300, 0x33FF),
    (0xFF00, 0xFFEF), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F), (0x19E0, 0x19FF))


#: In a padded key, what no spaced text can hold (docs/recipe.md §2): a wrapped character glued to a
#: neighbour (texts always get a space on both sides of it), two wrapped characters one space apart
#: (texts get two), or a character texts turn into a space.
_UNMATCHABLE = re.compile(
    rf"[^ ](?P<a>[{re.escape(''.join(WRAPPED))}])"
    rf"|(?P<b>[{re.escape(''.join(WRAPPED))}])[^ ]"
    rf"|(?P<c>[{re.escape(''.join(WRAPPED))}]) [{re.escape(''.join(WRAPPED))}]"
    rf"|(?P<d>[{re.escape(''.join(TO_SPACE))}])")


def unmatchable_char(entry: str) -> str | None:
    """The character that makes ``entry`` impossible to match under ``metaclip-v1`` (``'.'`` for
    ``U.S.``, ``st. louis``, ``3.5``), or None when some text can match it."""
    found = _UNMATCHABLE.search(f" {entry} ")
    if not found:
        return None
    return next(g for g in found.groups() if g is not None)


def _in(ranges, ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ranges)


@lru_cache(maxsize=65536)
def released_cjk_like(ch: str) -> bool:
    """The released ``is_cjk_or_similar``: True means no space is added on that side of an entry."""
    return _in(RELEASED_RANGES, ch) or ch in _RELEASED_PUNCTUATION


@lru_cache(maxsize=65536)
def no_space_script(ch: str) -> bool:
    """True for a character of a script written without spaces between words (or its punctuation)."""
    return _in(NO_SPACE_RANGES, ch)


@lru_cache(maxsize=65536)
def _punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def _edge_unspaced(entry: str, edge: int) -> bool:
    """``script-aware``: whether the entry's edge (0: first, -1: last) goes without a space."""
    ch = entry[edge]
    if no_space_script(ch):
        return True
    if not _punctuation(ch):
        return False
    inward = entry if edge == 0 else reversed(entry)
    for c in inward:  # punctuation takes the script of the nearest character of its word
        if not _punctuation(c):
            return no_space_script(c)
    return False


def is_cjk_like(ch: str, *, kana_hangul: bool = True) -> bool:
    """One character alone: :func:`no_space_script` (ours) or :func:`released_cjk_like`."""
    return no_space_script(ch) if kana_hangul else released_cjk_like(ch)


@dataclass(frozen=True)
class Normalizer:
    """A parsed ``--normalize`` value: which steps apply to texts and to entries."""

    name: str = DEFAULT
    nfkc: bool = False
    casefold: bool = False
    separators: bool = False
    padding: str = "space"  # "space" | "script-aware" | "script-aware-released"

    @property
    def wrapped(self) -> tuple[str, ...]:
        return WRAPPED + (EXTRA_WRAPPED if self.separators else ())

    @property
    def space_padded(self) -> bool:
        """Every key starts and ends with a space (the fast hash matcher relies on it)."""
        return self.padding == "space"

    @property
    def strip(self) -> bool:
        """Texts are stripped (``str.strip``) before spacing: Meta CLIP 2's ``curate.py`` does it."""
        return self.padding in SCRIPT_AWARE

    def transform(self, text: str) -> str:
        """Unicode steps shared by texts and entries (NFKC, case-folding), before spacing."""
        if self.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.casefold:
            text = text.casefold()
        return text

    def space_text(self, text: str) -> str:
        """The text as matched: transformed, [stripped,] padded with a space, separators wrapped
        (docs/recipe.md §2)."""
        text = self.transform(text)
        if self.strip:
            text = text.strip()
        text = f" {text} "
        for ch in self.wrapped:
            text = text.replace(ch, f" {ch} ")
        for ch in TO_SPACE:
            text = text.replace(ch, " ")
        return text

    def unmatchable(self, entry: str) -> str | None:
        """The character that makes ``entry`` impossible to match under this normaliser, or None.

        With ``separators`` entries are spaced like texts, so only ``\\t \\n \\r`` can do it; with
        script-aware padding only those are checked as well.
        """
        if self.separators or not self.space_padded:
            key = self.key(entry)
            return next((ch for ch in TO_SPACE if ch in key), None)
        return unmatchable_char(self.transform(entry))

    def key(self, entry: str) -> str:
        """The string searched for: ``" " + entry + " "`` by default."""
        entry = self.transform(entry)
        if self.separators:  # space the entry like a text, without the outer padding
            entry = self._space_entry(entry)
        if self.padding == "space":
            return f" {entry} "
        if not entry:
            return "  "  # (the released function raises IndexError on an empty entry)
        if self.padding == "script-aware-released":
            lead, trail = released_cjk_like(entry[0]), released_cjk_like(entry[-1])
        else:
            lead, trail = _edge_unspaced(entry, 0), _edge_unspaced(entry, -1)
        return f"{'' if lead else ' '}{entry}{'' if trail else ' '}"

    def _space_entry(self, entry: str) -> str:
        """Separators wrapped and tab/newline/return spaced as in a text, without the outer spaces."""
        for ch in self.wrapped:
            entry = entry.replace(ch, f" {ch} ")
        for ch in TO_SPACE:
            entry = entry.replace(ch, " ")
        return entry


def parse(value: str | None) -> Normalizer:
    """``"metaclip-v1"`` or a comma-separated list of :data:`OPTIONS` -> :class:`Normalizer`."""
    if value is None or value == DEFAULT:
        return Normalizer()
    parts = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in parts if p not in OPTIONS and p != DEFAULT]
    if unknown:
        raise UserError(f"--normalize: unknown option(s) {', '.join(unknown)}; choose {DEFAULT} "
                        f"or a comma-separated list of {', '.join(OPTIONS)}")
    padding = "space"
    if "script-aware" in parts and "script-aware-released" in parts:
        raise UserError("--normalize: choose one of script-aware, script-aware-released")
    for p in SCRIPT_AWARE:
        if p in parts:
            padding = p
    ordered = [p for p in OPTIONS if p in parts]
    return Normalizer(name=",".join(ordered) or DEFAULT, nfkc="nfkc" in parts,
                      casefold="casefold" in parts, separators="separators" in parts, padding=padding)
