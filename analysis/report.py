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


def _metadata_table(metadata, match) -> pd.DataFrame:
    """Each entry's source, from ``metadata.parquet`` (or the JSON list with its parquet beside it),
    checked to be the metadata the match used: same entries, same order."""
    from metadata_builder.errors import UserError
    from metadata_builder.match.output import entries_digest

    if match.languages and not isinstance(metadata, pd.DataFrame):
        return _language_metadata_table(match)
    if isinstance(metadata, pd.DataFrame):
        table, where = metadata, "the metadata table"
    else:
        where = storage.canonical(metadata)
        if where.endswith(".json"):
            beside = where[: -len(".json")] + ".parquet"
            if not storage.is_file(beside):
                raise UserError(f"{where}: a JSON list has no sources; give the metadata.parquet written beside it "
                                f"by 'metadata-builder assemble' ({beside} is missing)")
            where = beside
        if not storage.is_file(where):
            raise UserError(f"{where}: no such metadata table; give the metadata.parquet written by "
                            "'metadata-builder assemble' (beside metadata.json)")
        table = storage.read_parquet(where)
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
    return table.reset_index(drop=True)


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


def _pool_summary(match, counts: np.ndarray, t: int, t_paper: int, effect_t: pd.Series) -> pd.DataFrame:
    texts = match.texts
    matched = match.matched_texts
    matches = int(counts.sum())
    rows = [
        ("pool files (shards)", f"{len(match.shards):,}"),
        ("texts in the pool", f"{texts:,}"),
        ("texts with at least one match", f"{matched:,}" + (f" ({matched / texts:.1%})" if texts else "")),
        ("matches (text, entry pairs)", f"{matches:,} ({matches / max(matched, 1):.2f} per matched text)"),
        ("metadata entries", f"{len(counts):,}"),
        ("entries never matched", f"{int((counts == 0).sum()):,} ({(counts == 0).mean():.1%})"),
        ("t (this report)", f"{t:,}"),
        ("tail share at t (count < t)", f"{effect_t['tail_share']:.2%}"),
        (f"t giving a {curves.PAPER_TAIL_SHARE:.0%} tail share (the paper's rule)", f"{t_paper:,}"),
        ("head entries at t (count > t)", f"{int(effect_t['head_entries']):,}"),
        ("expected curated size at t", f"{effect_t['expected_size']:,.1f} ± {effect_t['expected_std']:,.1f} "
                                       f"({effect_t['expected_fraction']:.1%} of matched texts)"),
        ("balance of the curated entries at t", f"normalised entropy {effect_t['entropy_norm']:.3f}, "
                                                f"{effect_t['effective_entries']:,.0f} effective entries"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])


