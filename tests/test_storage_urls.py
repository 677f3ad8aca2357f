"""``match`` and ``balance`` with inputs and outputs on URLs: ``file://`` and a real S3 API.

The S3 API is moto's server (Apache-2.0) on 127.0.0.1, reached through s3fs exactly as a bucket on
AWS would be; nothing of ours is mocked. Real work: the 10,000 LAION alt-texts cut into 3 parquet
shards, matched against the 888 words of 4+ letters used 20+ times in the COCO val2017 captions.
The runs on URLs must give the bytes of the same run on plain local paths, and a rerun after a
failed shard (or a lost driver) must redo only the shards without a completion marker.
"""

from __future__ import annotations

import collections
import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from conftest import multistream_sample
from metadata_builder import cli
from metadata_builder.runtime.executor import Local

N_SHARDS = 3


@pytest.fixture(scope="module")
def vocabulary_json(coco_captions, tmp_path_factory):
    captions = json.loads(coco_captions.read_text())["annotations"]
    counts = collections.Counter(w for c in captions for w in re.findall(r"[a-z]{4,}", c["caption"].lower()))
    path = tmp_path_factory.mktemp("metadata") / "metadata.json"
    path.write_text(json.dumps(sorted(w for w, n in counts.items() if n >= 20)))
    return path


@pytest.fixture(scope="module")
def pool_dir(laion_parquet, tmp_path_factory):
    """The LAION sample as 3 parquet shards (TEXT and URL columns)."""
    folder = tmp_path_factory.mktemp("pool")
    texts = pd.read_parquet(laion_parquet, columns=["TEXT", "URL"])
    for i, chunk in enumerate(np.array_split(np.arange(len(texts)), N_SHARDS)):
        texts.iloc[chunk].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def _clean(name: str, raw: bytes, drop=()):
    """A JSON stats file (or a shard's marker: its stats) without its timings and memory readings
    (readings, not results)."""
    if not (name.endswith("stats.json") or "_job/markers/" in name):
        return raw
    stats = json.loads(raw)
    stats = stats.get("stats", stats) if "_job/markers/" in name else stats
    stats = {k: v for k, v in stats.items() if k not in ("timings", "seconds") + tuple(drop)}
    if isinstance(stats.get("automaton"), dict):
        stats["automaton"] = {k: v for k, v in stats["automaton"].items() if not k.startswith(("rss_", "build_"))}
    return stats


#: The job's settings and completion record name the inputs' paths and fingerprints (a local
#: modification time here, an S3 ETag there): compared apart, never byte for byte.
_RECORDS = ("_job/settings.json", "_job/complete.json")


def _local_tree(folder, drop=()) -> dict:
    return {name: _clean(name, p.read_bytes(), drop) for p in sorted(folder.rglob("*"))
            if p.is_file() and (name := str(p.relative_to(folder))) not in _RECORDS}


def _match_args(pools, metadata, out, *extra):
    return ["match", *map(str, pools), "--metadata", str(metadata), "--out", str(out), "--workers", "2", *extra]


@pytest.fixture(scope="module")
def local_run(pool_dir, vocabulary_json, tmp_path_factory):
    """The reference: match and balance on plain local paths."""
    base = tmp_path_factory.mktemp("local")
    assert cli.main(_match_args([pool_dir], vocabulary_json, base / "match")) == 0
    assert cli.main(["balance", str(base / "match"), "--t", "100", "--out", str(base / "balanced")]) == 0
    return base


