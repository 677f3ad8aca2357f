"""Pool formats and bad input for ``metadata-builder match``: every reader gives the same matches,
and a user's mistake is one line naming the file and the problem (exit 2), never a traceback."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from metadata_builder.cli import main
from metadata_builder.match.run import match_pools
from metadata_builder.match.output import MatchOutput
from metadata_builder.runtime.executor import Local

REPO = Path(__file__).resolve().parent.parent
ENTRIES = [str(i) for i in range(100)] + ["a", "the", "man", "dog", "new york", "of", "in", "on", "with",
                                          "white", "black", "photo", "café", "street", "table"]


class _Result:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


@pytest.fixture
def _cli(capsys):
    """The CLI's own entry point, in this process (no interpreter start per call)."""
    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        return _Result(code, capsys.readouterr().err)
    return run


def test_the_installed_command_reports_one_line(tmp_path, cc3m_tsv):
    (tmp_path / "metadata.json").write_text('{"not": "a list"}', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "metadata_builder", "match", str(cc3m_tsv), "--metadata",
                        str(tmp_path / "metadata.json"), "--out", str(tmp_path / "m")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"metadata-builder: error: {tmp_path / 'metadata.json'}: the metadata is a JSON dict, not a list of strings"]


@pytest.fixture
def metadata(tmp_path) -> Path:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(ENTRIES), encoding="utf-8")
    return path


def _sets(out: Path) -> dict[int, list[int]]:
    (shard, df), = list(MatchOutput(out).iter_shards())
    return {int(r): list(map(int, ids)) for r, ids in zip(df["row"], df["entry_ids"])}


def test_every_format_gives_the_same_matches(tmp_path, metadata, cc3m_tsv):
    """CC3M's real captions written as jsonl, csv (header), txt, gz-tsv and parquet: same sets."""
    captions = [line.split("\t")[0] for line in cc3m_tsv.read_text(encoding="utf-8").splitlines()][:3000]
    ids = [f"u{i}" for i in range(len(captions))]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"caption": c, "key": k}) + "\n"
                                              for c, k in zip(captions, ids)), encoding="utf-8")
    pd.DataFrame({"key": ids, "caption": captions}).to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "p.txt").write_text("".join(c + "\n" for c in captions), encoding="utf-8")
    with gzip.open(tmp_path / "p.tsv.gz", "wt", encoding="utf-8") as f:
        f.writelines(f"{c}\t{k}\n" for c, k in zip(captions, ids))
    pd.DataFrame({"TEXT": captions, "key": ids}).to_parquet(tmp_path / "p.parquet")
    results = {}
    for name in ["p.jsonl", "p.csv", "p.txt", "p.tsv.gz", "p.parquet"]:
        id_column = None if name == "p.txt" else ("1" if name == "p.tsv.gz" else "key")
        stats = match_pools([str(tmp_path / name)], metadata, tmp_path / f"out-{name}", id_column=id_column,
                            batch_size=1000, executor=Local(progress=False))
        results[name] = _sets(tmp_path / f"out-{name}")
        assert stats["texts"] == 3000 and stats["bad_rows"] == 0 and stats["bad_utf8"] == 0
        if id_column:
            df = MatchOutput(tmp_path / f"out-{name}").read_shard(MatchOutput(tmp_path / f"out-{name}").shards[0]["name"])
            assert df["id"].tolist() == [ids[r] for r in df["row"]]
    first = results["p.jsonl"]
    assert all(r == first for r in results.values())
    assert len(first) == 2765  # texts of these 3,000 real captions with at least one match


def test_folders_and_globs_are_sorted_into_stable_shard_names(tmp_path, metadata, coco_captions, cc3m_tsv):
    folder = tmp_path / "pool"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.txt").write_text("a man\nthe dog\n", encoding="utf-8")
    (folder / "a.txt").write_text("white table\n", encoding="utf-8")
    (folder / "notes.md").write_text("ignored: not a pool format\n", encoding="utf-8")
    match_pools([str(folder / "sub"), str(folder / "*.txt")], metadata, tmp_path / "m", executor=Local(progress=False))
    shards = MatchOutput(tmp_path / "m").shards
    assert [s["name"] for s in shards] == ["00000-a", "00001-b"] and [s["rows"] for s in shards] == [1, 2]


