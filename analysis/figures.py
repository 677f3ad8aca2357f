"""Figures of a matched pool, as matplotlib ``Figure`` objects (no global pyplot state).

Each function draws one question a user asks of their metadata and pool: how skewed the entry
counts are (rank-frequency, histogram), where the tail ends (the paper's Figure 2, tail -> head
cumulative counts, raw and clipped at several t), what t does (size, tail share, head entries,
balance), what each source contributes, and which entries dominate. Counts span decades, so the
count axes are logarithmic; every line is named in a legend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from . import curves

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]


def _thousands(x, _pos=None) -> str:
    """Axis labels with thousands separators, and k/M for large numbers."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:g}k"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def t_label(t) -> str:
    return "t = ∞ (raw counts)" if t is None else f"t = {int(t):,}"


def rank_frequency_figure(counts, t: int | None = None, title: str = "") -> Figure:
    """Zipf plot: count of each matched entry against its rank, log-log, with the threshold t drawn."""
    y = curves.rank_frequency(counts)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.loglog(np.arange(1, len(y) + 1), y, color=_COLORS[0], lw=1.8, label="matched entries")
    if t is not None:
        head = int((y > t).sum())
        ax.axhline(t, color=_COLORS[1], ls="--", lw=1.2,
                   label=f"{t_label(t)}: {head:,} head entries above, sub-sampled to ~t")
    ax.set_xlabel("entry rank (1 = most matched)")
    ax.set_ylabel("matches per entry (texts)")
    ax.set_title(title or f"Rank-frequency of the {len(y):,} matched entries")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right")
    return fig


def count_histogram_figure(counts, t: int | None = None) -> Figure:
    """How many entries have each count (log-spaced bins, log y); never-matched entries in the title."""
    c = np.asarray(counts, dtype=np.int64)
    matched = c[c > 0]
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    top = max(int(matched.max(initial=1)), 2)
    bins = np.unique(np.round(np.geomspace(1, top + 1, 40))) - 0.5  # integer counts sit inside a bin
    ax.hist(matched, bins=bins, color=_COLORS[0], alpha=0.85, label="matched entries")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if t is not None:
        ax.axvline(t, color=_COLORS[1], ls="--", lw=1.2, label=f"{t_label(t)} (tail left, head right)")
    ax.set_xlabel("matches per entry (texts), log-spaced bins")
    ax.set_ylabel("number of entries")
    ax.set_title(f"Entry counts: {len(matched):,} entries matched, {int((c == 0).sum()):,} never matched")
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right")
    return fig