def test_local_reference_numbers(local_run, vocabulary_json):
    """The reference run itself, cross-checked against a count computed apart from its shard files."""
    stats = json.loads((local_run / "match" / "stats.json").read_text())
    assert (stats["texts"], stats["matched_texts"], stats["matches"], stats["shards"]) == (10_000, 2_610, 5_516, 3)
    shards = [pd.read_parquet(p) for p in sorted((local_run / "match" / "shards").glob("*.parquet"))]
    ids = np.concatenate([np.concatenate(df["entry_ids"].to_numpy()) for df in shards])
    counts = np.load(local_run / "match" / "entry_counts.npy")
    assert len(ids) == 5_516 and np.array_equal(np.bincount(ids, minlength=len(counts)), counts)
    balanced = json.loads((local_run / "balanced" / "stats.json").read_text())
    kept = sum(len(pd.read_parquet(p)) for p in (local_run / "balanced" / "curated").glob("*.parquet"))
    assert (balanced["candidates"], balanced["kept"]) == (2_610, 2_342) and kept == 2_342


# --- file:// URLs -----------------------------------------------------------------------------------

def test_file_urls_give_the_bytes_of_plain_paths(local_run, pool_dir, vocabulary_json, tmp_path):
    out = f"file://{tmp_path}/match"
    assert cli.main(_match_args([f"file://{pool_dir}/*.parquet"], f"file://{vocabulary_json}", out)) == 0
    # a file:// URL takes the local path: even the manifest (pool and metadata paths) is the same
    assert _local_tree(tmp_path / "match") == _local_tree(local_run / "match")
    assert cli.main(["balance", out, "--t", "100", "--out", f"file://{tmp_path}/balanced"]) == 0
    # stats.json names its match folder, which differs; everything else is the same
    assert _local_tree(tmp_path / "balanced", drop=("match_dir",)) == \
        _local_tree(local_run / "balanced", drop=("match_dir",))


# --- a real S3 API on loopback ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on 127.0.0.1 (a free port), and fsspec's s3:// pointed at it."""
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install '.[dev]')")
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install '.[dev]')")
    import logging

    import fsspec.config
    import s3fs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "FSSPEC_S3_ENDPOINT_URL": endpoint}
    saved_env = {k: os.environ.get(k) for k in env}
    saved_conf = fsspec.config.conf.get("s3")
    os.environ.update(env)
    fsspec.config.conf["s3"] = {"endpoint_url": endpoint}  # the variable is read when fsspec is imported
    s3fs.S3FileSystem.clear_instance_cache()
    yield endpoint
    s3fs.S3FileSystem.clear_instance_cache()
    if saved_conf is None:
        fsspec.config.conf.pop("s3", None)
    else:
        fsspec.config.conf["s3"] = saved_conf
    for k, v in saved_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, pool_dir, vocabulary_json, request):
    """A new bucket holding the pool shards (``pool/``) and the metadata."""
    import fsspec

    fs = fsspec.filesystem("s3")
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    fs.mkdir(name)
    for p in sorted(pool_dir.glob("*.parquet")):
        fs.put_file(str(p), f"{name}/pool/{p.name}")
    fs.put_file(str(vocabulary_json), f"{name}/metadata.json")
    fs.invalidate_cache()
    return fs, name


def _s3_tree(fs, prefix, drop=()) -> dict:
    fs.invalidate_cache()
    return {name: _clean(name, fs.cat_file(path), drop) for path in sorted(fs.find(prefix))
            if (name := path[len(prefix) + 1:]) not in _RECORDS}


def test_match_and_balance_on_s3_equal_the_local_run(bucket, local_run):
    fs, name = bucket
    url = f"s3://{name}"
    assert cli.main(_match_args([f"{url}/pool/"], f"{url}/metadata.json", f"{url}/match")) == 0
    remote, local = _s3_tree(fs, f"{name}/match"), _local_tree(local_run / "match")
    assert sorted(remote) == sorted(local)
    assert sum(k.startswith("_job/markers/") for k in remote) == N_SHARDS
    manifest = json.loads(remote.pop("manifest.json"))
    assert [s["path"] for s in manifest["shards"]] == [f"{url}/pool/part-{i}.parquet" for i in range(N_SHARDS)]
    assert manifest["metadata"]["path"] == f"{url}/metadata.json"
    local_manifest = json.loads(local.pop("manifest.json"))
    assert [(s["name"], s["rows"]) for s in manifest["shards"]] == [(s["name"], s["rows"])
                                                                     for s in local_manifest["shards"]]
    assert remote == local  # shard parquets, entry counts and stats: the same bytes and numbers

    assert cli.main(["balance", f"{url}/match", "--t", "100", "--out", f"{url}/balanced", "--workers", "2"]) == 0
    remote = _s3_tree(fs, f"{name}/balanced", drop=("match_dir",))
    assert remote == _local_tree(local_run / "balanced", drop=("match_dir",))
    assert not [k for k in remote if k.endswith(".tmp")]  # no temporary object left behind


