"""The ``balance`` command's work: Algorithm 1 over a match folder, shard by shard, resumable.

Each shard task reads the shard's matched texts, computes every text's keep probability, draws
(:mod:`.draws`), and writes the curated rows (the pool's own columns, re-read from the pool, the
URL and caption columns renamed for download tools when asked), the candidates with their
probabilities for online balancing, its per-entry kept counts and, with ``audit``, one row per pool
text saying what happened to it. The driver adds the per-entry counts in shard order, so every
output is the same for any worker count; it then gives every curated file the same schema, so any
parquet reader takes ``curated/`` as one table.

A per-language match (Meta CLIP 2) is balanced with one t per language (:mod:`.languages`): the
probabilities of each language's entries use its own t, and every total is also kept per language.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from ..match.output import MatchOutput
from ..match.pools import PoolFile, pool_columns, read_batches, read_rows, verify_rows
from ..runtime import storage
from ..runtime.executor import Executor, Local
from ..runtime.progress import LiveBar, Meter
from ..runtime.shards import ShardJob
from .diagnose import balance_warnings
from .draws import match_draws, sample_flat, text_keys
from .languages import language_probabilities, language_ts, t_for_share
from .per_image import choose_one_text_per_image, chosen_counts
from .probabilities import entry_probabilities, keep_probabilities_flat, tail_share

#: The folder of curated rows: parquet files only, so that any reader takes it as one table.
CURATED = "curated"
#: Columns added to the pool's own columns in the curated rows: the text's identity and its P(keep).
SHARD_COLUMN = "shard"
ROW_COLUMN = "row"
P_COLUMN = "keep_probability"
#: The names download tools expect (img2dataset's --url_col / --caption_col defaults for our output).
URL, CAPTION = "url", "caption"
#: Why a text is not in the curated set (the audit's ``reason``).
KEPT, UNMATCHED, LOST, NOT_CHOSEN = "kept", "unmatched", "lost every draw", "not the chosen text of its image"
COUNT_OVER = ("texts", "images")
#: How pandas names an index it stores as a column.
PANDAS_INDEX = re.compile(r"__index_level_\d+__")


@dataclass
class _Shared:
    """What every shard task needs (sent to each worker once)."""

    match: MatchOutput
    out_dir: str
    p_entry: np.ndarray
    seed: int
    chosen: dict | None  # per-image: shard name -> sorted rows chosen for their image
    has_id: bool
    rename: dict = field(default_factory=dict)  # pool column -> exported name
    audit: bool = False
    progress: object = None  # the LiveBar's counters (pool rows read)
    per_language: bool = False


def _paths(out_dir, name):
    """A shard's outputs: Paths in a local folder, URL strings on object storage."""
    under = storage.under
    return {"curated": under(out_dir, CURATED, f"{name}.parquet"),
            "entries": under(out_dir, "entries", f"{name}.npz"),
            "online": under(out_dir, "online", f"{name}.parquet"),
            "audit": under(out_dir, "audit", f"{name}.parquet")}


def _outputs(out_dir, name: str, audit: bool) -> list:
    """The files a shard may write (the job records their sizes; a shard that kept no text writes
    no curated file, and none are written for the audit without --audit)."""
    paths = _paths(out_dir, name)
    return [paths[k] for k in ("curated", "entries", "online") + (("audit",) if audit else ())]


def _renamed(table, rename: dict, path: str):
    """The pool's columns with ``rename`` applied (``URL`` -> ``url``), refused when ambiguous.

    A pandas index stored as a column (``__index_level_0__``) is left out: without pandas' schema
    metadata (dropped, since it describes the whole pool file) it would be a meaningless column.
    """
    index_columns = [n for n in table.column_names if PANDAS_INDEX.fullmatch(n)]
    if index_columns:
        table = table.drop_columns(index_columns)
    names = list(table.column_names)
    for source, target in rename.items():
        if source not in names:
            if not table.num_rows and not names:
                continue  # (no row kept in a text pool: nothing to name)
            raise UserError(f"{path}: no column {source!r} to export as {target!r} (columns: "
                            f"{', '.join(names[:20])}); pass --{target}-column with one of them")
        if target in names and target != source:
            raise UserError(f"{path}: has both {source!r} and {target!r}; --{target}-column {source} would give "
                            f"two {target!r} columns: leave the option out (the pool has {target!r}) or "
                            "rename the pool's column")
    return table.rename_columns([rename.get(n, n) for n in names])


