"""The per-language view of a worldwide match (Meta CLIP 2): one row per language and the figure of
tail share against t, each language's t marked on its curve and English's share p drawn across.

Units: ``texts`` counts every text of the pool in that language (matched or not), ``matched`` the
texts with at least one match, ``kept`` what balancing kept (texts, or images with ``--per-image``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from metadata_builder.balance.languages import ENGLISH, language_ts
from metadata_builder.balance.probabilities import tail_shares

from .curves import PAPER_TAIL_SHARE


def language_ts_of(match, balanced_stats: dict | None, tail_share: float | None = None) -> tuple[dict, float | None, str]:
    """Each language's t, English's share p, and where they come from: the balance when given, else
    English's t of ``tail_share`` (default 6%) and every other language at English's share there,
    by the smallest-t rule."""
    if balanced_stats and balanced_stats.get("languages"):
        ts = {lang: row["t"] for lang, row in balanced_stats["languages"].items()}
        return ts, balanced_stats.get("p"), f"t of the balance, {balanced_stats.get('t_rule', 'smallest')} rule"
    counts = match.counts
    share = PAPER_TAIL_SHARE if tail_share is None else tail_share
    ts, p = language_ts({lang: counts[sl] for lang, sl in match.language_slices.items()}, tail_share_target=share)
    return ts, p, f"English's t by a {share:.0%} tail share, smallest rule"


def language_table(match, balanced_stats: dict | None = None, tail_share: float | None = None) -> pd.DataFrame:
    """One row per language: texts, matched texts, matches, entries, entries hit, t, tail share at
    t, head entries, and (with a balance) the kept number in its unit."""
    counts = match.counts.astype(np.int64)
    ts, _, _ = language_ts_of(match, balanced_stats, tail_share)
    pool = match.language_stats
    kept = (balanced_stats or {}).get("languages") or {}
    unit = (balanced_stats or {}).get("unit", "texts")
    rows = []
    for lang, sl in match.language_slices.items():
        c, t, s = counts[sl], ts[lang], pool.get(lang, {})
        texts = int(s.get("texts", 0))
        row = {"language": lang, "texts": texts, "matched": int(s.get("matched_texts", 0)),
               "matched_share": s.get("matched_texts", 0) / texts if texts else 0.0,
               "matches": int(c.sum()), "entries": int(len(c)), "entries_hit": int((c > 0).sum()), "t": int(t),
               "tail_share": float(tail_shares(c, [t])[0]) if len(c) else 0.0,
               "head_entries": int((c > t).sum())}
        if kept:
            row[f"kept_{unit}"] = int(kept.get(lang, {}).get(f"kept_{unit}", 0))
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["texts", "language"], ascending=[False, True], kind="stable").reset_index(drop=True)


def tail_share_figure(match, balanced_stats: dict | None = None, tail_share: float | None = None,
                      max_languages: int = 12) -> Figure:
    """Tail share (count < t) against t for the languages with the most matches, each language's t
    marked on its curve, English's p as a horizontal line."""
    counts = match.counts.astype(np.int64)
    ts, p, origin = language_ts_of(match, balanced_stats, tail_share)
    slices = match.language_slices
    ranked = sorted((lang for lang in slices if counts[slices[lang]].sum() > 0),
                    key=lambda lang: (-int(counts[slices[lang]].sum()), lang))[:max_languages]
    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    if not ranked:
        ax.text(0.5, 0.5, "no language has a match", ha="center", va="center", transform=ax.transAxes)
        return fig
    top = max(int(counts.max()), 2)
    grid = np.unique(np.round(np.geomspace(1, top + 1, 200)).astype(np.int64))
    from matplotlib import colormaps

    palette = colormaps["tab20"].colors
    for i, lang in enumerate(ranked):
        c = counts[slices[lang]]
        shares = tail_shares(c, grid)
        style = {"linewidth": 2.4, "color": "black"} if lang == ENGLISH else \
            {"linewidth": 1.2, "color": palette[(2 * i) % 20 + (2 * i // 20) % 2]}
        (line,) = ax.step(grid, shares, where="post", label=f"{lang} (t = {ts[lang]:,})", **style)
        t = max(int(ts[lang]), 1)
        ax.plot([t], [tail_shares(c, [t])[0]], "o", color=line.get_color(), markersize=6)
    if p is not None:
        ax.axhline(p, color="crimson", linestyle="--", linewidth=1.2, label=f"English's p = {p:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("t (entries with count < t form the tail)")
    ax.set_ylabel("tail share of the language's matches")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Tail share against t, per language (dots: each language's t; {origin})")
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    return fig
