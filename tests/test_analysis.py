"""Analysis on real data: the captions of the embedded Wikipedia sample matched against seeds + WordNet 3.0
+ the sample's page titles. Every table and curve is checked against an independent computation from
the match shards (plain Python over the matched sets), not just for existence."""

from __future__ import annotations

import collections
import json

import numpy as np
import pandas as pd
import pytest

from analysis import curves, figures, tables
from analysis.dead import dead_entries, dead_table, is_dead
from metadata_builder import balance as B
from metadata_builder.assemble import Source, assemble, write_outputs
from metadata_builder.match.run import match_pools
from metadata_builder.match.output import MatchOutput
from metadata_builder.sources.wiki.captions import extract_captions, iter_pages
from metadata_builder.runtime.executor import Local


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, wiki_sample, wordnet30_entries):
    """metadata (seed + WordNet + sample titles) -> captions of the sample -> match folder."""
    out = tmp_path_factory.mktemp("analysis")
    titles = [p.title for p in iter_pages(wiki_sample) if p.ns == 0]  # redirects too: real titles
    result = assemble([Source("wordnet", wordnet30_entries["entry"]), Source("title", pd.Series(titles))], total=None)
    metadata_json, metadata_parquet = write_outputs(result, out / "metadata.json")
    captions, _ = extract_captions(wiki_sample, progress=False)
    captions.to_parquet(out / "captions.parquet", index=False)
    match_pools([str(out / "captions.parquet")], metadata_json, out / "match", executor=Local(progress=False))
    match = MatchOutput(out / "match")
    sets = [list(ids) for _, df in match.iter_shards() for ids in df["entry_ids"]]
    return {"dir": out, "match": match, "meta": pd.read_parquet(metadata_parquet), "sets": sets,
            "captions": captions}


def independent_counts(sets, n):
    counter = collections.Counter(e for s in sets for e in s)
    return np.array([counter.get(i, 0) for i in range(n)], dtype=np.int64)


def test_pool_numbers_measured(pipeline):
    match, meta, sets = pipeline["match"], pipeline["meta"], pipeline["sets"]
    counts = match.counts.astype(np.int64)
    assert len(meta) == 86_654 + 205  # seed + WordNet, + the 205 article titles (none already there)
    assert len(pipeline["captions"]) == 1_191
    assert len(sets) == 1_082
    assert int(counts.sum()) == 5_051
    np.testing.assert_array_equal(counts, independent_counts(sets, len(meta)))


def test_head_tail_table_adds_up(pipeline):
    counts = pipeline["match"].counts.astype(np.int64)
    t = 20
    table = tables.head_tail_table(counts, t)
    parts = table.drop(index="all")
    assert parts["entries"].sum() == table.loc["all", "entries"] == len(counts)
    assert parts["matches"].sum() == table.loc["all", "matches"] == int(counts.sum())
    assert parts["matches_share"].sum() == pytest.approx(1.0)
    # independent: from the shard sets
    ind = independent_counts(pipeline["sets"], len(counts))
    assert table.iloc[0]["entries"] == int((ind == 0).sum())
    assert table.iloc[3]["entries"] == int((ind > t).sum())
    assert table.iloc[3]["matches"] == int(ind[ind > t].sum())
    assert table.iloc[2]["entries"] == int((ind == t).sum())
    # the tail row is the paper's (count < t): its share is exactly the tail share t is tuned by
    assert table.iloc[1]["matches"] == int(ind[(ind >= 1) & (ind < t)].sum())
    from metadata_builder.balance import tail_share

    assert table.iloc[1]["matches_share"] == tail_share(counts, t)


def test_cumulative_curves_end_where_they_must(pipeline):
    counts = pipeline["match"].counts.astype(np.int64)
    total = sum(len(s) for s in pipeline["sets"])
    raw = curves.cumulative_curve(counts)
    assert len(raw) == len(counts)
    assert int(raw[-1]) == total == json.loads((pipeline["dir"] / "match" / "stats.json").read_text())["matches"]
    assert np.all(np.diff(raw) >= 0)
    for t in (1, 2, 5, 20, 100):
        clipped = curves.cumulative_curve(counts, t)
        assert int(clipped[-1]) == sum(min(c, t) for c in independent_counts(pipeline["sets"], len(counts)))
        assert np.all(clipped <= raw)
    # the figure draws exactly these curves
    fig = figures.cumulative_figure(counts, [2, 20])
    lines = fig.axes[0].get_lines()
    assert [int(line.get_ydata()[-1]) for line in lines] == [total, int(np.minimum(counts, 2).sum()),
                                                              int(np.minimum(counts, 20).sum())]
    assert [line.get_label().split(":")[0] for line in lines] == ["t = ∞ (raw counts)", "t = 2", "t = 20"]


def test_top_entries_and_rank_frequency(pipeline):
    counts = pipeline["match"].counts.astype(np.int64)
    top = tables.top_entries(counts, pipeline["meta"], 10)
    assert list(top["count"]) == sorted(counts, reverse=True)[:10]
    assert top.iloc[0]["entry"] == "in" and top.iloc[0]["count"] == 387  # measured
    for row in top.itertuples():
        assert pipeline["meta"].loc[row.id, "entry"] == row.entry
    y = curves.rank_frequency(counts)
    assert len(y) == int((counts > 0).sum()) and y[0] == counts.max() and y[-1] >= 1


