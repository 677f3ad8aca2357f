"""Pools people have beside parquet and text files: webdataset ``.tar`` shards (built here from COCO's
real captions) and Hugging Face ``datasets`` (a Dataset object from Python, or its Arrow files),
matched exactly like the same texts in their original file, and re-read row by row by ``balance``."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metadata_builder import balance as B
from metadata_builder.assemble import Source, assemble, write_outputs
from metadata_builder.cli import main
from metadata_builder.errors import UserError
from metadata_builder.match.output import MatchOutput
from metadata_builder.match.run import match_pools
from metadata_builder.runtime.executor import Local


@pytest.fixture(scope="module")
def metadata(tmp_path_factory, wordnet30_entries) -> Path:
    out = tmp_path_factory.mktemp("formats-metadata")
    return write_outputs(assemble([Source("wordnet", wordnet30_entries["entry"])], total=None), out / "metadata.json")[0]


def sets_by_row(out) -> list[dict[int, list[int]]]:
    match = MatchOutput(out)
    return [{int(r): [int(e) for e in ids] for r, ids in zip(df["row"], df["entry_ids"])}
            for _, df in match.iter_shards()]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def coco_webdataset(tmp_path_factory, coco_captions):
    """COCO's annotations as two webdataset shards in img2dataset's layout: ``KEY.jpg`` (bytes that
    are never read), ``KEY.txt`` (the caption), ``KEY.json`` (image id, annotation id, url)."""
    folder = tmp_path_factory.mktemp("wds")
    doc = json.loads(coco_captions.read_text())
    urls = {im["id"]: im["coco_url"] for im in doc["images"]}
    annotations = doc["annotations"]
    half = len(annotations) // 2
    paths = [folder / "00000.tar", folder / "00001.tar.gz"]
    for path, part, offset in ((paths[0], annotations[:half], 0), (paths[1], annotations[half:], half)):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for i, a in enumerate(part):
                key = f"{offset + i:09d}"
                _add(tar, f"{key}.jpg", b"\xff\xd8\xff\xe0 not decoded")
                _add(tar, f"{key}.txt", a["caption"].encode("utf-8"))
                _add(tar, f"{key}.json", json.dumps({"image_id": a["image_id"], "id": a["id"],
                                                     "url": urls[a["image_id"]]}).encode("utf-8"))
        data = buffer.getvalue()
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return folder, annotations, half


def test_webdataset_shards_match_like_the_coco_file(coco_webdataset, coco_captions, metadata, tmp_path):
    folder, annotations, half = coco_webdataset
    stats = match_pools([str(folder)], metadata, tmp_path / "wds", id_column="__key__", executor=Local(workers=2, progress=False))
    match_pools([str(coco_captions)], metadata, tmp_path / "coco", executor=Local(progress=False))
    manifest = MatchOutput(tmp_path / "wds").manifest
    assert [(s["format"], s["text_column"]) for s in manifest["shards"]] == [("webdataset", "txt")] * 2
    assert stats["texts"] == len(annotations) == 25_014 and stats["bad_rows"] == 0
    first, second = sets_by_row(tmp_path / "wds")
    (whole,) = sets_by_row(tmp_path / "coco")
    joined = {**first, **{r + half: ids for r, ids in second.items()}}
    assert joined == whole  # the same captions, the same sets, row for row
    assert np.array_equal(MatchOutput(tmp_path / "wds").counts, MatchOutput(tmp_path / "coco").counts)
    ids = MatchOutput(tmp_path / "wds").read_shard(manifest["shards"][0]["name"])
    assert ids["id"].tolist() == [f"{r:09d}" for r in ids["row"]]  # the sample key kept

    # balance re-reads the samples' records: key, caption, the json's fields (url named for img2dataset)
    B.balance(tmp_path / "wds", tmp_path / "b", t=20, url_column="url", executor=Local(workers=2, progress=False))
    kept = pd.read_parquet(tmp_path / "b" / "curated")
    assert kept.columns.tolist() == ["__key__", "txt", "image_id", "id", "url", "shard", "row", "keep_probability"]
    offset = np.where(kept["shard"].str.startswith("00001"), half, 0)
    for row in kept.sample(500, random_state=1).itertuples():
        a = annotations[int(row.row) + (half if row.shard.startswith("00001") else 0)]
        assert (row.txt, row.image_id, row.id) == (a["caption"], a["image_id"], a["id"])
        assert row.url.endswith(f"{a['image_id']:012d}.jpg")
    assert (kept["__key__"].astype(int) == kept["row"] + offset).all()


def test_webdataset_caption_in_the_json(tmp_path, metadata):
    """Samples whose caption is a json field (no .txt member): the text column is found there."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i, caption in enumerate(["a dog on a beach", "two cats", "a white table"]):
            _add(tar, f"s/{i:03d}.json", json.dumps({"caption": caption, "key": str(i)}).encode())
            _add(tar, f"s/{i:03d}.png", b"\x89PNG")
    (tmp_path / "p.tar").write_bytes(buffer.getvalue())
    stats = match_pools([str(tmp_path / "p.tar")], metadata, tmp_path / "m", executor=Local(progress=False))
    assert MatchOutput(tmp_path / "m").shards[0]["text_column"] == "caption" and stats["matched_texts"] == 3
    assert MatchOutput(tmp_path / "m").read_shard("00000-p")["row"].tolist() == [0, 1, 2]