def _balance_shard(shard: dict, shared: _Shared) -> dict:
    """Sample one shard, write its curated rows, its online file, its per-entry counts (and audit)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = shard["name"]
    paths = _paths(shared.out_dir, name)
    meter = Meter(shared.progress, 1, every=65_536)
    pool_rows = int(shard.get("rows") or 0)
    rows, offsets, ids = shared.match.entry_ids(name)  # ids in the match's entry space (all languages)
    table = shared.match.table(name, ["text_hash"] + (["id"] if shared.has_id else []))
    keys = text_keys(shared.seed, name, rows)
    probability = keep_probabilities_flat(offsets, ids, shared.p_entry)
    kept = sample_flat(offsets, ids, shared.p_entry, keys)
    chosen = None
    if shared.chosen is not None:
        chosen = np.isin(rows, shared.chosen.get(name, np.zeros(0, dtype=np.int64)))
        kept &= chosen
        probability = np.where(chosen, probability, 0.0)

    # online balancing: every candidate text with its keep probability, for loaders that draw later
    candidates = probability > 0
    online = {"shard": pa.array([name] * int(candidates.sum()), pa.string()),
              "row": pa.array(rows[candidates]), "p": pa.array(probability[candidates])}
    if shared.has_id:
        online["id"] = table["id"].filter(pa.array(candidates))
    if candidates.any():  # (no file without rows: HF datasets cannot read an empty parquet file)
        with storage.atomic_local_path(paths["online"]) as tmp:  # a URL: written locally, then uploaded
            pq.write_table(pa.table({k: online[k] for k in ("shard", "row", "id", "p") if k in online}), tmp)

    # the curated subset: the pool's own columns (URL/caption renamed when asked), then its identity;
    # the rows read back must be the texts the match saw (their hashes), or the pool changed
    pool = PoolFile.from_dict(shard)
    pool.check_unchanged()
    if kept.any():
        subset = read_rows(pool, rows[kept], expected_rows=shard.get("rows"), progress=lambda n: meter.set(0, n))
        verify_rows(pool, subset, table["text_hash"].to_numpy()[kept])
        subset = _renamed(subset, shared.rename, shard["path"]).replace_schema_metadata(None)
        extra = {SHARD_COLUMN: pa.array([name] * int(kept.sum()), pa.string()), ROW_COLUMN: pa.array(rows[kept]),
                 P_COLUMN: pa.array(probability[kept])}
        for column, values in extra.items():
            subset = subset.append_column(column if column not in subset.column_names else f"{column}_balance", values)
        with storage.atomic_local_path(paths["curated"]) as tmp:
            pq.write_table(subset, tmp)
    meter.set(0, pool_rows)

    if shared.audit:
        _write_audit(shard, shared, paths["audit"], rows, offsets, ids, keys, probability, kept, chosen,
                     lambda n: meter.set(0, pool_rows + n))
        meter.set(0, 2 * pool_rows)
    meter.flush()

    # per entry: texts kept, and texts expected kept (sum of P over the texts containing it)
    lengths = np.diff(offsets)
    present, inverse = np.unique(ids, return_inverse=True)
    kept_per_entry = np.bincount(inverse, weights=np.repeat(kept, lengths), minlength=len(present))
    expected_per_entry = np.bincount(inverse, weights=np.repeat(probability, lengths), minlength=len(present))
    with storage.atomic_local_path(paths["entries"]) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=present, kept=kept_per_entry.astype(np.uint64), expected=expected_per_entry)
    stats = {"shard": name, "texts": int(len(rows)), "candidates": int(candidates.sum()), "kept": int(kept.sum()),
             "expected": float(probability.sum()), "variance": float((probability * (1 - probability)).sum())}
    if shared.chosen is not None:
        stats["images"] = int(chosen.sum())  # one chosen text per image (some may have p = 0)
    if shared.per_language:  # the same totals per language (index into match.language_names)
        group = shared.match.text_languages(name)
        n = len(shared.match.languages)
        stats["languages"] = {
            "texts": np.bincount(group, minlength=n).tolist(),
            "candidates": np.bincount(group, weights=candidates, minlength=n).astype(np.int64).tolist(),
            "kept": np.bincount(group, weights=kept, minlength=n).astype(np.int64).tolist(),
            "expected": np.bincount(group, weights=probability, minlength=n).tolist()}
        if shared.chosen is not None:
            stats["languages"]["images"] = np.bincount(group, weights=chosen, minlength=n).astype(np.int64).tolist()
    return stats


def _write_audit(shard, shared: _Shared, path, rows, offsets, ids, keys, probability, kept, chosen, progress):
    """One row per pool text: its entries with p and the draw of each, the entries that won, and
    why it is or is not in the curated set (``kept``, ``unmatched``, ``lost every draw``, ``not the
    chosen text of its image``). Streams the pool's texts batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = shard["name"]
    entries = pa.array(shared.match.entries, pa.string())
    draws = match_draws(keys, offsets, ids)
    wins = draws < shared.p_entry[ids]
    id_column = shared.match.manifest.get("id_column")
    pool = PoolFile.from_dict(shard)
    lengths = np.diff(offsets)
    writer, empty = None, False
    with storage.atomic_local_path(path) as tmp:
        try:
            for batch in read_batches(pool, id_column, 65_536):
                n, first = len(batch), batch.first_row
                lo, hi = np.searchsorted(rows, [first, first + n])
                at = rows[lo:hi] - first  # positions of the matched texts in this batch
                length = np.zeros(n, dtype=np.int64)
                length[at] = lengths[lo:hi]
                list_offsets = pa.array(np.concatenate([[0], np.cumsum(length)]).astype(np.int32))
                values = ids[offsets[lo]:offsets[hi]]
                won = wins[offsets[lo]:offsets[hi]]
                win_length = np.zeros(n, dtype=np.int64)
                win_length[at] = np.add.reduceat(won.astype(np.int64), offsets[lo:hi] - offsets[lo]) \
                    if hi > lo and len(won) else 0
                p_text = np.zeros(n)
                p_text[at] = probability[lo:hi]
                kept_text = np.zeros(n, dtype=bool)
                kept_text[at] = kept[lo:hi]
                reason = np.full(n, UNMATCHED, dtype=object)
                reason[at] = np.where(kept[lo:hi], KEPT, LOST)
                if chosen is not None:
                    not_chosen = at[~chosen[lo:hi]]
                    reason[not_chosen] = NOT_CHOSEN
                columns = {"shard": pa.array([name] * n, pa.string()),
                           "row": pa.array(np.arange(first, first + n, dtype=np.int64))}
                if id_column is not None:
                    ids_batch = batch.ids
                    columns["id"] = (ids_batch if isinstance(ids_batch, pa.Array) else pa.array(ids_batch)).cast(pa.string())
                columns["text"] = batch.texts if isinstance(batch.texts, pa.Array) else pa.array(batch.texts, pa.string())
                columns["kept"] = pa.array(kept_text)
                columns["reason"] = pa.array(reason.tolist(), pa.string())
                columns["keep_probability"] = pa.array(p_text)
                if chosen is not None:
                    chosen_text = np.zeros(n, dtype=bool)
                    chosen_text[at] = chosen[lo:hi]
                    columns["chosen"] = pa.array(chosen_text)
                columns["entry_ids"] = pa.ListArray.from_arrays(list_offsets, pa.array(values.astype(np.int32)))
                columns["entries"] = pa.ListArray.from_arrays(list_offsets, entries.take(pa.array(values)))
                columns["p"] = pa.ListArray.from_arrays(list_offsets, pa.array(shared.p_entry[values]))
                columns["draws"] = pa.ListArray.from_arrays(list_offsets, pa.array(draws[offsets[lo]:offsets[hi]]))
                win_offsets = pa.array(np.concatenate([[0], np.cumsum(win_length)]).astype(np.int32))
                columns["winning_entries"] = pa.ListArray.from_arrays(win_offsets, entries.take(pa.array(values[won])))
                out = pa.table(columns)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, out.schema)
                writer.write_table(out.cast(writer.schema))
                progress(first + n)
            if writer is None:  # an empty pool file: a row-less audit file, removed below
                writer = pq.ParquetWriter(tmp, pa.schema([("shard", pa.string()), ("row", pa.int64())]))
                empty = True
        finally:
            if writer is not None:
                writer.close()
    if empty:
        storage.remove(path)


