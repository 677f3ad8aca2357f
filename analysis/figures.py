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


def rank_frequency_figure(counts, t: int | None = None, title: str = "", head_median: float | None = None,
                          count_unit: str = "texts") -> Figure:
    """Zipf plot: count of each matched entry against its rank, log-log, with the threshold t drawn.

    ``head_median``: the median expected kept / t of the head entries after balancing, when known
    (the legend then says how far balancing really brings them down, instead of "to t").
    ``count_unit``: what the counts count (``images`` with ``balance --count-over images``).
    """
    y = curves.rank_frequency(counts)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.loglog(np.arange(1, len(y) + 1), y, color=_COLORS[0], lw=1.8, label="matched entries")
    if t is not None:
        head = int((y > t).sum())
        after = f"; after balancing they keep a median {head_median:.2f} t" if head_median is not None and head else ""
        ax.axhline(t, color=_COLORS[1], ls="--", lw=1.2,
                   label=f"{t_label(t)}: {head:,} head entries above (count > t){after}")
    ax.set_xlabel("entry rank (1 = most matched)")
    ax.set_ylabel(f"matches per entry ({count_unit})")
    ax.set_title(title or f"Rank-frequency of the {len(y):,} matched entries"
                 + (f" (counted in {count_unit})" if count_unit != "texts" else ""))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return fig


def count_histogram_figure(counts, t: int | None = None, count_unit: str = "texts") -> Figure:
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
        ax.axvline(t, color=_COLORS[1], ls="--", lw=1.2, label=f"{t_label(t)}: tail (count < t) left, head (count > t) right")
    ax.set_xlabel(f"matches per entry ({count_unit}), log-spaced bins")
    ax.set_ylabel("number of entries")
    ax.set_title(("" if count_unit == "texts" else f"Counted in {count_unit}: ")
                 + f"{len(matched):,} entries matched, {int((c == 0).sum()):,} never matched")
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right")
    return fig


def cumulative_figure(counts, ts=(), include_never_matched: bool | None = None, count_unit: str = "texts") -> Figure:
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
        ax.set_ylabel(f"cumulative matches ({count_unit})")
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
                       share: float = curves.PAPER_TAIL_SHARE, unit: str = "texts",
                       share_note: str | None = None, count_unit: str = "texts") -> Figure:
    """Four panels over the t grid: curated size, tail share, head entries, balance of the curated set.

    ``effect`` is :func:`analysis.curves.effect_of_t`'s table. ``t`` (the chosen threshold) and
    ``t_paper`` (where the tail share reaches ``share``, 6% in the paper) are marked on every panel.
    ``unit``: what is kept (``images`` with ``balance --per-image``); ``count_unit``: what the entry
    counts (and so t) count (``images`` with ``--count-over images``). ``share_note``: written on the
    tail-share panel (e.g. that the target share is not reachable on this pool). The balance
    panel's axis spans the data (not 0-1), so that its changes are visible.
    """
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2, sharex=True)
    x = effect["t"].to_numpy()

    if "expected_size" in effect:
        y, std = effect["expected_size"].to_numpy(), effect["expected_std"].to_numpy()
        a.plot(x, y, color=_COLORS[0], lw=1.8, label=f"expected curated size (exact, {unit})")
        a.fill_between(x, y - 2 * std, y + 2 * std, color=_COLORS[0], alpha=0.2, label="± 2 std")
        fraction = effect["expected_fraction"].to_numpy()
        matched = float(np.median(y[fraction > 0] / fraction[fraction > 0])) if (fraction > 0).any() else 0.0
        a.axhline(matched, color="0.4", ls=":", lw=1.2,
                  label=f"all {matched:,.0f} candidate {unit}" if unit != "texts" else f"all {matched:,.0f} matched texts")
        a.set_ylabel(f"{unit} kept")
        a.set_title(f"Expected curated size ({unit})")
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
    if share_note:
        b.text(0.98, 0.5, share_note, transform=b.transAxes, ha="right", va="center", fontsize=8, wrap=True,
               bbox=dict(boxstyle="round", fc="#fff4e5", ec="#e6a23c"))

    c.plot(x, effect["head_entries"], color=_COLORS[0], lw=1.8, label="head entries (count > t)")
    c.set_yscale("symlog", linthresh=1)
    c.yaxis.set_major_formatter(FuncFormatter(_thousands))
    c.set_ylabel("entries")
    c.set_title("Head entries (sub-sampled by balancing)")

    entropy = effect["entropy_norm"].to_numpy(dtype=np.float64)
    d.plot(x, entropy, color=_COLORS[0], lw=1.8, label="normalised entropy (left axis)")
    finite = entropy[np.isfinite(entropy)]
    if len(finite):  # the data's own range (a 0-1 axis flattens changes of a few hundredths)
        low, high = float(finite.min()), float(finite.max())
        pad = max((high - low) * 0.15, 0.005)
        d.set_ylim(max(0.0, low - pad), min(1.0, high + pad) + (0.001 if high >= 1 else 0))
    d.set_ylabel("normalised entropy (1 = perfectly balanced)")
    d.set_title("Balance of the curated entry distribution")
    d2 = d.twinx()
    d2.plot(x, effect["effective_entries"], color=_COLORS[2], lw=1.4, ls="-.",
            label="effective number of entries (right axis)")
    d2.set_ylabel("effective entries, exp(entropy)")
    d2.yaxis.set_major_formatter(FuncFormatter(_thousands))

    for ax in (a, b, c, d):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.grid(True, which="major", alpha=0.3)
        if t is not None:
            ax.axvline(t, color=_COLORS[1], ls="--", lw=1.2, label=f"chosen {t_label(t)}")
        if t_paper is not None and t_paper != t:
            ax.axvline(t_paper, color=_COLORS[3], ls=":", lw=1.4, label=f"{share:.0%} tail share: t = {t_paper:,}")
    for ax in (c, d):
        ax.set_xlabel(f"threshold t ({count_unit} per entry), log scale")
    handles, labels = d.get_legend_handles_labels()
    h2, l2 = d2.get_legend_handles_labels()
    d.legend(handles + h2, labels + l2, loc="upper right", fontsize=8)
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
    short = {"entries": "entries", "matched_entries": "matched entries", "zero_match": "never-matched entries",
             "dead": "dead entries", "head_entries": "head entries"}
    empty = [short[col] for col, label in columns if not table[col].to_numpy().any()]
    columns = [(col, label) for col, label in columns if table[col].to_numpy().any()]  # no empty series
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
    a.set_title("Entries per source" + (f" (no {', no '.join(empty)})" if empty else ""), fontsize=10)
    a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, ncols=len(columns), frameon=False)
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


