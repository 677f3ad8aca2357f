"""``match_pools``: match every shard of a pool against the metadata and write the match folder.

The folder's layout is the contract in :mod:`metadata_builder.match_output`. The matcher is built
once, in this process, and handed to the workers as the executor's ``shared`` object (inherited
copy-on-write by forked workers, never rebuilt per shard). Each shard writes its parquet
atomically and then its ``.done.json`` marker; a rerun skips marked shards, so a killed run resumes
and ends with byte-identical shards and counts. Totals are recomputed from the shard files at the
end, so they never depend on which run processed which shard.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from .. import executor, storage
from ..errors import UserError
from ..match_output import FORMAT_VERSION, shard_marker, shard_parquet
from ..normalize import parse as parse_normalizer
from ..pools import PoolFile, expand_pools, probe, read_batches
from .engine import Matcher

COUNT_KEYS = ("texts", "matched_texts", "matches", "null", "empty", "bad_utf8", "bad_rows")


def load_metadata(path: str | os.PathLike) -> list[str]:
    """The metadata: a JSON list of strings (an entry's id is its index)."""
    path = storage.canonical(path)
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8") if storage.is_local(path)
                             else storage.read_text(path))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the metadata ({exc.strerror or exc})") from None
    except ValueError as exc:  # JSON or UTF-8 error
        raise UserError(f"{path}: not valid JSON ({exc}); the metadata must be a JSON list of strings") from None
    if not isinstance(entries, list):
        raise UserError(f"{path}: the metadata is a JSON {type(entries).__name__}, not a list of strings")
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise UserError(f"{path}: entry {i} is {json.dumps(entry)[:40]} ({type(entry).__name__}), "
                            "not a string; the metadata must be a JSON list of strings")
    return entries


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


