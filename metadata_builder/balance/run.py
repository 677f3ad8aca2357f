"""The ``balance`` command's work: Algorithm 1 over a match folder, shard by shard, resumable.

Each shard task reads the shard's matched texts, computes every text's keep probability, draws
(:mod:`.draws`), and writes the curated rows (the pool's own columns, re-read from the pool), the
candidates with their probabilities for online balancing, and its per-entry kept counts. The
driver adds the per-entry counts in shard order, so every output is the same for any worker count.

A per-language match (Meta CLIP 2) is balanced with one t per language (:mod:`.languages`): the
probabilities of each language's entries use its own t, and every total is also kept per language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..match.output import MatchOutput
from ..match.pools import PoolFile, read_rows, verify_rows
from ..runtime import storage
from ..runtime.executor import Executor, Local
from ..runtime.shards import ShardJob
from .draws import sample_flat, text_keys
from .languages import language_probabilities, language_ts, t_for_share
from .per_image import choose_one_text_per_image
from .probabilities import entry_probabilities, keep_probabilities_flat, tail_share

#: Columns added to the pool's own columns in the curated shards.
ROW_COLUMN = "row"
P_COLUMN = "keep_probability"


@dataclass
class _Shared:
    """What every shard task needs (sent to each worker once)."""

    match: MatchOutput
    out_dir: str
    p_entry: np.ndarray
    seed: int
    chosen: dict | None  # per-image: shard name -> sorted rows chosen for their image
    has_id: bool
    per_language: bool = False


def _paths(out_dir, name):
    """A shard's outputs: Paths in a local folder, URL strings on object storage. The curated
    rows are alone in ``shards/`` so that any parquet reader takes that folder as one table."""
    under = storage.under
    return {"subset": under(out_dir, "shards", f"{name}.parquet"),
            "entries": under(out_dir, "entries", f"{name}.npz"),
            "online": under(out_dir, "online", f"{name}.parquet")}


def _balance_shard(shard: dict, shared: _Shared) -> dict:
    """Sample one shard, write its curated rows, its online file and its per-entry counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = shard["name"]
    paths = _paths(shared.out_dir, name)
    rows, offsets, ids = shared.match.entry_ids(name)  # ids in the match's entry space (all languages)
    table = shared.match.table(name, ["text_hash"] + (["id"] if shared.has_id else []))
    keys = text_keys(shared.seed, name, rows)
    probability = keep_probabilities_flat(offsets, ids, shared.p_entry)
    kept = sample_flat(offsets, ids, shared.p_entry, keys)
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
    with storage.atomic_local_path(paths["online"]) as tmp:  # a URL: written locally, then uploaded
        pq.write_table(pa.table({k: online[k] for k in ("shard", "row", "id", "p") if k in online}), tmp)

    # the curated subset: the pool's own columns, plus the row and its keep probability
    pool = PoolFile.from_dict(shard)
    pool.check_unchanged()
    subset = read_rows(pool, rows[kept], expected_rows=shard.get("rows"))
    verify_rows(pool, subset, table["text_hash"].to_numpy()[kept])
    extra = {ROW_COLUMN: pa.array(rows[kept]), P_COLUMN: pa.array(probability[kept])}
    for column, values in extra.items():
        subset = subset.append_column(column if column not in subset.column_names else f"{column}_balance", values)
    with storage.atomic_local_path(paths["subset"]) as tmp:
        pq.write_table(subset, tmp)

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