def top_entries_figure(top: pd.DataFrame, t: int | None = None, unit: str = "texts", count_unit: str = "texts") -> Figure:
    """The top entries (Table 3) as horizontal bars, most matched on top; with a ``kept_expected``
    column (and ``kept``), what balancing at ``t`` keeps of each is drawn over its bar."""
    fig = Figure(figsize=(8, max(3, 0.3 * len(top) + 1.4)), layout="constrained")
    ax = fig.subplots()
    labels = [f"{e!r} ({s})" for e, s in zip(top["entry"], top["source"])][::-1]
    counts = top["count"].to_numpy()[::-1]
    ax.barh(labels, counts, color=_COLORS[0], alpha=0.35 if "kept_expected" in top else 1.0, label=f"matched {count_unit}")
    if "kept_expected" in top:
        kept = top["kept_expected"].to_numpy()[::-1]
        ax.barh(labels, kept, height=0.5, color=_COLORS[2], label=f"kept at {t_label(t)} (expected, {unit})")
        if "kept" in top:
            ax.scatter(top["kept"].to_numpy()[::-1], range(len(labels)), marker="|", s=120, color="k", zorder=3,
                       label=f"kept by the balance run ({unit})")
        if t is not None:
            ax.axvline(t, color=_COLORS[1], ls="--", lw=1.0, label=t_label(t))
    for y, v, sh in zip(range(len(counts)), counts, top["share"].to_numpy()[::-1]):
        ax.annotate(f"{v:,} ({sh:.1%})", (v, y), va="center", xytext=(3, 0), textcoords="offset points", fontsize=8)
    ax.set_xlim(0, counts.max(initial=1) * 1.3)
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel(f"matches ({count_unit} containing the entry); in brackets: share of all matches")
    ax.set_title(f"Top {len(top)} entries (the paper's Table 3)")
    ax.grid(True, axis="x", alpha=0.3)
    if "kept_expected" in top:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def head_vs_t_figure(counts, t: int, expected_kept, kept=None, entries=None, unit: str = "texts",
                     label_top: int = 6) -> Figure:
    """How close balancing brings each head entry (count > t) to t.

    Left: every head entry's count / t (x) against its expected kept / t after balancing (y), log-log,
    with the cap (y = 1) and "nothing removed" (y = x); the entries farthest above t are named.
    Right: the same ratios sorted, before (count / t) and after (expected, and sampled when a balance
    run is given), so the median and the tail of the distribution can be read off.
    """
    c = np.asarray(counts, dtype=np.int64)
    head = np.flatnonzero(c > t)
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    a, b = fig.subplots(1, 2)
    if not len(head):
        for ax in (a, b):
            ax.text(0.5, 0.5, f"no head entry at {t_label(t)}: every entry count is <= t", ha="center",
                    va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return fig
    before = c[head] / t
    after = np.asarray(expected_kept, dtype=np.float64)[head] / t
    a.scatter(before, after, s=10, color=_COLORS[0], alpha=0.6, label=f"head entries ({len(head):,})")
    top = max(float(before.max()), 1.0) * 1.5
    a.plot([1, top], [1, top], color="0.5", ls=":", lw=1.2, label="nothing removed (kept = count)")
    a.axhline(1, color=_COLORS[1], ls="--", lw=1.2, label="the cap: kept = t")
    order = np.argsort(-after, kind="stable")[:label_top]
    a.scatter(before[order], after[order], s=36, facecolors="none", edgecolors=_COLORS[1], lw=1.2,
              label=f"the {len(order)} farthest above t (listed)")
    listing = "\n".join(f"{entries[head[i]] if entries is not None else head[i]!r}: "
                         f"{c[head[i]]:,} -> {after[i] * t:,.0f} ({after[i]:,.1f} t)" for i in order)
    a.text(0.98, 0.03, f"farthest above t (count -> expected kept):\n{listing}", transform=a.transAxes,
           ha="right", va="bottom", multialignment="left", fontsize=7.5, family="monospace",
           bbox=dict(boxstyle="round", fc="white", ec="0.7", alpha=0.9))
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("count / t (before balancing)")
    a.set_ylabel(f"expected kept {unit} / t (after)")
    a.set_title("Each head entry: before and after balancing")
    a.grid(True, which="major", alpha=0.3)
    a.legend(loc="upper left", fontsize=8)

    rank = np.arange(1, len(head) + 1)
    b.plot(rank, np.sort(before)[::-1], color="0.5", lw=1.4, label="before: count / t")
    b.plot(rank, np.sort(after)[::-1], color=_COLORS[0], lw=1.8,
           label=f"after, expected: median {np.median(after):.2f} t, p90 {np.quantile(after, 0.9):.2f} t")
    if kept is not None:
        sampled = np.asarray(kept, dtype=np.float64)[head] / t
        b.plot(rank, np.sort(sampled)[::-1], color=_COLORS[2], lw=1.0, ls="-.",
               label=f"after, sampled: median {np.median(sampled):.2f} t")
    b.axhline(1, color=_COLORS[1], ls="--", lw=1.2, label="t")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("head entries, ranked by the ratio")
    b.set_ylabel("ratio to t")
    b.set_title("Head entries relative to t, sorted")
    b.grid(True, which="major", alpha=0.3)
    b.legend(loc="upper right", fontsize=8)
    return fig


def before_after_figure(counts, kept, t: int | None = None, unit: str = "texts", count_unit: str = "texts") -> Figure:
    """Rank-frequency before and after balancing: matched texts per entry and kept texts (or
    images, with ``--per-image``) per entry."""
    before = curves.rank_frequency(counts)
    after = curves.rank_frequency(kept)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.loglog(np.arange(1, len(before) + 1), before, color=_COLORS[0], lw=1.8,
              label=f"before balancing: {int(np.sum(counts)):,} matches")
    ax.loglog(np.arange(1, len(after) + 1), after, color=_COLORS[2], lw=1.8,
              label=f"after balancing: {int(np.sum(kept)):,} matches in kept {unit}")
    if t is not None:
        ax.axhline(t, color=_COLORS[1], ls="--", lw=1.2, label=t_label(t))
    ax.set_xlabel("entry rank (1 = most matched)")
    ax.set_ylabel(f"{unit} per entry" if unit == count_unit else f"per entry: matched {count_unit} (before), kept {unit} (after)")
    ax.set_title("Entry distribution before and after balancing")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right")
    return fig
