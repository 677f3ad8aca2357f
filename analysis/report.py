"""The report a user opens to judge metadata, pool and t: ``report.html`` (self-contained) and ``report.md``.

:func:`build_report` computes every table and figure of :mod:`analysis` for one match folder (and,
optionally, the balanced folder made from it) and writes

- ``report.html``: tables and figures, the PNGs embedded as base64, so the single file can be
  mailed or opened anywhere;
- ``report.md`` with the same tables, the figures beside it in ``figures/*.png``;
- ``tables/*.csv``: every table, for re-use.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from metadata_builder.runtime import storage

from . import curves, figures, languages, tables

DEFAULT_TOP_K = 25


@dataclass
class Report:
    """What :func:`build_report` computed and wrote."""

    t: int
    t_paper: int
    summary: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    figures: dict[str, "figures.Figure"]
    paths: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _metadata_table(metadata, match) -> tuple[pd.DataFrame, list[str]]:
    """Each entry's source, from ``metadata.parquet`` (given, or beside the given ``metadata.json``,
    or beside the JSON the match used when ``metadata`` is None), checked to be the metadata the match
    used: same entries, same order. A JSON list alone is accepted: the entries then have no source
    (the returned notes say so, and the per-source section is left out)."""
    from metadata_builder.errors import UserError
    from metadata_builder.match.metadata import load_metadata, load_metadata_table
    from metadata_builder.match.output import entries_digest

    notes = []
    if match.languages and not isinstance(metadata, pd.DataFrame):
        return _language_metadata_table(match), notes
    if isinstance(metadata, pd.DataFrame):
        table, where = metadata, "the metadata table"
    else:
        where = storage.canonical(metadata if metadata is not None else match.manifest["metadata"]["path"])
        entries = None if where.lower().endswith(".parquet") else load_metadata(where)  # (a parquet is its own table)
        table = load_metadata_table(where, entries)
        if table is None:
            table = pd.DataFrame({"id": np.arange(len(entries)), "entry": entries, "source": "unknown"})
            notes.append(f"{where}: no metadata.parquet with the same entries beside it, so entries have no "
                         "source: the per-source section is left out (give the metadata.parquet 'assemble' wrote)")
    missing = {"entry", "source"} - set(table.columns)
    if missing:
        raise UserError(f"{where}: no column {', '.join(sorted(missing))}; give the metadata.parquet written by "
                        "'metadata-builder assemble' (columns id, entry, source, score_name, score)")
    if "id" in table.columns:
        table = table.sort_values("id", kind="stable")
    expected = match.manifest["metadata"].get("entries_sha256")
    if len(table) != match.n_entries or entries_digest(table["entry"].tolist()) != expected:
        raise UserError(f"{where}: is not the metadata the match used ({match.manifest['metadata']['path']}: "
                        f"{match.n_entries:,} entries, another list or order); give its metadata.parquet")
    return table.reset_index(drop=True), notes


def _language_metadata_table(match) -> pd.DataFrame:
    """A per-language match's entries, laid end to end as in its entry space; an entry's ``source`` is
    its language (so the per-source table is a per-language one)."""
    frames = []
    for group in match.languages:
        entries = match.entries[group["offset"]:group["offset"] + group["entries"]]
        frames.append(pd.DataFrame({"entry": entries, "source": group["lang"]}))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"entry": [], "source": []})
    table.insert(0, "id", np.arange(len(table)))
    return table


def _share_note(counts: np.ndarray, share: float) -> str | None:
    """When no t gives a tail share near ``share``: the jump, for the tail-share panel."""
    from metadata_builder.balance import tail_share as share_at
    from metadata_builder.balance.diagnose import OVERSHOOT

    t = curves.t_at_tail_share(counts, share)
    if t <= 1:
        return None
    reached, below = share_at(counts, t), share_at(counts, t - 1)
    if reached - share <= max(OVERSHOOT, 0.25 * share):
        return None
    return (f"{share:.0%} is not reachable here:\nthe tail share jumps from\n{below:.1%} (t = {t - 1:,}) "
            f"to {reached:.1%} (t = {t:,})")


def _pool_summary(match, counts: np.ndarray, t: int, t_how: str, t_paper: int, effect_t: pd.Series,
                  head: pd.DataFrame, unit: str, candidates: int) -> pd.DataFrame:
    texts = match.texts
    matched = match.matched_texts
    matches = int(match.counts.sum())
    tail = (counts >= 1) & (counts < t)
    rows = [
        ("pool files (shards)", f"{len(match.shards):,}"),
        ("texts in the pool", f"{texts:,}"),
        ("texts with at least one match", f"{matched:,}" + (f" ({matched / texts:.1%})" if texts else "")),
        ("matches (text, entry pairs)", f"{matches:,} ({matches / max(matched, 1):.2f} per matched text)"),
        ("metadata entries", f"{len(counts):,}"),
        ("entries never matched", f"{int((match.counts == 0).sum()):,} ({(match.counts == 0).mean():.1%})"),
    ]
    if unit != "texts":
        rows.append((f"candidate {unit}", f"{candidates:,} (one matched text each, chosen at random; balance --per-image)"))
    rows += [
        ("t (this report)", f"{t:,}"),
        ("t chosen by", t_how),
        ("tail at t (count < t)", f"{int(tail.sum()):,} entries holding {effect_t['tail_share']:.2%} of the matches"),
        ("entries at t (count = t)", f"{int(((counts == t) & (counts > 0)).sum()):,} (kept whole, not in the tail)"),
        (f"t giving a {curves.PAPER_TAIL_SHARE:.0%} tail share (the paper's rule)", f"{t_paper:,}"),
        ("head entries at t (count > t)", f"{int(effect_t['head_entries']):,}"),
    ]
    if len(head) and head["head_entries"].iloc[0]:
        after = head.loc["after, expected (E[kept] / t)"]
        rows.append(("head entries after balancing (expected kept / t)",
                     f"median {after['median']:.2f} t, p90 {after['p90']:.2f} t, max {after['max']:,.1f} t"))
    rows += [
        (f"expected curated size at t ({unit})", f"{effect_t['expected_size']:,.1f} ± {effect_t['expected_std']:,.1f} "
                                               f"({effect_t['expected_fraction']:.1%} of {candidates:,} candidate {unit})"),
        ("balance of the curated entries at t", f"normalised entropy {effect_t['entropy_norm']:.3f}, "
                                                f"{effect_t['effective_entries']:,.0f} effective entries"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])


def _balanced_summary(balanced, t: int) -> tuple[pd.DataFrame, np.ndarray]:
    stats = balanced.stats
    kept = balanced.kept.astype(np.int64)
    h, eff = curves.entropy_measures(kept)
    size = f"(expected {stats['expected']:,.1f} ± {stats['std']:,.1f}, z = {stats['z']:+.2f})"
    if balanced.per_image:
        what = (f"{stats['kept']:,} of {stats.get('images', stats['candidates']):,} images, one matched text each, chosen among "
                f"{stats['texts']:,} matched texts {size}")
        rows_kept = ("images kept", what)
    else:
        rows_kept = ("texts kept", f"{stats['kept']:,} of {stats['texts']:,} matched texts {size}")
    used = "one per language (see Per language)" if stats.get("languages") else \
        f"{stats['t']:,}" + ("" if stats["t"] == t else f" (this report's t is {t:,})")
    rows = [
        ("balanced folder", str(balanced.path)),
        ("t used by balance", used),
        ("seed", f"{stats['seed']}"),
    ]
    if balanced.per_image:
        rows.append(("counts behind t and p[e]", f"over {stats.get('count_over', 'texts')}"
                     + (" (every matched text, the released rule)" if stats.get("count_over", "texts") == "texts"
                        else " (the chosen text of each image)")))
    rows += [rows_kept, ("balance of the kept entries", f"normalised entropy {h:.3f}, {eff:,.0f} effective entries"),
             ("curated rows", str(balanced.curated_folder))]
    return pd.DataFrame(rows, columns=["quantity", "value"]), kept


def build_report(match, metadata=None, out_dir=None, *, t: int | None = None, tail_share: float | None = None,
                 balanced=None, top_k: int = DEFAULT_TOP_K, grid_points: int = 40, title: str | None = None,
                 write: bool = True) -> Report:
    """Compute every table and figure for ``match`` and write the report into ``out_dir``.

    Parameters
    ----------
    match : match folder (or ``MatchOutput``).
    metadata : ``metadata.parquet`` or ``metadata.json`` (path, or a DataFrame) the match used: gives
        each entry's source (a JSON list without its parquet has none). None: the metadata the
        match's manifest names (and the parquet beside it).
    t, tail_share : the threshold to report on, given directly or by the tail share it should reach;
        neither: the balance run's t with ``balanced``, else the paper's rule, a 6% tail share.
    balanced : optional output folder of ``metadata-builder balance`` on the same match: adds the
        realised curated size and the kept entry distribution; with ``--per-image`` everything is
        said in images, over the chosen texts, with the counts p[e] came from.
    """
    from metadata_builder.balance import BalanceOutput, balance_warnings, expected_entry_counts
    from metadata_builder.errors import UserError
    from metadata_builder.match.output import MatchOutput

    match = match if isinstance(match, MatchOutput) else MatchOutput(match)
    meta, notes = _metadata_table(metadata, match)
    bal = None
    if balanced is not None:
        bal = balanced if isinstance(balanced, BalanceOutput) else BalanceOutput(balanced)
        if bal.match_key != match.key:
            raise UserError(f"{bal.path}: was balanced from another match than {match.path}; "
                            "give the balance of this match")
    unit = bal.unit if bal is not None else "texts"
    counts = match.counts.astype(np.int64)
    rows = None
    if bal is not None and bal.per_image:
        rows = bal.candidates()
        if bal.counts is not None:
            counts = bal.counts.astype(np.int64)
    share_target = None
    if t is not None:
        t_how = "given (--t)"
    elif tail_share is not None:
        t, share_target, t_how = curves.t_at_tail_share(counts, tail_share), tail_share, f"a {tail_share:g} tail share"
    elif bal is not None and bal.stats["t"] is not None:
        t, share_target = bal.stats["t"], bal.stats.get("tail_share_target")
        t_how = "the balance run" + (f" (a {share_target:g} tail share)" if share_target is not None else "")
    else:
        share_target = curves.PAPER_TAIL_SHARE
        t, t_how = curves.t_at_tail_share(counts, share_target), f"the paper's rule (a {share_target:.0%} tail share)"
    t = int(t)
    one_t = bool(match.languages)  # a per-language match: this section takes every language at the one t
    if one_t:
        t_how += ("; English's t when the balance has one. Here every language's entries are taken at this one t; "
                  "each language's own t, tail share and kept numbers are in the section Per language")
        share_target = None  # (a tail share is each language's own: said per language, not pool-wide)
    t_paper = curves.t_at_tail_share(counts, curves.PAPER_TAIL_SHARE)
    candidates = sum(len(r) for r in rows.values()) if rows is not None else match.matched_texts

    grid = sorted({int(x) for x in curves.t_grid(counts, grid_points, [t, t_paper])})
    expected_grid = expected_entry_counts(match, grid, rows=rows, counts=counts)  # one pass for the curve and t
    effect = curves.effect_of_t(counts, grid, match, rows=rows, expected=expected_grid)
    at_t = effect.set_index("t").loc[t]
    expected_kept = expected_grid[grid.index(t)]
    kept = bal.kept.astype(np.int64) if bal is not None and bal.stats["t"] == t and not one_t else None
    head = tables.head_vs_t(counts, t, expected_kept, kept)
    count_over_images = bal is not None and bal.per_image and bal.stats.get("count_over") == "images"
    warnings = notes + balance_warnings(
        counts, t, tail_share_target=share_target, expected_kept=expected_kept,
        expected_total=float(at_t["expected_size"]), candidates=candidates, entries=meta["entry"].tolist(), unit=unit,
        matches_per_unit=float(counts.sum()) / max(candidates if count_over_images else match.matched_texts, 1),
        per_image_text_counts=bal is not None and bal.per_image and not count_over_images)
    summary = _pool_summary(match, counts, t, t_how, t_paper, at_t, head, unit, candidates)
    cumulative_ts = sorted({t, t_paper, max(1, t // 10), t * 10} - {0})
    top = tables.top_entries(counts, meta, top_k, t=t, expected_kept=expected_kept, kept=kept)
    has_sources = not (meta["source"] == "unknown").all()
    out = {"summary": summary}
    if warnings:
        out["warnings"] = pd.DataFrame({"warning": warnings})
    out.update({
        "head_tail": tables.head_tail_table(counts, t).reset_index(),
        "head_vs_t": head.reset_index(),
        "worst_head": tables.worst_head_entries(counts, meta, t, expected_kept, kept),
        "top_entries": top.reset_index(),
    })
    sources = tables.source_breakdown(counts, meta, t) if has_sources else None
    if has_sources:
        out["sources"] = sources.reset_index()
        out["dead_examples"] = tables.dead_entry_examples(counts, meta)
    out["effect_of_t"] = effect
    median = float(head["median"].iloc[1]) if len(head) and head["head_entries"].iloc[0] else None
    count_unit = "images" if count_over_images else "texts"
    figs = {
        "rank_frequency": figures.rank_frequency_figure(counts, t, head_median=median, count_unit=count_unit),
        "count_histogram": figures.count_histogram_figure(counts, t, count_unit=count_unit),
        "head_vs_t": figures.head_vs_t_figure(counts, t, expected_kept, kept, meta["entry"].tolist(), unit),
        "cumulative": figures.cumulative_figure(counts, cumulative_ts, count_unit=count_unit),
        "effect_of_t": figures.effect_of_t_figure(effect, t, t_paper, unit=unit,
                                                  share_note=_share_note(counts, curves.PAPER_TAIL_SHARE),
                                                  count_unit=count_unit),
        "top_entries": figures.top_entries_figure(top, t, unit, count_unit),
    }
    if has_sources:
        figs["sources"] = figures.sources_figure(sources)
    if bal is not None:
        out["balanced"], kept_all = _balanced_summary(bal, t)
        figs["balanced"] = figures.before_after_figure(counts, kept_all, t if one_t else bal.stats["t"], unit, count_unit)
    if match.languages:
        stats = bal.stats if bal is not None else None
        out["languages"] = languages.language_table(match, stats, tail_share)
        figs["languages"] = languages.tail_share_figure(match, stats, tail_share)
    report = Report(t=t, t_paper=t_paper, summary=summary, tables=out, figures=figs, warnings=warnings)
    if write:
        name = str(match.path).rstrip("/").rsplit("/", 1)[-1]
        report.paths = write_report(report, out_dir, title or f"Entry distribution of {name}", match)
    return report


# ----------------------------------------------------------------------------- writing

_SECTIONS = [
    # (table key, figure keys, heading, text)
    ("summary", [], "Summary", "The pool, its matches and the threshold t this report looks at."),
    ("warnings", [], "Warnings", "Where balancing at this t does less than its name says, or the report knows less."),
    ("head_tail", ["rank_frequency", "count_histogram"], "Head and tail (the paper's Table 2)",
     "The tail is the entries with count < t, as in the paper: its share of all matches is what t is tuned by "
     "(6% in the paper). Entries with count = t keep all their texts too (p = 1) but are not in the tail. Head "
     "entries (count > t) are sub-sampled: alone, each would keep t texts in expectation. The rows add up to "
     "the `all` row."),
    ("head_vs_t", ["head_vs_t"], "How far balancing brings the head down",
     "A text is kept if any of its entries wins its draw, so a head entry also keeps the texts it shares with "
     "entries that won: it ends above t, the more so the more matches a text carries and the smaller t is "
     "against the pool. Ratios to t of every head entry before (count / t) and after balancing (the exact "
     "expectation; sampled with a balance run); `kept_share` is the share of the head's matched texts that stay."),
    ("worst_head", [], "The head entries farthest above t", ""),
    (None, ["cumulative"], "From tail to head (the paper's Figures 2 and 3)",
     "Entries sorted by count ascending, cumulative matches: raw (t = ∞) and clipped at several t. "
     "Where a clipped curve leaves the raw one, the head begins."),
    ("effect_of_t", ["effect_of_t"], "The effect of t",
     "Over a grid of t: the exact expected curated size (± 2 standard deviations), the tail share "
     "(the paper chose t so that it is 6%), the number of head entries, and how evenly the curated set "
     "spreads over entries (normalised entropy of the expected curated count per entry; effective "
     "number of entries = exp(entropy))."),
    ("sources", ["sources"], "Per source",
     "Each entry belongs to the source that added it first, so the rows add up to `all`. *Dead* entries "
     "contain one of the 7 characters the normaliser wraps in spaces (comma, full stop, semicolon, "
     "colon, question mark, exclamation mark, backtick) glued to a neighbour, and can never match."),
    ("dead_examples", [], "Examples of dead entries", "The first few dead entries of each source."),
    ("top_entries", ["top_entries"], "Top entries (the paper's Table 3)",
     "With what balancing at t keeps of each: `kept_expected` (exact expectation) and, with a balance run at "
     "this t, `kept` (sampled)."),
    ("balanced", ["balanced"], "After balancing", "What `metadata-builder balance` actually kept."),
    ("languages", ["languages"], "Per language (Meta CLIP 2)",
     "Each text is matched against its own language's list only. `texts`: the pool's texts in that language "
     "(matched or not); `matched`: texts with a match; `t`: the language's threshold (the balance's, or the "
     "t of English's 6% tail share and of English's share there); `tail share`: the share of the language's matches held by entries with count < t; "
     "`kept`: what balancing kept, in its unit (texts, or images with --per-image). In the tables above, an "
     "entry's source is its language. The figure shows each language's tail share against t, its t as a dot "
     "and English's share p as the dashed line: every language's t is the one whose share equals p."),
]


def _format_value(column: str, value) -> str:
    if isinstance(value, (float, np.floating)):
        if value != value:
            return "–"
        if "share" in column or "fraction" in column or column == "above_1_1t":
            return f"{value:.2%}"
        if column in ("entropy_norm",):
            return f"{value:.3f}"
        if column in ("median", "p90", "max") or column.endswith("over_t"):
            return f"{value:,.2f}"
        return f"{value:,.1f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _formatted(df: pd.DataFrame) -> list[list[str]]:
    return [[_format_value(col, v) for col, v in zip(df.columns, row)] for row in df.itertuples(index=False)]


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table, numbers right-aligned and formatted for reading."""
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(cell(str(c)) for c in df.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in _formatted(df)]
    return "\n".join(lines)


