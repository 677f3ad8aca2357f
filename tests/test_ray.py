"""The Ray engine on a local Ray instance (2 CPUs): same bytes as the local engine, failures named
with their shard, resume redoing only the failed shard, ``shared`` deserialised once per worker.

Real work: the 10,000 LAION alt-texts, cut into 5 parquet shards, matched by an Aho-Corasick automaton
(the ``shared`` object) against the 888 words of 4+ letters used 20+ times in the COCO val2017 captions.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
from dataclasses import dataclass

import ahocorasick
import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (make test installs it)")

from conftest import executor_for, multistream_sample  # noqa: E402
from metadata_builder.runtime import executor, storage  # noqa: E402
from metadata_builder.runtime.executor import Local, Ray  # noqa: E402
from metadata_builder.runtime.shards import ShardJob  # noqa: E402

N_SHARDS = 5


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the whole module (starting one takes ~5 s); always a new one
    (``address="local"``), whatever cluster this machine may run or have left recorded.

    ``PYTHONPATH`` lets Ray's worker processes import this test module, whose functions they run.
    """
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}})
    yield ray
    if started:
        ray.shutdown()


# --- real work: shards of alt-texts matched against a vocabulary ----------------------------------

@pytest.fixture(scope="module")
def vocabulary(coco_captions) -> list[str]:
    captions = json.loads(coco_captions.read_text())["annotations"]
    counts = collections.Counter(w for c in captions for w in re.findall(r"[a-z]{4,}", c["caption"].lower()))
    return sorted(w for w, n in counts.items() if n >= 20)


@pytest.fixture(scope="module")
def automaton(vocabulary):
    auto = ahocorasick.Automaton()
    for entry_id, entry in enumerate(vocabulary):
        auto.add_word(entry, entry_id)
    auto.make_automaton()
    return auto


@pytest.fixture(scope="module")
def shard_dir(laion_parquet, tmp_path_factory):
    """The LAION sample as 5 real parquet shards of 2,000 texts each."""
    folder = tmp_path_factory.mktemp("pool")
    texts = pd.read_parquet(laion_parquet, columns=["TEXT"])
    for i, chunk in enumerate(np.array_split(np.arange(len(texts)), N_SHARDS)):
        texts.iloc[chunk].to_parquet(folder / f"{i:05d}-laion.parquet", index=False)
    return folder


@dataclass(frozen=True)
class Shard:
    name: str
    path: str  # a local path or an fsspec URL
    out_dir: str


def _shards(pool_dir, out_dir, url=False) -> list[Shard]:
    prefix = "file://" if url else ""
    return [Shard(p[: -len(".parquet")], prefix + str(pool_dir / p), prefix + str(out_dir))
            for p in sorted(os.listdir(pool_dir)) if p.endswith(".parquet")]


def match_shard(shard: Shard, automaton):
    """Match one shard into ``OUT/NAME.parquet``; the shard job marks it finished."""
    out = storage.join(shard.out_dir, f"{shard.name}.parquet")
    texts = storage.read_parquet(shard.path)["TEXT"]
    rows, entry_ids = [], []
    for row, text in enumerate(texts):
        found = sorted({entry_id for _, entry_id in automaton.iter(str(text).lower())})
        if found:
            rows.append(row)
            entry_ids.append(found)
    storage.write_parquet(pd.DataFrame({"row": np.array(rows, dtype=np.int64), "entry_ids": entry_ids}), out)
    return {"texts": len(texts), "matched": len(rows), "matches": sum(map(len, entry_ids))}


def _run(shards, automaton, run_on):
    """The shards as one job of the toolkit's protocol; returns (stats in shard order, shards resumed)."""
    job = ShardJob(shards[0].out_dir, "test-match", {"vocabulary": "coco-20"}).start()
    return job.run(match_shard, shards, run_on, shared=automaton), job.resumed


def _outputs(out_dir) -> dict[str, bytes]:
    """The data files and the markers (whose stats must agree too)."""
    files = {p: (out_dir / p).read_bytes() for p in sorted(os.listdir(out_dir)) if p.endswith(".parquet")}
    for marker in sorted((out_dir / "_job" / "markers").iterdir()):
        files[marker.name] = marker.read_bytes()
    return files


