"""Fault injection: every case of the reliability audit, kept true. Each one ends as a refusal with one
clear line (exit 2, no traceback) or as the correct result, never as exit 0 with wrong data.

Faults are real: processes killed with SIGKILL at a chosen call, a full disk (ENOSPC) or an
exhausted memory raised at a chosen call (tests/faults/sitecustomize.py, loaded into the command's
process only), address-space limits (``ulimit -v``), files shuffled, truncated, corrupted or replaced
on disk. The data is real: the LAION alt-text sample cut into four pool files, matched against the
888 words of 4+ letters used 20+ times in the COCO val2017 captions; the English Wikipedia sample;
WordNet 3.0. The README's Reliability table lists the cases and the tests below.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO

pytestmark = pytest.mark.faults
HOOKS = REPO / "tests" / "faults"


# --- running the command --------------------------------------------------------------------------

def cli(*args, fault: str | None = None, address_space: int | None = None, env: dict | None = None):
    """``metadata-builder ARGS`` in a new process; ``fault``: see tests/faults/sitecustomize.py."""
    environ = {**os.environ, "PYTHONPATH": f"{HOOKS}{os.pathsep}{REPO}", **(env or {})}
    environ.pop("METADATA_BUILDER_FAULT", None)
    if fault:
        environ["METADATA_BUILDER_FAULT"] = fault

    def limit():
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run([sys.executable, "-m", "metadata_builder", *map(str, args)], cwd=REPO, env=environ,
                          capture_output=True, text=True, preexec_fn=limit, timeout=600)


def refused(result, *needles) -> str:
    """The run was refused with exit 2 and one line (progress bars aside); return that line."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("metadata-builder: ")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def ok(result):
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    return result


