"""Summed pageviews per title of **every** language: the title source of recipe ``metaclip-v2``.

Meta CLIP 2 (released ``metadata/build_title.py``) reads the hourly files of 37 days
(``data/pageview_days_worldwide.txt``) and, for every line ``domain_code page_title views bytes``:

- decodes and strips it; skips lines starting with ``"" `` and lines that are not 4 space-separated
  fields;
- removes every ``.m`` from the domain code (``en.m`` -> ``en``; also ``en.m.voy`` -> ``en.voy``);
- reads the title with ``_`` as a space (stripped); skips titles with ``:`` and zero views; there is
  **no per-hour minimum** (v1 needs 50 views in the hour);
- sums the views per title under the code **before the first dot** (so ``en.b`` Wikibooks, ``en.d``
  Wiktionary and the other sister projects fold into ``en``, and ``commons``, ``meta``, ``species``
  become codes of their own), the code's ``-`` written ``_`` (``zh-min-nan`` -> ``zh_min_nan``, the
  Wikipedia code of the dumps).

We count exactly that, except that a line which is not UTF-8 or whose views are not an integer is
counted as malformed and skipped (the release stops with an exception). ``wikipedia_only`` (an option,
not the recipe) keeps only Wikipedia lines: codes with no project suffix left after ``.m`` is removed,
and not one of Wikimedia's non-Wikipedia sites.

Output table: ``lang``, ``title``, ``views`` (summed), ``hours`` (hourly lines counted), ordered by
lang, views (highest first), title. Each hourly file is one shard of a
:class:`~metadata_builder.runtime.shards.ShardJob` (resumable; a partial table per file, built in
Arrow in blocks so memory stays bounded), and the partials are summed out of core with DuckDB.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tempfile
import zlib

import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import UserError
from ...runtime import duck, storage
from ...runtime.executor import Executor, Local
from ...runtime.shards import ShardJob
from .pageviews import FileTask, expand_inputs, file_lines, stats_path

SCHEMA = pa.schema([("lang", pa.string()), ("title", pa.string()), ("views", pa.int64()), ("hours", pa.int64())])
MALFORMED_EXAMPLES = 5
BLOCK_LINES = 1 << 20
_FILE_DAY = re.compile(r"pageviews-(\d{8})-\d{6}\.gz$")
_REPORT_KEYS = ("lines", "counted", "quoted", "zero_views", "colon_titles", "not_wikipedia", "malformed",
                "views_counted")
#: Wikimedia sites whose code has no project suffix but that are not a language's Wikipedia.
NOT_WIKIPEDIA = frozenset({"commons", "meta", "species", "incubator", "foundation", "outreach", "www",
                           "wikimania", "wikidata", "mediawiki", "login", "sources", "strategy", "usability",
                           "wikitech", "api", "beta", "test", "test2"})


def domain_language(code: str) -> str:
    """The release's language of a domain code: ``.m`` removed, the part before the first dot, ``-`` -> ``_``.

    >>> domain_language("en.m"), domain_language("en.b"), domain_language("zh-min-nan.m")
    ('en', 'en', 'zh_min_nan')
    """
    if ".m" in code:
        code = code.replace(".m", "")
    return code.split(".")[0].replace("-", "_")


def is_wikipedia(code: str) -> bool:
    """A Wikipedia's domain code (``en``, ``en.m``), not a sister project or a Wikimedia site."""
    parts = [part for part in code.split(".") if part != "m"]  # the mobile marker as a whole part only
    return len(parts) == 1 and parts[0] not in NOT_WIKIPEDIA


def _sum_block(tables: list) -> pa.Table:
    table = pa.concat_tables(tables)
    return table.group_by(["lang", "title"], use_threads=False).aggregate([("views", "sum"), ("hours", "sum")]) \
        .rename_columns(["lang", "title", "views", "hours"])


