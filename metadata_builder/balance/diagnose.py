"""When balancing does less than its name says: one-line warnings the CLI prints and the report shows.

Balancing caps each entry at about t only when t is well inside the range of the entry counts and
texts carry few matches. These checks say, in the unit being kept (texts, or images with
``--per-image``), when that fails:

- t is at or above every entry count: nothing is sub-sampled;
- the target tail share cannot be reached: the share jumps past it from one t to the next (on a
  small pool, count-1 entries alone may hold 16% of the matches);
- the head is barely flattened: head entries keep a median of more than 2 t (a text kept for one
  entry is kept for all of its entries), or the most matched entry keeps more than half its texts;
- head entries end well below t (median under 0.8 t): p[e] comes from counts over more texts than
  are candidates, as with ``--per-image`` on counts over every text of an image;
- nearly every candidate is kept (98% or more in expectation): balancing changes little.

The tail is the paper's: entries with ``count < t`` (docs/recipe.md §3.2); the head ``count > t``.
"""

from __future__ import annotations

import numpy as np

from .probabilities import tail_share

#: A target tail share is "not reachable" when the smallest t reaching it overshoots by more than this
#: (absolute) or by a quarter of the target, whichever is larger.
OVERSHOOT = 0.01
FLAT_MEDIAN = 2.0
LOW_MEDIAN = 0.8
KEEPS_ALMOST_ALL = 0.98


def head_ratios(counts, expected_kept, t) -> np.ndarray:
    """Expected kept / t of every head entry (``count > t``), in entry order."""
    counts = np.asarray(counts)
    head = counts > t
    return np.asarray(expected_kept, dtype=np.float64)[head] / float(t)


def balance_warnings(counts, t, *, tail_share_target: float | None = None, expected_kept=None,
                     expected_total: float | None = None, candidates: int | None = None,
                     entries=None, unit: str = "texts", matches_per_unit: float | None = None,
                     per_image_text_counts: bool = False) -> list[str]:
    """The warnings that apply to balancing ``counts`` at ``t`` (an empty list when none do).

    Parameters
    ----------
    counts : the entry counts p[e] is computed from.
    tail_share_target : the share t was chosen by (``--tail-share``), if it was.
    expected_kept : exact expected kept texts (or images) per entry at t, when known.
    expected_total, candidates : the expected curated size and the number of candidates.
    entries : entry strings, to name the worst entry.
    unit : ``"texts"`` or ``"images"``: what is kept.
    per_image_text_counts : ``--per-image`` with counts over every matched text (the released rule).
    """
    counts = np.asarray(counts, dtype=np.int64)
    one = unit[:-1]
    a_one = f"{'an' if one[:1] in 'aeiou' else 'a'} {one}"
    out = []
    top = int(counts.max(initial=0))
    if top and top <= t:
        out.append(f"t = {t:,} is at or above every entry count (the largest is {top:,}): no entry is "
                   f"sub-sampled and every matched {one} is kept; give a smaller --t or a --tail-share")
    if tail_share_target is not None and t > 1:
        reached, below = tail_share(counts, t), tail_share(counts, t - 1)
        if reached - tail_share_target > max(OVERSHOOT, 0.25 * tail_share_target):
            jump = reached - below
            out.append(f"no t gives a tail share near {tail_share_target:.1%}: it jumps from {below:.2%} at "
                       f"t = {t - 1:,} to {reached:.2%} at t = {t:,} (entries with count {t - 1:,} alone hold "
                       f"{jump:.2%} of the matches); t = {t:,} is used")
    if expected_kept is not None and (counts > t).any():
        ratio = head_ratios(counts, expected_kept, t)
        median = float(np.median(ratio))
        order = np.lexsort((np.arange(len(counts)), -counts))
        first = int(order[0])
        kept_first = float(np.asarray(expected_kept)[first])
        name = repr(entries[first]) if entries is not None else f"entry {first}"
        if median > FLAT_MEDIAN or kept_first > 0.5 * counts[first]:
            carried = f" ({matches_per_unit:.1f} matches per matched {one})" if matches_per_unit else ""
            out.append(f"balancing barely flattens the head at t = {t:,}: head entries keep a median "
                       f"{median:.2f} t (p90 {np.quantile(ratio, 0.9):.2f} t, max {ratio.max():,.1f} t) and the most "
                       f"matched, {name}, keeps {kept_first:,.0f} of its {counts[first]:,} {unit} in expectation; "
                       f"{a_one} kept for one entry is kept for all of its entries{carried}")
        elif median < LOW_MEDIAN:
            why = (" because p[e] = t / count uses counts over every matched text while one text per image "
                   "is a candidate; --count-over images counts the chosen texts instead") if per_image_text_counts else ""
            out.append(f"head entries end below t: they keep a median {median:.2f} t{why}")
    if expected_total is not None and candidates and (counts > t).any() \
            and expected_total >= KEEPS_ALMOST_ALL * candidates:
        out.append(f"at t = {t:,} balancing keeps {expected_total / candidates:.1%} of the {candidates:,} "
                   f"candidate {unit} in expectation: it changes little")
    return out


__all__ = ["balance_warnings", "head_ratios"]
