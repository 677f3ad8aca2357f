"""Wikipedia dump -> unigram counts, bigram PMI, titles with in-links: sharded, resumable, bounded memory.

Two phases:

1. **Count** (one task per shard, run by :func:`executor.map_tasks`): each shard's pages are read,
   main-namespace articles cleaned and tokenised (``tokens.py``), and its counters written to
   ``DIR/shards/<shard>/`` as parquet partials. When the counters hold more than ``spill_entries``
   keys they are written out ("spilled") and cleared, so a worker's memory is bounded whatever the
   shard size. A shard's folder is written under a temporary name and renamed once complete, with a
   ``DONE`` marker: a killed run, restarted, redoes only the shards without one.
2. **Merge** (DuckDB, out of core): partials are summed with ``GROUP BY`` under a memory limit, with a
   temporary folder to spill to, then written in a fixed order with a fixed row-group size, so the
   outputs are byte-identical whatever the worker count or the interruptions.

DuckDB (MIT) is the merge engine: it aggregates and joins ~10^8-10^9 partial rows straight from
parquet, spills to disk past ``memory_limit``, and needs no server.

Outputs in DIR:

- ``unigrams.parquet``: word, count, articles; every word (lower-cased SPEC §1 rule), ordered by
  count desc, word. The rule's "seen in >= 3 articles" is left to ``assemble`` (with
  ``--unigram-min``), which filters ``articles >= 3``; nothing is dropped here.
- ``bigrams.parquet``: w1, w2, count, pmi, score_v2 (case kept; see ``tokens.py``).
  ``pmi = log2(c12 * N) - log2(c1 * c2)``, as ``nltk.collocations.BigramAssocMeasures.pmi``
  computes it, N = total case-kept tokens, c1/c2 the case-kept unigram counts.
  ``score_v2 = (c12 + 1) ** 0.7 * (pmi - PMI_p30)`` (Meta CLIP 2), PMI_p30 = 30th percentile
  (linear interpolation, DuckDB ``quantile_cont``) of the PMI of all distinct bigrams.
  With ``bigram_table="pmi30"`` (recipe ``metaclip-v1`` at full scale) only pairs with PMI >= 30
  are written, and only pairs of rare words are ever aggregated: c12 <= min(c1, c2) gives
  ``c12 * N / (c1 * c2) <= N / max(c1, c2)``, so PMI >= 30 requires ``max(c1, c2) <= N / 2^30``; the
  filter on both words is exact (no qualifying pair is lost) and cuts the aggregation to a tiny
  fraction of the pairs. ``score_v2`` is then empty (it needs every pair's PMI).
- ``titles.parquet``: title, page_id, inlinks: every article (main namespace, not a redirect);
  inlinks = number of links (``[[...]]`` occurrences in the wikitext of articles) whose target,
  normalised like a title and resolved through one redirect hop, is that title.
- ``stats.json``: pages, articles, redirects, other_namespaces, skipped (malformed pages), tokens
  (N), words, bytes (XML), compressed_bytes, cut (truncation reports), timings.

Memory at full enwiki scale (22 GB bz2, ~4.5B words): a worker holds a batch of articles (~4M
characters) and counters of at most ``spill_entries`` (default 3M) keys: < 0.6 GB per worker measured
on a synthetic dump with a fast-growing vocabulary (``make bench-wiki-scale``); DuckDB is capped by
``memory_limit`` (default 4 GB) and runs after the workers: peak RSS measured 4.25 GB < 8 GB. Disk:
partials ~1.9 GB per GB of XML on that synthetic dump (real text fewer), plus DuckDB's temporary files.
"""

from __future__ import annotations

import html
import json
import os
import posixpath
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
from tqdm.auto import tqdm

from .. import atomic, executor, storage
from ..errors import UserError
from .cleaner import CLEANERS, get_cleaner
from .dump import ReadReport, Shard, Siteinfo, _size, iter_pages, plan_shards
from .tokens import ShardCounts, arrow_rules

BIGRAM_TABLES = ("all", "pmi30")
PLAN_VERSION = 1
ROW_GROUP = 1 << 20
FAIL_ENV = "METADATA_BUILDER_WIKI_FAIL_SHARD"  # tests: make the named shard's task fail

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