def test_s3_rerun_after_a_failed_shard_or_a_lost_driver_redoes_only_the_unfinished(bucket, local_run, capsys):
    fs, name = bucket
    url = f"s3://{name}"
    good = fs.cat_file(f"{name}/pool/part-1.parquet")
    fs.pipe_file(f"{name}/pool/part-1.parquet", good[:200] + b"\0" * 2800 + good[3000:])  # footer intact
    args = _match_args([f"{url}/pool/*.parquet"], f"{url}/metadata.json", f"{url}/match")
    assert cli.main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("metadata-builder: error: 1 task(s) failed: 00001-part-1: ")
    assert f"{url}/pool/part-1.parquet" in error
    fs.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[1] for p in fs.glob(f"{name}/match/_job/markers/*.json")) == [
        "00000-part-0.json", "00002-part-2.json"]
    markers = {p: fs.cat_file(p) for p in fs.glob(f"{name}/match/_job/markers/*.json")}  # hold "seconds"

    fs.pipe_file(f"{name}/pool/part-1.parquet", good)
    assert cli.main(args) == 0  # a new driver: finds the markers on S3
    stats = json.loads(fs.cat_file(f"{name}/match/stats.json"))
    assert stats["shards_resumed"] == 2 and stats["texts"] == 10_000
    assert {p: fs.cat_file(p) for p in markers} == markers  # the finished shards were not redone

    # a driver lost after shard 0: only its marker and parquet survive (plus a half-uploaded object)
    for p in fs.glob(f"{name}/match/shards/0000[12]-*") + fs.glob(f"{name}/match/_job/markers/0000[12]-*") + [
            f"{name}/match/stats.json", f"{name}/match/_job/complete.json"]:
        fs.rm(p)
    fs.pipe_file(f"{name}/match/shards/.00001-part-1.parquet.0123.tmp", b"PAR1 cut")
    assert cli.main(args) == 0
    stats = json.loads(fs.cat_file(f"{name}/match/stats.json"))
    assert stats["shards_resumed"] == 1
    fs.rm(f"{name}/match/shards/.00001-part-1.parquet.0123.tmp")
    remote = _s3_tree(fs, f"{name}/match", drop=("shards_resumed", "path"))
    local = _local_tree(local_run / "match", drop=("shards_resumed", "path"))
    remote.pop("manifest.json"), local.pop("manifest.json")
    assert remote == local


# --- wiki-count: a multistream dump read by byte ranges from S3, partials and tables written there ----

