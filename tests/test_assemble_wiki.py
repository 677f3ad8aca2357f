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
from metadata_builder.runtime.executor import Local


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


# --- on the real outputs of wiki-count over the embedded English sample -------------------------


@pytest.fixture(scope="module")
def sample_counts(wiki_sample, tmp_path_factory):
    """``wiki-count`` over the real gensim sample (106 articles), once for this module (~8 s)."""
    from metadata_builder.sources.wiki import wiki_count

    out = tmp_path_factory.mktemp("wiki-sample")
    stats = wiki_count([wiki_sample], out, executor=Local(workers=1, progress=False))
    return out, stats


def test_real_sample_unigrams(sample_counts):
    out, stats = sample_counts
    table = pd.read_parquet(out / "unigrams.parquet")
    source = unigram_source(out / "unigrams.parquet")
    independent = {w for w, c, a in zip(table["word"], table["count"], table["articles"]) if c >= 100 and a >= 3}
    assert set(source.entries) == independent and len(independent) == 472
    ordered = source.ordered()["entry"].tolist()
    assert ordered[:5] == ["the", "of", "and", "in", "to"]
    assert int(table.loc[table["word"] == "the", "count"].iloc[0]) == 33_210  # "the" is in all 106 articles
    assert stats["articles"] == 106


def test_real_sample_bigrams(sample_counts):
    out, stats = sample_counts
    table = pd.read_parquet(out / "bigrams.parquet")
    # PMI <= log2(N / max(c1, c2)) <= log2(N): with N = 442,876 tokens no pair can reach 30
    assert len(bigram_source(out / "bigrams.parquet").entries) == 0
    assert table["pmi"].max() <= math.log2(stats["tokens"]) < 30
    budget = bigram_source(out / "bigrams.parquet", None, 3).ordered()["entry"].tolist()
    assert budget == ["United States", "such as", "New York"]  # among Meta CLIP 2's top-5 English bigrams
    best = max(zip(table["score_v2"], table["w1"] + " " + table["w2"]))
    assert best[1] == budget[0]
    low_pmi = bigram_source(out / "bigrams.parquet", 10.0).entries
    assert len(low_pmi) == int((table["pmi"] >= 10.0).sum()) > 0


def test_real_sample_assembled(sample_counts, wordnet30_entries, tmp_path):
    from metadata_builder.assemble import Source

    out, _ = sample_counts
    wordnet = Source("wordnet", wordnet30_entries["entry"].fillna(""), threshold="all")
    unigrams = unigram_source(out / "unigrams.parquet")
    titles = title_source_inlinks(out / "titles.parquet")
    result = assemble([wordnet, unigrams, bigram_source(out / "bigrams.parquet"), titles])
    summary = result.summary.set_index("source")
    assert summary["added"].to_dict() == {"seed": 100, "wordnet": 86_554, "unigram": 106, "bigram": 0, "title": 49}
    assert summary.loc["title", "cumulative"] == len(result.entries) == 86_809
    # independent: unigrams that are neither a seed nor a WordNet name; titles keep their capitals
    earlier = set(SEED_ENTRIES) | set(wordnet30_entries["entry"])
    assert summary.loc["unigram", "added"] == len(set(unigrams.entries) - earlier)
    title_table = pd.read_parquet(out / "titles.parquet")
    expected_titles = {t for t, n in zip(title_table["title"], title_table["inlinks"]) if n >= 1 and ":" not in t}
    assert set(result.table.loc[result.table["source"] == "title", "entry"]) == expected_titles
    assert result.entries[86_760:86_762] == ["Angola", "Aristotle"]  # 14 and 13 in-links


def test_real_sample_titles_with_pageviews(sample_counts, tmp_path):
    """Pageviews over real titles: the recipe keeps every pageview title, --title-in-dump the dump's only."""
    from metadata_builder.sources.wiki.pageviews import count_pageviews

    out, _ = sample_counts
    folder = tmp_path / "pv"
    folder.mkdir()
    lines = ["en Angola 60 0", "en Albert_Einstein 900 0", "en Not_In_This_Dump 75 0", "en.m Aristotle 999 0",
             "en Aristotle 49 0", "en Achilles 70 0"]
    import gzip

    with gzip.open(folder / "pageviews-20220829-230000.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    count_pageviews([folder], tmp_path / "views.parquet", executor=Local(progress=False))
    recipe = title_source_views(tmp_path / "views.parquet").ordered()["entry"].tolist()
    assert recipe == ["Albert Einstein", "Not In This Dump", "Achilles"]
    in_dump = title_source_views(tmp_path / "views.parquet", 70, out / "titles.parquet").ordered()["entry"].tolist()
    assert in_dump == ["Albert Einstein", "Achilles"]