class _Meter:
    """Adds a shard's progress (compressed bytes, pages, XML bytes) to counters the parent shows."""

    def __init__(self, shared_counts, report: ReadReport):
        self.shared, self.report = shared_counts, report
        self.sent = [0, 0, 0]
        self.now = [0, 0, 0]

    def compressed(self, done: int) -> None:
        self.now[0] = done
        self.now[2] = self.report.bytes
        if self.shared is not None and self.now[0] - self.sent[0] >= (1 << 20):
            self.flush()

    def flush(self) -> None:
        if self.shared is None:
            return
        with self.shared.get_lock():
            for i in range(3):
                self.shared[i] += self.now[i] - self.sent[i]
        self.sent = list(self.now)


def count_shard(shard: Shard, folder: Path, cleaner: str = "fast", spill_entries: int = 3_000_000,
                progress=None) -> dict:
    """Count one shard into ``folder`` (written complete or not at all); return its stats.

    ``progress``: an optional shared array (compressed bytes, pages, XML bytes) this adds to.
    """
    if os.environ.get(FAIL_ENV) == shard.name:
        raise RuntimeError(f"injected failure in shard {shard.name} ({FAIL_ENV})")
    started = time.perf_counter()
    clean = get_cleaner(cleaner)
    info = shard.siteinfo or Siteinfo()
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    report = ReadReport()
    stats = dict(pages=0, articles=0, redirects=0, other_namespaces=0, skipped=0, clean_errors=0,
                 tokens=0, words=0)
    articles = {"title": [], "page_id": []}
    redirects = {"title": [], "target": []}
    counts, part = ShardCounts(), 0
    meter = _Meter(progress, report)
    for page in iter_pages(shard, report, meter.compressed):
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
            counts, part = ShardCounts(), part + 1
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
                 seconds=round(time.perf_counter() - started, 3))
    (tmp / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True))
    (tmp / "DONE").write_text("")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return stats


def _count_task(task, shared):
    shard, folder = task
    if storage.is_local(folder):
        return count_shard(shard, Path(folder), **shared)
    # --out on object storage: count into a local scratch folder, then upload it, DONE last
    with tempfile.TemporaryDirectory(prefix="metadata-builder-wiki-") as scratch:
        local = Path(scratch) / shard.name
        stats = count_shard(shard, local, **shared)
        storage.remove_tree(folder)  # the partial upload of an earlier, interrupted run
        for path in sorted(local.iterdir()):
            if path.name != "DONE":
                storage.upload(path, storage.under(folder, path.name))
        storage.write_bytes(storage.under(folder, "DONE"), b"")
    return stats


# ---------------------------------------------------------------- phase 2: merge


def _write_query(con, sql: str, schema: pa.Schema, path: Path, params=None) -> int:
    """Stream a query's rows into parquet with fixed row groups (byte-identical reruns)."""
    reader = con.sql(sql, params=params or None).to_arrow_reader(ROW_GROUP)
    rows = 0
    with atomic.atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            pending, size = [], 0
            for batch in reader:
                pending.append(batch.cast(schema) if batch.schema != schema else batch)
                size += batch.num_rows
                while size >= ROW_GROUP:
                    table = pa.Table.from_batches(pending, schema)
                    writer.write_table(table.slice(0, ROW_GROUP), row_group_size=ROW_GROUP)
                    rest = table.slice(ROW_GROUP)
                    pending, size = rest.to_batches(), rest.num_rows
                    rows += ROW_GROUP
            if size or rows == 0:
                writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=ROW_GROUP)
                rows += size
    return rows