@pytest.fixture(scope="module")
def wiki_local(wiki_sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wiki")
    dump, index, n_pages = multistream_sample(wiki_sample, folder)
    args = ["wiki-count", str(dump), "--out", str(folder / "out"), "--shard-mb", "0.000001", "--workers", "2",
            "--no-progress"]
    assert cli.main(args) == 0
    return dump, index, n_pages, folder / "out"


def _wiki_tree(tree: dict) -> dict:
    """The shards' stats name the dump's path, which differs between runs; drop it."""
    return {k: ({x: y for x, y in v.items() if x != "path"} if isinstance(v, dict) else v) for k, v in tree.items()}


def test_wiki_count_with_file_urls_gives_the_same_bytes(wiki_local, tmp_path):
    dump, _, _, reference = wiki_local
    assert cli.main(["wiki-count", f"file://{dump}", "--out", f"file://{tmp_path}/out", "--shard-mb", "0.000001",
                     "--workers", "2", "--no-progress"]) == 0
    assert _local_tree(tmp_path / "out") == _local_tree(reference)  # the settings too: same resolved path


def test_wiki_count_on_s3_equals_local_and_resumes_after_a_failed_shard(wiki_local, s3_endpoint, monkeypatch,
                                                                         capsys):
    import fsspec

    from conftest import fail_wiki_shard

    dump, index, n_pages, reference = wiki_local
    fs = fsspec.filesystem("s3")
    fs.mkdir("wiki")
    fs.put_file(str(dump), f"wiki/dumps/{dump.name}")
    fs.put_file(str(index), f"wiki/dumps/{index.name}")
    args = ["wiki-count", f"s3://wiki/dumps/{dump.name}", "--out", "s3://wiki/out", "--shard-mb", "0.000001",
            "--workers", "2", "--no-progress"]
    failing = sorted(p.stem for p in reference.glob("_job/markers/*.json"))[2]
    fail_wiki_shard(monkeypatch, failing)  # this shard raises
    assert cli.main(args) == 2
    assert failing in capsys.readouterr().err
    fs.invalidate_cache()
    assert len(fs.glob("wiki/out/_job/markers/*.json")) == 3 and not fs.exists("wiki/out/_job/complete.json")

    monkeypatch.undo()
    assert cli.main(args) == 0
    remote = _s3_tree(fs, "wiki/out")
    stats = remote["stats.json"]
    assert (stats["shards"], stats["shards_resumed"]) == (4, 3)
    assert (stats["pages"], stats["articles"], stats["redirects"]) == (206, 106, 99) and n_pages == 206
    assert (stats["tokens"], stats["distinct_words"], stats["titles"]) == (442_876, 35_158, 106)
    drop = ("shards_resumed",)
    assert _wiki_tree(_s3_tree(fs, "wiki/out", drop)) == _wiki_tree(_local_tree(reference, drop))
    fs.invalidate_cache()
    settings = json.loads(fs.cat_file("wiki/out/_job/settings.json"))["settings"]
    assert [{k: d[k] for k in ("path", "size")} for d in settings["dumps"]] == [
        {"path": f"s3://wiki/dumps/{dump.name}", "size": dump.stat().st_size}]


# --- pageviews: hourly files read from S3 (the output table stays local) -----------------------------

def test_pageviews_inputs_on_s3_give_the_local_table(s3_endpoint, tmp_path):
    import gzip
    import random

    import fsspec

    from metadata_builder.sources.wiki.pageviews import count_pageviews

    rng = random.Random(5)
    folder = tmp_path / "pv"
    folder.mkdir()
    expected: dict[str, int] = collections.Counter()
    for hour in (0, 13):
        lines = []
        for _ in range(3000):
            title, views = f"Page_{rng.randrange(500)}", int(rng.expovariate(1 / 40)) + 1
            domain = rng.choice(["en", "en", "en.m", "de"])
            lines.append(f"{domain} {title} {views} 0")
            if domain == "en" and views >= 50:
                expected[title.replace("_", " ")] += views
        with gzip.open(folder / f"pageviews-20220829-{hour:02d}0000.gz", "wb") as f:
            f.write("".join(line + "\n" for line in lines).encode())
    fs = fsspec.filesystem("s3")
    fs.mkdir("pageviews")
    for p in sorted(folder.iterdir()):
        fs.put_file(str(p), f"pageviews/hourly/{p.name}")

    local = count_pageviews([folder], tmp_path / "local.parquet", executor=Local(workers=2, progress=False))
    remote = count_pageviews(["s3://pageviews/hourly/"], tmp_path / "remote.parquet", executor=Local(workers=2, progress=False))
    assert (tmp_path / "remote.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    table = pd.read_parquet(tmp_path / "remote.parquet")
    assert dict(zip(table["title"], table["views"].tolist())) == expected and len(expected) > 100
    assert remote == local and remote["files"] == 2 and remote["days"] == ["20220829"]
    again = count_pageviews(["s3://pageviews/hourly/"], tmp_path / "remote.parquet", executor=Local(workers=2, progress=False))
    assert again["files_resumed"] == 2  # the ETags still match: nothing rescanned


# --- Ray workers reading and writing the bucket themselves ------------------------------------------

def test_match_and_balance_on_ray_over_s3_equal_the_local_run(bucket, local_run, s3_endpoint):
    """The cluster set-up of the README on one machine: a local Ray instance whose workers (fresh
    processes, not forks) reach the bucket through the environment alone."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (make test installs it)")
    fs, name = bucket
    url = f"s3://{name}"
    env = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                      "FSSPEC_S3_ENDPOINT_URL")}
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env})
    try:
        ray_args = ["--engine", "ray"]
        assert cli.main(_match_args([f"{url}/pool/*.parquet"], f"{url}/metadata.json", f"{url}/match", *ray_args)) == 0
        assert cli.main(["balance", f"{url}/match", "--t", "100", "--out", f"{url}/balanced", *ray_args]) == 0
    finally:
        if started:
            ray.shutdown()
    drop = ("path", "workers")
    remote, local = _s3_tree(fs, f"{name}/match", drop), _local_tree(local_run / "match", drop)
    remote.pop("manifest.json"), local.pop("manifest.json")
    assert remote == local
    assert _s3_tree(fs, f"{name}/balanced", ("match_dir",)) == _local_tree(local_run / "balanced", ("match_dir",))


# --- text pools (compressed tsv, jsonl, COCO json) streamed from S3 ---------------------------------

def test_text_pools_on_s3_equal_local(s3_endpoint, cc3m_tsv, coco_captions, laion_parquet, vocabulary_json, tmp_path):
    import bz2
    import gzip

    import fsspec

    folder = tmp_path / "pools"
    folder.mkdir()
    (folder / "cc3m.tsv.gz").write_bytes(gzip.compress(cc3m_tsv.read_bytes()))
    (folder / "coco.json").write_bytes(coco_captions.read_bytes())
    texts = pd.read_parquet(laion_parquet, columns=["TEXT"])["TEXT"].head(3000)
    (folder / "laion.jsonl.bz2").write_bytes(bz2.compress(
        "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()))
    fs = fsspec.filesystem("s3")
    fs.mkdir("textpools")
    for p in sorted(folder.iterdir()):
        fs.put_file(str(p), f"textpools/pools/{p.name}")

    for where, pools, out in (("local", [folder], tmp_path / "match"), ("s3", ["s3://textpools/pools/"], "s3://textpools/match")):
        assert cli.main(_match_args(pools, vocabulary_json, out)) == 0
        assert cli.main(["balance", str(out), "--t", "50", "--out", str(out) + "-balanced"]) == 0
    drop = ("path",)
    remote, local = _s3_tree(fs, "textpools/match", drop), _local_tree(tmp_path / "match", drop)
    remote.pop("manifest.json"), local.pop("manifest.json")
    assert remote == local
    stats = local["stats.json"]
    n_coco = len(json.loads(coco_captions.read_text())["annotations"])
    n_cc3m = len(cc3m_tsv.read_bytes().splitlines())  # no header: every line is a caption
    assert (stats["shards"], stats["texts"]) == (3, 43_847) == (3, 3_000 + n_coco + n_cc3m)
    assert _s3_tree(fs, "textpools/match-balanced", ("match_dir",)) == \
        _local_tree(tmp_path / "match-balanced", ("match_dir",))
