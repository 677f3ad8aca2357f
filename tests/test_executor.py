"""The executor's options and its storage layer (fsspec paths, atomic writes, completion markers)."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import pandas as pd
import pytest

from metadata_builder import executor, storage
from metadata_builder.errors import UserError


def _parser():
    parser = argparse.ArgumentParser()
    executor.add_executor_arguments(parser)
    return parser


def test_engine_ray_without_ray_says_how_to_install(monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real_find_spec(name, *a))
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["--engine", "ray"])
    assert exited.value.code == 2
    assert "Ray is not installed; pip install 'metadata-builder[ray]'" in capsys.readouterr().err

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(UserError, match=r"--engine ray: Ray is not installed; pip install 'metadata-builder\[ray\]'"):
        list(executor.map_tasks(len, ["ab"], engine="ray", progress=False))


def test_executor_options(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "")  # so that teardown restores the variable --ray-address sets
    monkeypatch.delenv("RAY_ADDRESS")
    args = _parser().parse_args([])
    assert (args.engine, args.ray_address, args.workers) == ("local", None, executor.default_workers())
    args = _parser().parse_args(["--engine", "local", "--ray-address", "127.0.0.1:6379", "--workers", "3"])
    assert (args.engine, args.ray_address, args.workers) == ("local", "127.0.0.1:6379", 3)
    import os

    assert os.environ["RAY_ADDRESS"] == "127.0.0.1:6379"  # what ray.init() reads
    with pytest.raises(UserError, match="unknown engine 'spark'"):
        list(executor.map_tasks(len, ["ab"], engine="spark"))


@pytest.mark.parametrize("kind", ["plain", "file-url", "memory"])
def test_storage_round_trip_markers_and_listing(kind, tmp_path, laion_parquet):
    base = {"plain": str(tmp_path), "file-url": f"file://{tmp_path}", "memory": f"memory://{tmp_path.name}"}[kind]
    folder = storage.join(base, "out", "shards")
    storage.makedirs(folder)
    df = pd.read_parquet(laion_parquet).head(100).reset_index(drop=True)  # the file keeps a gappy index
    out = storage.join(folder, "00000-test_10000.parquet")
    assert not storage.is_done(out) and storage.read_marker(out) is None
    storage.write_parquet(df, out)
    storage.write_marker(out, {"texts": 100})
    assert storage.is_done(out) and storage.read_marker(out) == {"texts": 100}
    assert storage.read_parquet(out).equals(df)
    assert storage.listdir(folder) == ["00000-test_10000.done.json", "00000-test_10000.parquet"]
    found = storage.glob(storage.join(folder, "*.parquet"))
    assert [p.rsplit("/", 1)[1] for p in found] == ["00000-test_10000.parquet"]
    assert found[0].startswith(base.split("://")[0] + "://" if "://" in base else "/")  # the protocol is kept
    assert storage.read_parquet(found[0]).equals(df)
    storage.write_text(storage.join(base, "a.txt"), "héllo\n")
    assert storage.read_text(storage.join(base, "a.txt")) == "héllo\n"


@pytest.mark.parametrize("kind", ["plain", "memory"])
def test_atomic_write_leaves_nothing_behind_on_failure(kind, tmp_path):
    base = str(tmp_path) if kind == "plain" else f"memory://atomic-{tmp_path.name}"
    storage.makedirs(base)
    target = storage.join(base, "x.bin")
    storage.write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with storage.atomic_write(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("killed mid-write")
    with storage.open_file(target) as handle:
        assert handle.read() == b"old"
    assert storage.listdir(base) == ["x.bin"]  # no temporary file left


def test_storage_errors_name_the_path(tmp_path):
    with pytest.raises(UserError, match=r"no such file"):
        storage.read_text(tmp_path / "missing.json")
    with pytest.raises(UserError, match=r"needs a local or shared-file-system path"):
        storage.local_path("s3://bucket/pool/00000.parquet")
    assert storage.local_path(f"file://{tmp_path}") == str(tmp_path)
    if importlib.util.find_spec("s3fs") is None:
        with pytest.raises(UserError, match=r"s3://bucket/x.parquet: cannot open s3:// paths .*s3fs"):
            storage.exists("s3://bucket/x.parquet")


@pytest.mark.parametrize("kind", ["plain", "memory"])
def test_atomic_local_path_and_local_copy_for_path_only_libraries(kind, tmp_path, laion_parquet):
    import numpy as np
    import pyarrow.parquet as pq

    base = str(tmp_path) if kind == "plain" else f"memory://local-{tmp_path.name}"
    storage.makedirs(base)
    table = pq.read_table(laion_parquet).slice(0, 500)
    target = storage.join(base, "shard.parquet")
    with storage.atomic_local_path(target) as tmp:  # pyarrow writes to a real local file
        with pq.ParquetWriter(tmp, table.schema) as writer:
            writer.write_table(table)
    with storage.local_copy(target) as local:
        assert pq.read_table(local).equals(table)
    counts = storage.join(base, "counts.npy")
    with pytest.raises(ValueError):
        with storage.atomic_local_path(counts) as tmp:
            with open(tmp, "wb") as handle:  # np.save(path) would append ".npy" to the temporary name
                np.save(handle, np.arange(3))
            raise ValueError("killed before the end")
    assert not storage.exists(counts) and storage.listdir(base) == ["shard.parquet"]


def test_nothing_to_do_does_not_start_ray(monkeypatch):
    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for no task")

    monkeypatch.setattr(executor, "ray_init", no_ray)
    assert list(executor.map_tasks(len, [], engine="ray", progress=False)) == []
