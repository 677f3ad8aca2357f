"""Sub-string matching (docs/recipe.md §2): exact equality with a plain reference on the real shared pools.

The reference below is written independently of the package: it spaces a text with the published
7 ``str.replace`` calls and then tests every stretch of the spaced text that runs from one space to
a later one against a dict of padded entries. Since a padded entry starts and ends with a space,
that finds exactly the entries ``" " + entry + " "`` that are substrings, with no automaton and no
hashing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from metadata_builder.match.engine import Engine
from metadata_builder.match.run import match_pools
from metadata_builder.match.output import MatchOutput, text_key
from metadata_builder.match.text_hash import text_hashes
from metadata_builder.runtime.storage import fingerprint
from metadata_builder.runtime.executor import Local
from reference import Reference

REPO = Path(__file__).resolve().parent.parent
SEEDS = [str(i) for i in range(100)]
EDGE_ENTRIES = ["dog", "Dog", "hot", "hot-dog", "(dog)", "U.S.", "U", "S", "st. louis", "st", "louis",
                "new york city", "new york", "new", "york", "city", "C++", "C", "café", "東京", "",
                "a  b", "tab\tx", "3.5", "3", "5", "dog", "über", "naïve café", "C#", "line"]
EDGE_TEXTS = ["Dog's dog", "hot-dog", "(dog)", "the U.S. army", "st. louis blues", "new york city at night",
              "a  b", "tab\tx", "line\nnew york\r\ncity", "café au lait", "naïve café", "東京 タワー",
              "", None, "C++ and C# code", "3.5 stars", "dog,dog.dog;dog:dog?dog!`dog`", "  dog  ",
              "über alles", "DOG", "\tdog\t", "dog\x00cat", "hot - dog"]


def pairs_of(sets: list[list[int]]):
    text = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    entry = np.concatenate([np.asarray(s, dtype=np.int64) for s in sets]) if sets else np.zeros(0)
    return text, entry


def sets_from(text: np.ndarray, entry: np.ndarray, n: int) -> list[list[int]]:
    out = [[] for _ in range(n)]
    for t, e in zip(text.tolist(), entry.tolist()):
        out[t].append(e)
    return out


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wordnet_metadata(wordnet30_entries, tmp_path_factory) -> tuple[Path, list[str]]:
    """Seeds + the 86,555 real WordNet 3.0 names (one empty) + the docs/recipe.md §2 edge cases."""
    entries = SEEDS + wordnet30_entries["entry"].tolist() + EDGE_ENTRIES
    path = tmp_path_factory.mktemp("meta") / "metadata.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path, entries


@pytest.fixture(scope="module")
def reference(wordnet_metadata):
    return Reference(wordnet_metadata[1])


def pool_texts(kind: str, path: Path) -> list:
    """The pool's texts, read independently of metadata_builder.match.pools."""
    if kind == "laion":
        return pd.read_parquet(path, columns=["TEXT"])["TEXT"].tolist()
    if kind == "coco":
        return [a["caption"] for a in json.loads(path.read_text(encoding="utf-8"))["annotations"]]
    return [line.rstrip("\n").split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines(True)]


