"""The CLI as a user meets it: outputs, determinism, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from metadata_builder.assemble import Source, assemble
from metadata_builder.cli import main
from metadata_builder.sources.wordnet import find_nltk_wordnet


@pytest.fixture(scope="module")
def wordnet_table(tmp_path_factory, wordnet30_entries):
    path = tmp_path_factory.mktemp("wn") / "wordnet.parquet"
    wordnet30_entries.to_parquet(path, index=False)
    return path


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "metadata_builder", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_wordnet_command_writes_the_v1_names(tmp_path, capsys):
    out = tmp_path / "wordnet.parquet"
    assert main(["wordnet", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert list(df.columns) == ["entry", "synset", "pos", "synsets"]
    assert len(df) == 86_555 and df["synsets"].sum() == 117_659
    assert "117,659 synsets -> 86,555 distinct names" in capsys.readouterr().out


def test_assemble_outputs_summary_and_is_byte_identical(tmp_path, wordnet_table, capsys):
    first, second = tmp_path / "a" / "metadata.json", tmp_path / "b" / "metadata.json"
    for out in (first, second):
        assert main(["assemble", "--wordnet", str(wordnet_table), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "86,654" in printed and "wordnet" in printed
    entries = json.loads(first.read_text())
    assert len(entries) == 86_654 and entries[:3] == ["0", "1", "2"] and "" not in entries
    table = pd.read_parquet(first.with_suffix(".parquet"))
    assert list(table.columns) == ["id", "entry", "source", "score_name", "score"]
    assert table["entry"].tolist() == entries and table["id"].tolist() == list(range(86_654))
    assert table["source"].value_counts().to_dict() == {"wordnet": 86_554, "seed": 100}
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".parquet").read_bytes() == second.with_suffix(".parquet").read_bytes()


def test_total_cuts_exactly_in_documented_order(tmp_path, wordnet_table):
    out = tmp_path / "metadata.json"
    assert main(["assemble", "--wordnet", str(wordnet_table), "--total", "50000", "--out", str(out)]) == 0
    entries = json.loads(out.read_text())
    assert len(entries) == 50_000
    wordnet_part = entries[100:]
    assert wordnet_part == sorted(wordnet_part)  # WordNet names in code-point order


def test_single_punctuation_and_duplicates_dropped():
    sources = [Source("wordnet", pd.Series(["b", "-", "", "a", "7", "a", "&"]))]
    result = assemble(sources)
    assert result.entries[100:] == ["a", "b"]
    assert result.dropped["wordnet"] == {"empty_or_punctuation": 3, "duplicates": 2}


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("metadata-builder: error:"), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_error_no_wordnet(tmp_path):
    if find_nltk_wordnet(extra_paths=[]) is not None and "nltk_data" not in str(find_nltk_wordnet()):
        pytest.skip("an nltk WordNet is installed system-wide here")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"NLTK_DATA": str(empty), "METADATA_BUILDER_CACHE": str(empty), "HOME": str(empty)}
    result = run_cli("wordnet", "--out", tmp_path / "w.parquet", env=env)
    assert_one_line_error(result, "WordNet not found", "apt-get install wordnet-base", "nltk.downloader wordnet")


def test_error_folder_is_not_wordnet(tmp_path):
    (tmp_path / "data.noun").write_text("not wordnet")
    result = run_cli("wordnet", "--wordnet-dir", tmp_path, "--out", tmp_path / "w.parquet")
    assert_one_line_error(result, "is not a WordNet dict folder", "index.noun")


def test_error_unwritable_output(tmp_path, wordnet_table):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    result = run_cli("assemble", "--wordnet", wordnet_table, "--out", blocker / "metadata.json")
    assert_one_line_error(result, "cannot write", str(blocker / "metadata.json"))


def test_error_missing_column(tmp_path):
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"name": ["x"]}).to_parquet(bad)
    result = run_cli("assemble", "--wordnet", bad, "--out", tmp_path / "m.json")
    assert_one_line_error(result, str(bad), "lacks column(s) entry")


@pytest.fixture(scope="module")
def sample_wiki_counts(tmp_path_factory, wiki_sample):
    """wiki-count on the real embedded English sample (a few seconds)."""
    out = tmp_path_factory.mktemp("wiki")
    assert main(["wiki-count", str(wiki_sample), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    return out


def test_total_90000_stops_exactly_with_wikipedia_sources(tmp_path, wordnet_table, sample_wiki_counts, capsys):
    outs = [tmp_path / run / "metadata.json" for run in ("a", "b")]
    for out in outs:
        args = ["assemble", "--wordnet", str(wordnet_table),
                "--unigrams", str(sample_wiki_counts / "unigrams.parquet"), "--unigram-min", "1",
                "--bigrams", str(sample_wiki_counts / "bigrams.parquet"), "--bigram-budget", "5000",
                "--titles", str(sample_wiki_counts / "titles.parquet"), "--title-rank", "inlinks",
                "--total", "90000", "--out", str(out)]
        assert main(args) == 0
    summary = capsys.readouterr().out
    entries = json.loads(outs[0].read_text())
    assert len(entries) == 90_000 and len(set(entries)) == 90_000
    table = pd.read_parquet(outs[0].with_suffix(".parquet"))
    # WordNet complete (86,654 with the seeds), the unigrams all in (3,250 new words seen in >= 3 articles),
    # and the bigrams cut at exactly the 96th new pair; no title fits any more.
    assert table["source"].value_counts().to_dict() == {"wordnet": 86_554, "unigram": 3_250, "seed": 100, "bigram": 96}
    assert "89,904" in summary and "90,000" in summary
    bigrams = table[table["source"] == "bigram"]
    assert bigrams["score"].is_monotonic_decreasing
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert outs[0].with_suffix(".parquet").read_bytes() == outs[1].with_suffix(".parquet").read_bytes()


def test_every_command_takes_no_progress():
    from metadata_builder.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert len(commands) >= 9
    for name, sub in commands.items():
        assert "--no-progress" in sub._option_string_actions, name


def test_wordnet_progress_total_is_counted_from_the_files(wordnet30_synsets):
    from metadata_builder.sources.wordnet import count_synsets, load_wordnet

    assert count_synsets(load_wordnet()) == len(wordnet30_synsets) == 117_659


def test_wiki_count_prints_no_speed_for_work_it_did_not_do(sample_wiki_counts, capsys):
    assert main(["wiki-count", str(paths_sample()), "--out", str(sample_wiki_counts), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "is up to date" in out and "nothing parsed now" in out and " s;" not in out and "MB/s" not in out
    (sample_wiki_counts / "_job" / "complete.json").unlink()  # finished shards, merge to redo
    assert main(["wiki-count", str(paths_sample()), "--out", str(sample_wiki_counts), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "all 1 shards resumed from an earlier run, merged in" in out and "parsed now" not in out


def paths_sample():
    from metadata_builder import paths

    return paths.WIKI_SAMPLE
