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
import string
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import atomic
from .errors import UserError

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

    @property
    def entries(self) -> list[str]:
        return self.table["entry"].tolist()


def is_droppable(entry: str) -> bool:
    """Empty strings and single ASCII punctuation characters never become entries."""
    return entry == "" or entry in _PUNCTUATION


def assemble(sources: list[Source], total: int | None = 500_000) -> Assembled:
    """Concatenate ``sources`` after the seeds, de-duplicated, cut at ``total`` entries."""
    if total is not None and total < 0:
        raise UserError(f"--total must be positive, got {total}")
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
    return Assembled(table=table, summary=pd.DataFrame(summary), dropped=dropped)


def wordnet_source(path: str | Path) -> Source:
    """The output of ``metadata-builder wordnet`` (parquet with an ``entry`` column)."""
    df = read_table(path, required=["entry"])
    return Source("wordnet", df["entry"].fillna(""), threshold="all")


def read_table(path: str | Path, required: list[str]) -> pd.DataFrame:
    """Read a parquet/csv/tsv source table and check its columns, with errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        elif path.suffix in (".tsv", ".txt"):
            df = pd.read_csv(path, sep="\t", keep_default_na=False, quoting=3)
        elif path.suffix == ".csv":
            df = pd.read_csv(path, keep_default_na=False)
        else:
            raise UserError(f"{path}: unknown table format {path.suffix!r} (use .parquet, .tsv or .csv)")
    except UserError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for a corrupt file
        raise UserError(f"cannot read {path}: {exc}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"{path} lacks column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})")
    return df


def write_outputs(result: Assembled, out_json: str | Path) -> tuple[Path, Path]:
    """``metadata.json`` (a JSON list, id = index) and ``metadata.parquet`` beside it, atomically."""
    out_json = Path(out_json)
    out_parquet = out_json.with_suffix(".parquet")
    atomic.write_text(out_json, json.dumps(result.entries, ensure_ascii=False, indent=0) + "\n")
    atomic.write_parquet(result.table, out_parquet)
    return out_json, out_parquet


def format_summary(summary: pd.DataFrame) -> str:
    """The Table-1-style summary as aligned text."""
    header = f"{'source':<10} {'threshold':<22} {'candidates':>11} {'added':>9} {'cumulative':>11}"
    lines = [header, "-" * len(header)]
    for row in summary.itertuples():
        lines.append(
            f"{row.source:<10} {row.threshold:<22} {row.candidates:>11,} {row.added:>9,} {row.cumulative:>11,}"
        )
    return "\n".join(lines)
