"""``wiki-count``: Wikipedia dumps -> unigram counts, bigram PMI, titles with in-links.

Sharded, resumable, bounded memory: phase 1 counts each shard into partials (:mod:`.shard`, run as a
:class:`~metadata_builder.runtime.shards.ShardJob`), phase 2 merges them out of core (:mod:`.merge`).
Outputs in ``DIR``: ``unigrams.parquet``, ``bigrams.parquet``, ``titles.parquet`` (columns in
:mod:`.merge`), ``stats.json`` (pages, articles, redirects, other namespaces, skipped (malformed)
pages, tokens N, words, XML bytes, truncation reports, timings), and ``shards/`` (the partials;
keep them to resume, delete them once done). ``_job/complete.json`` is written last.
"""

from __future__ import annotations

import time
from pathlib import Path

from ....errors import UserError
from ....runtime import storage
from ....runtime.executor import Executor, Local
from ....runtime.progress import LiveBar
from ....runtime.shards import ShardJob
from ..cleaner import CLEANERS
from ..dump import plan_shards
from ..tokens import prepare_counter
from ..tokenization import dumps_language, resolve
from .merge import merge, merge_remote
from .options import BIGRAM_TABLES
from .shard import count_task

PLAN_VERSION = 2


def shard_bytes(dumps: list, shard_mb: float | None = None) -> int:
    """Compressed bytes per shard: ``shard_mb`` MB, or by default 1/16 of the dumps, within 2-64 MB.

    Big shards cost less (each shard learns its vocabulary again); small dumps still get enough
    shards to keep every worker busy to the end. The size depends only on the dumps, never on the
    worker count, so a run can resume with other ``--workers``.
    """
    if shard_mb is not None:
        if not shard_mb > 0:
            raise UserError(f"--shard-mb must be > 0, got {shard_mb}")
        return max(1, int(shard_mb * (1 << 20)))
    total = 0
    for dump in dumps:
        try:
            total += storage.size(dump)
        except (OSError, UserError):  # a missing dump: plan_shards names it
            pass
    return int(min(64 << 20, max(2 << 20, total / 16)))


def _settings(dumps, shards, cleaner, tokenization=None) -> dict:
    """What the shards' partials depend on: the dumps' content, the shard plan, the cleaner, and
    under recipe metaclip-v2 the tokens, language and segmenter."""
    def where(dump):
        dump = storage.canonical(dump)
        return str(Path(dump).resolve()) if storage.is_local(dump) else dump

    return {"version": PLAN_VERSION, "cleaner": cleaner,
            "dumps": [{"path": where(d), **storage.fingerprint(where(d))} for d in dumps],
            "shards": [s.name for s in shards], **(tokenization.settings() if tokenization else {})}


def _postfix(values, seconds) -> dict:
    _, pages, xml = values
    return {"pages": f"{pages:,}", "xml": f"{xml / seconds / 1e6:.1f} MB/s"}


