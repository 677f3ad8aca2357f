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
- ``script-aware``: Meta CLIP 2's padding: an entry gets its leading (trailing) space only if its
  first (last) character is not CJK-like; kana and Hangul count as CJK-like (the released rule
  forgot them, so ``東京タワー`` failed to match ``東京タワーの夜``; ``script-aware-released``
  keeps that defect, for comparison only).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..errors import UserError

DEFAULT = "metaclip-v1"
#: The 7 characters the published recipe wraps in spaces, and the 3 it turns into a space.
WRAPPED = (",", ".", ";", ":", "?", "!", "`")
TO_SPACE = ("\t", "\n", "\r")
#: Wrapped in addition by the ``separators`` option.
EXTRA_WRAPPED = ("'", '"', "(", ")", "[", "]", "{", "}", "/", "\\", "-",
                 "\u2018", "\u2019", "\u201c", "\u201d")
OPTIONS = ("nfkc", "casefold", "separators", "script-aware", "script-aware-released")

#: Han ideographs (the released Meta CLIP 2 rule knows only these as CJK).
_HAN = ((0x2E80, 0x2FDF), (0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
        (0x20000, 0x3134F))
#: Kana and Hangul: written without spaces between words like Han, added by the fix.
_KANA_HANGUL = ((0x1100, 0x11FF), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3130, 0x318F),
                (0x31F0, 0x31FF), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF),
                (0xFF66, 0xFF9F), (0xFFA0, 0xFFDC))


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


def is_cjk_like(ch: str, *, kana_hangul: bool = True) -> bool:
    """True for characters of scripts written without spaces between words (no padding there)."""
    return _in(_HAN, ch) or (kana_hangul and _in(_KANA_HANGUL, ch))


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

    def transform(self, text: str) -> str:
        """Unicode steps shared by texts and entries (NFKC, case-folding), before spacing."""
        if self.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.casefold:
            text = text.casefold()
        return text

    def space_text(self, text: str) -> str:
        """The text as matched: transformed, padded with a space, separators wrapped (docs/recipe.md §2)."""
        text = f" {self.transform(text)} "
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
            entry = self.space_text(entry)[1:-1]
        if self.padding == "space":
            return f" {entry} "
        kana_hangul = self.padding == "script-aware"
        lead = "" if entry and is_cjk_like(entry[0], kana_hangul=kana_hangul) else " "
        trail = "" if entry and is_cjk_like(entry[-1], kana_hangul=kana_hangul) else " "
        return f"{lead}{entry}{trail}"


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
    for p in ("script-aware", "script-aware-released"):
        if p in parts:
            padding = p
    ordered = [p for p in OPTIONS if p in parts]
    return Normalizer(name=",".join(ordered) or DEFAULT, nfkc="nfkc" in parts,
                      casefold="casefold" in parts, separators="separators" in parts, padding=padding)