def cumulative_figure(counts, ts=(), include_never_matched: bool | None = None) -> Figure:
    """The paper's Figure 2/3: entries sorted tail -> head, cumulative matches, raw and clipped at each t.

    The raw curve (t = ∞) ends at the total number of matches; the curve clipped at t ends at
    ``sum(min(count, t))``. Where a clipped curve leaves the raw one is where the head begins.
    Never-matched entries add a flat start (shaded); when they are most of the metadata (a small
    pool) they are left off the x axis by default, so the rise stays visible.
    """
    c = np.asarray(counts, dtype=np.int64)
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    zero = int((c == 0).sum())
    if include_never_matched is None:
        include_never_matched = zero <= len(c) / 2
    start = 0 if include_never_matched else zero
    x = np.arange(1, len(c) + 1 - start)  # position from the tail end of what is shown
    ts = [None] + sorted(int(t) for t in ts)
    ys = [curves.cumulative_curve(c, t) for t in ts]
    zoom = min(len(x), max(50, len(x) // 20))  # the right panel: the last entries, where the head is
    for ax, zoomed in zip(axes, (False, True)):
        if zero and include_never_matched:
            ax.axvspan(0, zero, color="0.92", label=f"{zero:,} entries never matched")
        for i, (t, y) in enumerate(zip(ts, ys)):
            ax.plot(x, y[start:], color=_COLORS[i % len(_COLORS)], lw=2.2 if t is None else 1.4,
                    label=f"{t_label(t)}: ends at {int(y[-1]):,}")
        ax.set_xlim(len(x) - zoom if zoomed else 0, len(x))
        if include_never_matched:
            ax.set_xlabel("metadata entries sorted by count, tail → head")
        else:
            ax.set_xlabel(f"matched entries sorted by count, tail → head\n"
                          f"({zero:,} never-matched entries left off)")
        ax.set_ylabel("cumulative matches (texts)")
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.grid(True, alpha=0.3)
        if zoomed:
            ax.set_title(f"Zoom: the last {zoom:,} entries, where the head begins")
        else:
            ax.set_title("Cumulative matches from tail to head, raw and clipped at t")
            ax.legend(loc="upper left")
    return fig


def effect_of_t_figure(effect: pd.DataFrame, t: int | None = None, t_paper: int | None = None,
                       share: float = curves.PAPER_TAIL_SHARE) -> Figure:
    """Four panels over the t grid: curated size, tail share, head entries, balance of the curated set.

    ``effect`` is :func:`analysis.curves.effect_of_t`'s table. ``t`` (the chosen threshold) and
    ``t_paper`` (where the tail share reaches ``share``, 6% in the paper) are marked on every panel.
    """
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2, sharex=True)
    x = effect["t"].to_numpy()

    if "expected_size" in effect:
        y, std = effect["expected_size"].to_numpy(), effect["expected_std"].to_numpy()
        a.plot(x, y, color=_COLORS[0], lw=1.8, label="expected curated size (exact)")
        a.fill_between(x, y - 2 * std, y + 2 * std, color=_COLORS[0], alpha=0.2, label="± 2 std")
        matched = float(np.median(y / effect["expected_fraction"].to_numpy()))
        a.axhline(matched, color="0.4", ls=":", lw=1.2, label=f"all {matched:,.0f} matched texts")
        a.set_ylabel("texts kept")
        a.set_title("Expected curated size")
    else:
        a.plot(x, effect["clipped_matches"], color=_COLORS[0], lw=1.8, label="sum(min(count, t))")
        a.set_ylabel("matches kept (clipped)")
        a.set_title("Matches kept after clipping at t")
    a.set_ylim(0, None)
    a.yaxis.set_major_formatter(FuncFormatter(_thousands))

    b.plot(x, effect["tail_share"], color=_COLORS[0], lw=1.8, label="tail share (count < t)")
    b.axhline(share, color="0.4", ls=":", lw=1.2, label=f"{share:.0%} (the paper's choice)")
    b.set_ylim(0, 1)
    b.yaxis.set_major_formatter(PercentFormatter(1.0))
    b.set_ylabel("share of all matches")
    b.set_title("Tail share: matches held by entries with count < t")

    c.plot(x, effect["head_entries"], color=_COLORS[0], lw=1.8, label="head entries (count > t)")
    c.set_yscale("symlog", linthresh=1)
    c.yaxis.set_major_formatter(FuncFormatter(_thousands))
    c.set_ylabel("entries")
    c.set_title("Head entries (sub-sampled by balancing)")

    d.plot(x, effect["entropy_norm"], color=_COLORS[0], lw=1.8, label="normalised entropy (left axis)")
    d.set_ylim(0, 1.02)
    d.set_ylabel("normalised entropy (1 = perfectly balanced)")
    d.set_title("Balance of the curated entry distribution")
    d2 = d.twinx()
    d2.plot(x, effect["effective_entries"], color=_COLORS[2], lw=1.4, ls="-.",
            label="effective number of entries (right axis)")
    d2.set_ylabel("effective entries, exp(entropy)")
    d2.yaxis.set_major_formatter(FuncFormatter(_thousands))
    d2.set_ylim(0, None)

    for ax in (a, b, c, d):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.grid(True, which="major", alpha=0.3)
        if t is not None:
            ax.axvline(t, color=_COLORS[1], ls="--", lw=1.2, label=f"chosen {t_label(t)}")
        if t_paper is not None and t_paper != t:
            ax.axvline(t_paper, color=_COLORS[3], ls=":", lw=1.4, label=f"{share:.0%} tail share: t = {t_paper:,}")
    for ax in (c, d):
        ax.set_xlabel("threshold t (texts per entry), log scale")
    handles, labels = d.get_legend_handles_labels()
    h2, l2 = d2.get_legend_handles_labels()
    d.legend(handles + h2, labels + l2, loc="lower left", fontsize=8)
    for ax in (a, b, c):
        ax.legend(loc="best", fontsize=8)
    fig.suptitle("Effect of the balancing threshold t", fontsize=13)
    return fig


def sources_figure(breakdown: pd.DataFrame) -> Figure:
    """Per source: entries, matched, never matched, dead and head entries (log scale), and share of matches."""
    table = breakdown.drop(index="all", errors="ignore")
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    a, b = fig.subplots(1, 2, width_ratios=[2, 1])
    columns = [("entries", "entries"), ("matched_entries", "matched (count > 0)"),
               ("zero_match", "never matched"), ("dead", "dead (can never match)"),
               ("head_entries", "head (count > t)")]
    width = 0.8 / len(columns)
    x = np.arange(len(table))
    for i, (col, label) in enumerate(columns):
        values = table[col].to_numpy()
        bars = a.bar(x + (i - (len(columns) - 1) / 2) * width, np.where(values > 0, values, np.nan), width,
                     color=_COLORS[i], label=label)
        for bar, v in zip(bars, values):
            a.annotate(f"{v:,}", (bar.get_x() + bar.get_width() / 2, max(v, 0.7)), ha="center",
                       va="bottom", fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
    a.set_yscale("log")
    a.set_ylim(0.7, table["entries"].max() * 30)
    a.set_xticks(x, table.index)
    a.set_ylabel("entries (log scale)")
    a.set_title("Entries per source")
    a.legend(loc="upper left", fontsize=8, ncols=2)
    a.grid(True, axis="y", alpha=0.3)

    b.barh(table.index[::-1], table["matches_share"].to_numpy()[::-1], color=_COLORS[0])
    for y, v, m in zip(range(len(table)), table["matches_share"].to_numpy()[::-1], table["matches"].to_numpy()[::-1]):
        b.annotate(f"{v:.1%} ({m:,})", (v, y), va="center", xytext=(3, 0), textcoords="offset points", fontsize=8)
    b.set_xlim(0, 1.3)
    b.set_xticks([0, 0.25, 0.5, 0.75, 1])
    b.xaxis.set_major_formatter(PercentFormatter(1.0))
    b.set_xlabel("share of all matches")
    b.set_title("Matches per source")
    b.grid(True, axis="x", alpha=0.3)
    return fig


def top_entries_figure(top: pd.DataFrame) -> Figure:
    """The top entries (Table 3) as horizontal bars, most matched on top."""
    fig = Figure(figsize=(7, max(3, 0.28 * len(top) + 1.2)), layout="constrained")
    ax = fig.subplots()
    labels = [f"{e!r} ({s})" for e, s in zip(top["entry"], top["source"])][::-1]
    counts = top["count"].to_numpy()[::-1]
    ax.barh(labels, counts, color=_COLORS[0])
    for y, v, sh in zip(range(len(counts)), counts, top["share"].to_numpy()[::-1]):
        ax.annotate(f"{v:,} ({sh:.1%})", (v, y), va="center", xytext=(3, 0), textcoords="offset points", fontsize=8)
    ax.set_xlim(0, counts.max(initial=1) * 1.25)
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("matches (texts containing the entry); in brackets: share of all matches")
    ax.set_title(f"Top {len(top)} entries (the paper's Table 3)")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def before_after_figure(counts, kept, t: int | None = None) -> Figure:
    """Rank-frequency before and after balancing: matched texts per entry and kept texts per entry."""
    before = curves.rank_frequency(counts)
    after = curves.rank_frequency(kept)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.loglog(np.arange(1, len(before) + 1), before, color=_COLORS[0], lw=1.8,
              label=f"before balancing: {int(np.sum(counts)):,} matches")
    ax.loglog(np.arange(1, len(after) + 1), after, color=_COLORS[2], lw=1.8,
              label=f"after balancing: {int(np.sum(kept)):,} matches in kept texts")
    if t is not None:
        ax.axhline(t, color=_COLORS[1], ls="--", lw=1.2, label=t_label(t))
    ax.set_xlabel("entry rank (1 = most matched)")
    ax.set_ylabel("texts per entry")
    ax.set_title("Entry distribution before and after balancing")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right")
    return fig
