"""Merge the shards' partials into the three tables (phase 2 of ``wiki-count``).

Partials are summed with DuckDB's ``GROUP BY`` under a memory limit, spilling to a temporary folder,
then written in a fixed order with a fixed row-group size, so the outputs are byte-identical
whatever the worker count or the interruptions. DuckDB (MIT) aggregates and joins ~10^8-10^9 partial
rows straight from parquet, spills to disk past its limit, and needs no server.

- ``unigrams.parquet``: word, count, articles; every word (lower-cased recipe rule), ordered by
  count desc, word. The rule's "seen in >= 3 articles" is left to ``assemble``.
- ``bigrams.parquet``: w1, w2, count, c1, c2, pmi, score_v2 (case kept; see :mod:`..tokens`); c1 and
  c2 are the two words' case-kept counts, so PMI can be recomputed from the table and N (``stats.json``
  ``tokens``) alone.
  ``pmi = log2(c12 * N) - log2(c1 * c2)``, as ``nltk.collocations.BigramAssocMeasures.pmi``
  computes it, N = total case-kept tokens, c1/c2 the case-kept unigram counts.
  ``score_v2 = (c12 + 1) ** 0.7 * (pmi - PMI_p30)`` (Meta CLIP 2), PMI_p30 = 30th percentile
  (linear interpolation, DuckDB ``quantile_cont``) of the PMI of all distinct bigrams.
  With ``bigram_table="pmi30"`` only pairs with PMI >= ``pmi_min`` are written, and only pairs of
  rare words are ever aggregated: c12 <= min(c1, c2) gives ``c12 * N / (c1 * c2) <= N / max(c1, c2)``,
  so PMI >= 30 requires ``max(c1, c2) <= N / 2^30``; the filter on both words is exact (no
  qualifying pair is lost). ``score_v2`` is then empty (it needs every pair's PMI).
- ``titles.parquet``: title, page_id, inlinks: every article (main namespace, not a redirect);
  inlinks = number of links whose target, normalised like a title and resolved through one
  redirect hop, is that title.

Memory and disk at scale are measured in ``bench/README.md`` (``make bench-wiki-scale``).
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ....runtime import duck, storage
from ....errors import UserError
from .shard import PAIRS, ROW_GROUP, WORDS


def _write_query(con, sql: str, schema: pa.Schema, path: Path, params=None) -> int:
    """Stream a query's rows into parquet with fixed row groups (byte-identical reruns)."""
    reader = con.sql(sql, params=params or None).to_arrow_reader(ROW_GROUP)
    rows = 0
    with storage.atomic_local_path(path) as tmp:
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
    def files(pattern):
        return [str(p) for f in folders for p in sorted(f.glob(pattern))]

    tmpdir = out / "shards" / ".duckdb.tmp"
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir(parents=True)
    con = duck.connect(memory_limit=memory_limit, temp_directory=tmpdir, threads=threads)
    try:
        return _merge(con, out, files, bigram_table, pmi_min)
    except duck.errors() as exc:
        raise UserError(f"the merge of {out}/shards failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                        "free disk space or lower --memory-limit, then rerun the same command "
                        "(the counted shards are kept)") from None
    finally:
        con.close()
        shutil.rmtree(tmpdir, ignore_errors=True)


def _merge(con, out: Path, files, bigram_table: str, pmi_min: float) -> dict:
    """The three tables, in a fixed order with fixed row groups (byte-identical reruns)."""
    facts = {}
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
        SELECT p.w1, p.w2, p.c12, a.c AS c1, b.c AS c2,
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
        SELECT w1, w2, c12 AS count, c1, c2, pmi, {score} AS score_v2 FROM scored {keep}
        ORDER BY c12 DESC, w1, w2""",
        pa.schema(list(PAIRS) + [("c1", pa.int64()), ("c2", pa.int64()), ("pmi", pa.float64()),
                                 ("score_v2", pa.float64())]),
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
    return facts



def merge_remote(out: str, folders: list[str], **options) -> dict:
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
