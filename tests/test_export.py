"""The curated subset as the tools people use read it: named columns (``match --column-names``,
``balance --url-column/--caption-column``), one table for pandas, pyarrow.dataset, DuckDB and HF
``datasets``, img2dataset's own reader; and ``balance --audit``, which says why each text is gone.

Real pools only (CC3M, COCO, LAION in ../shared/data); the metadata is seed + WordNet 3.0.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metadata_builder import balance as B
from metadata_builder.assemble import Source, assemble, write_outputs
from metadata_builder.cli import main
from metadata_builder.match.output import MatchOutput


@pytest.fixture(scope="module")
def metadata(tmp_path_factory, wordnet30_entries) -> Path:
    out = tmp_path_factory.mktemp("export-metadata")
    json_path, _ = write_outputs(assemble([Source("wordnet", wordnet30_entries["entry"])], total=None),
                                 out / "metadata.json")
    return json_path


def run(*argv) -> int:
    return main([str(a) for a in argv] + ["--no-progress"])


def img2dataset_reader():
    """img2dataset's own ``Reader`` (its input-format code), loaded from its installed reader.py.

    The dev extra installs img2dataset without its dependencies (they pin pandas < 3 and pull
    opencv, albumentations and wandb, none of which the reader uses); importing the package would
    import its downloader, so the module is loaded from its file.
    """
    spec = importlib.util.find_spec("img2dataset")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("img2dataset is not installed (pip install --no-deps img2dataset; see pyproject's dev extra)")
    path = os.path.join(spec.submodule_search_locations[0], "reader.py")
    module_spec = importlib.util.spec_from_file_location("img2dataset_reader", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.Reader


def read_with_img2dataset(folder: Path, tmp: Path, extra=None) -> pa.Table:
    """What img2dataset would download: its Reader on the curated folder (parquet input, url and
    caption columns), the shards it writes read back and concatenated."""
    tmp.mkdir(parents=True, exist_ok=True)
    reader = img2dataset_reader()(str(folder), "parquet", "url", "caption", None, None, extra, 10_000, set(), str(tmp))
    tables = [pa.ipc.open_file(path).read_all() for _, path in reader]
    return pa.concat_tables(tables)


def every_reader(folder: Path, tmp: Path) -> dict[str, pd.DataFrame]:
    """The folder read as one table by pandas, pyarrow.dataset, DuckDB and HF datasets."""
    import duckdb
    import pyarrow.dataset as ds

    out = {"pandas": pd.read_parquet(folder), "pyarrow.dataset": ds.dataset(folder, format="parquet").to_table().to_pandas(),
           "duckdb": duckdb.sql(f"select * from read_parquet('{folder}/*.parquet')").df()}
    try:
        from datasets import load_dataset
    except ImportError:
        pytest.skip("HF datasets is not installed (it is in the dev extra)")
    hf = load_dataset("parquet", data_dir=str(folder), split="train", cache_dir=str(tmp / "hf-cache"))
    out["datasets"] = hf.to_pandas()
    return out


def same_rows(frames: dict[str, pd.DataFrame], key=("shard", "row")) -> pd.DataFrame:
    """Every reader gives the same columns and rows (sorted by the text's identity)."""
    ordered = {name: df.sort_values(list(key)).reset_index(drop=True) for name, df in frames.items()}
    first = ordered["pandas"]
    for name, df in ordered.items():
        assert df.columns.tolist() == first.columns.tolist(), name
        assert len(df) == len(first), name
        for column in first.columns:
            assert df[column].astype(str).tolist() == first[column].astype(str).tolist(), (name, column)
    return first


# --------------------------------------------------------------------------- CC3M: a headerless tsv


@pytest.fixture(scope="module")
def cc3m(tmp_path_factory, cc3m_tsv, metadata):
    base = tmp_path_factory.mktemp("cc3m")
    assert run("match", cc3m_tsv, "--metadata", metadata, "--column-names", "caption,url",
               "--out", base / "match", "--workers", 1) == 0
    assert run("balance", base / "match", "--tail-share", "0.06", "--out", base / "balanced") == 0
    return base


def test_cc3m_curated_rows_have_named_columns(cc3m, cc3m_tsv):
    stats = json.loads((cc3m / "balanced" / "stats.json").read_text())
    assert (stats["t"], stats["texts"], stats["kept"]) == (4, 15_824, 10_416)  # as before: names change nothing else
    kept = pd.read_parquet(cc3m / "balanced" / "curated")
    assert kept.columns.tolist() == ["caption", "url", "shard", "row", "keep_probability"]
    pool = pd.read_csv(cc3m_tsv, sep="\t", header=None, quoting=3, dtype=str, keep_default_na=False)
    assert kept["caption"].tolist() == pool[0].iloc[kept["row"]].tolist()
    assert kept["url"].tolist() == pool[1].iloc[kept["row"]].tolist()
    manifest = MatchOutput(cc3m / "match").manifest
    assert manifest["shards"][0]["columns"] == ["caption", "url"] and manifest["shards"][0]["text_column"] == "caption"


def test_cc3m_curated_folder_is_one_table_for_every_reader(cc3m, tmp_path):
    folder = cc3m / "balanced" / "curated"
    assert sorted(p.suffix for p in folder.iterdir()) == [".parquet"]  # no side file among the data
    table = same_rows(every_reader(folder, tmp_path))
    assert len(table) == 10_416 and table["url"].str.startswith("http").all()


def test_cc3m_hand_off_to_img2dataset(cc3m, tmp_path):
    read = read_with_img2dataset(cc3m / "balanced" / "curated", tmp_path / "i2d")
    assert sorted(read.column_names) == ["caption", "url"] and read.num_rows == 10_416
    kept = pd.read_parquet(cc3m / "balanced" / "curated")
    assert read["url"].to_pylist() == kept["url"].tolist()
    assert read["caption"].to_pylist() == kept["caption"].tolist()


def test_column_names_errors(cc3m_tsv, metadata, tmp_path, capsys, laion_parquet):
    assert main(["match", str(cc3m_tsv), "--metadata", str(metadata), "--column-names", "caption,url,extra",
                 "--out", str(tmp_path / "m"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--column-names gives 3 names (caption,url,extra) but the first line has 2 fields" in err
    assert main(["match", str(laion_parquet), "--metadata", str(metadata), "--column-names", "a,b",
                 "--out", str(tmp_path / "m2"), "--no-progress"]) == 2
    assert "names the columns of headerless tsv/csv files; this is a parquet pool" in capsys.readouterr().err
    # without names, asking for a url column says how to name them
    assert run("match", cc3m_tsv, "--metadata", metadata, "--out", tmp_path / "m3", "--workers", 1) == 0
    assert main(["balance", str(tmp_path / "m3"), "--t", "5", "--url-column", "url", "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no column 'url' for --url-column (columns: 0, 1) (name them with 'match --column-names')" in err


# --------------------------------------------------------------------------- COCO: images and their URLs


@pytest.fixture(scope="module")
def coco(tmp_path_factory, coco_captions, metadata):
    base = tmp_path_factory.mktemp("coco")
    assert run("match", coco_captions, "--metadata", metadata, "--id-column", "image_id",
               "--out", base / "match", "--workers", 1) == 0
    assert run("balance", base / "match", "--tail-share", "0.06", "--per-image", "--url-column", "coco_url",
               "--audit", "--out", base / "balanced", "--workers", 2) == 0
    return base


def test_coco_curated_rows_keep_the_image_fields(coco, coco_captions):
    kept = pd.read_parquet(coco / "balanced" / "curated")
    assert kept.columns.tolist() == ["image_id", "id", "caption", "license", "file_name", "url", "height", "width",
                                     "date_captured", "flickr_url", "shard", "row", "keep_probability"]
    doc = json.loads(coco_captions.read_text())
    images = {im["id"]: im for im in doc["images"]}
    assert kept["image_id"].is_unique  # one text per image
    for row in kept.itertuples():
        image = images[row.image_id]
        assert (row.url, row.file_name, row.height) == (image["coco_url"], image["file_name"], image["height"])
        assert doc["annotations"][row.row]["caption"] == row.caption
    read = read_with_img2dataset(coco / "balanced" / "curated", coco / "i2d", extra=["image_id", "file_name"])
    assert read.num_rows == len(kept) and read["url"].to_pylist() == kept["url"].tolist()
    assert read["image_id"].to_pylist() == kept["image_id"].tolist()


def test_per_image_is_reported_in_images(coco, capsys, tmp_path):
    stats = json.loads((coco / "balanced" / "stats.json").read_text())
    assert stats["unit"] == "images" and stats["candidates"] == stats["images"] == 5_000
    assert stats["texts"] == 24_836 and stats["count_over"] == "texts"
    # p[e] from counts over every caption (the released rule): head entries end near t / 5
    assert stats["head_expected_over_t"]["median"] < 0.8
    assert any("head entries end below t" in w and "--count-over images" in w for w in stats["warnings"])
    assert run("balance", coco / "match", "--tail-share", "0.06", "--per-image", "--count-over", "images",
               "--out", tmp_path / "images") == 0
    out = capsys.readouterr().out
    images = json.loads((tmp_path / "images" / "stats.json").read_text())
    assert f"kept {images['kept']:,} of 5,000 images (one matched text each, chosen among 24,836 matched texts; " \
           "counts over images)" in out
    counts = np.load(tmp_path / "images" / "entry_counts.npy")
    assert counts.sum() == sum(len(s) for s in _chosen_sets(coco / "match", tmp_path / "images"))
    assert images["t"] == B.t_for_tail_share(counts, 0.06) < stats["t"]
    assert images["head_expected_over_t"]["median"] > 1  # counted in images, the head ends above t again


def _chosen_sets(match_dir: Path, balanced: Path) -> list:
    """Entry sets of the chosen texts (the online export lists exactly the candidates)."""
    online = pd.read_parquet(balanced / "online")
    match = MatchOutput(match_dir)
    sets = []
    for shard in match.shards:
        frame = match.read_shard(shard["name"]).set_index("row")
        rows = online.loc[online["shard"] == shard["name"], "row"]
        sets += [list(frame.loc[r, "entry_ids"]) for r in rows]
    return sets


def test_audit_says_why_each_text_is_gone(coco, coco_captions):
    audit = pd.read_parquet(coco / "balanced" / "audit")
    doc = json.loads(coco_captions.read_text())
    assert len(audit) == len(doc["annotations"]) == 25_014  # every pool text, matched or not
    assert audit["text"].tolist() == [a["caption"] for a in doc["annotations"]]
    reasons = audit["reason"].value_counts().to_dict()
    stats = json.loads((coco / "balanced" / "stats.json").read_text())
    assert reasons["kept"] == stats["kept"]
    assert reasons["unmatched"] == 25_014 - stats["texts"] == 178
    assert reasons["not the chosen text of its image"] == stats["texts"] - 5_000
    assert reasons["lost every draw"] == 5_000 - stats["kept"]
    curated = pd.read_parquet(coco / "balanced" / "curated")
    assert sorted(audit.loc[audit["kept"], "row"]) == sorted(curated["row"])
    # each row's numbers follow Algorithm 1: winners are the entries whose draw is below p
    matched = audit[audit["reason"] != "unmatched"]
    for row in matched.sample(2_000, random_state=0).itertuples():
        wins = [e for e, p, u in zip(row.entries, row.p, row.draws) if u < p]
        assert list(row.winning_entries) == wins
        assert row.kept == (bool(wins) and row.chosen)
        if row.chosen:
            assert row.keep_probability == pytest.approx(1 - np.prod(1 - np.asarray(row.p)), abs=1e-12)
    # the draws are the balance's own: recomputed from (seed, shard, row, entry)
    sample = matched.iloc[:500]
    keys = B.text_keys(0, sample["shard"].iloc[0], sample["row"].to_numpy())
    offsets, ids = B.flatten_entry_ids(sample["entry_ids"].tolist())
    assert np.array_equal(B.match_draws(keys, offsets, ids), np.concatenate(sample["draws"].tolist()))


# --------------------------------------------------------------------------- LAION: renamed columns, several files


@pytest.fixture(scope="module")
def laion_jsonl_pool(tmp_path_factory, laion_parquet) -> Path:
    """The LAION sample as 3 jsonl files: a field that is a number in one and text in another, and
    a file whose texts match nothing (so its curated file has no row)."""
    folder = tmp_path_factory.mktemp("laion-jsonl")
    pool = pd.read_parquet(laion_parquet)
    parts = {"a.jsonl": pool.iloc[:5_000], "b.jsonl": pool.iloc[5_000:]}
    for i, (name, part) in enumerate(parts.items()):
        with open(folder / name, "w", encoding="utf-8") as fh:
            for url, text in zip(part["URL"], part["TEXT"]):
                fh.write(json.dumps({"URL": url, "TEXT": text, "note": 7 if i == 0 else "seven"}) + "\n")
    (folder / "c.jsonl").write_text("".join(json.dumps({"URL": f"http://x/{i}", "TEXT": "zzqx"}) + "\n"
                                            for i in range(20)), encoding="utf-8")
    return folder


def test_renamed_columns_and_one_schema_across_files(laion_jsonl_pool, metadata, tmp_path):
    assert run("match", laion_jsonl_pool, "--metadata", metadata, "--out", tmp_path / "m", "--workers", 2) == 0
    assert run("balance", tmp_path / "m", "--t", "1000", "--url-column", "URL", "--caption-column", "TEXT",
               "--out", tmp_path / "b", "--workers", 2) == 0
    folder = tmp_path / "b" / "curated"
    schemas = [pq.read_schema(p) for p in sorted(folder.glob("*.parquet"))]
    assert len(schemas) == 2 and all(s.equals(schemas[0]) for s in schemas)
    assert schemas[0].names == ["url", "caption", "note", "shard", "row", "keep_probability"]
    assert schemas[0].field("note").type == pa.string()  # 7 and "seven": kept as text
    assert not (folder / "00002-c.parquet").exists()  # no kept text, no file (HF datasets refuses empty ones)
    table = same_rows(every_reader(folder, tmp_path))
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert len(table) == stats["kept"] == stats["texts"] == 5_065  # t above every count keeps them all
    assert any("at or above every entry count" in w for w in stats["warnings"])
    assert set(table.loc[table["shard"] == "00000-a", "note"]) == {"7"}
    read = read_with_img2dataset(folder, tmp_path / "i2d")
    assert read.num_rows == 5_065 and read["url"].to_pylist() == pd.read_parquet(folder)["url"].tolist()


def test_export_errors_are_one_line(tmp_path, metadata, laion_parquet, capsys):
    assert run("match", laion_parquet, "--metadata", metadata, "--out", tmp_path / "m", "--workers", 1) == 0
    capsys.readouterr()
    assert main(["balance", str(tmp_path / "m"), "--t", "5", "--url-column", "url", "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 2
    assert "no column 'url' for --url-column (columns: URL, TEXT)" in capsys.readouterr().err
    assert main(["balance", str(tmp_path / "m"), "--t", "5", "--url-column", "URL", "--caption-column", "URL",
                 "--out", str(tmp_path / "b"), "--no-progress"]) == 2
    assert "both name 'URL'" in capsys.readouterr().err
    assert main(["balance", str(tmp_path / "m"), "--t", "5", "--count-over", "images", "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 2
    assert "--count-over images needs --per-image" in capsys.readouterr().err
    # the right names: LAION's URL and TEXT as img2dataset's url and caption; pandas' stored index
    # (__index_level_0__ in this file) is left out
    assert run("balance", tmp_path / "m", "--tail-share", "0.06", "--url-column", "URL", "--caption-column", "TEXT",
               "--out", tmp_path / "b", "--workers", 1) == 0
    kept = pd.read_parquet(tmp_path / "b" / "curated")
    assert kept.columns.tolist() == ["url", "caption", "shard", "row", "keep_probability"]
    pool = pd.read_parquet(laion_parquet).reset_index(drop=True)
    assert kept["url"].tolist() == pool["URL"].iloc[kept["row"]].tolist()
    read = read_with_img2dataset(tmp_path / "b" / "curated", tmp_path / "i2d")
    assert read["caption"].to_pylist() == kept["caption"].tolist()
