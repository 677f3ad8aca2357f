"""WordNet source on the real WordNet 3.0 (Debian's packages, provisioned by make) and 3.1 (npm)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from metadata_builder import paths
from metadata_builder.sources import wordnet_files
from metadata_builder.assemble import Source, assemble
from metadata_builder.sources.wordnet import entries_from_synsets, synset_entry, wordnet_synsets


def test_wordnet30_synsets_and_v1_names(wordnet30_synsets, wordnet30_entries):
    assert wordnet30_synsets.attrs["wordnet_version"] == "3.0"
    assert len(wordnet30_synsets) == 117_659
    assert wordnet30_synsets["pos"].value_counts().to_dict() == {"n": 82_115, "v": 13_767, "s": 10_693, "a": 7_463, "r": 3_621}
    assert len(wordnet30_entries) == 86_555
    assert wordnet30_entries["entry"].is_unique
    # exactly one empty name, from three synsets whose names start with a dot
    empty = wordnet30_synsets[wordnet30_synsets["entry"] == ""]
    assert len(empty) == 3 and all(name.startswith(".") for name in empty["synset"])
    assert (wordnet30_entries["entry"] == "").sum() == 1


def test_v1_quirks_are_reproduced(wordnet30_entries):
    names = set(wordnet30_entries["entry"])
    assert {"st", "et al", "i"} <= names
    assert set("abcdefghijklmnopqrstuvwxyz") <= names
    assert "st. andrew's cross" not in names  # the v1 rule cuts it to "st"
    by_entry = wordnet30_entries.set_index("entry")
    # "st" gathers ten synsets such as st._andrew's_cross.n.01; "i" comes from i.e..r.01 among others
    assert by_entry.loc["st", "synsets"] == 10 and by_entry.loc["st", "synset"] == "st._andrew's_cross.n.01"
    assert by_entry.loc["i", "synset"] == "i.e..r.01" and by_entry.loc["et al", "synset"] == "et_al..r.02"
    assert tuple(by_entry.loc["dog", ["synset", "pos", "synsets"]]) == ("dog.n.01", "n", 2)


def test_rules_on_single_names():
    assert synset_entry("st._andrew's_cross.n.01") == "st"
    assert synset_entry("st._andrew's_cross.n.01", "full-name") == "st. andrew's cross"
    assert synset_entry(".22_caliber.a.01") == ""
    assert synset_entry(".22_caliber.a.01", "full-name") == ".22 caliber"
    assert synset_entry("new_york.n.01") == synset_entry("new_york.n.01", "full-name") == "new york"


def test_full_name_rule_differs_exactly_on_inner_dots(wordnet30_synsets):
    full = wordnet30_synsets["synset"].map(lambda s: synset_entry(s, "full-name"))
    differs = full != wordnet30_synsets["entry"]
    # an inner dot: the part before ".pos.NN" holds a dot
    inner_dot = wordnet30_synsets["synset"].str.rsplit(".", n=2).str[0].str.contains(".", regex=False)
    assert (differs == inner_dot).all()
    assert int(differs.sum()) == 26
    assert full.nunique() == 86_571


def test_assembly_gives_table1_wordnet_row(wordnet30_entries):
    result = assemble([Source("wordnet", wordnet30_entries["entry"])], total=500_000)
    assert len(result.table) == 86_654
    assert result.summary.set_index("source").loc["wordnet", "cumulative"] == 86_654
    assert "" not in set(result.entries)
    assert result.entries[:100] == [str(i) for i in range(100)]


def test_wordnet31_gives_86731_after_assembly():
    folder = paths.WORDNET31_DIR
    if not (folder / "data.noun").exists():
        pytest.skip(f"WordNet 3.1 not provisioned at {folder} (make test fetches it with npm; npm was unavailable)")
    synsets = wordnet_synsets(folder, progress=False)
    assert synsets.attrs["wordnet_version"] == "3.1"
    assert len(synsets) == 117_791
    entries = entries_from_synsets(synsets)
    assert len(entries) == 86_632
    assert len(assemble([Source("wordnet", entries["entry"])]).table) == 86_731


def test_generated_lexnames_matches_wordnet_man_page():
    man = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if not man.exists():
        pytest.skip(f"{man} absent (Debian's wordnet-base ships it)")
    text = gzip.open(man, "rt", errors="replace").read()
    rows = [line.split("\t") for line in text.splitlines() if line[:2].isdigit() and "\t" in line]
    from_man = [(int(r[0]), r[1].strip()) for r in rows]
    generated = [(int(n), name) for n, name, _ in (line.split("\t") for line in wordnet_files.lexnames_text().splitlines())]
    assert len(generated) == 45
    assert generated == from_man