@pytest.fixture(scope="module")
def laion_dataset(tmp_path_factory, laion_parquet):
    datasets = pytest.importorskip("datasets", reason="HF datasets is in the dev extra")
    cache = tmp_path_factory.mktemp("hf-cache")
    return datasets.Dataset.from_parquet(str(laion_parquet), cache_dir=str(cache))


def test_hf_dataset_matches_like_its_parquet(laion_dataset, laion_parquet, metadata, tmp_path):
    stats = match_pools([laion_dataset], metadata, tmp_path / "hf", executor=Local(progress=False))
    reference = match_pools([str(laion_parquet)], metadata, tmp_path / "pq", executor=Local(progress=False))
    assert MatchOutput(tmp_path / "hf").shards[0]["format"] == "arrow"
    assert (stats["texts"], stats["matched_texts"], stats["matches"]) == \
           (reference["texts"], reference["matched_texts"], reference["matches"]) == (10_000, 5_065, 17_279)
    assert sets_by_row(tmp_path / "hf") == sets_by_row(tmp_path / "pq")
    # the same keep probabilities (the draws differ: the shard names, hence the text keys, differ)
    B.balance(tmp_path / "hf", tmp_path / "bhf", t=11, executor=Local(progress=False))
    B.balance(tmp_path / "pq", tmp_path / "bpq", t=11, executor=Local(progress=False))
    online = [pd.read_parquet(tmp_path / b / "online") for b in ("bhf", "bpq")]
    assert online[0]["row"].tolist() == online[1]["row"].tolist() and online[0]["p"].tolist() == online[1]["p"].tolist()
    # the curated rows re-read from the Arrow file are the pool's rows
    kept = pd.read_parquet(tmp_path / "bhf" / "curated")
    pool = pd.read_parquet(laion_parquet).reset_index(drop=True)
    assert kept.columns.tolist() == ["URL", "TEXT", "shard", "row", "keep_probability"] and len(kept) > 3_000
    assert kept["TEXT"].tolist() == pool["TEXT"].iloc[kept["row"]].tolist()
    assert kept["URL"].tolist() == pool["URL"].iloc[kept["row"]].tolist()


def test_hf_saved_folder_and_unsupported_datasets(laion_dataset, metadata, tmp_path, capsys):
    import datasets

    laion_dataset.save_to_disk(str(tmp_path / "saved"))  # data-*.arrow + dataset_info.json + state.json
    assert main(["match", str(tmp_path / "saved"), "--metadata", str(metadata), "--out", str(tmp_path / "m"),
                 "--no-progress"]) == 0
    assert "10,000 texts, 5,065 with a match" in capsys.readouterr().out
    with pytest.raises(UserError, match="lives in memory"):
        match_pools([datasets.Dataset.from_dict({"text": ["a dog"]})], metadata, tmp_path / "x")
    with pytest.raises(UserError, match="is a selection of 10 rows"):
        match_pools([laion_dataset.select(range(10, 20))], metadata, tmp_path / "y")
    with pytest.raises(UserError, match="holds several splits"):
        match_pools([datasets.DatasetDict({"train": laion_dataset})], metadata, tmp_path / "z")