# ---- docs/recipe.md §2 edge cases --------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["hash", "automaton"])
def test_edge_cases_match_the_reference_and_spec(engine):
    entries = EDGE_ENTRIES
    m = Engine(entries, engine=engine)
    got = sets_from(*m.match_texts(EDGE_TEXTS), len(EDGE_TEXTS))
    ref = Reference(entries)
    assert got == [ref.match(t) for t in EDGE_TEXTS]
    import pyarrow as pa  # the parquet path: one arrow array (a NUL inside a text forces text by text)

    assert sets_from(*m.match_arrow(pa.array(EDGE_TEXTS, pa.string())), len(EDGE_TEXTS)) == got
    no_nul = [t for t in EDGE_TEXTS if t is None or "\x00" not in t]
    assert sets_from(*m.match_arrow(pa.array(no_nul, pa.string())), len(no_nul)) == [ref.match(t) for t in no_nul]
    named = [{entries[i] for i in s} for s in got]
    by_text = dict(zip(map(repr, EDGE_TEXTS), named))
    assert by_text[repr("Dog's dog")] == {"dog"}  # Dog's does not match Dog nor dog
    assert by_text[repr("hot-dog")] == {"hot-dog"}  # the entry hot-dog does; hot and dog do not
    assert by_text[repr("(dog)")] == {"(dog)"}  # the entry (dog) does, dog does not
    assert "U.S." not in by_text[repr("the U.S. army")] and {"U", "S"} <= by_text[repr("the U.S. army")]
    assert "st. louis" not in by_text[repr("st. louis blues")]  # holds a wrapped character: never
    assert by_text[repr("new york city at night")] == {"new york city", "new york", "new", "york", "city"}
    assert by_text[repr("a  b")] == {"a  b", ""}  # double space kept; empty entry = two spaces
    assert by_text[repr("tab\tx")] == set()  # tab became a space: 'tab\tx' can never match
    assert by_text[repr("line\nnew york\r\ncity")] == {"line", "new", "york", "new york", "city", ""}
    assert by_text[repr("C++ and C# code")] == {"C++", "C#"}
    assert by_text[repr("3.5 stars")] == {"3", "5"}
    assert by_text[repr("")] == {""} and by_text[repr(None)] == set()  # empty is '  ', null is nothing
    assert by_text[repr("naïve café")] == {"naïve café", "café"}
    assert by_text[repr("DOG")] == set()  # case-sensitive
    assert by_text[repr("dog\x00cat")] == set()
    # duplicate entries keep their own ids: both 'dog's
    dog_ids = {i for i, e in enumerate(entries) if e == "dog"}
    assert len(dog_ids) == 2 and dog_ids <= set(got[0])


def test_overlapping_and_nested_entries_all_count():
    entries = ["new york city", "new york", "york city", "new", "york", "city"]
    text, entry = Engine(entries).match_texts(["new york city new york"])
    assert entry.tolist() == [0, 1, 2, 3, 4, 5] and text.tolist() == [0] * 6  # a set: 'new' once


# ---- the three real pools ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["laion", "coco", "cc3m"])
def test_real_pools_equal_the_reference(kind, request, wordnet_metadata, reference, tmp_path):
    path = request.getfixturevalue({"laion": "laion_parquet", "coco": "coco_captions", "cc3m": "cc3m_tsv"}[kind])
    meta_path, entries = wordnet_metadata
    stats = match_pools([str(path)], meta_path, tmp_path / "m", executor=Local(workers=1, progress=False))
    texts = pool_texts(kind, path)
    expected = [reference.match(t) for t in texts]
    out = MatchOutput(tmp_path / "m")
    (shard, df), = list(out.iter_shards())
    got = [[] for _ in texts]
    for row, ids in zip(df["row"].tolist(), df["entry_ids"].tolist()):
        got[row] = list(ids)
    assert got == expected  # every per-text id set
    ref_counts = np.bincount(pairs_of(expected)[1].astype(np.int64), minlength=len(entries))
    assert np.array_equal(out.counts, ref_counts.astype(np.uint64))  # every entry count
    assert stats["texts"] == len(texts) == shard["rows"]
    assert stats["matched_texts"] == sum(1 for s in expected if s) == len(df)
    assert stats["matches"] == sum(map(len, expected))
    assert df["row"].is_monotonic_increasing
    counts_json = json.loads((tmp_path / "m" / "entry_counts.json").read_text(encoding="utf-8"))
    assert counts_json["dog"] == int(out.counts[entries.index("dog")])
    # the numbers measured on these pools (WordNet 3.0 names + seeds + edge cases)
    measured = {"laion": (10000, 6075, 23696), "coco": (25014, 24921, 204486), "cc3m": (15833, 15828, 115198)}
    assert (stats["texts"], stats["matched_texts"], stats["matches"]) == measured[kind]
    if kind == "laion":  # the automaton engine agrees too
        m = Engine(entries, engine="automaton")
        assert sets_from(*m.match_texts(texts), len(texts)) == expected


