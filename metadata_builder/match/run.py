"""``match_pools``: match every shard of a pool against the metadata and write the match folder.

The folder's layout is the contract in :mod:`.output`. The matcher is built once, in this process,
and handed to the workers as the executor's ``shared`` object (inherited copy-on-write by forked
workers, never rebuilt per shard). Shards run through :class:`~metadata_builder.runtime.shards.ShardJob`:
each writes its parquet atomically, then its marker; a rerun skips finished shards, so a killed run
resumes and ends with byte-identical shards and counts. Totals are added from the shards' stats in
shard order, so they never depend on which run processed which shard.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyarrow import ArrowException as ArrowError

from ..errors import UserError
from ..runtime import storage
from ..runtime.executor import Executor, Local
from ..runtime.progress import LiveBar, Meter
from ..runtime.shards import ShardJob
from .engine import Engine
from .metadata import load_metadata
from .normalize import parse as parse_normalizer
from .output import FORMAT_VERSION, entries_digest, shard_parquet, text_hashes
from .pools import PoolFile, as_paths, expand_pools, known_rows, probe, read_batches

COUNT_KEYS = ("texts", "matched_texts", "matches", "null", "empty", "bad_utf8", "bad_rows")


def metadata_warnings(entries: list[str], path) -> list[str]:
    """What a user should know about a metadata list before trusting its counts."""
    warnings = []
    duplicates = len(entries) - len(set(entries))
    if duplicates:
        warnings.append(f"{path}: {duplicates:,} entries repeat an earlier one; each copy is credited with the "
                        "same texts, so their counts add up twice (MetaCLIP's pyahocorasick matcher credits only the last)")
    blank = sum(1 for e in entries if not e.strip())
    if blank:
        warnings.append(f"{path}: {blank:,} entries are empty or only white space; they match runs of spaces "
                        "(every text, for the empty entry)")
    return warnings


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with storage.open_file(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rss_mb() -> float:
    """This process's resident memory now (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def release_free_memory() -> None:
    """Give freed heap pages back to the system (glibc), so forked workers do not map them."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def match_shard(pool: PoolFile, shared: "_Shared") -> dict:
    """Match one pool file and write ``shards/NAME.parquet``; return its stats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    matcher, id_column = shared.matcher, shared.id_column
    counts = dict.fromkeys(COUNT_KEYS, 0)
    meter = Meter(shared.progress, 2, every=shared.batch_size)
    out = shard_parquet(shared.out, pool.name)
    writer = None
    with storage.atomic_local_path(out) as tmp:  # a URL: written locally, then uploaded
        try:
            for batch in read_batches(pool, id_column, shared.batch_size):
                if isinstance(batch.texts, list):
                    text, entry = matcher.match_texts(batch.texts)
                else:
                    text, entry = matcher.match_arrow(batch.texts)
                rows, starts = np.unique(text, return_index=True)
                offsets = np.append(starts, len(entry)).astype(np.int32)
                columns = {"row": pa.array(rows + batch.first_row, pa.int64())}
                if id_column is not None:
                    ids = batch.ids
                    columns["id"] = ids.take(pa.array(rows)) if isinstance(ids, pa.Array) else \
                        pa.array([ids[i] for i in rows])
                columns["entry_ids"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(entry, pa.int32()))
                matched = batch.texts.take(pa.array(rows)) if isinstance(batch.texts, pa.Array) else \
                    [batch.texts[i] for i in rows]
                columns["text_hash"] = pa.array(text_hashes(matched), pa.uint64())
                table = pa.table(columns)
                if writer is None:
                    schema = table.schema
                    if id_column is not None and pa.types.is_null(schema.field("id").type):
                        schema = schema.set(1, pa.field("id", pa.string()))
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(table.cast(writer.schema))
                counts["texts"] += len(batch)
                counts["matched_texts"] += len(rows)
                counts["matches"] += len(entry)
                meter.set(1, counts["matched_texts"])
                meter.set(0, counts["texts"])
                for key, value in batch.counts.items():
                    counts[key] = counts.get(key, 0) + value
            if writer is None:  # an empty shard still gets a (row-less) file
                fields = [pa.field("row", pa.int64())] + ([pa.field("id", pa.string())] if id_column else []) \
                    + [pa.field("entry_ids", pa.list_(pa.int32())), pa.field("text_hash", pa.uint64())]
                writer = pq.ParquetWriter(tmp, pa.schema(fields))
        finally:
            if writer is not None:
                writer.close()
    meter.flush()
    return {"name": pool.name, "rows": counts["texts"], **counts, "seconds": round(time.perf_counter() - start, 3)}