def test_invalid_utf8_is_replaced_and_counted(tmp_path, metadata, cc3m_tsv):
    lines = cc3m_tsv.read_bytes().splitlines(True)[:200]
    lines[3] = b"a man \xff\xfe with a dog\thttp://x\n"
    lines[7] = b"caf\xe9 on the street\thttp://y\n"  # latin-1, not UTF-8
    (tmp_path / "bad.tsv").write_bytes(b"".join(lines))
    stats = match_pools([str(tmp_path / "bad.tsv")], metadata, tmp_path / "m", executor=Local(progress=False))
    assert stats["bad_utf8"] == 2 and stats["texts"] == 200
    sets = _sets(tmp_path / "m")
    assert {ENTRIES[i] for i in sets[3]} == {"a", "man", "with", "dog"}  # U+FFFD kept, words still match
    assert {ENTRIES[i] for i in sets[7]} == {"on", "the", "street"}  # 'caf\ufffd' is not 'café'
    # the same bytes inside a parquet binary column
    pd.DataFrame({"TEXT": [b"a man \xff with a dog", b"the caf\xe9"]}).to_parquet(tmp_path / "b.parquet")
    stats = match_pools([str(tmp_path / "b.parquet")], metadata, tmp_path / "m2", executor=Local(progress=False))
    assert stats["bad_utf8"] == 2 and stats["matched_texts"] == 2


def test_nulls_empties_and_bad_jsonl_rows_are_counted(tmp_path, metadata):
    lines = [json.dumps({"text": "a dog"}), json.dumps({"text": None}), json.dumps({"text": ""}),
             "{not json", json.dumps({"text": 3}), json.dumps({"text": "the man"})]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats = match_pools([str(tmp_path / "p.jsonl")], metadata, tmp_path / "m", executor=Local(progress=False))
    assert (stats["texts"], stats["null"], stats["empty"], stats["bad_rows"], stats["matched_texts"]) == (6, 3, 1, 2, 2)
    assert sorted(_sets(tmp_path / "m")) == [0, 5]


def _one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("match:")]  # progress bar
    lines = [line for line in lines if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_missing_column_names_file_and_column(tmp_path, metadata, laion_parquet, _cli):
    r = _cli("match", laion_parquet, "--metadata", metadata, "--out", tmp_path / "m", "--text-column", "caption")
    _one_line_error(r, str(laion_parquet), "'caption'", "URL, TEXT")
    r = _cli("match", laion_parquet, "--metadata", metadata, "--out", tmp_path / "m", "--id-column", "key")
    _one_line_error(r, str(laion_parquet), "id column 'key'")


def test_unreadable_shard_is_named(tmp_path, metadata, cc3m_tsv, _cli):
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "broken.parquet").write_bytes(b"this is not parquet at all")
    r = _cli("match", tmp_path / "pool", "--metadata", metadata, "--out", tmp_path / "m")
    _one_line_error(r, "broken.parquet", "not a parquet file")
    packed = gzip.compress(cc3m_tsv.read_bytes())
    (tmp_path / "c.tsv.gz").write_bytes(packed[: len(packed) // 2])  # a download cut short
    r = _cli("match", tmp_path / "c.tsv.gz", "--metadata", metadata, "--out", tmp_path / "m2")
    _one_line_error(r, "c.tsv.gz", "unreadable tsv")


@pytest.mark.parametrize("content, problem", [
    ('{"a": 1}', "a JSON dict, not a list of strings"),
    ('["dog", 3, "cat"]', "entry 1 is 3 (int), not a string"),
    ('["dog", "cat"', "not valid JSON"),
    (b'["caf\xe9"]', "not valid JSON"),
])
def test_metadata_that_is_not_a_json_list_of_strings(tmp_path, cc3m_tsv, content, problem, _cli):
    path = tmp_path / "metadata.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = _cli("match", cc3m_tsv, "--metadata", path, "--out", tmp_path / "m")
    _one_line_error(r, str(path), problem)


def test_missing_pool_and_metadata_files(tmp_path, metadata, _cli):
    r = _cli("match", tmp_path / "nope.parquet", "--metadata", metadata, "--out", tmp_path / "m")
    _one_line_error(r, "nope.parquet", "no such file")
    r = _cli("match", metadata, "--metadata", tmp_path / "absent.json", "--out", tmp_path / "m")
    _one_line_error(r, "absent.json", "cannot read the metadata")