def tree(folder: Path) -> dict[str, bytes]:
    """The data files of an output folder (not its stats, which hold timings, nor its bookkeeping)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in (".parquet", ".npy", ".npz") and "_job" not in p.parts}


# --- real data ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vocabulary(coco_captions, tmp_path_factory) -> Path:
    captions = json.loads(coco_captions.read_text())["annotations"]
    counts = collections.Counter(w for c in captions for w in re.findall(r"[a-z]{4,}", c["caption"].lower()))
    path = tmp_path_factory.mktemp("metadata") / "metadata.json"
    path.write_text(json.dumps(sorted(w for w, n in counts.items() if n >= 20)))
    return path


def pool_copy(laion_parquet, folder: Path, parts: int = 4) -> Path:
    """The LAION sample as ``parts`` parquet pool files (TEXT, URL)."""
    folder.mkdir(parents=True)
    df = pd.read_parquet(laion_parquet, columns=["TEXT", "URL"])
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), parts)):
        df.iloc[chunk].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def clean(laion_parquet, vocabulary, tmp_path_factory) -> dict:
    """An uninterrupted match and balance, to compare the interrupted runs with."""
    base = tmp_path_factory.mktemp("clean")
    pool = pool_copy(laion_parquet, base / "pool")
    ok(cli("match", pool, "--metadata", vocabulary, "--out", base / "m", "--workers", 2))
    ok(cli("balance", base / "m", "--t", 100, "--out", base / "b"))
    return {"pool": pool, "match": base / "m", "balanced": base / "b"}


# --- silent wrong output, now refused -------------------------------------------------------------

def test_balance_refuses_to_resume_into_a_folder_made_from_another_match(clean, vocabulary, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(clean["balanced"], b)
    m = tmp_path / "m"
    ok(cli("match", clean["pool"], "--metadata", vocabulary, "--out", m, "--normalize", "casefold"))
    refused(cli("balance", m, "--t", 100, "--out", b), str(b), "changed: match")
    # a smaller match (two of the four pool files) is refused too, rather than leaving old shards behind
    ok(cli("match", clean["pool"] / "part-0.parquet", clean["pool"] / "part-1.parquet", "--metadata", vocabulary,
           "--out", tmp_path / "small"))
    refused(cli("balance", tmp_path / "small", "--t", 100, "--out", b), "changed: match")
    assert tree(b) == tree(clean["balanced"])  # the earlier result is left as it was
    fresh = json.loads(ok(cli("balance", m, "--t", 100, "--out", tmp_path / "c")) and (tmp_path / "c" / "stats.json").read_text())
    before = json.loads((clean["balanced"] / "stats.json").read_text())
    assert (before["texts"], before["kept"]) == (2_610, 2_340)
    assert (fresh["texts"], fresh["kept"]) == (6_699, 6_382)  # casefold: capitalised words match too


def test_a_pool_rewritten_after_the_match_is_refused_by_balance(clean, vocabulary, tmp_path):
    pool = shutil.copytree(clean["pool"], tmp_path / "pool")
    ok(cli("match", pool, "--metadata", vocabulary, "--out", tmp_path / "m"))
    part = pool / "part-2.parquet"
    df = pd.read_parquet(part)
    stamp = part.stat()
    df.sample(frac=1.0, random_state=3).to_parquet(part, index=False)  # the rows shuffled in place
    refused(cli("balance", tmp_path / "m", "--t", 100, "--out", tmp_path / "b"), str(part), "changed since the match")
    # even if the fingerprint could not tell (same size, time and end blocks), the texts' hashes do
    os.utime(part, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    from metadata_builder.runtime.storage import fingerprint

    manifest["shards"][2]["fingerprint"] = fingerprint(part)
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    line = refused(cli("balance", tmp_path / "m", "--t", 100, "--out", tmp_path / "b2"), str(part),
                   "rows read back differ from the texts the match saw")
    assert re.search(r": [\d,]+ of [\d,]+ rows", line)


def test_a_match_resumed_over_regenerated_pool_files_is_refused(clean, vocabulary, laion_parquet, tmp_path):
    pool = shutil.copytree(clean["pool"], tmp_path / "pool")
    m = tmp_path / "m"
    killed = cli("match", pool, "--metadata", vocabulary, "--out", m, "--workers", 1,
                 fault="kill@metadata_builder.runtime.shards:_run_shard#3")
    assert killed.returncode == -9 and len(list((m / "_job" / "markers").glob("*.json"))) == 2
    # a resume with the same files ends byte-identical to the uninterrupted run
    resumed = tmp_path / "resumed"
    shutil.copytree(m, resumed)
    ok(cli("match", pool, "--metadata", vocabulary, "--out", resumed))
    assert tree(resumed) == tree(clean["match"])
    # pool files regenerated with other rows: the finished shards no longer describe them
    other = pd.read_parquet(laion_parquet, columns=["TEXT", "URL"]).iloc[::-1]
    for i, chunk in enumerate(np.array_split(np.arange(len(other)), 4)):
        other.iloc[chunk].to_parquet(pool / f"part-{i}.parquet", index=False)
    refused(cli("match", pool, "--metadata", vocabulary, "--out", m), "part-0.parquet", "changed since an earlier run")


def _multistream(wiki_sample, folder: Path):
    from bench.wikidump import write_multistream
    from metadata_builder.sources.wiki.dump import stream_table

    dump = write_multistream(wiki_sample, folder / "sample-multistream.xml.bz2", pages_per_stream=20)
    index = folder / "sample-multistream-index.txt.bz2"
    return dump, index, stream_table(index)


def test_a_corrupt_bz2_stream_costs_that_stream_only(wiki_sample, tmp_path):
    dump, index, streams = _multistream(wiki_sample, tmp_path / "good")
    assert len(streams) == 11 and sum(n for _, n in streams) == 206
    (offset, pages), after = streams[4], streams[5][0]
    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray(dump.read_bytes())
    data[(offset + after) // 2:(offset + after) // 2 + 64] = b"\0" * 64
    (bad / dump.name).write_bytes(data)
    shutil.copy(index, bad / index.name)
    run = ok(cli("wiki-count", bad / dump.name, "--out", tmp_path / "out", "--shard-mb", 0.5, "--no-progress"))
    assert f"the bz2 stream at byte {offset:,} cannot be decoded" in run.stdout and "its 20 pages were skipped" in run.stdout
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert (stats["pages"], stats["pages_lost"], pages) == (186, 20, 20)  # 206 - the stream's 20
    assert [c["offset"] for c in stats["corrupt_streams"]] == [offset]
    # the same dump without those 20 pages gives the same counts
    ok(cli("wiki-count", dump, "--out", tmp_path / "all", "--shard-mb", 0.5, "--no-progress"))
    full = json.loads((tmp_path / "all" / "stats.json").read_text())
    assert full["pages"] == 206 and stats["tokens"] < full["tokens"]


def test_a_cut_multistream_dump_with_its_full_index_gives_every_complete_page(wiki_sample, tmp_path):
    dump, index, streams = _multistream(wiki_sample, tmp_path / "good")
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / dump.name).write_bytes(dump.read_bytes()[:streams[7][0] + 1000])  # a download cut in stream 7
    shutil.copy(index, cut / index.name)
    run = ok(cli("wiki-count", cut / dump.name, "--out", tmp_path / "out", "--shard-mb", 0.5, "--no-progress"))
    assert "truncated:" in run.stdout and "the index lists 46 more pages past the end of the file" in run.stdout
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["pages"] == 140 and stats["truncated"]  # streams 0-6 whole; stream 7 (20 pages) cut
    # a truncated index is one line
    (cut / index.name).write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    refused(cli("wiki-count", cut / dump.name, "--out", tmp_path / "out2"), index.name, "truncated or corrupt")


@pytest.fixture(scope="module")
def assembled(vocabulary, tmp_path_factory) -> dict:
    """metadata.json + metadata.parquet from ``assemble`` (seeds + the vocabulary as 'WordNet')."""
    base = tmp_path_factory.mktemp("assembled")
    pd.DataFrame({"entry": json.loads(vocabulary.read_text())}).to_parquet(base / "names.parquet")
    ok(cli("assemble", "--wordnet", base / "names.parquet", "--out", base / "metadata.json"))
    return {"json": base / "metadata.json", "parquet": base / "metadata.parquet"}


def test_report_refuses_another_metadata_and_another_balance(clean, assembled, vocabulary, tmp_path):
    m = tmp_path / "m"
    ok(cli("match", clean["pool"], "--metadata", assembled["json"], "--out", m))
    ok(cli("report", m, "--metadata", assembled["parquet"], "--out", tmp_path / "r"))
    reordered = pd.read_parquet(assembled["parquet"]).sort_values("entry")
    reordered["id"] = np.arange(len(reordered))  # the same strings, ids given in another order
    reordered.to_parquet(tmp_path / "reordered.parquet")
    refused(cli("report", m, "--metadata", tmp_path / "reordered.parquet", "--out", tmp_path / "r2"),
            "is not the metadata the match used")
    ok(cli("balance", m, "--t", 100, "--out", tmp_path / "b"))
    refused(cli("report", m, "--metadata", assembled["parquet"], "--balanced", clean["balanced"], "--out",
                tmp_path / "r3"), "was balanced from another match")


def test_a_truncated_or_corrupt_wordnet_is_refused(tmp_path):
    from metadata_builder.sources.wordnet_files import find_nltk_wordnet

    source = Path(str(find_nltk_wordnet().path))
    folder = shutil.copytree(source, tmp_path / "dict")
    noun = (source / "data.noun").read_bytes()
    (folder / "data.noun").write_bytes(noun[:3_000_000])  # cut at 3 MB
    refused(cli("wordnet", "--wordnet-dir", folder, "--out", tmp_path / "w.parquet"),
            "51,735 synsets read where it has 117,659", "truncated or damaged")
    damaged = bytearray(noun)
    damaged[5_000_000:5_000_400] = b"x" * 400
    (folder / "data.noun").write_bytes(damaged)
    refused(cli("wordnet", "--wordnet-dir", folder, "--out", tmp_path / "w.parquet"), "is damaged")
    assert not (tmp_path / "w.parquet").exists()


# --- unfinished states never look finished ----------------------------------------------------------

def test_a_match_killed_in_its_final_step_is_incomplete_for_every_reader(clean, assembled, vocabulary, tmp_path):
    m = tmp_path / "m"
    killed = cli("match", clean["pool"], "--metadata", vocabulary, "--out", m,
                 fault="kill@metadata_builder.runtime.storage:write_npy")
    assert killed.returncode == -9 and len(list((m / "_job" / "markers").glob("*.json"))) == 4
    refused(cli("balance", m, "--t", 100, "--out", tmp_path / "b"), "incomplete match", "rerun")
    refused(cli("report", m, "--metadata", assembled["parquet"], "--out", tmp_path / "r"), "incomplete match")
    (m / "shards" / ".part.parquet.0123.tmp").write_bytes(b"PAR1 half")  # what a kill leaves
    ok(cli("match", clean["pool"], "--metadata", vocabulary, "--out", m))
    assert tree(m) == tree(clean["match"]) and not list(m.rglob("*.tmp"))


def test_wiki_count_killed_in_its_merge_is_refused_by_assemble(wiki_sample, tmp_path):
    out = tmp_path / "wiki"
    killed = cli("wiki-count", wiki_sample, "--out", out, "--no-progress",
                 fault="kill@metadata_builder.sources.wiki.counts.merge:_write_query#2")
    assert killed.returncode == -9 and (out / "unigrams.parquet").exists() and not (out / "bigrams.parquet").exists()
    pd.DataFrame({"entry": ["dog", "cat"]}).to_parquet(tmp_path / "names.parquet")
    refused(cli("assemble", "--wordnet", tmp_path / "names.parquet", "--unigrams", out / "unigrams.parquet",
                "--out", tmp_path / "metadata.json"), "incomplete wiki-count", "rerun")
    ok(cli("wiki-count", wiki_sample, "--out", out, "--no-progress"))
    ok(cli("assemble", "--wordnet", tmp_path / "names.parquet", "--unigrams", out / "unigrams.parquet",
           "--out", tmp_path / "metadata.json"))


def test_an_output_inside_the_pool_folder_is_refused(clean, vocabulary, tmp_path):
    pool = shutil.copytree(clean["pool"], tmp_path / "pool")
    refused(cli("match", pool, "--metadata", vocabulary, "--out", pool / "m"), "is inside the pool folder")
    refused(cli("match", f"{pool}/*.parquet", "--metadata", vocabulary, "--out", pool / "m"), "inside the pool folder")
    refused(cli("balance", clean["match"], "--t", 100, "--out", clean["match"] / "b"), "inside the match folder")


def test_a_dead_worker_is_reported_and_the_rerun_finishes(clean, vocabulary, tmp_path):
    m = tmp_path / "m"
    line = refused(cli("match", clean["pool"], "--metadata", vocabulary, "--out", m, "--workers", 2,
                       fault="kill@metadata_builder.match.run:match_shard#2"), "its worker process died")
    assert "task(s) failed" in line
    ok(cli("match", clean["pool"], "--metadata", vocabulary, "--out", m, "--workers", 2))
    assert tree(m) == tree(clean["match"])


def test_a_resumed_match_with_a_missing_or_damaged_shard(clean, vocabulary, tmp_path):
    m = shutil.copytree(clean["match"], tmp_path / "m")
    shard = m / "shards" / "00001-part-1.parquet"
    shard.unlink()  # its marker remains: the shard is matched again
    ok(cli("match", clean["pool"], "--metadata", vocabulary, "--out", m))
    assert tree(m) == tree(clean["match"])
    shard.write_bytes(b"\0" * shard.stat().st_size)  # damaged in place, same size
    refused(cli("balance", m, "--t", 100, "--out", tmp_path / "b"), str(shard), "unreadable")
    counts = m / "entry_counts.npy"
    shutil.copy(clean["match"] / "shards" / shard.name, shard)
    counts.write_bytes(counts.read_bytes()[:100])  # truncated
    refused(cli("balance", m, "--t", 100, "--out", tmp_path / "b2"), "entry_counts.npy", "unreadable")


# --- one line, up front, instead of a traceback or a hang ------------------------------------------

def test_options_are_validated_before_any_work(clean, assembled, wiki_sample, tmp_path):
    refused(cli("report", clean["match"], "--metadata", assembled["parquet"], "--top-k", -5, "--out", tmp_path / "r"),
            "--top-k must be between 1 and 1000")
    injected = "1GB'; COPY (SELECT 42) TO 'x.csv'; SET memory_limit='1GB"
    refused(cli("wiki-count", wiki_sample, "--out", tmp_path / "w", "--memory-limit", injected), "not a size")
    assert not (REPO / "x.csv").exists() and not (tmp_path / "w" / "_job").exists()
    refused(cli("wiki-count", wiki_sample, "--out", tmp_path / "w", "--memory-limit", "banana"), "not a size")
    refused(cli("balance", clean["match"], "--t", 100, "--seed", 2**64, "--out", tmp_path / "b"), "--seed must be")
    pd.DataFrame({"entry": ["dog"]}).to_parquet(tmp_path / "names.parquet")
    refused(cli("assemble", "--wordnet", tmp_path / "names.parquet", "--total", 0, "--out", tmp_path / "meta.json"),
            "--total must be at least 1")


@pytest.mark.parametrize("command", ["wordnet", "assemble", "wiki-captions", "pageviews"])
def test_an_output_that_is_a_folder_is_refused_before_the_work(command, tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    (tmp_path / "pv").mkdir()
    with gzip.open(tmp_path / "pv" / "pageviews-20220829-000000.gz", "wt") as f:
        f.write("en Dog 60 0\n")
    pd.DataFrame({"entry": ["dog"]}).to_parquet(tmp_path / "names.parquet")
    args = {"wordnet": ["wordnet"], "assemble": ["assemble", "--wordnet", tmp_path / "names.parquet"],
            "wiki-captions": ["wiki-captions"], "pageviews": ["pageviews", tmp_path / "pv"]}[command]
    started = time.monotonic()
    refused(cli(*args, "--out", folder), "it is a folder")
    assert time.monotonic() - started < 15  # refused up front (the WordNet read alone takes ~20 s)


def test_a_full_disk_is_one_line_and_the_rerun_resumes(clean, vocabulary, wiki_sample, tmp_path):
    m = tmp_path / "m"
    refused(cli("match", clean["pool"], "--metadata", vocabulary, "--out", m,
                fault="enospc@metadata_builder.runtime.storage:write_npy"), "the disk is full", "rerun")
    ok(cli("match", clean["pool"], "--metadata", vocabulary, "--out", m))
    assert tree(m) == tree(clean["match"])
    refused(cli("wiki-count", wiki_sample, "--out", tmp_path / "w", "--no-progress",
                fault="enospc@metadata_builder.sources.wiki.counts.merge:_write_query#2"), "the disk is full")
    ok(cli("wiki-count", wiki_sample, "--out", tmp_path / "w", "--no-progress"))


def test_pool_formats_are_checked_against_content(clean, vocabulary, cc3m_tsv, tmp_path):
    part = clean["pool"] / "part-0.parquet"
    refused(cli("match", part, "--metadata", vocabulary, "--out", tmp_path / "a", "--format", "tsv"),
            "its content is parquet", "--format parquet")
    refused(cli("match", part, "--metadata", vocabulary, "--out", tmp_path / "b", "--format", "jsonl"),
            "its content is parquet")
    long = tmp_path / "long.tsv"  # a first line of 200 KB (over the csv module's default field limit)
    long.write_text("dog " * 50_000 + "\thttp://x\n" + cc3m_tsv.read_text(encoding="utf-8"), encoding="utf-8")
    ok(cli("match", long, "--metadata", vocabulary, "--out", tmp_path / "c"))
    stats = json.loads((tmp_path / "c" / "stats.json").read_text())
    assert stats["texts"] == 15_834 and stats["bad_rows"] == 0


def test_out_of_memory_is_one_line_and_leaves_no_worker_behind(clean, vocabulary, tmp_path):
    marker = uuid.uuid4().hex
    for limit in (1_500_000_000, 700_000_000):
        run = cli("match", clean["pool"], "--metadata", vocabulary, "--out", tmp_path / f"m{limit}", "--workers", 2,
                  address_space=limit, env={"FAULT_RUN": marker})
        if run.returncode != 0:
            refused(run)
    run = cli("match", clean["pool"], "--metadata", vocabulary, "--out", tmp_path / "mm", "--workers", 2,
              fault="memory@metadata_builder.match.engine:Matcher.match_arrow", env={"FAULT_RUN": marker})
    refused(run, "MemoryError")

    def left() -> list[str]:  # processes of those runs still alive (zombies reaped by init aside)
        alive = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and f"FAULT_RUN={marker}".encode() in (proc / "environ").read_bytes() \
                        and " Z " not in (proc / "stat").read_text().split(")", 1)[1][:4]:
                    alive.append(proc.name)
            except OSError:
                continue
        return alive

    deadline = time.monotonic() + 30  # a loaded machine may take a moment to end a dying worker
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == []  # no orphaned worker


def test_minor_cases_are_said(tmp_path, vocabulary, clean):
    entries = json.loads(vocabulary.read_text())
    (tmp_path / "dup.json").write_text(json.dumps(entries + ["dogs", "dogs", "   "]))
    run = ok(cli("match", clean["pool"] / "part-0.parquet", "--metadata", tmp_path / "dup.json", "--out", tmp_path / "m"))
    assert "2 entries repeat an earlier one" in run.stdout and "1 entries are empty or only white space" in run.stdout
    with gzip.open(tmp_path / "pageviews-20220829-000000.gz", "wt", encoding="utf-8") as f:
        f.write("en Dog 1_000 0\nen Cat +70 0\nen Bird \u0667\u0660 0\nen Fish 70 0\n")
    run = ok(cli("pageviews", tmp_path / "pageviews-20220829-000000.gz", "--out", tmp_path / "v.parquet"))
    assert "3 malformed" in run.stdout
    assert pd.read_parquet(tmp_path / "v.parquet")["title"].tolist() == ["Fish"]
    pd.DataFrame({"entry": ["dog", "   "]}).to_parquet(tmp_path / "names.parquet")
    run = ok(cli("assemble", "--wordnet", tmp_path / "names.parquet", "--out", tmp_path / "meta.json"))
    assert "warning: 1 entries are only white space" in run.stdout


def test_bz2_sample_is_what_the_cases_assume(wiki_sample):
    assert bz2.decompress(wiki_sample.read_bytes()).count(b"<page>") == 206