def test_ray_matches_byte_identical_to_local(ray_local, automaton, vocabulary, shard_dir, laion_parquet,
                                            tmp_path):
    runs = {}
    for label, run_on in {"local-1": Local(workers=1, progress=False), "local-2": Local(workers=2, progress=False),
                          "ray": Ray(workers=2, progress=False)}.items():
        out = tmp_path / label
        stats, resumed = _run(_shards(shard_dir, out), automaton, run_on)
        assert resumed == 0 and len(stats) == N_SHARDS
        runs[label] = _outputs(out)
    assert len(runs["ray"]) == 2 * N_SHARDS  # a parquet and a marker per shard
    assert runs["ray"] == runs["local-1"] == runs["local-2"]

    # The numbers, measured once, and cross-checked by plain substring search without the automaton.
    stats = [json.loads(runs["ray"][f"{i:05d}-laion.json"])["stats"] for i in range(N_SHARDS)]
    total = {k: sum(s[k] for s in stats) for k in ("texts", "matched", "matches")}
    assert total == {"texts": 10_000, "matched": 8_432, "matches": 25_743}
    texts = [str(t).lower() for t in pd.read_parquet(laion_parquet)["TEXT"]]
    naive = [[e for e in vocabulary if e in t] for t in texts]
    assert total["matched"] == sum(1 for found in naive if found)
    assert total["matches"] == sum(map(len, naive))