def merge(out: Path, folders: list[Path], *, bigram_table: str = "all", memory_limit: str = "4GB",
          threads: int = 2, pmi_min: float = 30.0) -> dict:
    """Sum the shards' partials (DuckDB, out of core) into the three tables; return merge facts."""
    import duckdb

    def files(pattern):
        return [str(p) for f in folders for p in sorted(f.glob(pattern))]

    tmpdir = out / "shards" / ".duckdb-tmp"
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute(f"SET temp_directory='{tmpdir}'")
    con.execute(f"SET threads={max(1, threads)}")
    con.execute("SET preserve_insertion_order=false")
    facts = {}
    try:
        facts["unigrams"] = _write_query(con, """
            SELECT word, sum(count)::BIGINT AS count, sum(articles)::BIGINT AS articles
            FROM read_parquet(?) GROUP BY word ORDER BY count DESC, word""",
            WORDS, out / "unigrams.parquet", [files("words-*.parquet")])

        con.execute("CREATE TEMP TABLE cased AS SELECT word, sum(count)::BIGINT AS c "
                    "FROM read_parquet(?) GROUP BY word", [files("cased-*.parquet")])
        n = con.execute("SELECT coalesce(sum(c), 0)::BIGINT FROM cased").fetchall()[0][0]
        facts["tokens"] = n
        where = ""
        if bigram_table == "pmi30":  # exact shortcut: both words must have c <= N / 2^pmi_min
            # (a hair of slack keeps float rounding from losing a pair; PMI itself is filtered below)
            con.execute("CREATE TEMP TABLE rare AS SELECT word FROM cased WHERE c <= ? * (1 + 1e-9)",
                        [n / 2.0 ** pmi_min])
            where = "WHERE w1 IN (SELECT word FROM rare) AND w2 IN (SELECT word FROM rare)"
            facts["pmi30_candidate_words"] = con.execute("SELECT count(*) FROM rare").fetchall()[0][0]
        con.execute(f"CREATE TEMP TABLE pairs AS SELECT w1, w2, sum(count)::BIGINT AS c12 "
                    f"FROM read_parquet(?) {where} GROUP BY w1, w2", [files("bigrams-*.parquet")])
        con.execute("""
            CREATE TEMP TABLE scored AS
            SELECT p.w1, p.w2, p.c12,
                   log2((p.c12::HUGEINT * ?::BIGINT)::DOUBLE) - log2((a.c::HUGEINT * b.c)::DOUBLE) AS pmi
            FROM pairs p JOIN cased a ON a.word = p.w1 JOIN cased b ON b.word = p.w2""", [n])
        facts["bigram_pairs"] = con.execute("SELECT count(*) FROM scored").fetchall()[0][0]
        if bigram_table == "all":
            p30 = con.execute("SELECT quantile_cont(pmi, 0.3) FROM scored").fetchall()[0][0]
            facts["pmi_p30"] = p30
            score, keep = ("pow(c12 + 1, 0.7) * (pmi - ?::DOUBLE)" if p30 is not None else "NULL::DOUBLE"), ""
            params = [p30] if p30 is not None else []
        else:
            facts["pmi_p30"] = None
            score, keep, params = "NULL::DOUBLE", "WHERE pmi >= ?", [pmi_min]
        facts["bigrams"] = _write_query(con, f"""
            SELECT w1, w2, c12 AS count, pmi, {score} AS score_v2 FROM scored {keep}
            ORDER BY c12 DESC, w1, w2""",
            pa.schema(list(PAIRS) + [("pmi", pa.float64()), ("score_v2", pa.float64())]),
            out / "bigrams.parquet", params)

        facts["titles"] = _write_query(con, """
            WITH articles AS (SELECT title, min(page_id) AS page_id FROM read_parquet(?) GROUP BY title),
                 redirects AS (SELECT title, min(target) AS target FROM read_parquet(?) GROUP BY title),
                 links AS (SELECT target, sum(count) AS c FROM read_parquet(?) GROUP BY target),
                 resolved AS (SELECT coalesce(r.target, l.target) AS title, sum(l.c) AS n
                              FROM links l LEFT JOIN redirects r ON r.title = l.target GROUP BY 1)
            SELECT a.title, a.page_id, coalesce(r.n, 0)::BIGINT AS inlinks
            FROM articles a LEFT JOIN resolved r ON r.title = a.title
            ORDER BY inlinks DESC, a.title""",
            pa.schema([("title", pa.string()), ("page_id", pa.int64()), ("inlinks", pa.int64())]),
            out / "titles.parquet",
            [files("articles.parquet"), files("redirects.parquet"), files("links-*.parquet")])
    finally:
        con.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return facts


