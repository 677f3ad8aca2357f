"""Which tokenisation recipe counts a dump: ``metaclip-v1`` (:mod:`.tokens`) or ``metaclip-v2``
(:mod:`.tokens_v2`, with a word segmenter for the languages written without spaces).

``auto`` (the default) takes ``metaclip-v1`` for English (and for a dump that does not say its
language) and ``metaclip-v2`` for every other language, as Meta CLIP 2 does: English keeps v1's
metadata. The language comes from the dumps' ``<siteinfo>`` (``<dbname>``, else ``<base>``) or
``--lang``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import languages
from ...errors import UserError

TOKEN_RECIPES = ("auto", "metaclip-v1", "metaclip-v2")
#: Wikipedias counted with recipe metaclip-v1 under ``auto``.
ENGLISH = frozenset({"en", "simple"})


@dataclass(frozen=True)
class Tokenization:
    """The resolved recipe of a run (sent to the workers; plain strings so it pickles)."""

    recipe: str  # metaclip-v1 | metaclip-v2
    lang: str | None  # Wikipedia code
    segmenter: str | None = None  # a name of segment.SEGMENTERS (no-space languages under v2)
    segmenter_version: str | None = None  # the segmenter with its packages' versions

    def settings(self) -> dict:
        """What the counts depend on, for the job's settings; empty for v1 (its counts depend on no
        language), so folders counted before recipes existed stay valid."""
        if self.recipe == "metaclip-v1":
            return {}
        return {"tokens": self.recipe, "lang": self.lang, "segmenter": self.segmenter_version}

    def new_counts(self):
        """A fresh counter (the interface of :class:`.tokens.ShardCounts`) for this recipe."""
        if self.recipe == "metaclip-v1":
            from .tokens import ShardCounts

            return ShardCounts()
        from .segment import segmenter
        from .tokens_v2 import ShardCountsV2

        return ShardCountsV2(segmenter(self.segmenter) if self.segmenter else None)


def dumps_language(siteinfos, dumps) -> str | None:
    """The one Wikipedia code the dumps' ``<siteinfo>`` give, None when none says; two differ: error."""
    found = {}
    for dump, info in zip(dumps, siteinfos):
        code = languages.wiki_code(getattr(info, "dbname", None), getattr(info, "base", None)) if info else None
        if code is not None:
            found.setdefault(code, dump)
    if len(found) > 1:
        pairs = ", ".join(f"{dump} ({code})" for code, dump in found.items())
        raise UserError(f"the dumps are of different Wikipedias: {pairs}; count one language per run, or force one with --lang")
    return next(iter(found), None)


def resolve(recipe: str = "auto", lang: str | None = None, segmenter: str | None = None) -> Tokenization:
    """The recipe to use for a dump of ``lang``; checks the segmenter can be imported (one-line error)."""
    if recipe not in TOKEN_RECIPES:
        raise UserError(f"unknown tokenisation recipe {recipe!r}; choose one of {', '.join(TOKEN_RECIPES)}")
    if lang is not None:
        lang = languages.check_wiki_code(lang)
    if recipe == "auto":
        recipe = "metaclip-v1" if lang is None or lang in ENGLISH else "metaclip-v2"
    if recipe == "metaclip-v1":
        if segmenter is not None:
            raise UserError("--segmenter applies to --tokens metaclip-v2 (recipe metaclip-v1 splits words by rule)")
        return Tokenization(recipe, lang)
    if segmenter is None and not languages.is_no_space(lang):
        return Tokenization(recipe, lang)
    from .segment import spec_for

    spec = spec_for(lang or "", segmenter)
    return Tokenization(recipe, lang, spec.name, spec.version())