def _common_type(types):
    """One type for a column that differs between curated files: the permissive promotion
    (int64 + float64 -> float64, null + string -> string), or text when there is none."""
    import pyarrow as pa

    typed = [t for t in types if not pa.types.is_null(t)]
    if not typed:
        return pa.null()
    if all(t == typed[0] for t in typed):
        return typed[0]
    try:
        return pa.unify_schemas([pa.schema([("x", t)]) for t in typed], promote_options="permissive").field("x").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.string()


def _conform(column, target, n: int):
    """``column`` as ``target`` (JSON text when it cannot be cast), or nulls when it is missing."""
    import pyarrow as pa

    if column is None:
        return pa.nulls(n, target)
    if column.type == target:
        return column
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                         for v in column.to_pylist()], pa.string())


def unify_curated(out_dir, shards: list[dict], rewritten=None) -> int:
    """Give every curated file one schema (columns in first-seen order, one type each), rewriting
    only the files that differ (a text pool's shard with no kept row, a jsonl field typed
    differently in two files); returns how many were rewritten. Readers that take the folder as one
    table (pandas, pyarrow.dataset, DuckDB, HF datasets) then agree on its columns.
    ``rewritten(shard)`` is called for each shard whose file was rewritten."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    present = [(s, _paths(out_dir, s["name"])["curated"]) for s in shards]
    present = [(s, p) for s, p in present if storage.is_file(p)]  # (a shard that kept no text has no file)
    paths = [p for _, p in present]
    schemas = [storage.parquet_file(p).schema_arrow for p in paths]
    types: dict = {}
    for schema in schemas:
        for f in schema:
            types.setdefault(f.name, []).append(f.type)
    target = pa.schema([(name, _common_type(ts)) for name, ts in types.items()])
    count = 0
    for (shard, path), schema in zip(present, schemas):
        if schema.remove_metadata().equals(target):
            continue
        table = storage.read_table(path)
        columns = [_conform(table[f.name] if f.name in table.column_names else None, f.type, table.num_rows)
                   for f in target]
        with storage.atomic_local_path(path) as tmp:
            pq.write_table(pa.table(columns, schema=target), tmp)
        if rewritten is not None:
            rewritten(shard)
        count += 1
    return count


def _head_excess(counts: np.ndarray, expected_kept: np.ndarray, kept: np.ndarray, t: float) -> dict:
    """How far head entries (count > t) end above t through the texts they share with winners.

    Alone, a head entry would keep ``t`` texts in expectation; it keeps more when its texts are
    also kept for another entry. Reported as ratios to t, exact (expected) and sampled.
    """
    head = counts > t
    if not head.any():
        return {"head_entries": 0}
    ratio = expected_kept[head] / t
    sampled = kept[head] / t
    return {"head_entries": int(head.sum()),
            "head_expected_over_t": {"mean": float(ratio.mean()), "median": float(np.median(ratio)),
                                     "p90": float(np.quantile(ratio, 0.9)), "max": float(ratio.max())},
            "head_sampled_over_t": {"mean": float(sampled.mean()), "median": float(np.median(sampled)),
                                    "max": float(sampled.max())},
            "head_share_above_1_1t": float((ratio > 1.1).mean())}


def _entries_or_none(match: MatchOutput):
    """The metadata's entries to name the worst entry in a warning, or None when the metadata file
    the match used is not readable any more (balancing itself never needs it)."""
    try:
        return match.entries
    except UserError:
        return None


def _export_columns(match: MatchOutput, url_column: str | None, caption_column: str | None) -> dict:
    """``{pool column: exported name}``, checked against every pool file whose columns are known."""
    rename = {c: target for c, target in ((url_column, URL), (caption_column, CAPTION)) if c is not None}
    if url_column is not None and url_column == caption_column:
        raise UserError(f"--url-column and --caption-column both name {url_column!r}; give two columns")
    for shard in match.shards if rename else ():
        names = pool_columns(PoolFile.from_dict(shard))
        if names is None:
            continue  # (jsonl: known row by row, checked when the rows are read)
        names = [n for n in names if not PANDAS_INDEX.fullmatch(n)]
        for source, target in rename.items():
            if source not in names:
                hint = " (name them with 'match --column-names')" if all(n.isdigit() for n in names) else ""
                raise UserError(f"{shard['path']}: no column {source!r} for --{target}-column "
                                f"(columns: {', '.join(names[:20])}){hint}")
            if target in names and target != source:
                raise UserError(f"{shard['path']}: has both {source!r} and {target!r}; leave --{target}-column out "
                                f"(the pool has {target!r} already) or rename the pool's column")
    return rename


def _language_table(match: MatchOutput, counts: np.ndarray, ts: dict, shard_stats: list[dict],
                    entry_expected: np.ndarray, unit: str) -> dict:
    """Per language: pool texts, matched texts, matches, entries hit, t, tail share, head entries,
    candidates (p > 0), expected and kept, in ``unit`` (texts, or images with ``--per-image``: an image
    counts for the language of its chosen text, ``images``)."""
    names = match.language_names
    summed = {key: np.zeros(len(names)) for key in ("texts", "candidates", "kept", "expected", "images")}
    for done in shard_stats:
        for key in summed:
            summed[key] += np.asarray(done["languages"].get(key, 0), dtype=np.float64)
    pool = match.language_stats
    table = {}
    for i, (lang, sl) in enumerate(match.language_slices.items()):
        c, t = counts[sl], ts[lang]
        head = c > t if t else c > 0
        table[lang] = {
            "pool_texts": int(pool.get(lang, {}).get("texts", 0)), "matched_texts": int(summed["texts"][i]),
            "matches": int(c.sum()), "entries": int(len(c)), "entries_hit": int((c > 0).sum()),
            "t": t, "tail_share": tail_share(c, t) if len(c) else 0.0, "head_entries": int(head.sum()),
            "head_expected_over_t": float(np.median(entry_expected[sl][head] / t)) if t and head.any() else None,
            f"candidate_{unit}": int(summed["candidates"][i]), f"expected_{unit}": float(summed["expected"][i]),
            f"kept_{unit}": int(summed["kept"][i])}
        if unit == "images":  # images whose chosen text is in this language (p may be 0: candidates exclude those)
            table[lang]["images"] = int(summed["images"][i])
    return table


def balance(match_dir, out_dir, *, t: float | None = None, tail_share_target: float | None = None,
            seed: int = 0, per_image: bool = False, image_column: str | None = None, count_over: str = "texts",
            url_column: str | None = None, caption_column: str | None = None, audit: bool = False,
            executor: Executor | None = None, t_en: float | None = None, t_rule: str = "smallest") -> dict:
    """Run Algorithm 1 on a match folder and write the curated subset; return the stats.

    Parameters
    ----------
    match_dir : output of ``metadata-builder match`` (a folder or :class:`MatchOutput`).
    out_dir : receives ``curated/SHARD.parquet`` (the pool's original columns of the kept texts,
        then ``shard``, ``row`` and ``keep_probability``), ``online/SHARD.parquet`` (``shard``,
        ``row``, [``id``], ``p``: every candidate text with its keep probability, for loaders that
        draw at training time; neither is written for a shard without rows, since some readers
        refuse an empty parquet file), ``entries/SHARD.npz`` (per-entry counts of the shard),
        ``stats.json``, ``entry_counts.npy`` (the counts p[e] came from), ``entry_kept.npy``
        (uint64, kept texts per entry), ``entry_expected_kept.npy`` (float64, expected kept texts
        per entry) and, with ``audit``, ``audit/SHARD.parquet``; read it back with
        :class:`~.output.BalanceOutput`.
    t, tail_share_target : the cap, or the tail share (entries with count < t) that chooses it
        (:func:`t_for_tail_share`).
    seed : every draw is a hash of (seed, shard, row, entry): same seed, same bytes.
    per_image : Meta CLIP 2's variant, one matched text per image first
        (:func:`~.per_image.choose_one_text_per_image`); ``image_column`` names the pool column
        identifying the image; across languages. What is kept is then counted in images.
    count_over : with ``per_image``, the counts t and p[e] come from: ``"texts"`` (every matched
        text, the released code) or ``"images"`` (the chosen text of each image).
    url_column, caption_column : pool columns exported as ``url`` and ``caption`` (the names
        img2dataset and other download tools read).
    audit : also write ``audit/SHARD.parquet``: every pool text with its entries, p, draws,
        winning entries and why it was kept or dropped.
    executor : where shards run (default: one local process).
    t_en, t_rule : a per-language match (:mod:`.languages`): English keeps ``t_en`` and every other
        language gets the t of English's tail share at it, by ``t_rule`` (``smallest``, ours, or
        ``nearest``, the released ``p_to_t``); ``tail_share_target`` then chooses English's t as the t
        of that share first (without English: every language gets the t of that share), and ``t``
        gives the same t to all.

    Shards already finished with the same settings are kept (resume); stats are added in manifest
    order, so they do not depend on the worker count.
    """
    executor = executor or Local()
    if not 0 <= int(seed) < 2**64:
        raise UserError(f"--seed must be between 0 and 2^64 - 1, got {seed}")
    match = match_dir if isinstance(match_dir, MatchOutput) else MatchOutput(match_dir)
    storage.check_writable(out_dir, folder=True)
    storage.check_outside(out_dir, [match.path], "match")
    if count_over not in COUNT_OVER:
        raise UserError(f"--count-over {count_over!r}: choose one of {', '.join(COUNT_OVER)}")
    if count_over != "texts" and not per_image:
        raise UserError("--count-over images needs --per-image (without it every candidate is a text)")
    per_language = bool(match.languages)
    if per_language:
        if sum(x is not None for x in (t, t_en, tail_share_target)) != 1:
            raise UserError("give exactly one of --t, --t-en and --tail-share")
    else:
        if t_en is not None:
            raise UserError(f"--t-en needs a per-language match (match --lang-id or --lang-column); "
                            f"{match.path} has one list: give --t or --tail-share")
        if (t is None) == (tail_share_target is None):
            raise UserError("give exactly one of --t and --tail-share")
    if t is not None and not t > 0:
        raise UserError(f"--t must be > 0, got {t!r}")
    rename = _export_columns(match, url_column, caption_column)
    counts = match.counts
    chosen = None
    if per_image and count_over == "images":  # the counts themselves depend on the choice
        chosen = choose_one_text_per_image(match, seed, image_column, executor=executor)
        counts = chosen_counts(match, chosen, executor=executor.quiet())
    if per_language:
        slices = match.language_slices
        ts, p = language_ts({lang: counts[sl] for lang, sl in slices.items()}, t=t, t_en=t_en,
                            tail_share_target=tail_share_target, rule=t_rule)
        ts = {lang: int(v) if float(v).is_integer() else float(v) for lang, v in ts.items()}
        t = ts.get("en")
        p_entry = np.zeros(len(counts), dtype=np.float64)
        t_entry = np.zeros(len(counts), dtype=np.float64)  # each entry's language's t
        for lang, sl in slices.items():
            p_entry[sl] = language_probabilities(counts[sl], ts[lang])
            t_entry[sl] = ts[lang]
        settings_t = ts
    else:
        if t is None:
            t = t_for_share(counts, tail_share_target, t_rule)
        if not t > 0:
            raise UserError(f"--t must be > 0, got {t!r}" + (f" (the {t_rule} rule gave {t!r} for tail share "
                            f"{tail_share_target:g}; use --t-rule smallest)" if tail_share_target is not None else ""))
        t = int(t) if float(t).is_integer() else float(t)
        p_entry, t_entry, settings_t, p = entry_probabilities(counts, t), t, t, tail_share_target
    settings = {"match": match.key, "t": settings_t, "seed": int(seed), "per image": bool(per_image),
                "image column": image_column}
    if count_over != "texts":  # (new keys only when used: folders of earlier versions keep their key)
        settings["count over"] = count_over
    if rename:
        settings["export columns"] = rename
    if audit:
        settings["audit"] = True
    if per_language:  # (the stats say how the ts were found: a rerun that finds them otherwise redoes the stats)
        settings.update({"t rule": t_rule, "t en": t_en, "tail share": tail_share_target, "p": p})
    job = ShardJob(out_dir, "balance", settings,
                   outputs=lambda shard: _outputs(out_dir, shard["name"], audit))
    if job.up_to_date():  # the same match and settings, finished: nothing to do
        return {**storage.read_json(storage.under(job.out, "stats.json")), "up_to_date": True}
    job.start()
    pending = job.pending(match.shards)
    if per_image and chosen is None and pending:
        chosen = choose_one_text_per_image(match, seed, image_column, executor=executor)
    shared = _Shared(match, str(job.out), p_entry, int(seed), chosen,
                     bool(match.manifest.get("id_column")), rename, bool(audit), per_language=per_language)
    rows_to_read = sum(int(s.get("rows") or 0) for s in pending) * (2 if audit else 1)
    with LiveBar(rows_to_read or None, desc="balance", unit=" rows", unit_scale=True,
                 enabled=executor.progress and bool(pending), live=isinstance(executor, Local)) as bar:
        shared.progress = bar.counters
        shard_stats = job.run(_balance_shard, match.shards, executor.quiet(), shared=shared)
    unify_curated(job.out, match.shards, rewritten=job.refresh_outputs)

    # combine in manifest order (floats added in a fixed order: identical for any worker count)
    n = len(counts)
    entry_kept = np.zeros(n, dtype=np.uint64)
    entry_expected = np.zeros(n, dtype=np.float64)
    totals = {"texts": 0, "candidates": 0, "kept": 0, "expected": 0.0, "variance": 0.0}
    for shard, done in zip(match.shards, shard_stats):
        for key in totals:
            totals[key] += done[key]
        with storage.load_numpy(_paths(job.out, shard["name"])["entries"]) as entries:
            entry_kept[entries["ids"]] += entries["kept"]
            entry_expected[entries["ids"]] += entries["expected"]
    std = float(np.sqrt(totals["variance"]))
    unit = "images" if per_image else "texts"
    matches = float(np.asarray(counts, dtype=np.uint64).sum())
    english = match.language_slices.get("en") if per_language else slice(None)
    if english is not None:  # a per-language match: the warnings are English's (its t, its counts)
        warnings = balance_warnings(
            counts[english], t, tail_share_target=tail_share_target, expected_kept=entry_expected[english],
            expected_total=totals["expected"], candidates=totals["candidates"],
            entries=(lambda e: e[english] if e is not None else None)(_entries_or_none(match)), unit=unit,
            matches_per_unit=matches / max(totals["candidates"] if per_image and count_over == "images"
                                           else totals["texts"], 1),
            per_image_text_counts=per_image and count_over == "texts") if t is not None else []
    else:
        warnings = []
    stats = {"t": t,  # per language: English's t (and its tail share), every language's in "languages"
             "tail_share": tail_share(counts[english], t) if t is not None else None,
             "tail_share_target": tail_share_target,
             "seed": int(seed), "per_image": bool(per_image), "image_column": image_column,
             "count_over": count_over if per_image else "texts", "unit": unit, "pool_texts": match.texts,
             **totals, "std": std,
             "z": (totals["kept"] - totals["expected"]) / std if std > 0 else 0.0,
             "entries": n, "tail_entries": int(((counts > 0) & (counts < t_entry)).sum()),
             "entries_at_t": int((counts == t_entry).sum()),
             **(_head_excess(counts, entry_expected, entry_kept.astype(np.float64), t) if not per_language else {}),
             "export_columns": rename, "audit": bool(audit), "warnings": warnings,
             "match_dir": str(match.path)}
    if per_image:  # images with at least one matched text: each has its one chosen text
        stats["images"] = sum(done.get("images", 0) for done in shard_stats)
    if per_language:
        stats.update({"t_rule": t_rule, "t_en": t_en, "p": p,
                      "languages": _language_table(match, counts, settings_t, shard_stats, entry_expected, unit)})
    storage.write_npy(storage.under(job.out, "entry_counts.npy"), np.asarray(counts, dtype=np.uint64))
    storage.write_npy(storage.under(job.out, "entry_kept.npy"), entry_kept)
    storage.write_npy(storage.under(job.out, "entry_expected_kept.npy"), entry_expected)
    storage.write_text(storage.under(job.out, "stats.json"), json.dumps(stats, indent=1) + "\n")
    job.finish({"match": match.key})
    return stats