def _balanced_summary(balanced, match, t: int) -> tuple[pd.DataFrame, np.ndarray]:
    from metadata_builder.balance import BalanceOutput
    from metadata_builder.errors import UserError

    balanced = balanced if isinstance(balanced, BalanceOutput) else BalanceOutput(balanced)
    if balanced.match_key != match.key:
        raise UserError(f"{balanced.path}: was balanced from another match than {match.path}; "
                        "give the balance of this match")
    stats = balanced.stats
    kept = balanced.kept.astype(np.int64)
    h, eff = curves.entropy_measures(kept)
    used = "one per language (see Per language)" if stats.get("languages") else \
        f"{stats['t']:,}" + ("" if stats["t"] == t else f" (this report's t is {t:,})")
    rows = [
        ("balanced folder", str(balanced.path)),
        ("t used by balance", used),
        ("seed", f"{stats['seed']}"),
        ("images kept" if stats.get("per_image") else "texts kept",
         (f"{stats['kept']:,} of {stats.get('images', stats['candidates']):,} images (one matched text each, chosen among "
          f"{stats['texts']:,} matched texts; " if stats.get("per_image") else
          f"{stats['kept']:,} of {stats['texts']:,} matched texts (")
         + f"expected {stats['expected']:,.1f} ± {stats['std']:,.1f}, z = {stats['z']:+.2f})"),
        ("balance of the kept entries", f"normalised entropy {h:.3f}, {eff:,.0f} effective entries"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"]), kept


def build_report(match, metadata, out_dir, *, t: int | None = None, tail_share: float | None = None,
                 balanced=None, top_k: int = DEFAULT_TOP_K, grid_points: int = 40, title: str | None = None,
                 write: bool = True) -> Report:
    """Compute every table and figure for ``match`` and write the report into ``out_dir``.

    Parameters
    ----------
    match : match folder (or ``MatchOutput``).
    metadata : ``metadata.parquet`` (path or DataFrame) the match used: gives each entry's source.
    t, tail_share : the threshold to report on, given directly or by the tail share it should reach;
        neither: the paper's rule, a 6% tail share.
    balanced : optional output folder of ``metadata-builder balance`` on the same match: adds the
        realised curated size and the kept entry distribution.
    """
    from metadata_builder.match.output import MatchOutput

    match = match if isinstance(match, MatchOutput) else MatchOutput(match)
    counts = match.counts.astype(np.int64)
    meta = _metadata_table(metadata, match)
    t_paper = curves.t_at_tail_share(counts, curves.PAPER_TAIL_SHARE)
    if t is None:
        t = curves.t_at_tail_share(counts, tail_share if tail_share is not None else curves.PAPER_TAIL_SHARE)
    t = int(t)

    effect = curves.effect_of_t(counts, curves.t_grid(counts, grid_points, [t, t_paper]), match)
    at_t = effect.set_index("t").loc[t]
    summary = _pool_summary(match, counts, t, t_paper, at_t)
    cumulative_ts = sorted({t, t_paper, max(1, t // 10), t * 10} - {0})
    out = {
        "summary": summary,
        "head_tail": tables.head_tail_table(counts, t).reset_index(),
        "top_entries": tables.top_entries(counts, meta, top_k).reset_index(),
        "sources": tables.source_breakdown(counts, meta, t).reset_index(),
        "dead_examples": tables.dead_entry_examples(counts, meta),
        "effect_of_t": effect,
    }
    figs = {
        "rank_frequency": figures.rank_frequency_figure(counts, t),
        "count_histogram": figures.count_histogram_figure(counts, t),
        "cumulative": figures.cumulative_figure(counts, cumulative_ts),
        "effect_of_t": figures.effect_of_t_figure(effect, t, t_paper),
        "sources": figures.sources_figure(tables.source_breakdown(counts, meta, t)),
        "top_entries": figures.top_entries_figure(tables.top_entries(counts, meta, top_k)),
    }
    if balanced is not None:
        out["balanced"], kept = _balanced_summary(balanced, match, t)
        figs["balanced"] = figures.before_after_figure(counts, kept, t)
    if match.languages:
        from metadata_builder.balance import BalanceOutput

        stats = None
        if balanced is not None:
            stats = (balanced if isinstance(balanced, BalanceOutput) else BalanceOutput(balanced)).stats
        out["languages"] = languages.language_table(match, stats, tail_share)
        figs["languages"] = languages.tail_share_figure(match, stats, tail_share)
    report = Report(t=t, t_paper=t_paper, summary=summary, tables=out, figures=figs)
    if write:
        name = str(match.path).rstrip("/").rsplit("/", 1)[-1]
        report.paths = write_report(report, out_dir, title or f"Entry distribution of {name}", match)
    return report


# ----------------------------------------------------------------------------- writing

_SECTIONS = [
    # (table key, figure keys, heading, text)
    ("summary", [], "Summary", "The pool, its matches and the threshold t this report looks at."),
    ("head_tail", ["rank_frequency", "count_histogram"], "Head and tail (the paper's Table 2)",
     "Tail entries (count <= t) keep all their texts; head entries (count > t) are sub-sampled to about t "
     "texts each. The rows add up to the `all` row."),
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
    ("top_entries", ["top_entries"], "Top entries (the paper's Table 3)", ""),
    ("balanced", ["balanced"], "After balancing", "What `metadata-builder balance` actually kept."),
    ("languages", ["languages"], "Per language (Meta CLIP 2)",
     "Each text is matched against its own language's list only. `texts`: the pool's texts in that language "
     "(matched or not); `matched`: texts with a match; `t`: the language's threshold (the balance's, or the "
     "6% tail share's); `tail share`: the share of the language's matches held by entries with count < t; "
     "`kept`: what balancing kept, in its unit (texts, or images with --per-image). In the tables above, an "
     "entry's source is its language. The figure shows each language's tail share against t, its t as a dot "
     "and English's share p as the dashed line: every language's t is the one whose share equals p."),
]


def _format_value(column: str, value) -> str:
    if isinstance(value, (float, np.floating)):
        if "share" in column or "fraction" in column:
            return f"{value:.2%}"
        if column in ("entropy_norm",):
            return f"{value:.3f}"
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
