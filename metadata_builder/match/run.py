"""``match_pools``: match every shard of a pool against the metadata and write the match folder.

The folder's layout is the contract in :mod:`.output`. The matcher is built once, in this process,
and handed to the workers as the executor's ``shared`` object (inherited copy-on-write by forked
workers, never rebuilt per shard). Shards run through :class:`~metadata_builder.runtime.shards.ShardJob`:
each writes its parquet atomically, then its marker; a rerun skips finished shards, so a killed run
resumes and ends with byte-identical shards and counts. Totals are added from the shards' stats in
shard order, so they never depend on which run processed which shard.

Per language (Meta CLIP 2, ``--lang-id`` / ``--lang-column``): a first sharded job labels every text
(:func:`~.languages.identify`, in ``OUT/languages/``); the parent then knows which languages the pool
holds and builds one matcher per language present (only those), before the workers fork, so all
workers share them. Each text is matched against its own language's list only; the shards carry
its language; counts are written per language.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyarrow import ArrowException as ArrowError

from ..errors import UserError
from ..runtime import storage
from ..runtime.executor import Executor, Local
from ..runtime.progress import LiveBar, Meter
from ..runtime.shards import JOB_DIR, ShardJob, job_settings
from . import languages
from .engine import Engine
from .metadata import is_folder, language_files, load_language, load_metadata, sha256_file
from .normalize import DEFAULT as DEFAULT_NORMALIZE
from .normalize import parse as parse_normalizer
from .output import FORMAT_VERSION, entries_digest, shard_parquet
from .text_hash import text_hashes
from .pools import PoolFile, as_paths, expand_pools, known_rows, probe, read_batches

COUNT_KEYS = ("texts", "matched_texts", "matches", "null", "empty", "bad_utf8", "bad_rows")
LANGUAGE_KEYS = ("texts", "matched_texts", "matches")
#: The language-ID job's folder inside a per-language match folder.
LANGUAGES_DIR = "languages"
#: The padding a per-language match uses unless --normalize says otherwise (docs/recipe.md §4.2).
PER_LANGUAGE_NORMALIZE = "script-aware"

__all__ = ["load_metadata", "match_pools", "sha256_file"]


def metadata_warnings(entries: list[str], path) -> list[str]:
    """What a user should know about a metadata list before trusting its counts."""
    warnings = []
    duplicates = len(entries) - len(set(entries))
    if duplicates:
        warnings.append(f"{path}: {duplicates:,} entries repeat an earlier one; each copy is credited with the "
                        "same texts, so their counts add up twice (MetaCLIP's pyahocorasick matcher credits only the "
                        "last: --duplicate-ids last)")
    blank = sum(1 for e in entries if not e.strip())
    if blank:
        warnings.append(f"{path}: {blank:,} entries are empty or only white space; they match runs of spaces "
                        "(every text, for the empty entry)")
    return warnings


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
    trim_heap()


def trim_heap() -> None:
    """glibc's ``malloc_trim``: freed heap pages back to the system (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _batch_pairs(batch, matcher: Engine) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(batch.texts, list):
        return matcher.match_texts(batch.texts)
    return matcher.match_arrow(batch.texts)