def html_table(df: pd.DataFrame) -> str:
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if n else "txt"}">{html.escape(v)}</td>' for v, n in zip(row, numeric))
        + "</tr>" for row in _formatted(df))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
code { background: #f4f4f4; padding: 0 3px; }
"""


def write_report(report: Report, out_dir, title: str, match=None) -> dict[str, Path]:
    """Write ``report.html`` (figures embedded), ``report.md`` + ``figures/*.png`` and ``tables/*.csv``."""
    out = storage.under(out_dir)
    pngs = {name: _png(fig) for name, fig in report.figures.items()}
    paths: dict = {}
    for name, data in pngs.items():
        storage.write_bytes(storage.under(out, "figures", f"{name}.png"), data)
    for name, df in report.tables.items():
        storage.write_text(storage.under(out, "tables", f"{name}.csv"), df.to_csv(index=False))

    source = f"Match folder: `{match.path}`" if match is not None else ""
    md = [f"# {title}", "", source, ""]
    page = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
            f"<p>{html.escape(source.replace('`', ''))}</p>"]
    for key, figure_keys, heading, text in _SECTIONS:
        df = report.tables.get(key) if key else None
        present = [f for f in figure_keys if f in pngs]
        if df is None and not present:
            continue
        md += [f"## {heading}", ""] + ([text, ""] if text else [])
        page += [f"<h2>{html.escape(heading)}</h2>"] + ([f"<p>{_inline_code(text)}</p>"] if text else [])
        if df is not None and len(df):
            md += [markdown_table(df), ""]
            page.append(html_table(df))
        elif df is not None:
            md += ["(none)", ""]
            page.append("<p>(none)</p>")
        for name in present:
            md += [f"![{name}](figures/{name}.png)", ""]
            encoded = base64.b64encode(pngs[name]).decode("ascii")
            page.append(f'<img alt="{name}" src="data:image/png;base64,{encoded}">')
    page.append("</body></html>")
    paths["markdown"] = storage.under(out, "report.md")
    paths["html"] = storage.under(out, "report.html")
    storage.write_text(paths["markdown"], "\n".join(md))
    storage.write_text(paths["html"], "\n".join(page))
    paths["figures"] = storage.under(out, "figures")
    return paths


def _inline_code(text: str) -> str:
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