def wiki_count(dumps: list, out, *, cleaner: str = "fast", shard_mb: float | None = None,
               spill_entries: int = 3_000_000, bigram_table: str = "all", memory_limit: str = "4GB",
               pmi_min: float = 30.0, executor: Executor | None = None, tokens: str = "auto",
               lang: str | None = None, segmenter: str | None = None) -> dict:
    """Count a dump (or dump parts) into ``out``; resume finished shards; return the stats dict.

    ``pmi_min`` is the PMI floor of ``bigram_table="pmi30"`` (30 in the recipe; tests lower it to
    check the shortcut on a small corpus). ``executor``: where shards run (default: one local process).
    ``tokens``: the tokenisation recipe (``auto``: metaclip-v1 for English, metaclip-v2 otherwise;
    :mod:`..tokenization`), ``lang`` the Wikipedia code (default: from the dumps' ``<siteinfo>``),
    ``segmenter`` another segmenter than the language's (metaclip-v2).
    """
    from ....runtime.duck import memory_bytes

    executor = executor or Local()
    if cleaner not in CLEANERS:
        raise UserError(f"unknown cleaner {cleaner!r}; choose one of {', '.join(CLEANERS)}")
    if bigram_table not in BIGRAM_TABLES:
        raise UserError(f"unknown bigram table {bigram_table!r}; choose one of {', '.join(BIGRAM_TABLES)}")
    if spill_entries < 1:
        raise UserError(f"--spill-entries must be >= 1, got {spill_entries}")
    memory_bytes(memory_limit)  # a malformed limit is refused before any work
    if not dumps:
        raise UserError("no dump given; pass one or more MediaWiki XML dump files")
    started = time.perf_counter()
    out = storage.under(out)  # a Path, or a URL string: partials and tables go to object storage
    storage.check_writable(out, folder=True)
    shards = plan_shards(dumps, shard_bytes(dumps, shard_mb))
    if lang is None:
        first = {s.index: s.siteinfo for s in shards}
        lang = dumps_language([first.get(i) for i in range(len(dumps))], dumps)
    tokenization = resolve(tokens, lang, segmenter)
    job = ShardJob(out, "wiki-count", _settings(dumps, shards, cleaner, tokenization),
                   outputs=lambda s: [storage.under(out, "shards", s.name, name)
                                      for name in ("articles.parquet", "redirects.parquet")])
    record = {"bigram_table": bigram_table, "pmi_min": pmi_min}
    if job.up_to_date(record):  # the same dumps and options, finished: nothing to do
        return {**storage.read_json(storage.under(out, "stats.json")), "up_to_date": True}
    job.start()
    shard_root = storage.under(out, "shards")

    count_started = time.perf_counter()
    todo = job.pending(shards)
    if todo and tokenization.recipe == "metaclip-v1":
        prepare_counter()  # once here: forked workers inherit it
    shared = dict(root=str(shard_root), cleaner=cleaner, spill_entries=spill_entries, tokenization=tokenization)
    with LiveBar(sum(s.compressed_bytes for s in todo), desc="wiki-count", unit="B", unit_scale=True, size=3,
                 enabled=executor.progress and bool(todo), live=isinstance(executor, Local),
                 postfix=_postfix) as bar:
        shared["progress"] = bar.counters
        per_shard = job.run(count_task, shards, executor.quiet(), shared=shared)
    count_seconds = time.perf_counter() - count_started

    merge_started = time.perf_counter()
    folders = [storage.under(shard_root, s.name) for s in shards]
    facts = (merge if storage.is_local(out) else merge_remote)(
        out, folders, bigram_table=bigram_table, memory_limit=memory_limit, threads=executor.parallelism,
        pmi_min=pmi_min)
    merge_seconds = time.perf_counter() - merge_started

    keys = ("pages", "articles", "redirects", "other_namespaces", "skipped", "malformed", "clean_errors",
            "words", "bytes", "compressed_bytes")
    stats = {k: sum(s[k] for s in per_shard) for k in keys}
    stats["tokens"] = facts["tokens"]
    if stats["tokens"] != sum(s["tokens"] for s in per_shard):
        raise RuntimeError("token totals of the shards and of the merge differ")  # cannot happen
    cuts = [s["cut"] for s in per_shard if s["cut"]]
    corrupt = [c for s in per_shard for c in s.get("corrupt_streams", [])]
    counted = [s for s, shard in zip(per_shard, shards) if shard in todo]
    stats.update(
        cut=cuts, truncated=bool(cuts), corrupt_streams=corrupt, pages_lost=sum(c["pages_lost"] for c in corrupt),
        malformed_examples=[e for s in per_shard for e in s["malformed_examples"]][:20],
        distinct_words=facts["unigrams"], bigram_rows=facts["bigrams"], bigram_pairs=facts["bigram_pairs"],
        pmi_p30=facts["pmi_p30"], titles=facts["titles"], bigram_table=bigram_table, cleaner=cleaner,
        lang=tokenization.lang, tokens_recipe=tokenization.recipe, segmenter=tokenization.segmenter_version,
        shards=len(shards), shards_resumed=job.resumed, workers=executor.parallelism,
        timings={"count_seconds": round(count_seconds, 3), "merge_seconds": round(merge_seconds, 3),
                 "total_seconds": round(time.perf_counter() - started, 3),
                 "shard_seconds": round(sum(s["seconds"] for s in per_shard), 3),
                 "counted_xml_bytes": sum(s["bytes"] for s in counted)},
    )
    if "pmi30_candidate_words" in facts:
        stats["pmi30_candidate_words"] = facts["pmi30_candidate_words"]
    storage.write_json(storage.under(out, "stats.json"), stats)
    job.finish(record)
    return stats
