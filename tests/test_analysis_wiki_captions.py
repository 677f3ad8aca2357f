"""wiki-captions: the embedded default pool (image captions and alt texts of the real Wikipedia sample),
and a real truncated Japanese dump (local file-namespace name, cut reported)."""

from __future__ import annotations

import pandas as pd
import pytest

from metadata_builder.runtime import storage
from metadata_builder.cli import main
from metadata_builder.sources.wiki.captions import _is_option, extract_captions, image_texts


@pytest.fixture(scope="module")
def sample_captions(wiki_sample):
    return extract_captions(wiki_sample, progress=False)


def test_embedded_sample_counts(sample_captions):
    df, stats = sample_captions
    assert (stats.pages, stats.articles) == (206, 106)
    assert stats.skipped == {"redirect": 99, "other namespace": 1}
    assert len(df) == 1_191
    assert df["kind"].value_counts().to_dict() == {"caption": 955, "gallery_caption": 88, "alt": 86,
                                                   "template_caption": 47, "template_alt": 15}
    assert stats.kinds == df["kind"].value_counts().to_dict()
    assert df["text"].str.len().min() >= 1 and not df["text"].str.contains("\n|\\[\\[|\\]\\]|\\{\\{").any()
    assert list(df.columns) == ["text", "kind", "page_id", "title", "file"]


def test_real_captions_alts_galleries_and_infoboxes(sample_captions):
    df, _ = sample_captions
    by_file = df[df["file"] == "Autistic-sweetiepie-boy-with-ducksinarow.jpg"].set_index("kind")["text"]
    assert by_file["caption"] == "A young boy with autism who has arranged his toys in a row"
    assert by_file["alt"].startswith("Young boy asleep on a bed, facing the camera")
    # links become their label, references are dropped
    godwin = df[df["file"] == "WilliamGodwin.jpg"]["text"].iloc[0]
    assert godwin.startswith('William Godwin, "the first to formulate') and godwin.endswith("in his work\".")
    gallery = df[df["kind"] == "gallery_caption"].set_index("file")["text"]
    assert gallery["Bluecat5A.jpg"] == "Catfish"
    infobox = df[(df["kind"] == "template_caption") & (df["file"] == "Infobox officeholder")]["text"]
    assert "Lincoln in 1863 at the age of 54" in set(infobox)
    # layout options never become captions
    assert not df["text"].map(_is_option).any()


def test_image_link_parameters():
    assert image_texts(["thumb", "upright", "left", "alt=A dog on grass", "A [[dog]] in 2004"]) == \
        ("A dog in 2004", "A dog on grass")
    assert image_texts(["200px", "x120px", "link=Foo", "thumb"]) == ("", "")


def test_cli_is_deterministic(sample_captions, tmp_path, capsys):
    assert main(["wiki-captions", "--out", str(tmp_path / "a.parquet"), "--no-progress"]) == 0
    storage.write_parquet(sample_captions[0], tmp_path / "b.parquet")  # the library call, a second run
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert "1,191 texts" in capsys.readouterr().out
    assert main(["wiki-captions", str(tmp_path / "none.xml.bz2"), "--out", str(tmp_path / "c.parquet")]) == 2
    assert "no such dump file" in capsys.readouterr().err


def test_truncated_japanese_dump(truncated_dumps, tmp_path, capsys):
    assert main(["wiki-captions", str(truncated_dumps["ja"]), "--out", str(tmp_path / "ja.parquet"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1,505 texts" in out and "warning:" in out and "ends inside a page" in out
    df = pd.read_parquet(tmp_path / "ja.parquet")
    assert len(df) == 1_505 and df["kind"].value_counts()["gallery_caption"] == 402
    assert "ナイト2000のレプリカ車両" in set(df["text"])  # from a [[ファイル:...]] link (the wiki's own name)
