"""``metadata_builder.match.Matcher``: matching from Python (lists, pandas Series, Arrow arrays) gives
the plain docs/recipe.md §2 sets, and ``explain`` says where each match is and why a near miss is one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from metadata_builder.assemble import Source, assemble, write_outputs
from metadata_builder.errors import UserError
from metadata_builder.match import Matcher
from metadata_builder.match.matcher import spaced_with_positions
from metadata_builder.match.normalize import parse
from reference import Reference


@pytest.fixture(scope="module")
def metadata(tmp_path_factory, wordnet30_entries):
    out = tmp_path_factory.mktemp("matcher-metadata")
    return write_outputs(assemble([Source("wordnet", wordnet30_entries["entry"])], total=None), out / "metadata.json")


@pytest.fixture(scope="module")
def matcher(metadata) -> Matcher:
    return Matcher(metadata[0])


@pytest.fixture(scope="module")
def captions(cc3m_tsv) -> list[str]:
    return [line.split("\t")[0] for line in cc3m_tsv.read_text(encoding="utf-8").splitlines()]


def test_match_every_input_type_gives_the_recipe_sets(matcher, captions):
    reference = Reference(matcher.entries)
    texts = captions[:3_000] + [None, "", "a dog"]
    expected_ids = [reference.match(t) if isinstance(t, str) else [] for t in texts]
    expected = [[matcher.entries[e] for e in ids] for ids in expected_ids]
    assert matcher.match(texts) == expected
    assert matcher.match(texts, ids=True) == expected_ids
    assert matcher.match(tuple(texts)) == expected and matcher.match(np.array(texts, dtype=object)) == expected
    series = pd.Series(texts, index=np.arange(10, 10 + len(texts)), name="caption")
    got = matcher.match(series)
    assert isinstance(got, pd.Series) and got.index.equals(series.index) and got.name == "caption"
    assert got.tolist() == expected
    arrow = pa.array(texts, pa.string())
    got = matcher.match(arrow, ids=True)
    assert got.type == pa.list_(pa.int32()) and got.to_pylist() == expected_ids
    chunked = pa.chunked_array([arrow[:1000], arrow[1000:]])
    got = matcher.match(chunked)
    assert isinstance(got, pa.ChunkedArray) and got.to_pylist() == expected
    assert matcher.match("a dog on the beach") == ["a", "beach", "dog", "on"]  # (no "the" in WordNet)
    assert sum(map(len, matcher.match(captions, ids=True))) == sum(len(reference.match(t)) for t in captions)


def test_metadata_from_json_parquet_or_a_list(metadata, matcher):
    json_path, parquet_path = metadata
    from_parquet = Matcher(parquet_path)
    assert from_parquet.entries == matcher.entries == json.loads(open(json_path, encoding="utf-8").read())
    assert matcher.sources is not None and from_parquet.sources == matcher.sources  # the parquet beside the JSON
    assert matcher.sources[:2] == ["seed", "seed"] and matcher.sources[-1] == "wordnet"
    plain = Matcher(["dog", "hot dog"])
    assert plain.sources is None and plain.match(["a hot dog"]) == [["dog", "hot dog"]]
    assert Matcher(pd.Series(["dog"]), sources=["mine"]).explain("a dog").matches["source"].tolist() == ["mine"]
    with pytest.raises(UserError, match="entry 1 is 3"):
        Matcher(["dog", 3])
    with pytest.raises(UserError, match="2 sources for 1 entries"):
        Matcher(["dog"], sources=["a", "b"])
    assert "Matcher(" in repr(matcher) and "86,654 entries" in repr(matcher)


def test_explain_positions_sources_and_near_misses(matcher):
    text = "Dog's hot-dog stand in the U.S., Hot Dog"
    why = matcher.explain(text)
    assert why.spaced == " Dog's hot-dog stand in the U . S .  ,  Hot Dog " == parse("metaclip-v1").space_text(text)
    assert why.matches[["entry", "start", "end", "source"]].values.tolist() == [
        ["hot-dog", 6, 13, "wordnet"], ["stand", 14, 19, "wordnet"], ["in", 20, 22, "wordnet"]]
    for row in why.matches.itertuples():
        assert text[row.start:row.end] == row.entry
    assert sorted(why.matches["entry"]) == sorted(matcher.match(text))
    near = why.near_misses.set_index(["entry", "found"])
    assert near.loc[("dog", "Dog's"), "options"] == "casefold,separators"
    assert "case" in near.loc[("dog", "Dog's"), "reason"] and "\"'\" is not a separator" in near.loc[("dog", "Dog's"), "reason"]
    assert near.loc[("dog", "hot-dog"), "options"] == "separators"
    assert "'-' is not a separator" in near.loc[("dog", "hot-dog"), "reason"]
    assert near.loc[("dog", "Dog"), "options"] == near.loc[("hot", "Hot"), "options"] == "casefold"
    assert near.loc[("u", "U"), "reason"].startswith("case: the text writes 'U'")  # (the full stop is a separator)
    assert len(why.near_misses) == 8
    assert set(why.near_misses["source"]) == {"wordnet"}
    printed = str(why)
    assert "spaced: \" Dog's hot-dog" in printed and "near misses" in printed and "'hot-dog'" in printed


def test_explain_names_entries_that_can_never_match():
    m = Matcher(["U.S.", "st. louis", "dog", "café"])
    why = m.explain("the U.S. dog show in St. Louis, a ｃａｆé")
    near = why.near_misses.set_index("entry")
    assert "holds '.' glued to a neighbour" in near.loc["U.S.", "reason"] and "can never match" in near.loc["U.S.", "reason"]
    assert near.loc["U.S.", "found"] == "U.S."
    assert near.loc["st. louis", "options"] == "casefold,separators"
    assert near.loc["café", "options"] == "nfkc" and near.loc["café", "found"] == "ｃａｆé"
    assert why.matches["entry"].tolist() == ["dog"]


def test_spaced_positions_follow_the_normaliser_on_real_texts(captions, laion_parquet):
    texts = captions[:2_000] + pd.read_parquet(laion_parquet)["TEXT"].dropna().tolist()[:3_000]
    for option in ("metaclip-v1", "casefold", "separators", "nfkc", "nfkc,casefold,separators"):
        norm = parse(option)
        for text in texts:
            spaced, where = spaced_with_positions(norm, text)
            assert spaced == norm.space_text(text), (option, text)
            if where is not None:
                for ch, i in zip(spaced, where):
                    if i is not None and ch != " ":
                        assert norm.transform(text[i]).find(ch) >= 0, (option, text, i)