def test_matcher_contract_reader_and_text_key(tmp_path, laion_parquet, wordnet_metadata):
    meta_path, entries = wordnet_metadata
    match_pools([str(laion_parquet)], meta_path, tmp_path / "m", id_column="URL", executor=Local(progress=False))
    out = MatchOutput(tmp_path / "m")
    assert out.manifest["format_version"] == 2 and out.manifest["metadata"]["entries"] == len(entries)
    assert out.entries == entries and out.counts.dtype == np.uint64 and len(out.counts) == len(entries)
    shard = out.shards[0]
    assert shard["name"] == "00000-test_10000" and shard["format"] == "parquet" and shard["rows"] == 10000
    df = out.read_shard(shard["name"])
    assert list(df.columns) == ["row", "id", "entry_ids", "text_hash"]
    pool = pd.read_parquet(laion_parquet, columns=["URL", "TEXT"])
    assert df["id"].tolist() == pool["URL"].iloc[df["row"]].tolist()
    # each matched text's hash, as balance checks the rows it reads back
    assert (df["text_hash"].to_numpy() == text_hashes(pool["TEXT"].iloc[df["row"]].tolist())).all()
    assert shard["fingerprint"] == fingerprint(laion_parquet) and shard["text_column"] == "TEXT"
    schema = pq.read_schema(tmp_path / "m" / "shards" / f"{shard['name']}.parquet")
    assert str(schema.field("entry_ids").type) == "list<element: int32>" and str(schema.field("row").type) == "int64"
    assert text_key(shard["name"], 17) == "00000-test_10000:17"


# ---- workers, resume -----------------------------------------------------------------------------
def _split_pool(laion_parquet, folder: Path, parts: int = 6) -> Path:
    """Real LAION rows cut into several parquet shards (a temporary copy, never committed)."""
    folder.mkdir()
    df = pd.read_parquet(laion_parquet, columns=["URL", "TEXT"])
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), parts)):
        df.iloc[chunk].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def _outputs(folder: Path) -> dict[str, bytes]:
    names = ["entry_counts.npy", "entry_counts.json", "manifest.json"]
    names += sorted(str(p.relative_to(folder)) for p in (folder / "shards").glob("*.parquet"))
    return {n: (folder / n).read_bytes() for n in names}


def test_one_and_two_workers_write_identical_outputs(tmp_path, laion_parquet, wordnet_metadata):
    pool = _split_pool(laion_parquet, tmp_path / "pool")
    meta_path, _ = wordnet_metadata
    s1 = match_pools([str(pool)], meta_path, tmp_path / "w1", batch_size=700, executor=Local(workers=1, progress=False))
    s2 = match_pools([str(pool)], meta_path, tmp_path / "w2", batch_size=700, executor=Local(workers=2, progress=False))
    assert _outputs(tmp_path / "w1") == _outputs(tmp_path / "w2")
    assert s1["matches"] == s2["matches"] == 23696 and s1["shards"] == 6


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "metadata_builder", *map(str, args)], capture_output=True,
                          text=True, env=env, **kw)


def test_resume_after_a_killed_run_gives_identical_outputs(tmp_path, laion_parquet, wordnet_metadata):
    pool = _split_pool(laion_parquet, tmp_path / "pool", parts=12)
    meta_path, _ = wordnet_metadata
    match_pools([str(pool)], meta_path, tmp_path / "clean", batch_size=100, executor=Local(progress=False))
    clean = _outputs(tmp_path / "clean")
    # a real run, killed (SIGKILL) once some shards are done
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "metadata_builder", "match", str(pool), "--metadata",
                             str(meta_path), "--out", str(out), "--workers", "1", "--batch-size", "100"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    markers = out / "_job" / "markers"
    while time.time() < deadline and len(list(markers.glob("*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(markers.glob("*.json")))
    assert not (out / "entry_counts.npy").exists() and 0 < done_before < 12
    # and a shard cut short: its parquet left without a marker, plus a stray temporary file
    victim = sorted(markers.glob("*.json"))[0]
    victim.unlink()
    (out / "shards" / ".half.parquet.tmp").write_bytes(b"PAR1 half")
    r = _cli("match", pool, "--metadata", meta_path, "--out", out, "--workers", "2", "--batch-size", "100")
    assert r.returncode == 0, r.stderr
    assert _outputs(out) == clean
    stats = json.loads((out / "stats.json").read_text())
    assert stats["shards_resumed"] == done_before - 1 and stats["matches"] == 23696


def test_rerun_into_a_folder_of_other_inputs_is_refused(tmp_path, cc3m_tsv, capsys):
    from metadata_builder.cli import main

    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(SEEDS + ["dog"]), encoding="utf-8")
    assert main(["match", str(cc3m_tsv), "--metadata", str(meta), "--out", str(tmp_path / "m")]) == 0
    meta.write_text(json.dumps(SEEDS + ["cat"]), encoding="utf-8")
    capsys.readouterr()
    assert main(["match", str(cc3m_tsv), "--metadata", str(meta), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a match run with other settings (changed: metadata)" in err[0]
    assert str(tmp_path / "m") in err[0]