# ---------------------------------------------------------------- the whole command


class _ProgressBar:
    """tqdm over compressed bytes with pages and XML MB/s, fed live by the workers (local engine).

    Workers add to a shared array (inherited by the forked processes); a thread here reads it
    twice a second. With another engine the array is not shared (``counts`` is None) and the bar
    only shows the total.
    """

    def __init__(self, total: int, enabled: bool, live: bool = True):
        import multiprocessing as mp

        self.counts = mp.get_context("fork").Array("q", 3) if (enabled and live) else None
        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc="wiki-count", disable=not enabled)
        self.started = time.perf_counter()
        self._stop = None

    def _show(self):
        done, pages, xml = list(self.counts)
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.n = min(done, self.bar.total)
        self.bar.set_postfix(pages=f"{pages:,}", xml=f"{xml / elapsed / 1e6:.1f} MB/s", refresh=False)
        self.bar.refresh()

    def __enter__(self):
        import threading

        if self.counts is not None:
            self._stop = threading.Event()

            def loop():
                while not self._stop.wait(0.5):
                    self._show()

            self._thread = threading.Thread(target=loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._stop is not None:
            self._stop.set()
            self._thread.join()
            self._show()
        self.bar.close()


def _plan_record(dumps, shards, cleaner) -> dict:
    def where(dump):
        dump = storage.canonical(dump)
        return str(Path(dump).resolve()) if storage.is_local(dump) else dump

    return {"version": PLAN_VERSION, "cleaner": cleaner,
            "dumps": [{"path": where(d), "size": _size(where(d))} for d in dumps],
            "shards": [s.name for s in shards]}


def _merge_remote(out: str, folders: list[str], **options) -> dict:
    """:func:`merge` for an ``--out`` on object storage: DuckDB reads and spills on local disk (a
    scratch folder under ``TMPDIR`` receives the partials), and the three tables are uploaded."""
    with tempfile.TemporaryDirectory(prefix="metadata-builder-wiki-merge-") as scratch:
        scratch = Path(scratch)
        local_folders = []
        for folder in folders:
            local = scratch / "shards" / posixpath.basename(folder.rstrip("/"))
            local.mkdir(parents=True)
            fs, inner = storage.filesystem(folder)
            for name in storage.listdir(folder):
                if name.endswith(".parquet"):
                    fs.get_file(posixpath.join(inner, name), str(local / name))
            local_folders.append(local)
        facts = merge(scratch, local_folders, **options)
        for name in ("unigrams.parquet", "bigrams.parquet", "titles.parquet"):
            storage.upload(scratch / name, storage.under(out, name))
    return facts


def shard_bytes(dumps: list, shard_mb: float | None = None) -> int:
    """Compressed bytes per shard: ``shard_mb`` MB, or by default 1/16 of the dumps, within 8-64 MB.

    Big shards cost less (each shard learns its vocabulary again); small dumps still get enough
    shards to keep every worker busy to the end. The size depends only on the dumps, never on the
    worker count, so a run can resume with other ``--workers``.
    """
    if shard_mb is not None:
        return max(1, int(shard_mb * (1 << 20)))
    total = 0
    for dump in dumps:
        try:
            total += _size(storage.canonical(dump))
        except OSError:  # a missing dump: plan_shards names it
            pass
    return int(min(64 << 20, max(8 << 20, total / 16)))


def wiki_count(dumps: list, out, *, workers: int = 1, cleaner: str = "fast", engine: str = "local",
               shard_mb: float | None = None, spill_entries: int = 3_000_000, bigram_table: str = "all",
               memory_limit: str = "4GB", progress: bool = True, pmi_min: float = 30.0,
               ray_address: str | None = None) -> dict:
    """Count a dump (or dump parts) into ``out``; resume finished shards; return the stats dict.

    ``pmi_min`` is the PMI floor of ``bigram_table="pmi30"`` (30 in the recipe; tests lower it to
    check the shortcut on a small corpus).
    """
    if cleaner not in CLEANERS:
        raise UserError(f"unknown cleaner {cleaner!r}; choose one of {', '.join(CLEANERS)}")
    if bigram_table not in BIGRAM_TABLES:
        raise UserError(f"unknown bigram table {bigram_table!r}; choose one of {', '.join(BIGRAM_TABLES)}")
    if not dumps:
        raise UserError("no dump given; pass one or more MediaWiki XML dump files")
    started = time.perf_counter()
    out = storage.under(out)  # a Path, or a URL string: partials and tables go to object storage
    local = storage.is_local(out)
    shards = plan_shards(dumps, shard_bytes(dumps, shard_mb))
    shard_root = storage.under(out, "shards")
    if local:
        try:
            shard_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot write {shard_root}: {exc.strerror or exc}; choose a writable --out") from None
    else:
        storage.makedirs(shard_root)
    plan = _plan_record(dumps, shards, cleaner)
    plan_file = storage.under(shard_root, "plan.json")
    if storage.is_file(plan_file):
        old = json.loads(storage.read_text(plan_file))
        if old != plan:
            raise UserError(f"{plan_file}: {out} holds a run with other dumps, shards or cleaner; "
                            f"use another --out, or delete {shard_root} to start again")
    else:
        storage.write_text(plan_file, json.dumps(plan, indent=1))
    if local:
        for stale in shard_root.glob(".*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    folders = {s.name: storage.under(shard_root, s.name) for s in shards}
    todo = [(s, str(folders[s.name])) for s in shards if not storage.is_file(storage.under(folders[s.name], "DONE"))]
    resumed = len(shards) - len(todo)

    count_started = time.perf_counter()
    arrow_rules()  # ~0.4 s once here; forked workers inherit the result
    shared = dict(cleaner=cleaner, spill_entries=spill_entries)
    with _ProgressBar(sum(s.compressed_bytes for s, _ in todo), progress and bool(todo),
                      live=engine == "local") as bar:
        shared["progress"] = bar.counts
        for _ in executor.map_tasks(_count_task, todo, shared=shared, workers=workers, engine=engine,
                                    progress=False, ray_address=ray_address):
            pass
    count_seconds = time.perf_counter() - count_started

    merge_started = time.perf_counter()
    per_shard = [json.loads(storage.read_text(storage.under(folders[s.name], "stats.json"))) for s in shards]
    facts = (merge if local else _merge_remote)(out, [folders[s.name] for s in shards], bigram_table=bigram_table,
                                                 memory_limit=memory_limit, threads=workers, pmi_min=pmi_min)
    merge_seconds = time.perf_counter() - merge_started

    keys = ("pages", "articles", "redirects", "other_namespaces", "skipped", "malformed", "clean_errors",
            "words", "bytes", "compressed_bytes")
    stats = {k: sum(s[k] for s in per_shard) for k in keys}
    stats["tokens"] = facts["tokens"]
    if stats["tokens"] != sum(s["tokens"] for s in per_shard):
        raise RuntimeError("token totals of the shards and of the merge differ")  # cannot happen
    cuts = [s["cut"] for s in per_shard if s["cut"]]
    stats.update(
        cut=cuts, truncated=bool(cuts),
        malformed_examples=[e for s in per_shard for e in s["malformed_examples"]][:20],
        distinct_words=facts["unigrams"], bigram_rows=facts["bigrams"], bigram_pairs=facts["bigram_pairs"],
        pmi_p30=facts["pmi_p30"], titles=facts["titles"], bigram_table=bigram_table, cleaner=cleaner,
        shards=len(shards), shards_resumed=resumed, workers=workers,
        timings={"count_seconds": round(count_seconds, 3), "merge_seconds": round(merge_seconds, 3),
                 "total_seconds": round(time.perf_counter() - started, 3),
                 "shard_seconds": round(sum(s["seconds"] for s in per_shard), 3)},
    )
    if "pmi30_candidate_words" in facts:
        stats["pmi30_candidate_words"] = facts["pmi30_candidate_words"]
    storage.write_text(storage.under(out, "stats.json"), json.dumps(stats, indent=1, sort_keys=True))
    return stats