def _language_table(match: MatchOutput, counts: np.ndarray, ts: dict, shard_stats: list[dict],
                    entry_expected: np.ndarray, entry_kept: np.ndarray, unit: str) -> dict:
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
            seed: int = 0, per_image: bool = False, image_column: str | None = None,
            executor: Executor | None = None, t_en: float | None = None, t_rule: str = "smallest") -> dict:
    """Run Algorithm 1 on a match folder and write the curated subset; return the stats.

    Parameters
    ----------
    match_dir : output of ``metadata-builder match`` (a folder or :class:`MatchOutput`).
    out_dir : receives ``shards/SHARD.parquet`` (the pool's original columns of the kept texts,
        plus ``row`` and ``keep_probability``), ``online/SHARD.parquet`` (``shard``, ``row``,
        [``id``], ``p``: every candidate text with its keep probability, for loaders that draw at
        training time), ``entries/SHARD.npz`` (per-entry counts of the shard), ``stats.json``,
        ``entry_kept.npy`` (uint64, kept texts per entry) and ``entry_expected_kept.npy`` (float64,
        expected kept texts per entry); read it back with :class:`~.output.BalanceOutput`.
    t, tail_share_target : the cap, or the tail share that chooses it (:func:`t_for_tail_share`).
    seed : every draw is a hash of (seed, shard, row, entry): same seed, same bytes.
    per_image : Meta CLIP 2's variant, one matched text per image first
        (:func:`~.per_image.choose_one_text_per_image`, across languages); ``image_column`` names
        the pool column identifying the image. Then ``candidates`` and ``kept`` count images (one
        text each) and ``stats["unit"]`` says so.
    executor : where shards run (default: one local process).
    t_en, t_rule : a per-language match (:mod:`.languages`): English keeps ``t_en`` and every other
        language gets the t of English's tail share at it, by ``t_rule`` (``smallest``, ours, or
        ``nearest``, the released ``p_to_t``); ``tail_share_target`` then gives every language the t
        of that share, and ``t`` the same t to all.

    Shards already finished with the same settings are kept (resume); stats are added in manifest
    order, so they do not depend on the worker count.
    """
    executor = executor or Local()
    if not 0 <= int(seed) < 2**64:
        raise UserError(f"--seed must be between 0 and 2^64 - 1, got {seed}")
    match = match_dir if isinstance(match_dir, MatchOutput) else MatchOutput(match_dir)
    storage.check_writable(out_dir, folder=True)
    storage.check_outside(out_dir, [match.path], "match")
    counts = match.counts
    per_language = bool(match.languages)
    if per_language:
        slices = match.language_slices
        ts, p = language_ts({lang: counts[sl] for lang, sl in slices.items()}, t=t, t_en=t_en,
                            tail_share_target=tail_share_target, rule=t_rule)
        ts = {lang: int(v) if float(v).is_integer() else float(v) for lang, v in ts.items()}
        if t is not None and not t > 0:
            raise UserError(f"--t must be > 0, got {t!r}")
        t = ts.get("en")
        p_entry = np.zeros(len(counts), dtype=np.float64)
        for lang, sl in slices.items():
            p_entry[sl] = language_probabilities(counts[sl], ts[lang])
        settings_t = ts
    else:
        if t_en is not None:
            raise UserError(f"--t-en needs a per-language match (match --lang-id or --lang-column); "
                            f"{match.path} has one list: give --t or --tail-share")
        if (t is None) == (tail_share_target is None):
            raise UserError("give exactly one of --t and --tail-share")
        if t is None:
            t = t_for_share(counts, tail_share_target, t_rule)
        if not t > 0:
            raise UserError(f"--t must be > 0, got {t!r}" + (f" (the {t_rule} rule gave {t!r} for tail share "
                            f"{tail_share_target:g}; use --t-rule smallest)" if tail_share_target is not None else ""))
        t = int(t) if float(t).is_integer() else float(t)
        p_entry, settings_t, p = entry_probabilities(counts, t), t, tail_share_target
    job = ShardJob(out_dir, "balance", {"match": match.key, "t": settings_t, "seed": int(seed),
                                        "per image": bool(per_image), "image column": image_column},
                   outputs=lambda shard: list(_paths(out_dir, shard["name"]).values()))
    if job.up_to_date():  # the same match and settings, finished: nothing to do
        return {**storage.read_json(storage.under(job.out, "stats.json")), "up_to_date": True}
    job.start()
    chosen = None
    if per_image and job.pending(match.shards):
        chosen = choose_one_text_per_image(match, seed, image_column, executor=executor)
    shared = _Shared(match, str(job.out), p_entry, int(seed), chosen,
                     bool(match.manifest.get("id_column")), per_language)
    shard_stats = job.run(_balance_shard, match.shards, executor, shared=shared, desc="balance")

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
    english = match.language_slices.get("en", slice(None)) if per_language else slice(None)
    stats = {"unit": unit, "t": t,  # per language: English's t (and its tail share), the rest in "languages"
             "tail_share": tail_share(counts[english], t) if t is not None else None,
             "seed": int(seed), "per_image": bool(per_image),
             "image_column": image_column, "pool_texts": match.texts,
             **totals, "std": std,
             "z": (totals["kept"] - totals["expected"]) / std if std > 0 else 0.0,
             "entries": n, "tail_entries": int(((counts > 0) & (p_entry >= 1.0)).sum()),
             **(_head_excess(counts, entry_expected, entry_kept.astype(np.float64), t) if not per_language else {}),
             "match_dir": str(match.path)}
    if per_image:  # images with at least one matched text: each has its one chosen text
        stats["images"] = sum(done.get("images", 0) for done in shard_stats)
    if per_language:
        stats.update({"t_rule": t_rule, "t_en": t_en, "tail_share_target": tail_share_target, "p": p,
                      "languages": _language_table(match, counts, settings_t, shard_stats, entry_expected,
                                                   entry_kept, unit)})
    storage.write_npy(storage.under(job.out, "entry_kept.npy"), entry_kept)
    storage.write_npy(storage.under(job.out, "entry_expected_kept.npy"), entry_expected)
    storage.write_text(storage.under(job.out, "stats.json"), json.dumps(stats, indent=1) + "\n")
    job.finish({"match": match.key})
    return stats