def test_source_breakdown_adds_up(pipeline):
    counts = pipeline["match"].counts.astype(np.int64)
    meta = pipeline["meta"]
    table = tables.source_breakdown(counts, meta, t=5)
    assert list(table.index) == ["seed", "wordnet", "title", "all"]
    parts = table.drop(index="all")
    for column in ("entries", "matched_entries", "zero_match", "dead", "matches", "head_entries"):
        assert parts[column].sum() == table.loc["all", column], column
    assert table.loc["all", "matches"] == int(counts.sum())
    assert table.loc["seed", "entries"] == 100 and table.loc["wordnet", "entries"] == 86_554
    # independent: group the shard-derived counts by the metadata's source column
    ind = independent_counts(pipeline["sets"], len(meta))
    by_source = pd.Series(ind).groupby(meta["source"].to_numpy()).sum()
    for source in ("seed", "wordnet", "title"):
        assert table.loc[source, "matches"] == by_source[source]
    assert table.loc["title", "dead"] == 1  # "A.E. van Vogt"


def test_dead_entries_follow_the_normaliser(pipeline):
    for entry in ("U.S.", "st. louis", "3.5", "what?", "a . . b", "x\ty", "A.E. van Vogt"):
        assert is_dead(entry), entry
    for entry in ("dog", "new york", "a . b", "don't", "hot-dog"):
        assert not is_dead(entry), entry
    meta = pipeline["meta"]
    counts = pipeline["match"].counts
    dead = dead_entries(meta["entry"])
    assert counts[dead].sum() == 0  # a dead entry never matched anything
    table = dead_table(meta)
    assert list(table["entry"]) == ["A.E. van Vogt"] and list(table["char"]) == ["'.'"]


def test_dead_entries_cannot_match_on_a_real_pool(laion_parquet, tmp_path):
    """Dead entries of a metadata list made of real LAION words glued with dots never match; live ones do."""
    words = pd.read_parquet(laion_parquet)["TEXT"].dropna().head(400).str.split().explode().dropna()
    words = sorted(set(w for w in words if w.isalpha()))[:200]
    entries = words + [f"{a}.{b}" for a, b in zip(words, words[1:])] + [f"{w}." for w in words]
    (tmp_path / "m.json").write_text(json.dumps(entries))
    match_pools([str(laion_parquet)], tmp_path / "m.json", tmp_path / "match", executor=Local(progress=False))
    counts = MatchOutput(tmp_path / "match").counts
    dead = dead_entries(entries)
    assert dead.sum() == len(entries) - len(words)
    assert counts[dead].sum() == 0
    assert (counts[~dead] > 0).all()  # every word was taken from the pool, so each live one matches


def test_effect_of_t_uses_the_exact_expectation(pipeline):
    match = pipeline["match"]
    counts = match.counts.astype(np.int64)
    t6 = curves.t_at_tail_share(counts)
    assert t6 == 2 and B.tail_share(counts, t6) >= 0.06 > B.tail_share(counts, t6 - 1)
    ts = curves.t_grid(counts, 12, [t6])
    effect = curves.effect_of_t(counts, ts, match)
    expected = B.expected_size(match, ts)
    np.testing.assert_allclose(effect["expected_size"], expected["expected"])
    np.testing.assert_allclose(effect["tail_share"], [B.tail_share(counts, t) for t in ts])
    assert list(effect["head_entries"]) == [int((counts > t).sum()) for t in ts]
    # expected curated count per entry: independent check from balance's per-text probabilities
    per_entry = B.expected_entry_counts(match, ts)
    for i, t in enumerate(ts):
        keep = B.keep_probabilities(pipeline["sets"], counts, t)
        assert per_entry[i].sum() == pytest.approx(float((keep * [len(s) for s in pipeline["sets"]]).sum()))
        assert np.all(per_entry[i] >= np.minimum(counts, t) - 1e-9)  # at least the entry's own draws
        assert np.all(per_entry[i] <= counts + 1e-9)
    assert effect["expected_size"].is_monotonic_increasing
    assert effect["entropy_norm"].between(0, 1).all()
    # the largest t keeps everything: the curated distribution is the raw one
    h, eff = curves.entropy_measures(counts)
    big = curves.effect_of_t(counts, [int(counts.max())], match).iloc[0]
    assert big["expected_size"] == pytest.approx(len(pipeline["sets"]))
    assert big["entropy_norm"] == pytest.approx(h) and big["effective_entries"] == pytest.approx(eff)


def test_entropy_measures():
    assert curves.entropy_measures([5, 5, 5, 5, 0]) == pytest.approx((1.0, 4.0))
    h, eff = curves.entropy_measures([97, 1, 1, 1])
    assert 0 < h < 0.2 and 1 < eff < 1.3


def test_figures_show_their_data(pipeline):
    counts = pipeline["match"].counts.astype(np.int64)
    fig = figures.rank_frequency_figure(counts, 20)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), curves.rank_frequency(counts))
    assert "t = 20" in ax.get_legend().get_texts()[1].get_text()
    effect = curves.effect_of_t(counts, curves.t_grid(counts, 10, [2]), pipeline["match"])
    fig = figures.effect_of_t_figure(effect, t=20, t_paper=2)
    assert len(fig.axes) == 5 and all(ax.get_xscale() == "log" for ax in fig.axes[:4])
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "6% tail share: t = 2" in labels and "chosen t = 20" in labels