def _postfix(values, seconds) -> dict:
    texts, matched = values
    return {"matched": f"{matched / texts:.1%}" if texts else "–"}


@dataclass
class _Shared:
    """What every shard task receives once: the compiled matcher and where to write."""

    matcher: Engine | None
    out: str
    id_column: str | None
    batch_size: int
    progress: object = None  # the LiveBar's counters: texts read, texts matched


def match_pools(pools: list, metadata: str | os.PathLike, out: str | os.PathLike, *,
                text_column: str | None = None, id_column: str | None = None, fmt: str = "auto",
                column_names: list[str] | None = None,
                normalize: str = "metaclip-v1", matcher: str = "auto", executor: Executor | None = None,
                batch_size: int = 8192) -> dict:
    """Match pool files against the metadata; write the match folder ``out``; return stats.

    Parameters
    ----------
    pools : files, folders or globs (parquet, jsonl, tsv, csv, txt, COCO json, webdataset tar,
        Arrow), or Hugging Face ``datasets.Dataset`` objects (their Arrow files).
    metadata : ``metadata.json`` (JSON list of strings; entry id = index) or ``metadata.parquet``.
    column_names : names for the columns of headerless tsv/csv files (``["caption", "url"]``).
    normalize : ``metaclip-v1`` (docs/recipe.md §2, exact) or options (:mod:`.normalize`).
    matcher : engine: ``auto``, ``hash`` or ``automaton`` (same results).
    executor : where shards run (:mod:`metadata_builder.runtime.executor`; default one local
        process); outputs are identical whatever it is.
    """
    t0 = time.perf_counter()
    executor = executor or Local()
    out = storage.under(out)  # a Path, or a URL string (s3://, gs://, ...) for shared storage
    metadata = storage.canonical(metadata)
    metadata = Path(metadata).resolve() if storage.is_local(metadata) else metadata
    norm = parse_normalizer(normalize)
    entries = load_metadata(metadata)
    warnings = metadata_warnings(entries, metadata)
    storage.check_writable(out, folder=True)
    pools = as_paths(pools)  # (a HF Dataset stands for its Arrow files)
    storage.check_outside(out, pools, "pool")
    files = [probe(p, text_column, id_column, column_names) for p in expand_pools(pools, fmt)]
    for pool, print_ in zip(files, storage.fingerprints([p.path for p in files])):
        pool.fingerprint = print_
    manifest = {
        "format_version": FORMAT_VERSION,
        "metadata": {"path": str(metadata), "sha256": sha256_file(metadata),
                     "entries_sha256": entries_digest(entries), "entries": len(entries)},
        "normalize": norm.name, "id_column": id_column,
        "shards": [p.to_dict() for p in files],
    }
    job = ShardJob(out, "match", {"format_version": FORMAT_VERSION, "metadata": manifest["metadata"]["sha256"],
                                  "normalize": norm.name, "id column": id_column,
                                  "pool files": [{k: v for k, v in p.items() if k != "fingerprint"}
                                                 for p in manifest["shards"]]},
                   outputs=lambda pool: [shard_parquet(out, pool.name)], on_changed="refuse")
    if job.up_to_date(shards=files):  # the same metadata and pool files, finished: nothing to do
        return {**storage.read_json(storage.under(out, "stats.json")), "up_to_date": True}
    job.start()
    todo = job.pending(files)
    rss_before = rss_mb()
    built = Engine(entries, norm, matcher) if todo else None
    n_entries = len(entries)
    del entries  # read again at the end: the workers should not inherit it
    release_free_memory()
    automaton = {"engine": built.engine if built else None,
                 "build_seconds": round(built.build_seconds, 3) if built else 0.0,
                 "bytes": int(built.nbytes) if built else 0,
                 "rss_mb_before_build": round(rss_before, 1),
                 "rss_mb_after_build": round(rss_mb(), 1)}
    shared = _Shared(built, str(out), id_column, batch_size)
    t1 = time.perf_counter()
    if executor.parallelism > 1:  # keep the cyclic GC of forked workers off the parent's objects (fewer copied pages)
        gc.collect()
        gc.freeze()
    total = known_rows(todo)  # texts to read (parquet and Arrow footers), None when a text file is among them
    try:
        with LiveBar(total, desc="match", unit=" texts", unit_scale=True, size=2, postfix=_postfix,
                     enabled=executor.progress and bool(todo), live=isinstance(executor, Local)) as bar:
            shared.progress = bar.counters
            shard_stats = job.run(match_shard, files, executor.quiet(), shared=shared)
    finally:
        gc.unfreeze()
    t2 = time.perf_counter()
    entries = load_metadata(metadata)
    if len(entries) != n_entries:
        raise UserError(f"{metadata}: changed during the match; rerun it")
    stats = finish(job, manifest, shard_stats, entries, automaton=automaton, workers=executor.parallelism,
                   match_seconds=t2 - t1, start=t0, warnings=warnings)
    return stats