def _language_pairs(batch, group: np.ndarray, matchers: list, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match each text of a batch against its own language's matcher; pairs sorted by text."""
    import pyarrow as pa

    texts, entries = [], []
    present, sizes = np.unique(group, return_counts=True)
    for g, size in zip(present.tolist(), sizes.tolist()):
        counts[g][0] += size
        if matchers[g] is None:  # a language without metadata: counted, never matched
            continue
        idx = np.flatnonzero(group == g)
        if len(present) == 1:
            sub = batch.texts
        elif isinstance(batch.texts, list):
            sub = [batch.texts[i] for i in idx]
        else:
            sub = batch.texts.take(pa.array(idx))
        text, entry = matchers[g].match_texts(sub) if isinstance(sub, list) else matchers[g].match_arrow(sub)
        texts.append(idx[text])
        entries.append(entry)
    if not texts:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    text, entry = np.concatenate(texts), np.concatenate(entries)
    order = np.argsort(text, kind="stable")  # a text's entries come from one matcher, already sorted
    return text[order], entry[order]


def match_shard(pool: PoolFile, shared: "_Shared") -> dict:
    """Match one pool file and write ``shards/NAME.parquet``; return its stats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    id_column, by_language = shared.id_column, shared.languages
    counts = dict.fromkeys(COUNT_KEYS, 0)
    meter = Meter(shared.progress, 2, every=shared.batch_size)
    out = shard_parquet(shared.out, pool.name)
    if by_language is not None:
        group = by_language.groups_of(pool)
        per_language = np.zeros((len(by_language.groups), 3), dtype=np.int64)  # texts, matched texts, matches
        dictionary = pa.array(by_language.groups, pa.string())
    writer = None
    with storage.atomic_local_path(out) as tmp:  # a URL: written locally, then uploaded
        try:
            for batch in read_batches(pool, id_column, shared.batch_size):
                if by_language is None:
                    text, entry = _batch_pairs(batch, shared.matcher)
                else:
                    batch_group = group[batch.first_row:batch.first_row + len(batch)]
                    if len(batch_group) != len(batch):
                        raise UserError(f"{pool.path}: has more rows than when its languages were found; "
                                        "the pool changed: delete the match folder and rerun")
                    text, entry = _language_pairs(batch, batch_group, by_language.matchers, per_language)
                rows, starts = np.unique(text, return_index=True)
                offsets = np.append(starts, len(entry)).astype(np.int32)
                columns = {"row": pa.array(rows + batch.first_row, pa.int64())}
                if id_column is not None:
                    ids = batch.ids
                    columns["id"] = ids.take(pa.array(rows)) if isinstance(ids, pa.Array) else \
                        pa.array([ids[i] for i in rows])
                if by_language is not None:
                    row_group = batch_group[rows]
                    columns["lang"] = pa.DictionaryArray.from_arrays(pa.array(row_group, pa.int32()), dictionary)
                    np.add.at(per_language[:, 1], row_group, 1)
                    np.add.at(per_language[:, 2], row_group, np.diff(offsets))
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
            if by_language is not None and counts["texts"] != len(group):
                raise UserError(f"{pool.path}: has {counts['texts']:,} rows, {len(group):,} when its languages were "
                                "found; the pool changed: delete the match folder and rerun")
            if writer is None:  # an empty shard still gets a (row-less) file
                fields = [pa.field("row", pa.int64())] + ([pa.field("id", pa.string())] if id_column else []) \
                    + ([pa.field("lang", pa.dictionary(pa.int32(), pa.string()))] if by_language else []) \
                    + [pa.field("entry_ids", pa.list_(pa.int32())), pa.field("text_hash", pa.uint64())]
                writer = pq.ParquetWriter(tmp, pa.schema(fields))
        finally:
            if writer is not None:
                writer.close()
    meter.flush()
    stats = {"name": pool.name, "rows": counts["texts"], **counts, "seconds": round(time.perf_counter() - start, 3)}
    if by_language is not None:
        stats["languages"] = {lang: dict(zip(LANGUAGE_KEYS, map(int, c)))
                              for lang, c in zip(by_language.groups, per_language) if c[0]}
    return stats


@dataclass
class _Languages:
    """A per-language match: its languages (sorted; a group is an index into them), one matcher per
    language (None: no metadata; languages sharing a list share the object), and the map from every
    raw label found in the pool to its group."""

    groups: list[str]
    matchers: list
    label_group: dict[str, int]
    labels_dir: str

    def groups_of(self, pool: PoolFile) -> np.ndarray:
        """The group of every row of one pool file, from its labels (``OUT/languages/``)."""
        codes, dictionary = languages.read_label_codes(self.labels_dir, pool.name)
        lookup = np.array([self.label_group[d] for d in dictionary] or [0], dtype=np.int32)
        return lookup[codes]


def _postfix(values, seconds) -> dict:
    texts, matched = values
    return {"matched": f"{matched / texts:.1%}" if texts else "–"}


@dataclass
class _Shared:
    """What every shard task receives once: the compiled matcher(s) and where to write."""

    matcher: Engine | None
    out: str
    id_column: str | None
    batch_size: int
    progress: object = None  # the LiveBar's counters: texts read, texts matched
    languages: _Languages | None = None


def match_pools(pools: list, metadata: str | os.PathLike, out: str | os.PathLike, *,
                text_column: str | None = None, id_column: str | None = None, fmt: str = "auto",
                column_names: list[str] | None = None,
                normalize: str | None = None, matcher: str = "auto", executor: Executor | None = None,
                batch_size: int = 8192, lang_id: str | None = None, lang_column: str | None = None,
                duplicates: str = "all") -> dict:
    """Match pool files against the metadata; write the match folder ``out``; return stats.

    Parameters
    ----------
    pools : files, folders or globs (parquet, jsonl, tsv, csv, txt, COCO json, webdataset tar,
        Arrow), or Hugging Face ``datasets.Dataset`` objects (their Arrow files).
    metadata : ``metadata.json`` (JSON list of strings; entry id = index) or ``metadata.parquet``, or
        a per-language folder of ``{lang}.json`` lists (:mod:`.metadata`; needs ``lang_id`` or
        ``lang_column``).
    column_names : names for the columns of headerless tsv/csv files (``["caption", "url"]``).
    normalize : ``metaclip-v1`` (docs/recipe.md §2, exact; the default for one list) or options
        (:mod:`.normalize`; ``script-aware`` is the default for a per-language folder).
    matcher : engine: ``auto``, ``hash``, ``automaton`` or ``mixed`` (same results).
    executor : where shards run (:mod:`metadata_builder.runtime.executor`; default one local
        process); outputs are identical whatever it is.
    lang_id, lang_column : where each text's language comes from (:mod:`.languages`): a language-ID
        model (``fasttext-lid176``) or a pool column. Then every text is matched against its own
        language's list only and counts are kept per language.
    duplicates : ``all`` ids of a duplicated entry string are credited, or only the ``last``
        (the released pyahocorasick matchers).
    """
    t0 = time.perf_counter()
    executor = executor or Local()
    out = storage.under(out)  # a Path, or a URL string (s3://, gs://, ...) for shared storage
    metadata = storage.canonical(metadata)
    metadata = Path(metadata).resolve() if storage.is_local(metadata) else metadata
    per_language_lists = is_folder(metadata)
    source = lang_id_source(lang_id, lang_column)
    if per_language_lists and source is None:
        raise UserError(f"{metadata}: a per-language metadata folder needs each text's language: "
                        "give --lang-id fasttext-lid176 or --lang-column NAME")
    norm = parse_normalizer(normalize or (PER_LANGUAGE_NORMALIZE if per_language_lists else DEFAULT_NORMALIZE))
    storage.check_writable(out, folder=True)
    pools = as_paths(pools)  # (a HF Dataset stands for its Arrow files)
    storage.check_outside(out, pools, "pool")
    files = [probe(p, text_column, id_column, column_names) for p in expand_pools(pools, fmt)]
    if lang_column is not None:
        for p in files:
            probe(p, p.text_column if isinstance(p.text_column, str) else text_column, lang_column, column_names, "lang")
    for pool, print_ in zip(files, storage.fingerprints([p.path for p in files])):
        pool.fingerprint = print_
    if source is not None:
        return _match_by_language(files, metadata, out, source, norm, per_language_lists, id_column=id_column,
                                  matcher=matcher, executor=executor, batch_size=batch_size,
                                  duplicates=duplicates, start=t0)
    entries = load_metadata(metadata)
    warnings = metadata_warnings(entries, metadata)
    manifest = {
        "format_version": FORMAT_VERSION,
        "metadata": {"path": str(metadata), "sha256": sha256_file(metadata),
                     "entries_sha256": entries_digest(entries), "entries": len(entries)},
        "normalize": norm.name, "id_column": id_column,
        "shards": [p.to_dict() for p in files],
    }
    settings = {"format_version": FORMAT_VERSION, "metadata": manifest["metadata"]["sha256"],
                "normalize": norm.name, "id column": id_column, "pool files": _pool_settings(manifest)}
    if duplicates != "all":
        manifest["duplicates"] = settings["duplicate ids"] = duplicates
    job = ShardJob(out, "match", settings, outputs=lambda pool: [shard_parquet(out, pool.name)], on_changed="refuse")
    if job.up_to_date(shards=files):  # the same metadata and pool files, finished: nothing to do
        return {**storage.read_json(storage.under(out, "stats.json")), "up_to_date": True}
    job.start()
    todo = job.pending(files)
    rss_before = rss_mb()
    built = Engine(entries, norm, matcher, duplicates) if todo else None
    n_entries = len(entries)
    del entries  # read again at the end: the workers should not inherit it
    release_free_memory()
    automaton = {"engine": built.engine if built else None,
                 "build_seconds": round(built.build_seconds, 3) if built else 0.0,
                 "bytes": int(built.nbytes) if built else 0,
                 "rss_mb_before_build": round(rss_before, 1),
                 "rss_mb_after_build": round(rss_mb(), 1)}
    shared = _Shared(built, str(out), id_column, batch_size)
    shard_stats, match_seconds = _run(job, files, executor, shared)
    entries = load_metadata(metadata)
    if len(entries) != n_entries:
        raise UserError(f"{metadata}: changed during the match; rerun it")
    return finish(job, manifest, shard_stats, entries, automaton=automaton, workers=executor.parallelism,
                  match_seconds=match_seconds, start=t0, warnings=warnings)


def _pool_settings(manifest: dict) -> list[dict]:
    """The pool files as settings: their fingerprints are checked per shard (``identity``), not here."""
    return [{k: v for k, v in p.items() if k != "fingerprint"} for p in manifest["shards"]]


def lang_id_source(lang_id: str | None, lang_column: str | None):
    """The :class:`~.languages.LanguageSource` of the options, or None for a match without languages."""
    if lang_id is None and lang_column is None:
        return None
    return languages.LanguageSource(lang_id, lang_column)


def _run(job: ShardJob, files, executor: Executor, shared: _Shared) -> tuple[list[dict], float]:
    t1 = time.perf_counter()
    if executor.parallelism > 1:  # keep the cyclic GC of forked workers off the parent's objects (fewer copied pages)
        gc.collect()
        gc.freeze()
    todo = job.pending(files)
    total = known_rows(todo)  # texts to read (parquet and Arrow footers), None when a text file is among them
    try:
        with LiveBar(total, desc="match", unit=" texts", unit_scale=True, size=2, postfix=_postfix,
                     enabled=executor.progress and bool(todo), live=isinstance(executor, Local)) as bar:
            shared.progress = bar.counters
            shard_stats = job.run(match_shard, files, executor.quiet(), shared=shared)
    finally:
        gc.unfreeze()
    return shard_stats, time.perf_counter() - t1


def finish(job: ShardJob, manifest: dict, shard_stats: list[dict], entries: list[str], *, automaton: dict,
           workers: int, match_seconds: float, start: float, warnings: list[str] = ()) -> dict:
    """Totals from the shards (whichever run wrote them): counts, stats, final manifest, completion."""
    out = job.out
    counts = np.zeros(len(entries), dtype=np.uint64)
    totals = _totals(manifest, shard_stats)
    for shard in manifest["shards"]:
        for table in _shard_row_groups(out, shard["name"], ["entry_ids"]):
            ids = table.column(0).combine_chunks().flatten()
            counts += np.bincount(ids.to_numpy(), minlength=len(entries)).astype(np.uint64)
    storage.write_npy(storage.under(out, "entry_counts.npy"), counts)
    storage.write_text(storage.under(out, "entry_counts.json"), _count_json(entries, counts))
    stats = _stats(totals, manifest, counts, job, automaton, workers, match_seconds, start, warnings)
    storage.write_text(storage.under(out, "stats.json"), json.dumps(stats, indent=1) + "\n")
    storage.write_text(storage.under(out, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    job.finish()
    return stats


def _shard_row_groups(out, name: str, columns: list[str]):
    """A finished shard's row groups (``columns``); an unreadable file is one line saying how to redo it."""
    path = shard_parquet(out, name)
    try:
        pf = storage.parquet_file(path)
        tables = [pf.read_row_group(i, columns=columns) for i in range(pf.num_row_groups)]
    except (OSError, ValueError, UserError, ArrowError) as exc:
        raise UserError(f"{path}: unreadable ({type(exc).__name__}: {exc}); delete it and rerun the same "
                        "command (that shard is matched again)") from None
    return tables


def _totals(manifest: dict, shard_stats: list[dict]) -> dict:
    totals = dict.fromkeys(COUNT_KEYS, 0)
    for shard, stats in zip(manifest["shards"], shard_stats):
        shard["rows"] = stats["rows"]
        for key in COUNT_KEYS:
            totals[key] += stats.get(key, 0)
    return totals


def _count_json(entries: list[str], counts: np.ndarray) -> str:
    """``{entry: count}``, MetaCLIP's released format (a duplicated string appears once)."""
    count_map: dict[str, int] = {}
    for entry, c in zip(entries, counts.tolist()):
        count_map.setdefault(entry, c)  # duplicates share their key, hence their count
    return json.dumps(count_map, ensure_ascii=False) + "\n"


def _stats(totals: dict, manifest: dict, counts: np.ndarray, job: ShardJob, automaton: dict, workers: int,
           match_seconds: float, start: float, warnings=()) -> dict:
    texts = totals["texts"]
    return {
        **totals,
        "matches_per_text": round(totals["matches"] / texts, 6) if texts else 0.0,
        "matches_per_matched_text": round(totals["matches"] / totals["matched_texts"], 6)
        if totals["matched_texts"] else 0.0,
        "matched_share": round(totals["matched_texts"] / texts, 6) if texts else 0.0,
        "entries": len(counts),
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


# --------------------------------------------------------------------------- per language


def _match_by_language(files: list[PoolFile], metadata, out, source, norm, per_language_lists: bool, *,
                       id_column, matcher: str, executor: Executor, batch_size: int, duplicates: str,
                       start: float) -> dict:
    """Label every text, then match each against its own language's list (see the module docstring)."""
    labels_dir = storage.under(out, LANGUAGES_DIR)
    if job_settings(out) is None:  # a folder of something else: refused before the language ID writes in it
        foreign = [n for n in storage.listdir(out) if n not in (JOB_DIR, LANGUAGES_DIR) and not n.startswith(".")]
        if foreign:
            raise UserError(f"{out}: holds files no match run recorded ({', '.join(foreign[:3])}"
                            f"{', ...' if len(foreign) > 3 else ''}); choose a new --out or empty that folder")
    t_lid = time.perf_counter()
    label_stats = languages.identify(files, labels_dir, source, executor=executor, batch_size=batch_size)
    lid_seconds = time.perf_counter() - t_lid
    label_counts: dict[str, int] = {}
    for stats in label_stats.values():
        for label, n in stats["labels"].items():
            label_counts[label] = label_counts.get(label, 0) + n
    if per_language_lists:
        lists = language_files(metadata)
        available = set(lists)
    else:
        lists, available = None, None
    label_lang = {label: languages.metadata_language(label, available) for label in label_counts}
    groups = sorted(set(label_lang.values()))
    group_index = {lang: i for i, lang in enumerate(groups)}

    # each language's list: its files, identity and size (the entries are read again to build)
    described, offset, warnings = [], 0, []
    read: dict[tuple, tuple] = {}  # one list shared by every language (one metadata.json): read, hashed, said once
    for lang in groups:
        paths = (lists.get(lang, []) if lists is not None else [str(metadata)])
        if tuple(paths) not in read:
            entries = load_language(paths) if paths else []
            warnings += metadata_warnings(entries, ", ".join(paths))
            read[tuple(paths)] = ([sha256_file(p) for p in paths], entries_digest(entries), len(entries))
        sha256, digest, n = read[tuple(paths)]
        described.append({"lang": lang, "paths": paths, "sha256": sha256, "entries_sha256": digest, "entries": n,
                          "offset": offset})
        offset += n
    manifest = {
        "format_version": FORMAT_VERSION,
        "metadata": {"path": str(metadata), "per_language": per_language_lists, "entries": offset,
                     "entries_sha256": _concatenated_digest(described)},
        "languages": {"source": source.describe(), "map_sha256": languages.map_digest(), "groups": described},
        "normalize": norm.name, "id_column": id_column,
        "shards": [p.to_dict() for p in files],
    }
    if duplicates != "all":
        manifest["duplicates"] = duplicates
    job = ShardJob(out, "match", {
        "format_version": FORMAT_VERSION, "metadata": {d["lang"]: d["sha256"] for d in described},
        "languages": manifest["languages"]["source"], "language map": manifest["languages"]["map_sha256"],
        "normalize": norm.name, "id column": id_column, "duplicate ids": duplicates,
        "pool files": _pool_settings(manifest)},
        outputs=lambda pool: [shard_parquet(out, pool.name)], on_changed="refuse", companions=[LANGUAGES_DIR])
    if job.up_to_date(shards=files):
        return {**storage.read_json(storage.under(out, "stats.json")), "up_to_date": True}
    job.start()
    todo = job.pending(files)
    matchers, built = [], {}
    for d in described:  # one matcher per language present, built once here and shared by the workers
        key = tuple(d["paths"])
        if not todo or not d["entries"]:
            matchers.append(None)
            continue
        if key not in built:
            before = rss_mb()
            m = Engine(load_language(d["paths"]), norm, matcher, duplicates)
            trim_heap()
            built[key] = m
            d["matcher"] = {"engine": m.engine, "build_seconds": round(m.build_seconds, 3), "bytes": int(m.nbytes),
                            "rss_mb_added": round(rss_mb() - before, 1)}
        matchers.append(built[key])
    release_free_memory()
    shared = _Shared(None, str(out), id_column, batch_size,
                     languages=_Languages(groups, matchers, {lb: group_index[lg] for lb, lg in label_lang.items()},
                                str(labels_dir)))
    automaton = {"languages_built": len(built), "bytes": int(sum(m.nbytes for m in built.values())),
                 "build_seconds": round(sum(m.build_seconds for m in built.values()), 3),
                 "rss_mb_after_build": round(rss_mb(), 1)}
    shard_stats, match_seconds = _run(job, files, executor, shared)
    return _finish_by_language(job, manifest, shard_stats, label_counts, label_stats, automaton=automaton,
                               workers=executor.parallelism, match_seconds=match_seconds,
                               lid_seconds=lid_seconds, start=start, warnings=warnings)


def _concatenated_digest(described: list[dict]) -> str:
    """What identifies the entry space of a per-language match: the languages' digests in order."""
    import hashlib

    text = json.dumps([[d["lang"], d["entries_sha256"]] for d in described], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _finish_by_language(job: ShardJob, manifest: dict, shard_stats: list[dict], label_counts: dict,
                        label_stats: dict, *, automaton: dict, workers: int, match_seconds: float,
                        lid_seconds: float, start: float, warnings: list[str] = ()) -> dict:
    """Per-language counts (``entry_counts/{lang}.npy`` and ``.json``), stats, manifest, completion."""
    from .output import global_entry_ids

    out = job.out
    described = manifest["languages"]["groups"]
    offsets = np.array([d["offset"] for d in described], dtype=np.int64)
    counts = np.zeros(manifest["metadata"]["entries"], dtype=np.uint64)
    totals = _totals(manifest, shard_stats)
    for shard in manifest["shards"]:
        for table in _shard_row_groups(out, shard["name"], ["lang", "entry_ids"]):
            _, ids = global_entry_ids(table, [d["lang"] for d in described], offsets)
            counts += np.bincount(ids, minlength=len(counts)).astype(np.uint64)
    per_language = {d["lang"]: dict.fromkeys(LANGUAGE_KEYS, 0) for d in described}
    for stats in shard_stats:
        for lang, c in stats.get("languages", {}).items():
            for key in LANGUAGE_KEYS:
                per_language[lang][key] += c[key]
    lists: dict[tuple, list[str]] = {}  # (a list shared by several languages is read once)
    for d in described:
        lang, part = d["lang"], counts[d["offset"]:d["offset"] + d["entries"]]
        storage.write_npy(storage.under(out, "entry_counts", f"{lang}.npy"), part)
        if d["entries"]:
            if tuple(d["paths"]) not in lists:
                lists[tuple(d["paths"])] = load_language(d["paths"])
            storage.write_text(storage.under(out, "entry_counts", f"{lang}.json"),
                               _count_json(lists[tuple(d["paths"])], part))
        texts = per_language[lang]["texts"]
        per_language[lang].update({
            "matched_share": round(per_language[lang]["matched_texts"] / texts, 6) if texts else 0.0,
            "entries": d["entries"], "entries_matched": int((part > 0).sum()), "matcher": d.pop("matcher", None)})
    stats = _stats(totals, manifest, counts, job, automaton, workers, match_seconds, start, warnings)
    lid_cpu = sum(s.get("lid_cpu_seconds", 0.0) for s in label_stats.values())
    stats["languages"] = per_language
    stats["language_id"] = {**manifest["languages"]["source"], "labels": dict(sorted(
        label_counts.items(), key=lambda kv: (-kv[1], kv[0]))), "cpu_seconds": round(lid_cpu, 3),
        "texts_per_cpu_second": round(totals["texts"] / lid_cpu, 1) if lid_cpu else None,
        "seconds": round(lid_seconds, 3)}
    storage.write_text(storage.under(out, "stats.json"), json.dumps(stats, indent=1) + "\n")
    storage.write_text(storage.under(out, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    job.finish()
    return stats
