"""Per-language t (Meta CLIP 2): every language gets the t whose tail share equals English's.

English keeps its t (given, ``--t-en``, or chosen by a tail share, ``--tail-share``), ``p`` is
English's tail share at that t (``tail_share(counts_en, t_en)``), and
every other language gets, on its own counts, the t whose tail share is ``p`` (released
``curate.py`` ``global_count``). Two rules turn a share into a t:

- ``smallest`` (ours, exact): the smallest integer t whose tail share is ``>= p``
  (:func:`~.probabilities.t_for_tail_share`);
- ``nearest`` (the released ``p_to_t``): sort the counts (zeros included), take the entry whose
  *inclusive* cumulative share is nearest ``p`` (first on ties) and return its count. It is not the
  inverse of the tail share (``count < t``): on the LAION sample, p = 0.06 gives t = 1 (a tail
  holding nothing) where ``smallest`` gives 2, and a language whose first matched entry already
  holds more than 2p gets t = 0, so it keeps nothing (the released ``count_to_prob`` then gives
  ``0 / count``).

The counts are those the recipe uses: per text, every matched text of every image (released
stage 1), whatever ``--per-image`` later keeps.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .probabilities import t_for_tail_share, tail_share

T_RULES = ("smallest", "nearest")
ENGLISH = "en"


def t_nearest(counts, p: float) -> int:
    """The released ``p_to_t``: the count of the entry whose inclusive cumulative share is nearest ``p``.

    ``counts`` of a language with no match at all give 0 (the released code divides 0 by 0 there).
    """
    counts = np.sort(np.asarray(counts, dtype=np.uint64))
    total = int(counts.sum()) if counts.size else 0
    if total == 0:
        return 0
    portion = np.cumsum(counts, dtype=np.uint64) / total
    return int(counts[int(np.abs(portion - p).argmin())])


def t_for_share(counts, p: float, rule: str = "smallest") -> int:
    """The t of ``counts`` whose tail share is ``p`` under ``rule`` (:data:`T_RULES`)."""
    if rule == "smallest":
        return t_for_tail_share(counts, p)
    if rule == "nearest":
        return t_nearest(counts, p)
    raise UserError(f"--t-rule {rule!r}: choose one of {', '.join(T_RULES)}")


def language_ts(counts_by_language: dict, *, t: float | None = None, t_en: float | None = None,
                tail_share_target: float | None = None, rule: str = "smallest") -> tuple[dict, float | None]:
    """``({lang: t}, p)``: each language's t and the tail share ``p`` they were derived from.

    Exactly one of ``t`` (the same t everywhere), ``t_en`` (English keeps it; the others get the t of
    English's tail share at it: the released ``global_count``) and ``tail_share_target`` (English's t
    is the t of that share, and the others get the t of English's tail share at it, as with ``t_en``;
    without English, every language gets the t of that share) is given.
    """
    if sum(x is not None for x in (t, t_en, tail_share_target)) != 1:
        raise UserError("give exactly one of --t, --t-en and --tail-share")
    if rule not in T_RULES:
        raise UserError(f"--t-rule {rule!r}: choose one of {', '.join(T_RULES)}")
    if t is not None:
        return {lang: t for lang in counts_by_language}, None
    if t_en is not None:
        if ENGLISH not in counts_by_language:
            raise UserError(f"--t-en: the match has no English texts (languages: "
                            f"{', '.join(counts_by_language) or 'none'}); give --tail-share or --t")
        p = tail_share(counts_by_language[ENGLISH], t_en)
    else:
        p = float(tail_share_target)
        if not 0.0 <= p <= 1.0:
            raise UserError(f"tail share {p!r} is outside [0, 1]; give a share such as 0.06")
        if ENGLISH in counts_by_language:  # English's t of that share, then English's share at it
            t_en = t_for_share(counts_by_language[ENGLISH], p, rule)
            p = tail_share(counts_by_language[ENGLISH], t_en)
    ts = {lang: (t_en if lang == ENGLISH and t_en is not None else t_for_share(c, p, rule))
          for lang, c in counts_by_language.items()}
    return ts, p


def language_probabilities(counts, t) -> np.ndarray:
    """``p[e] = t / max(count[e], t)``; a t of 0 (the released rule's empty tail) gives 0 everywhere."""
    counts = np.asarray(counts, dtype=np.float64)
    if not t > 0:
        return np.zeros(len(counts), dtype=np.float64)
    return float(t) / np.maximum(counts, float(t))
