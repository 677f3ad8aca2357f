"""Count one shard of a dump into partial tables (phase 1 of ``wiki-count``).

Each shard's pages are read, main-namespace articles cleaned and tokenised (:mod:`..tokens`), and
its counters written to ``DIR/shards/<shard>/`` as parquet partials. When the counters hold more
than ``spill_entries`` keys they are written out ("spilled") and cleared, so a worker's memory is
bounded whatever the shard size. A shard's folder is written under a temporary name and renamed
once complete; :class:`~metadata_builder.runtime.shards.ShardJob` then writes its marker.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ....runtime import storage
from ....runtime.progress import Meter
from ..cleaner import get_cleaner
from ..dump import ReadReport, Shard, Siteinfo, iter_pages
from ..tokens import ShardCounts

ROW_GROUP = 1 << 20

_LINK = re.compile(r"\[\[\s*([^\[\]|{}<>\n]+)")
_SPACES = re.compile(r"[\s_]+")

WORDS = pa.schema([("word", pa.string()), ("count", pa.int64()), ("articles", pa.int64())])
CASED = pa.schema([("word", pa.string()), ("count", pa.int64())])
PAIRS = pa.schema([("w1", pa.string()), ("w2", pa.string()), ("count", pa.int64())])
LINKS = pa.schema([("target", pa.string()), ("count", pa.int64())])
ARTICLES = pa.schema([("title", pa.string()), ("page_id", pa.int64())])
REDIRECTS = pa.schema([("title", pa.string()), ("target", pa.string())])


def normalize_title(raw: str, info: Siteinfo) -> str | None:
    """A link target as a main-namespace title (``_`` -> space, first letter upper), else None."""
    if "&" in raw:
        raw = html.unescape(raw)
    title = _SPACES.sub(" ", raw.split("#", 1)[0]).strip()
    if title.startswith(":"):
        title = title[1:].lstrip()
    if not title:
        return None
    if ":" in title and title.split(":", 1)[0].strip().lower() in info.link_prefixes:
        return None
    if info.first_letter:
        title = title[0].upper() + title[1:]
    return title


# ---------------------------------------------------------------- phase 1: one shard


def _write_table(rows: dict, schema: pa.Schema, path: Path) -> None:
    pq.write_table(pa.table(rows, schema=schema), path, row_group_size=ROW_GROUP)


def _spill(counts: ShardCounts, folder: Path, part: int, stats: dict, info: Siteinfo) -> None:
    """Write the counters (words the rule drops removed) as partial ``part`` of the shard.

    Link targets are counted raw (``Counter.update``, C speed) and normalised here, once per
    distinct raw target instead of once per link.
    """
    tables = counts.tables()
    stats["tokens"] += int(pc.sum(tables["cased"]["count"]).as_py() or 0)
    stats["words"] += int(pc.sum(tables["words"]["count"]).as_py() or 0)
    for name, schema in (("words", WORDS), ("cased", CASED), ("bigrams", PAIRS)):
        pq.write_table(tables[name].cast(schema), folder / f"{name}-{part:05d}.parquet", row_group_size=ROW_GROUP)
    links = Counter()
    for raw, n in counts.links.items():
        target = normalize_title(raw, info)
        if target is not None:
            links[target] += n
    _write_table({"target": list(links), "count": list(links.values())}, LINKS, folder / f"links-{part:05d}.parquet")


def count_shard(shard: Shard, folder: Path, cleaner: str = "fast", spill_entries: int = 3_000_000,
                progress=None, tokenization=None) -> dict:
    """Count one shard into ``folder`` (written complete or not at all); return its stats.

    ``progress``: optional shared counters (compressed bytes, pages, XML bytes) of a
    :class:`~metadata_builder.runtime.progress.LiveBar` this adds to. ``tokenization``: the recipe's
    :class:`~..tokenization.Tokenization`, whose ``new_counts()`` makes the counter (default:
    recipe metaclip-v1's :class:`~..tokens.ShardCounts`).
    """
    new_counts = ShardCounts if tokenization is None else tokenization.new_counts
    started = time.perf_counter()
    clean = get_cleaner(cleaner)
    info = shard.siteinfo or Siteinfo()
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    report = ReadReport()
    stats = dict(pages=0, articles=0, redirects=0, other_namespaces=0, skipped=0, clean_errors=0,
                 tokens=0, words=0)
    articles = {"title": [], "page_id": []}
    redirects = {"title": [], "target": []}
    counts, part = new_counts(), 0
    meter = Meter(progress, 3)

    def on_progress(compressed: int) -> None:
        meter.set(2, report.bytes)
        meter.set(0, compressed)

    for page in iter_pages(shard, report, on_progress):
        stats["pages"] += 1
        meter.now[1] = stats["pages"]
        if page.ns != 0:
            stats["other_namespaces"] += 1
            continue
        if page.redirect is not None:
            stats["redirects"] += 1
            target = normalize_title(page.redirect, info)
            if target is not None:
                redirects["title"].append(page.title)
                redirects["target"].append(target)
            continue
        try:
            text = clean(page.text, info)
        except Exception as exc:  # a page the cleaner cannot handle is skipped and counted
            stats["clean_errors"] += 1
            if len(report.malformed_examples) < 10:
                report.malformed_examples.append({"shard": shard.name, "title": page.title, "error": repr(exc)})
            continue
        stats["articles"] += 1
        articles["title"].append(page.title)
        articles["page_id"].append(page.page_id)
        counts.add_text(text)
        counts.links.update(_LINK.findall(page.text))  # raw targets: normalised once each, at the spill
        if counts.full(spill_entries):
            _spill(counts, tmp, part, stats, info)
            counts, part = new_counts(), part + 1
    _spill(counts, tmp, part, stats, info)
    meter.now = [shard.compressed_bytes, stats["pages"], report.bytes]
    meter.flush()
    _write_table(articles, ARTICLES, tmp / "articles.parquet")
    _write_table(redirects, REDIRECTS, tmp / "redirects.parquet")
    stats["skipped"] = report.malformed + stats["clean_errors"]
    stats.update(shard=shard.name, path=shard.path, bytes=report.bytes,
                 compressed_bytes=shard.compressed_bytes, malformed=report.malformed,
                 malformed_examples=report.malformed_examples,
                 cut=asdict(report.cut) if report.cut else None,
                 corrupt_streams=[asdict(c) for c in report.corrupt],
                 pages_lost=sum(c.pages_lost for c in report.corrupt),
                 seconds=round(time.perf_counter() - started, 3))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return stats


def count_task(shard: Shard, shared: dict) -> dict:
    """Executor task: count ``shard`` into ``shared["root"]/NAME/`` (a local folder or a URL)."""
    folder = storage.under(shared["root"], shard.name)
    options = {k: v for k, v in shared.items() if k != "root"}
    if storage.is_local(folder):
        return count_shard(shard, Path(folder), **options)
    # --out on object storage: count into a local scratch folder, then upload it
    with tempfile.TemporaryDirectory(prefix="metadata-builder-wiki-") as scratch:
        local = Path(scratch) / shard.name
        stats = count_shard(shard, local, **options)
        storage.remove_tree(folder)  # the partial upload of an earlier, interrupted run
        for path in sorted(local.iterdir()):
            storage.upload(path, storage.under(folder, path.name))
    return stats