def finish(job: ShardJob, manifest: dict, shard_stats: list[dict], entries: list[str], *, automaton: dict,
           workers: int, match_seconds: float, start: float, warnings: list[str] = ()) -> dict:
    """Totals from the shards (whichever run wrote them): counts, stats, final manifest, completion."""
    out = job.out
    counts = np.zeros(len(entries), dtype=np.uint64)
    totals = dict.fromkeys(COUNT_KEYS, 0)
    for shard, stats in zip(manifest["shards"], shard_stats):
        shard["rows"] = stats["rows"]
        for key in COUNT_KEYS:
            totals[key] += stats.get(key, 0)
        path = shard_parquet(out, shard["name"])
        try:
            pf = storage.parquet_file(path)
            for i in range(pf.num_row_groups):
                ids = pf.read_row_group(i, columns=["entry_ids"]).column(0).combine_chunks().flatten()
                counts += np.bincount(ids.to_numpy(), minlength=len(entries)).astype(np.uint64)
        except (OSError, ValueError, UserError, ArrowError) as exc:
            raise UserError(f"{path}: unreadable ({type(exc).__name__}: {exc}); delete it and rerun the same "
                            "command (that shard is matched again)") from None
    storage.write_npy(storage.under(out, "entry_counts.npy"), counts)
    count_map: dict[str, int] = {}
    for entry, c in zip(entries, counts.tolist()):
        count_map.setdefault(entry, c)  # duplicates share their key, hence their count
    storage.write_text(storage.under(out, "entry_counts.json"), json.dumps(count_map, ensure_ascii=False) + "\n")
    texts = totals["texts"]
    stats = {
        **totals,
        "matches_per_text": round(totals["matches"] / texts, 6) if texts else 0.0,
        "matches_per_matched_text": round(totals["matches"] / totals["matched_texts"], 6)
        if totals["matched_texts"] else 0.0,
        "matched_share": round(totals["matched_texts"] / texts, 6) if texts else 0.0,
        "entries": len(entries),
        "entries_matched": int((counts > 0).sum()),
        "entries_never_matched": int((counts == 0).sum()),
        "normalize": manifest["normalize"],
        "warnings": list(warnings),
        "shards": len(manifest["shards"]), "shards_resumed": job.resumed, "workers": workers,
        "automaton": automaton,
        "timings": {"match_seconds": round(match_seconds, 3),
                    "total_seconds": round(time.perf_counter() - start, 3),
                    "texts_per_second": round(texts / match_seconds, 1) if match_seconds and not job.resumed else None},
    }
    storage.write_text(storage.under(out, "stats.json"), json.dumps(stats, indent=1) + "\n")
    storage.write_text(storage.under(out, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    job.finish()
    return stats