def scan_file_all_languages(path, wikipedia_only: bool = False) -> tuple[pa.Table, dict]:
    """Counted views of one hourly file, every language: (table lang/title/views/hours, report)."""
    import gzip

    path = storage.canonical(path)
    report = dict.fromkeys(_REPORT_KEYS, 0)
    examples: list[str] = []
    parts: list[pa.Table] = []
    langs, titles, views = [], [], []

    def malformed(lineno: int, why: str) -> None:
        report["malformed"] += 1
        if len(examples) < MALFORMED_EXAMPLES:
            examples.append(f"{path}:{lineno}: {why}")

    def flush() -> None:
        if langs:
            parts.append(pa.table({"lang": pa.array(langs, pa.string()), "title": pa.array(titles, pa.string()),
                                   "views": pa.array(views, pa.int64()),
                                   "hours": pa.array([1] * len(views), pa.int64())}))
            langs.clear(), titles.clear(), views.clear()
        if len(parts) > 4:  # keep the partial sums small
            parts[:] = [_sum_block(parts)]

    lineno = 0
    try:
        with gzip.GzipFile(fileobj=storage.open_input(path), mode="rb") as f:
            for lineno, raw in enumerate(file_lines(f), 1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    malformed(lineno, "not UTF-8")
                    continue
                if line.startswith('"" '):
                    report["quoted"] += 1
                    continue
                fields = line.split(" ")
                if len(fields) != 4:
                    malformed(lineno, f"expected 4 space-separated fields: {raw[:80]!r}")
                    continue
                code, title, count = fields[0], fields[1], fields[2]
                try:
                    n = int(count)
                except ValueError:
                    malformed(lineno, f"views {count[:20]!r} is not an integer")
                    continue
                title = title.strip().replace("_", " ")
                if n == 0:
                    report["zero_views"] += 1
                    continue
                if ":" in title:
                    report["colon_titles"] += 1
                    continue
                if wikipedia_only and not is_wikipedia(code):
                    report["not_wikipedia"] += 1
                    continue
                report["counted"] += 1
                report["views_counted"] += n
                langs.append(domain_language(code))
                titles.append(title)
                views.append(n)
                if len(views) >= BLOCK_LINES:
                    flush()
    except (EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise UserError(f"{path} does not exist") from None
        raise UserError(f"{path}: truncated or corrupt gzip after line {lineno} ({exc}); download it again") from None
    flush()
    table = _sum_block(parts) if parts else SCHEMA.empty_table()
    report["lines"] = lineno
    report["malformed_examples"] = examples
    return table.cast(SCHEMA), report


def _part_name(path: str) -> str:
    """The partial table's name of an hourly file: its name and a digest of its full path."""
    digest = hashlib.sha1(path.encode()).hexdigest()[:10]
    return f"{posixpath.basename(path).removesuffix('.gz')}-{digest}"


def _scan_task(task: FileTask, shared: dict) -> dict:
    table, report = scan_file_all_languages(task.path, shared["wikipedia_only"])
    with storage.atomic_local_path(storage.under(shared["parts"], f"{task.name}.parquet")) as tmp:
        pq.write_table(table, tmp)
    return report


def count_pageviews_all_languages(inputs, out, *, work_dir=None, wikipedia_only: bool = False,
                                  executor: Executor | None = None) -> dict:
    """Scan every hourly file (resuming finished ones), sum per (lang, title), write ``out`` and its stats."""
    executor = executor or Local()
    out = storage.canonical(out)
    storage.check_writable(out)
    files = expand_inputs(inputs)
    work = storage.canonical(work_dir) if work_dir is not None else out + ".parts"
    job = ShardJob(work, "pageviews --all-languages", {"rule": "metaclip-v2", "wikipedia only": wikipedia_only}).start()
    tasks = [FileTask(f, _part_name(f), storage.fingerprint(f)) for f in files]
    shared = {"parts": str(storage.under(work, "parts")), "wikipedia_only": wikipedia_only}
    reports = job.run(_scan_task, tasks, executor, shared=shared, desc="pageview files", unit="file")
    facts = _merge([str(storage.under(shared["parts"], f"{t.name}.parquet")) for t in tasks], out,
                   executor.parallelism)
    stats = {
        "files": len(tasks), "files_resumed": job.resumed, "rule": "metaclip-v2", "wikipedia_only": wikipedia_only,
        **{key: sum(r[key] for r in reports) for key in _REPORT_KEYS}, **facts,
        "malformed_examples": [e for r in reports for e in r["malformed_examples"]][:2 * MALFORMED_EXAMPLES],
        "days": sorted({m.group(1) for f in files if (m := _FILE_DAY.search(posixpath.basename(f)))}),
    }
    storage.write_text(stats_path(out), json.dumps(stats, indent=1, ensure_ascii=False) + "\n")
    job.finish()
    return stats


def _merge(parts: list[str], out: str, threads: int) -> dict:
    """Sum the partial tables per (lang, title) with DuckDB (out of core) into ``out``."""
    with tempfile.TemporaryDirectory(prefix="metadata-builder-pageviews-") as scratch:
        local = storage.local_copies(parts, scratch)
        con = duck.connect(memory_limit="4GB", temp_directory=scratch, threads=threads)
        try:
            target = os.path.join(scratch, "out.parquet")
            if local:
                con.execute("""
                    COPY (SELECT lang, title, sum(views)::BIGINT AS views, sum(hours)::BIGINT AS hours
                          FROM read_parquet(?) GROUP BY lang, title ORDER BY lang, views DESC, title)
                    TO '""" + target.replace("'", "''") + "' (FORMAT parquet)", [local])
                table = pq.read_table(target).cast(SCHEMA)
            else:
                table = SCHEMA.empty_table()
        finally:
            con.close()
        with storage.atomic_local_path(out) as tmp:
            pq.write_table(table, tmp)
    langs = table.column("lang").to_pylist() if table.num_rows else []
    return {"titles": table.num_rows, "languages": len(set(langs))}
