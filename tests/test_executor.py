"""The executor values and their options, the storage layer (fsspec paths, atomic writes) and the
shard-job protocol every sharded command uses (markers, settings, completion, resume)."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import pandas as pd
import pytest

from metadata_builder.runtime import executor, storage
from metadata_builder.runtime.executor import Local, Ray
from metadata_builder.runtime.shards import ShardJob, require_complete
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
        list(Ray(progress=False).map(len, ["ab"]))


def test_executor_options_build_one_value(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    args = _parser().parse_args([])
    assert executor.from_args(args) == Local(workers=executor.default_workers(), progress=True)
    args = _parser().parse_args(["--engine", "ray", "--ray-address", "127.0.0.1:6379", "--workers", "3"])
    assert executor.from_args(args, progress=False) == Ray(address="127.0.0.1:6379", workers=3, progress=False)
    assert "RAY_ADDRESS" not in __import__("os").environ  # parsing options changes no environment
    with pytest.raises(SystemExit):
        _parser().parse_args(["--workers", "0"])
    with pytest.raises(UserError, match="--workers must be >= 1, got 0"):
        Local(workers=0)


def _square_plus(task, shared):
    if task.name == "3":
        raise ValueError("shard 3 is corrupt")
    return _resume_square(task, shared)


class _Part:
    def __init__(self, name, identity=None):
        self.name, self.identity = name, identity


def test_shard_job_protocol(tmp_path):
    out = tmp_path / "job"
    out.mkdir()
    (out / ".x.parquet.abc123.tmp").write_text("left by a killed run")
    tasks = list(range(5))
    job = ShardJob(out, "square", {"power": 2}).start()
    assert not (out / ".x.parquet.abc123.tmp").exists()  # temporaries are removed when a job starts
    with pytest.raises(executor.TasksFailed, match=r"1 task\(s\) failed: 3: ValueError: shard 3 is corrupt"):
        job.run(_square_plus, [_Part(str(t)) for t in tasks], Local(workers=2, progress=False), shared=out)
    assert sorted(p.name for p in (out / "_job" / "markers").iterdir()) == ["0.json", "1.json", "2.json", "4.json"]
    with pytest.raises(UserError, match=r"incomplete square.*rerun"):
        require_complete(out, "square", "rerun")

    # a rerun with other settings is refused, naming what changed
    with pytest.raises(UserError, match=r"holds a square run with other settings \(changed: power\)"):
        ShardJob(out, "square", {"power": 3}).start()

    # the same settings resume: only shard 3 runs, stats come back in shard order
    job = ShardJob(out, "square", {"power": 2}).start()
    (out / "3.txt").write_text("")  # (what the failed shard left is redone)
    before = (out / "0.txt").stat().st_mtime_ns
    shards = [_Part(str(t)) for t in tasks]
    stats = job.run(_resume_square, shards, Local(progress=False), shared=out)
    assert stats == [{"value": t * t} for t in tasks] and job.resumed == 4
    assert (out / "0.txt").stat().st_mtime_ns == before and (out / "3.txt").read_text() == "9"
    job.finish({"extra": 1})
    assert require_complete(out, "square", "rerun")["extra"] == 1

    # a shard whose own input changed (its identity) is done again; starting again unmarks completion
    job = ShardJob(out, "square", {"power": 2}).start()
    assert not (out / "_job" / "complete.json").exists()
    changed = [_Part(str(t), identity={"size": 1} if t == 1 else None) for t in tasks]
    assert [s.name for s in job.pending(changed)] == ["1"]


def _resume_square(task, shared):
    (shared / f"{task.name}.txt").write_text(str(int(task.name) ** 2))
    return {"value": int(task.name) ** 2}


@pytest.mark.parametrize("kind", ["plain", "file-url", "memory"])
def test_storage_round_trip_and_listing(kind, tmp_path, laion_parquet):
    base = {"plain": str(tmp_path), "file-url": f"file://{tmp_path}", "memory": f"memory://{tmp_path.name}"}[kind]
    folder = storage.join(base, "out", "shards")
    storage.makedirs(folder)
    df = pd.read_parquet(laion_parquet).head(100).reset_index(drop=True)  # the file keeps a gappy index
    out = storage.join(folder, "00000-test_10000.parquet")
    storage.write_parquet(df, out)
    storage.write_json(storage.join(folder, "00000-test_10000.json"), {"texts": 100})
    assert storage.read_json(storage.join(folder, "00000-test_10000.json")) == {"texts": 100}
    assert storage.read_parquet(out).equals(df)
    assert storage.listdir(folder) == ["00000-test_10000.json", "00000-test_10000.parquet"]
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
    assert list(Ray(progress=False).map(len, [])) == []
