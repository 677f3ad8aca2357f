"""assemble with the Wikipedia sources: thresholds, order, de-duplication, --total, CLI errors.

Small tables in the exact formats ``wiki-count`` and ``pageviews`` write, plus (when ``wiki-count``
exists) the real outputs of the embedded English sample.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from metadata_builder import cli
from metadata_builder.assemble import (
    SEED_ENTRIES,
    assemble,
    bigram_source,
    format_summary,
    title_source_inlinks,
    title_source_views,
    unigram_source,
)
from metadata_builder.errors import UserError


@pytest.fixture
def tables(tmp_path):
    """Small source tables in the real column layout, and a tiny WordNet table."""
    wordnet = pd.DataFrame({"entry": ["dog", "new york", "cat", "-", ""], "synset": "x", "pos": "n", "synsets": 1})
    unigrams = pd.DataFrame({
        "word": ["the", "dog", "zebra", "rare", "fewarticles", "exactly", "below", "7"],
        "count": [5000, 300, 100, 40, 900, 100, 99, 150],
        "articles": [900, 50, 3, 2, 2, 3, 10, 40],
    })
    bigrams = pd.DataFrame({
        "w1": ["New", "of", "Xq", "Zz", "Aa", "Bb"],
        "w2": ["York", "the", "Yq", "Ww", "Cc", "Dd"],
        "count": [40, 900, 1, 1, 1, 2],
        "pmi": [8.5, 1.2, 30.0, 31.5, 29.999999, 30.0],
        "score_v2": [120.0, 80.0, 3.0, -1.0, 3.0, 50.0],
    })
    titles = pd.DataFrame({
        "title": ["Main Page", "Dog", "Star Wars: Episode IV", "Zebra", "Orphan", "New York"],
        "page_id": [1, 2, 3, 4, 5, 6],
        "inlinks": [0, 12, 40, 3, 0, 12],
    })
    views = pd.DataFrame({
        "title": ["Main Page", "Dog", "Zebra", "Sixty nine", "Seventy", "Not an article"],
        "views": [5000, 300, 70, 69, 70, 2000],
        "hours": [24, 5, 1, 1, 1, 10],
    })
    paths = {}
    for name, df in [("wordnet", wordnet), ("unigrams", unigrams), ("bigrams", bigrams), ("titles", titles),
                     ("views", views)]:
        paths[name] = tmp_path / f"{name}.parquet"
        df.to_parquet(paths[name], index=False)
    return paths


def test_unigram_thresholds(tables):
    source = unigram_source(tables["unigrams"])
    # count >= 100 and articles >= 3: not rare (40), fewarticles (2 articles), below (99)
    assert sorted(source.entries) == ["7", "dog", "exactly", "the", "zebra"]
    assert source.threshold == "count >= 100, articles >= 3"
    ordered = source.ordered()
    assert ordered["entry"].tolist() == ["the", "dog", "7", "exactly", "zebra"]  # count desc, ties by string
    assert sorted(unigram_source(tables["unigrams"], 100, 1).entries) == ["7", "dog", "exactly", "fewarticles", "the", "zebra"]


def test_unigrams_without_articles_column(tmp_path):
    path = tmp_path / "words.tsv"
    path.write_text("word\tcount\nalpha\t100\nbeta\t99\n")
    source = unigram_source(path)
    assert source.entries.tolist() == ["alpha"] and source.threshold == "count >= 100"


def test_bigram_pmi_and_budget(tables):
    pmi = bigram_source(tables["bigrams"])
    assert pmi.ordered()["entry"].tolist() == ["Zz Ww", "Bb Dd", "Xq Yq"]  # PMI >= 30, ties by string
    assert pmi.threshold == "PMI >= 30" and pmi.score_name == "pmi"
    budget = bigram_source(tables["bigrams"], None, 3)
    assert budget.ordered()["entry"].tolist() == ["New York", "of the", "Bb Dd"]
    assert budget.threshold == "top 3 score_v2"
    assert bigram_source(tables["bigrams"], None, 5).ordered()["entry"].tolist()[3:] == ["Aa Cc", "Xq Yq"]
    with pytest.raises(UserError, match="exactly one of"):
        bigram_source(tables["bigrams"], 30.0, 3)


def test_titles_by_views_and_by_inlinks(tables):
    views = title_source_views(tables["views"])
    assert views.ordered()["entry"].tolist() == ["Main Page", "Not an article", "Dog", "Seventy", "Zebra"]
    assert views.threshold == "views >= 70"
    in_dump = title_source_views(tables["views"], 70, tables["titles"])
    assert in_dump.ordered()["entry"].tolist() == ["Main Page", "Dog", "Zebra"]
    inlinks = title_source_inlinks(tables["titles"])
    # ':' titles dropped like the pageview rule; 0 in-links below the default 1
    assert inlinks.ordered()["entry"].tolist() == ["Dog", "New York", "Zebra"]
    assert inlinks.threshold == "inlinks >= 1"
    assert title_source_inlinks(tables["titles"], 0).ordered()["entry"].tolist()[-2:] == ["Main Page", "Orphan"]


def test_assemble_order_dedupe_and_total(tables):
    sources = [
        unigram_source(tables["unigrams"]),
        bigram_source(tables["bigrams"]),
        title_source_views(tables["views"]),
    ]
    from metadata_builder.assemble import wordnet_source

    result = assemble([wordnet_source(tables["wordnet"]), *sources], total=None)
    expected = (SEED_ENTRIES + ["cat", "dog", "new york"]
                + ["the", "exactly", "zebra"]              # "dog" already from WordNet, "7" a seed
                + ["Zz Ww", "Bb Dd", "Xq Yq"]
                + ["Main Page", "Not an article", "Dog", "Seventy", "Zebra"])  # case kept: "Dog" != "dog"
    assert result.entries == expected
    summary = result.summary.set_index("source")
    assert summary.loc["unigram", "candidates"] == 5 and summary.loc["unigram", "added"] == 3
    assert result.dropped["unigram"] == {"empty_or_punctuation": 0, "duplicates": 2}
    assert summary["cumulative"].tolist() == [100, 103, 106, 109, 114]
    table = result.table.set_index("entry")
    assert table.loc["Seventy", "score_name"] == "views" and table.loc["Seventy", "score"] == 70
    assert table.loc["Zz Ww", "score"] == 31.5
    cut = assemble([wordnet_source(tables["wordnet"]), *sources], total=107)
    assert cut.entries == expected[:107]
    text = format_summary(cut.summary)
    assert "count >= 100, articles >= 3" in text and "PMI >= 30" in text and "views >= 70" in text


def run(capsys, *args):
    code = cli.main(["assemble", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_cli_with_wiki_sources(tables, tmp_path, capsys):
    out = tmp_path / "m.json"
    code, printed, _ = run(capsys, "--wordnet", tables["wordnet"], "--unigrams", tables["unigrams"],
                           "--bigrams", tables["bigrams"], "--titles", tables["titles"],
                           "--pageviews", tables["views"], "--out", out)
    assert code == 0
    entries = json.loads(out.read_text())
    assert len(entries) == 114 and entries[-5:] == ["Main Page", "Not an article", "Dog", "Seventy", "Zebra"]
    for line in ("unigram    count >= 100, articles >= 3", "bigram     PMI >= 30", "title      views >= 70"):
        assert line in printed
    code, printed, _ = run(capsys, "--wordnet", tables["wordnet"], "--bigrams", tables["bigrams"],
                           "--bigram-budget", 2, "--titles", tables["titles"], "--out", out)
    assert code == 0
    assert json.loads(out.read_text())[103:] == ["New York", "of the", "Dog", "Zebra"]  # "New York" title is a duplicate
    assert "top 2 score_v2" in printed and "inlinks >= 1" in printed


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--unigrams", "missing.parquet"], "missing.parquet does not exist"),
        (["--bigram-pmi", "30"], "need --bigrams"),
        (["--title-rank", "views", "--titles", "{titles}"], "--title-rank views needs --pageviews"),
        (["--title-rank", "inlinks"], "--title-rank inlinks needs --titles"),
        (["--titles", "{titles}", "--title-in-dump"], "--title-in-dump applies to --title-rank views only"),
        (["--bigrams", "{titles}"], "lacks column(s) w1, w2, pmi"),
        (["--unigrams", "{bad_counts}"], "column count is not numeric"),
        (["--pageviews", "{unigrams}"], "lacks column(s) title, views"),
    ],
)
def test_cli_errors_one_line_exit_2(tables, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad_counts.tsv"
    bad.write_text("word\tcount\nalpha\tmany\n")
    names = {**{k: str(v) for k, v in tables.items()}, "bad_counts": str(bad)}
    extra = [e.format(**names) for e in extra]
    code, _, err = run(capsys, "--wordnet", tables["wordnet"], *extra, "--out", tmp_path / "m.json")
    assert code == 2
    assert err.count("\n") == 0 and err.startswith("metadata-builder: error: ") and message in err
    assert not (tmp_path / "m.json").exists()


def test_budget_and_pmi_are_exclusive(tables, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["assemble", "--wordnet", str(tables["wordnet"]), "--bigrams", str(tables["bigrams"]),
                  "--bigram-pmi", "30", "--bigram-budget", "5", "--out", str(tmp_path / "m.json")])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_pmi_threshold_is_inclusive_and_exact(tmp_path):
    """30.0 passes, the float just below it does not (no rounding in the comparison)."""
    below = math.nextafter(30.0, 0)
    df = pd.DataFrame({"w1": ["a", "b"], "w2": ["x", "y"], "pmi": [30.0, below], "score_v2": [1.0, 1.0]})
    assert df["pmi"][1] < 30
    df.to_parquet(tmp_path / "b.parquet", index=False)
    assert bigram_source(tmp_path / "b.parquet").entries.tolist() == ["a x"]