def match_shard(task: dict, matcher: Matcher) -> dict:
    """Match one pool file; write ``shards/NAME.parquet`` then its marker. Returns its stats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    pool: PoolFile = task["pool"]
    id_column = task["id_column"]
    counts = dict.fromkeys(COUNT_KEYS, 0)
    out = shard_parquet(task["out"], pool.name)
    writer = None
    with storage.atomic_local_path(out) as tmp:  # a URL: written locally, then uploaded
        try:
            for batch in read_batches(pool, id_column, task["batch_size"]):
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
                for key, value in batch.counts.items():
                    counts[key] = counts.get(key, 0) + value
            if writer is None:  # an empty shard still gets a (row-less) file
                fields = [pa.field("row", pa.int64())] + ([pa.field("id", pa.string())] if id_column else []) \
                    + [pa.field("entry_ids", pa.list_(pa.int32()))]
                writer = pq.ParquetWriter(tmp, pa.schema(fields))
        finally:
            if writer is not None:
                writer.close()
    stats = {"name": pool.name, "path": pool.path, "format": pool.format, "rows": counts["texts"],
             **counts, "seconds": round(time.perf_counter() - start, 3)}
    storage.write_text(shard_marker(task["out"], pool.name), json.dumps(stats, indent=1) + "\n")  # last
    return stats


def _identity(manifest: dict) -> dict:
    """What must not change for a rerun to resume into the same folder."""
    return {"metadata_sha256": manifest["metadata"]["sha256"], "normalize": manifest["normalize"],
            "text_column": manifest["text_column"], "id_column": manifest["id_column"],
            "shards": [(s["name"], s["path"], s["format"]) for s in manifest["shards"]]}


def match_pools(pools: list[str], metadata: str | os.PathLike, out: str | os.PathLike, *,
                text_column: str | None = None, id_column: str | None = None, fmt: str = "auto",
                normalize: str = "metaclip-v1", matcher: str = "auto", workers: int = 1,
                engine: str = "local", batch_size: int = 8192, progress: bool = True,
                **executor_options) -> dict:
    """Match pool files against a metadata JSON list; write the match folder ``out``; return stats.

    Parameters
    ----------
    pools : files, folders or globs (parquet, jsonl, tsv, csv, txt, COCO json).
    metadata : JSON list of strings; entry id = index.
    normalize : ``metaclip-v1`` (SPEC §2, exact) or options (:mod:`metadata_builder.normalize`).
    matcher : engine: ``auto``, ``hash`` or ``automaton`` (same results).
    workers, engine : processes and where they run (:mod:`metadata_builder.executor`); outputs are
        identical whatever they are.
    """
    t0 = time.perf_counter()
    out = storage.under(out)  # a Path, or a URL string (s3://, gs://, ...) for shared storage
    metadata = storage.canonical(metadata)
    metadata = Path(metadata).resolve() if storage.is_local(metadata) else metadata
    norm = parse_normalizer(normalize)
    entries = load_metadata(metadata)
    files = [probe(p, text_column, id_column) for p in expand_pools(pools, fmt)]
    manifest = {
        "format_version": FORMAT_VERSION,
        "metadata": {"path": str(metadata), "sha256": sha256_file(metadata), "entries": len(entries)},
        "normalize": norm.name, "text_column": text_column, "id_column": id_column,
        "shards": [{**p.to_dict(), "rows": None} for p in files],
    }
    old_path = storage.under(out, "manifest.json")
    if storage.is_file(old_path):
        try:
            old = json.loads(storage.read_text(old_path))
            same = _identity(old) == _identity(manifest)
        except (ValueError, KeyError, TypeError):
            same = False
        if not same:
            raise UserError(f"{out}: holds a match of other inputs (metadata, pools, columns or "
                            "normaliser differ); choose a new --out or delete that folder")
    else:
        storage.write_text(old_path, json.dumps(manifest, indent=1) + "\n")

    todo = [p for p in files if not storage.is_file(shard_marker(out, p.name))]
    rss_before = rss_mb()
    built = Matcher(entries, norm, matcher) if todo else None
    n_entries = len(entries)
    del entries  # read again at the end: the workers should not inherit it
    release_free_memory()
    automaton = {"engine": built.engine if built else None,
                 "build_seconds": round(built.build_seconds, 3) if built else 0.0,
                 "bytes": int(built.nbytes) if built else 0,
                 "rss_mb_before_build": round(rss_before, 1),
                 "rss_mb_after_build": round(rss_mb(), 1)}
    tasks = [{"pool": p, "out": str(out), "id_column": id_column, "batch_size": batch_size} for p in todo]
    t1 = time.perf_counter()
    if workers > 1:  # keep the cyclic GC of forked workers off the parent's objects (fewer copied pages)
        gc.collect()
        gc.freeze()
    try:
        for _ in executor.map_tasks(match_shard, tasks, shared=built, workers=workers, engine=engine,
                                    desc="match", progress=progress, **executor_options):
            pass
    finally:
        gc.unfreeze()
    t2 = time.perf_counter()
    entries = load_metadata(metadata)
    if len(entries) != n_entries:
        raise UserError(f"{metadata}: changed during the match; rerun it")
    return finish(out, manifest, entries, automaton=automaton, workers=workers,
                  resumed=len(files) - len(todo), match_seconds=t2 - t1, start=t0)


def finish(out: Path | str, manifest: dict, entries: list[str], *, automaton: dict, workers: int,
           resumed: int, match_seconds: float, start: float) -> dict:
    """Totals from the shard files (whichever run wrote them): counts, stats, final manifest."""
    counts = np.zeros(len(entries), dtype=np.uint64)
    totals = dict.fromkeys(COUNT_KEYS, 0)
    for shard in manifest["shards"]:
        marker = json.loads(storage.read_text(shard_marker(out, shard["name"])))
        shard["rows"] = marker["rows"]
        for key in COUNT_KEYS:
            totals[key] += marker.get(key, 0)
        pf = storage.parquet_file(shard_parquet(out, shard["name"]))
        for i in range(pf.num_row_groups):
            ids = pf.read_row_group(i, columns=["entry_ids"]).column(0).combine_chunks().flatten()
            counts += np.bincount(ids.to_numpy(), minlength=len(entries)).astype(np.uint64)
    with storage.atomic_local_path(storage.under(out, "entry_counts.npy")) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, counts)
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
        "shards": len(manifest["shards"]), "shards_resumed": resumed, "workers": workers,
        "automaton": automaton,
        "timings": {"match_seconds": round(match_seconds, 3),
                    "total_seconds": round(time.perf_counter() - start, 3),
                    "texts_per_second": round(texts / match_seconds, 1) if match_seconds and not resumed else None},
    }
    storage.write_text(storage.under(out, "stats.json"), json.dumps(stats, indent=1) + "\n")
    storage.write_text(storage.under(out, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    return stats
