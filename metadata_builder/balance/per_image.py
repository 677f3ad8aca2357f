"""Meta CLIP 2's per-image variant: one matched text per image, chosen at random but reproducibly."""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..match.output import MatchOutput, text_key
from ..match.pools import PoolFile, read_rows, verify_rows
from ..runtime import storage
from ..runtime.executor import Executor, Local
from .draws import choice_scores, text_keys


def _image_ids(shard: dict, shared) -> "object":
    """(row, image id, score) of every matched text of one shard."""
    import pandas as pd
    import pyarrow as pa

    match, seed, image_column = shared
    name = shard["name"]
    if image_column is None:
        table = match.table(name, ["row", "id"])
        rows, images = table["row"].to_numpy().astype(np.int64), table["id"]
    else:
        table = match.table(name, ["row", "text_hash"])
        rows = table["row"].to_numpy().astype(np.int64)
        source = PoolFile.from_dict(shard)
        source.check_unchanged()
        pool = read_rows(source, rows, expected_rows=shard.get("rows"))
        verify_rows(source, pool, table["text_hash"].to_numpy())
        if image_column not in pool.column_names:
            raise UserError(f"{shard['path']}: no column {image_column!r} (columns: {', '.join(pool.column_names)}); "
                            "give the column that identifies the image with --image-column")
        images = pool[image_column]
    images = pa.chunked_array([images] if isinstance(images, pa.Array) else images.chunks, images.type)
    images = images.cast(pa.string()).to_pandas()
    missing = images.isna().to_numpy()
    if missing.any():  # a text without an image id is its own image
        images[missing] = ["\0" + text_key(name, r) for r in rows[missing]]
    return pd.DataFrame({"image": images, "score": choice_scores(text_keys(seed, name, rows)), "row": rows})


def choose_one_text_per_image(match, seed: int, image_column: str | None = None, *,
                              executor: Executor | None = None) -> dict:
    """Pick one matched text per image, at random but reproducibly.

    The image of a text is its value in ``image_column`` of the pool (e.g. the URL), or the match's
    ``id`` column when ``image_column`` is None. Each text gets a score from the same counter-based
    hash as the draws (``mix64(text_key ^ CHOICE_DOMAIN)``); the image's text with the smallest
    score wins (ties, which need a 64-bit collision, go to the first shard and row). Images
    spanning several shards are handled: the choice is global. A text without an image id (null)
    is its own image. Memory: one row per matched text.

    Returns ``{shard name: sorted rows chosen}``.
    """
    import pandas as pd

    executor = executor or Local()
    match = match if isinstance(match, MatchOutput) else MatchOutput(match)
    if image_column is None and not match.manifest.get("id_column"):
        raise UserError(f"{storage.under(match.path, 'manifest.json')}: the match has no id column, so images are unknown; "
                        "give --image-column (e.g. URL) or rerun match with --id-column")
    shards = match.shards
    results = dict((s["name"], frame) for s, frame in executor.map(
        _image_ids, shards, shared=(match, seed, image_column), desc="per-image choice"))
    frames = [results[s["name"]].assign(shard=i) for i, s in enumerate(shards)]  # manifest order
    if not frames:
        return {}
    texts = pd.concat(frames, ignore_index=True)
    texts = texts.sort_values(["image", "score", "shard", "row"], kind="stable")
    winners = texts.drop_duplicates("image", keep="first")
    return {shards[i]["name"]: np.sort(group["row"].to_numpy())
            for i, group in winners.groupby("shard", sort=True)}