def test_corrupt_shard_is_named_others_finish_and_rerun_redoes_only_it(ray_local, automaton, shard_dir,
                                                                      tmp_path):
    pool, out, reference = tmp_path / "pool", tmp_path / "out", tmp_path / "reference"
    shutil.copytree(shard_dir, pool)
    _run(_shards(pool, reference), automaton, Local(progress=False))  # the local engine's outputs, to compare with
    good = (pool / "00002-laion.parquet").read_bytes()
    (pool / "00002-laion.parquet").write_bytes(good[: len(good) // 2])  # a truncated upload

    shards = _shards(pool, out, url=True)  # through fsspec's file:// driver, as on shared storage
    with pytest.raises(executor.TasksFailed) as failed:
        _run(shards, automaton, Ray(progress=False))
    assert [e.task.name for e in failed.value.errors] == ["00002-laion"]
    assert str(failed.value).startswith("1 task(s) failed: 00002-laion: ")
    assert "rerun to redo only these" in str(failed.value)
    finished = _outputs(out)
    assert sorted(finished) == sorted(f"{i:05d}-laion.{ext}" for i in (0, 1, 3, 4) for ext in ("parquet", "json"))
    assert finished == {name: data for name, data in _outputs(reference).items() if name in finished}

    (pool / "00002-laion.parquet").write_bytes(good)  # the shard is repaired: rerun
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    _, resumed = _run(shards, automaton, Ray(progress=False))
    assert resumed == 4  # only the repaired shard ran again
    assert {p.name for p in out.iterdir() if p.is_file() and before.get(p.name) != p.stat().st_mtime_ns} == {
        "00002-laion.parquet"}
    assert _outputs(out) == _outputs(reference)


def _fail_on_two(task, shared):
    if task == 2:
        raise ValueError(f"shard {task} is corrupt")
    return task * shared


def test_failure_report_reads_the_same_under_both_engines(ray_local):
    messages = {}
    for engine in ("local", "ray"):
        with pytest.raises(executor.TasksFailed) as failed:
            for _ in executor_for(engine, workers=2, progress=False).map(_fail_on_two, range(4), shared=10):
                pass
        messages[engine] = str(failed.value)
    assert messages["ray"] == messages["local"] == (
        "1 task(s) failed: 2: ValueError: shard 2 is corrupt. Finished shards are kept; rerun to redo only these.")


# --- shared travels once: counted deserialisations ------------------------------------------------

def _rebuild(payload: bytes, log: str):
    with open(log, "a") as handle:  # one line per deserialisation, from whichever process does it
        handle.write(f"{os.getpid()}\n")
    return Counted(payload, log)


class Counted:
    """A large shared object that logs every time it is deserialised."""

    def __init__(self, payload: bytes, log: str):
        self.payload, self.log = payload, log

    def __reduce__(self):
        return _rebuild, (self.payload, self.log)


def _use(task, shared: Counted):
    return os.getpid(), len(shared.payload)


def test_shared_is_deserialised_once_per_worker_not_per_task(ray_local, tmp_path):
    log = tmp_path / "loads.txt"
    log.touch()
    shared = Counted(os.urandom(1 << 20), str(log))
    results = dict(Ray(progress=False).map(_use, range(40), shared=shared))
    assert len(results) == 40 and {size for _, size in results.values()} == {1 << 20}
    worker_pids = {pid for pid, _ in results.values()}
    loads = log.read_text().split()
    assert 1 <= len(worker_pids) <= 2  # num_cpus=2: at most two worker processes at once
    assert sorted(loads) == sorted(str(pid) for pid in worker_pids)  # once in each worker, never per task

    log.write_text("")  # the local engine: forked workers inherit it, no deserialisation at all
    local = dict(Local(workers=2, progress=False).map(_use, range(40), shared=shared))
    assert len(local) == 40 and log.read_text() == ""


# --- the real commands under both engines ---------------------------------------------------------

def _without_timings(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k not in ("timings", "seconds")}


def _marker_stats(path) -> dict:
    return _without_timings(json.loads(path.read_text())["stats"])


def test_wiki_count_on_ray_is_identical_to_local(ray_local, wiki_sample, tmp_path):
    from metadata_builder.sources.wiki.counts import wiki_count

    dump, _, n_pages = multistream_sample(wiki_sample, tmp_path)
    runs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        stats = wiki_count([dump], out, shard_mb=1e-6, executor=executor_for(engine, workers=2, progress=False))
        files = {str(p.relative_to(out)): p for p in sorted(out.rglob("*")) if p.is_file()}
        runs[engine] = {name: (_without_timings(json.loads(p.read_text())) if name.endswith("stats.json")
                               else _marker_stats(p) if name.startswith("_job/markers/")
                               else p.read_bytes()) for name, p in files.items()}
        runs[engine]["stats"] = _without_timings(stats)
    assert runs["ray"] == runs["local"]
    stats = runs["ray"]["stats"]
    assert stats["shards"] == 4 and sum(name.startswith("_job/markers/") for name in runs["ray"]) == 4
    # the sample's numbers (as the whole-file run counts them), and an independent page count
    assert (stats["pages"], stats["articles"], stats["redirects"]) == (206, 106, 99) == (n_pages, 106, 99)
    assert (stats["tokens"], stats["distinct_words"], stats["titles"]) == (442_876, 35_158, 106)


def _folder(out, drop=("timings",)) -> dict:
    """Every file of an output folder; JSON stats without their timings (and memory readings)."""
    files = {}
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        name = str(p.relative_to(out))
        if name == "manifest.json":  # pool files' fingerprints hold their modification times
            manifest = json.loads(p.read_text())
            for shard in manifest["shards"]:
                shard["fingerprint"].pop("mtime_ns")
            files[name] = manifest
        elif name.endswith("stats.json") or name.startswith("_job/markers/"):
            stats = json.loads(p.read_text())
            stats = stats.get("stats", stats) if name.startswith("_job/markers/") else stats
            stats = {k: v for k, v in stats.items() if k not in drop + ("seconds",)}
            automaton = stats.get("automaton")
            if isinstance(automaton, dict):  # memory and build time of the driver: readings, not results
                stats["automaton"] = {k: v for k, v in automaton.items() if not k.startswith(("rss_", "build_"))}
            files[name] = stats
        else:
            files[name] = p.read_bytes()
    return files


@pytest.fixture(scope="module")
def vocabulary_json(vocabulary, tmp_path_factory):
    path = tmp_path_factory.mktemp("metadata") / "metadata.json"
    path.write_text(json.dumps(vocabulary))
    return path


def test_match_and_balance_on_ray_are_identical_to_local(ray_local, shard_dir, vocabulary_json, tmp_path):
    from metadata_builder import balance as B
    from metadata_builder.match.run import match_pools
    from metadata_builder.match.output import MatchOutput

    pools = [str(p) for p in sorted(shard_dir.glob("*.parquet"))]
    for engine in ("local", "ray"):
        match_pools(pools, vocabulary_json, tmp_path / f"match-{engine}", executor=executor_for(engine, workers=2, progress=False))
    local, on_ray = _folder(tmp_path / "match-local"), _folder(tmp_path / "match-ray")
    assert on_ray == local
    assert sum(name.startswith("_job/markers/") for name in on_ray) == N_SHARDS
    stats = on_ray["stats.json"]
    assert (stats["texts"], stats["matched_texts"], stats["matches"]) == (10_000, 2_610, 5_516)
    match = MatchOutput(tmp_path / "match-ray")
    ids = np.concatenate([np.concatenate(df["entry_ids"].to_numpy()) for _, df in match.iter_shards()])
    assert len(ids) == stats["matches"] and np.array_equal(np.bincount(ids, minlength=len(match.counts)),
                                                          match.counts)

    for engine in ("local", "ray"):
        B.balance(tmp_path / "match-local", tmp_path / f"balanced-{engine}", t=100, seed=0, executor=executor_for(engine, workers=2, progress=False))
    local, on_ray = _folder(tmp_path / "balanced-local"), _folder(tmp_path / "balanced-ray")
    assert on_ray == local
    stats = on_ray["stats.json"]
    assert (stats["candidates"], stats["kept"]) == (2_610, 2_350)
    # the exact expectation, computed apart (vectorised over t) under both engines, agrees with the run
    expected = {engine: B.expected_size(match, [100], executor=executor_for(engine, workers=2)) for engine in ("local", "ray")}
    assert expected["ray"].equals(expected["local"])
    assert expected["ray"]["expected"].iloc[0] == pytest.approx(stats["expected"], rel=1e-12)
    assert round(stats["expected"], 3) == 2_351.216


def test_match_cli_on_ray_names_a_corrupt_pool_shard_and_the_rerun_redoes_only_it(
        ray_local, shard_dir, vocabulary_json, tmp_path, capsys):
    from metadata_builder import cli

    pool = tmp_path / "pool"
    shutil.copytree(shard_dir, pool)
    reference = tmp_path / "reference"
    assert cli.main(["match", str(pool), "--metadata", str(vocabulary_json), "--out", str(reference),
                     "--workers", "2"]) == 0
    corrupt = pool / "00003-laion.parquet"
    good = corrupt.read_bytes()
    corrupt.write_bytes(good[:200] + b"\0" * 2800 + good[3000:])  # data pages broken, footer intact

    out = tmp_path / "out"
    args = ["match", str(pool), "--metadata", str(vocabulary_json), "--out", str(out), "--engine", "ray",
            "--workers", "2"]
    assert cli.main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("metadata-builder: error: 1 task(s) failed: 00003-00003-laion: ")
    assert "00003-laion.parquet" in error and error.endswith("rerun to redo only these.")
    done = sorted(p.name for p in (out / "_job" / "markers").glob("*.json"))
    assert done == [f"{i:05d}-{i:05d}-laion.json" for i in (0, 1, 2, 4)]
    files = lambda: {p: p.stat().st_mtime_ns for p in [*(out / "shards").iterdir(), *(out / "_job" / "markers").iterdir()]}  # noqa: E731
    before = files()

    corrupt.write_bytes(good)
    assert cli.main(args) == 0
    after = files()
    assert {p.name for p in after if before.get(p) != after[p]} == {
        "00003-00003-laion.parquet", "00003-00003-laion.json"}  # only the failed shard was redone
    assert json.loads((out / "stats.json").read_text())["shards_resumed"] == 4
    assert _folder(out, drop=("timings", "shards_resumed")) == _folder(reference, drop=("timings", "shards_resumed"))


def _crash_on_one(task, shared):
    if task == 1:
        os._exit(1)  # the worker process dies: what a lost node or the OOM killer looks like to Ray
    return task


def test_a_dead_worker_is_reported_with_its_task_and_the_others_finish(ray_local, monkeypatch):
    monkeypatch.setattr(executor, "RAY_MAX_RETRIES", 1)  # one retry (default 3), dies again: reported
    finished = []
    with pytest.raises(executor.TasksFailed) as failed:
        for task, result in Ray(progress=False).map(_crash_on_one, range(4)):
            finished.append(result)
    assert sorted(finished) == [0, 2, 3]
    assert [e.task for e in failed.value.errors] == [1]
    assert str(failed.value).startswith("1 task(s) failed: 1: WorkerCrashedError: ")


def _square(task, shared):
    return task * task + shared


def test_many_more_tasks_than_cpus_each_run_once(ray_local):
    # 2 CPUs: at most 64 tasks in flight, refilled as they finish
    results = list(Ray(progress=False).map(_square, range(200), shared=1))
    assert sorted(results) == [(i, i * i + 1) for i in range(200)]
