"""Assemble the metadata list from its sources, in the order and with the thresholds of Table 1.

Order (recipe ``metaclip-v1``): the seed strings ``"0"`` … ``"99"``, then WordNet names, Wikipedia
unigrams, bigrams and titles. Within a source entries are ordered by the source's score, highest
first, ties broken by the entry string (code-point order); WordNet has no score, so its names come
in string order. Empty entries and single ASCII punctuation characters are dropped, an entry already
added by an earlier source is skipped, and the list stops exactly at ``total``. An entry's id is its
index in ``metadata.json``, as in MetaCLIP's released file.
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .runtime import storage
from .runtime.shards import check_input_finished

SOURCE_ORDER = ("seed", "wordnet", "unigram", "bigram", "title")
SEED_ENTRIES = [str(i) for i in range(100)]
_PUNCTUATION = set(string.punctuation)


@dataclass
class Source:
    """One source's candidate entries, already filtered by its threshold.

    ``score`` orders the entries (highest first); ``score_name`` says what it is (``count``,
    ``pmi``, ``views``…) and ``threshold`` how it was cut, for the summary table.
    """

    name: str
    entries: pd.Series
    score: pd.Series | None = None
    score_name: str = ""
    threshold: str = "all"

    def ordered(self) -> pd.DataFrame:
        df = pd.DataFrame({"entry": self.entries.astype(str).to_numpy()})
        df["score"] = np.nan if self.score is None else self.score.astype("float64").to_numpy()
        if self.score is None:
            return df.sort_values("entry", kind="stable")
        return df.sort_values(["score", "entry"], ascending=[False, True], kind="stable")


@dataclass
class Assembled:
    """The result: the table (id order) and the Table-1-style summary."""

    table: pd.DataFrame
    summary: pd.DataFrame
    dropped: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def entries(self) -> list[str]:
        return self.table["entry"].tolist()


def is_droppable(entry: str) -> bool:
    """Empty strings and single ASCII punctuation characters never become entries."""
    return entry == "" or entry in _PUNCTUATION


def assemble(sources: list[Source], total: int | None = 500_000) -> Assembled:
    """Concatenate ``sources`` after the seeds, de-duplicated, cut at ``total`` entries."""
    if total is not None and total < 1:
        raise UserError(f"--total must be at least 1, got {total}")
    sources = [Source("seed", pd.Series(SEED_ENTRIES), threshold="–")] + list(sources)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise UserError(f"a source is given twice: {names}")
    seen: set[str] = set()
    rows = []
    summary = []
    dropped = {}
    for source in sources:
        ordered = source.ordered() if source.name != "seed" else pd.DataFrame({"entry": SEED_ENTRIES, "score": np.nan})
        added = duplicates = invalid = 0
        for entry, score in zip(ordered["entry"].tolist(), ordered["score"].tolist()):
            if total is not None and len(rows) >= total:
                break
            if is_droppable(entry):
                invalid += 1
                continue
            if entry in seen:
                duplicates += 1
                continue
            seen.add(entry)
            rows.append((entry, source.name, source.score_name or None, score))
            added += 1
        dropped[source.name] = {"empty_or_punctuation": invalid, "duplicates": duplicates}
        summary.append(
            {
                "source": source.name,
                "threshold": source.threshold,
                "candidates": len(ordered),
                "added": added,
                "cumulative": len(rows),
            }
        )
    table = pd.DataFrame(rows, columns=["entry", "source", "score_name", "score"])
    table.insert(0, "id", np.arange(len(table), dtype=np.int32))
    blank = [row[0] for row in rows if not row[0].strip()]
    warnings = [f"{len(blank):,} entries are only white space ({', '.join(map(repr, blank[:3]))}): kept, as the "
                "recipe keeps every non-empty string, but they match runs of spaces in the texts"] if blank else []
    return Assembled(table=table, summary=pd.DataFrame(summary), dropped=dropped, warnings=warnings)


def wordnet_source(path: str | Path) -> Source:
    """The output of ``metadata-builder wordnet`` (parquet with an ``entry`` column)."""
    df = read_table(path, required=["entry"])
    return Source("wordnet", df["entry"].fillna(""), threshold="all")


def unigram_source(path: str | Path, min_count: int = 100, min_articles: int = 3) -> Source:
    """Wikipedia unigrams (``wiki-count``'s ``unigrams.parquet``: word, count, articles).

    Recipe ``metaclip-v1``: count >= 100, and the word-list rule "seen in >= 3 articles" (applied
    here, not by ``wiki-count``, which keeps every word with its ``articles`` count). A table
    without an ``articles`` column (another word list) is cut by count alone, and says so.
    """
    df = read_table(path, required=["word", "count"], numeric=("count", "articles"))
    keep = df["count"] >= min_count
    threshold = f"count >= {min_count}"
    if "articles" in df.columns:
        keep &= df["articles"] >= min_articles
        if min_articles > 1:
            threshold += f", articles >= {min_articles}"
    df = df[keep]
    return Source("unigram", df["word"].fillna(""), df["count"], "count", threshold)


def bigram_source(path: str | Path, min_pmi: float | None = 30.0, budget: int | None = None) -> Source:
    """Wikipedia bigrams (``bigrams.parquet``: w1, w2, count, c1, c2, pmi, score_v2) as ``"w1 w2"``.

    Recipe ``metaclip-v1``: NLTK's PMI >= ``min_pmi`` (30). With ``budget`` instead: Meta CLIP 2's
    ``score_v2`` ranking, the ``budget`` best pairs (ties by the entry string).
    """
    if (min_pmi is None) == (budget is None):
        raise UserError("give exactly one of --bigram-pmi and --bigram-budget")
    score = "pmi" if budget is None else "score_v2"
    df = read_table(path, required=["w1", "w2", score], numeric=(score,))
    entries = df["w1"].fillna("").astype(str) + " " + df["w2"].fillna("").astype(str)
    if budget is None:
        keep = df["pmi"] >= min_pmi
        return Source("bigram", entries[keep], df.loc[keep, "pmi"], "pmi", f"PMI >= {min_pmi:g}")
    if budget < 0:
        raise UserError(f"--bigram-budget must be >= 0, got {budget}")
    ranked = pd.DataFrame({"entry": entries, "score": df["score_v2"].astype("float64")}).dropna()
    ranked = ranked.sort_values(["score", "entry"], ascending=[False, True], kind="stable").head(budget)
    return Source("bigram", ranked["entry"], ranked["score"], "score_v2", f"top {budget:,} score_v2")


def title_source_views(pageviews: str | Path, min_views: int = 70, titles: str | Path | None = None) -> Source:
    """Wikipedia titles by summed pageviews (``metadata-builder pageviews``: title, views).

    Recipe ``metaclip-v1``: every pageview title (already ``en``-only, ``:``-free) with summed views
    >= ``min_views`` (70), as the pageview files spell it, whether or not it is an article of the
    dump. ``titles`` (``wiki-count``'s ``titles.parquet``), an option beside the recipe, keeps only
    titles that are main-namespace articles of that dump.
    """
    df = read_table(pageviews, required=["title", "views"], numeric=("views",))
    df = df[df["views"] >= min_views]
    threshold = f"views >= {min_views}"
    if titles is not None:
        articles = read_table(titles, required=["title"])
        df = df[df["title"].isin(set(articles["title"]))]
        threshold += ", in dump"
    return Source("title", df["title"].fillna(""), df["views"], "views", threshold)


def title_source_inlinks(titles: str | Path, min_inlinks: int = 1) -> Source:
    """Wikipedia titles ranked by in-links, when no pageview file is at hand.

    ``titles.parquet`` (title, page_id, inlinks): main-namespace articles with at least
    ``min_inlinks`` links pointing to them (redirects resolved). Titles containing ``:`` are dropped,
    as the pageview rule drops them, so both rankings draw from the same kind of title.
    """
    df = read_table(titles, required=["title", "inlinks"], numeric=("inlinks",))
    df = df[(df["inlinks"] >= min_inlinks) & ~df["title"].fillna("").str.contains(":", regex=False)]
    return Source("title", df["title"].fillna(""), df["inlinks"], "inlinks", f"inlinks >= {min_inlinks}")


def read_table(path: str | Path, required: list[str], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a parquet/csv/tsv source table and check its columns, with errors naming the file.

    ``numeric``: columns (when present) that must hold numbers, since thresholds compare them.
    """
    path = storage.canonical(path)
    suffix = os.path.splitext(path)[1]
    if not storage.is_file(path):
        raise UserError(f"{path} does not exist")
    check_input_finished(path)
    try:
        with storage.open_input(path) as handle:
            if suffix == ".parquet":
                df = pd.read_parquet(handle)
            elif suffix in (".tsv", ".txt"):
                df = pd.read_csv(handle, sep="\t", keep_default_na=False, quoting=3)
            elif suffix == ".csv":
                df = pd.read_csv(handle, keep_default_na=False)
            else:
                raise UserError(f"{path}: unknown table format {suffix!r} (use .parquet, .tsv or .csv)")
    except UserError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for a corrupt file
        raise UserError(f"cannot read {path}: {exc}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"{path} lacks column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})")
    for column in numeric:
        if column in df.columns and not pd.api.types.is_numeric_dtype(df[column]):
            raise UserError(f"{path}: column {column} is not numeric ({df[column].dtype}); give the table as written")
    return df


def write_outputs(result: Assembled, out_json: str | Path) -> tuple[str, str]:
    """``metadata.json`` (a JSON list, id = index) and ``metadata.parquet`` beside it, atomically."""
    out_json = storage.canonical(out_json)
    out_parquet = os.path.splitext(out_json)[0] + ".parquet"
    storage.write_text(out_json, json.dumps(result.entries, ensure_ascii=False, indent=0) + "\n")
    storage.write_parquet(result.table, out_parquet)
    return out_json, out_parquet


def format_summary(summary: pd.DataFrame) -> str:
    """The Table-1-style summary as aligned text."""
    width = max([22, *(len(t) for t in summary["threshold"])])
    header = f"{'source':<10} {'threshold':<{width}} {'candidates':>11} {'added':>9} {'cumulative':>11}"
    lines = [header, "-" * len(header)]
    for row in summary.itertuples():
        lines.append(
            f"{row.source:<10} {row.threshold:<{width}} {row.candidates:>11,} {row.added:>9,} {row.cumulative:>11,}"
        )
    return "\n".join(lines)
