"""Recipe metaclip-v2 (Meta CLIP 2, worldwide) on real data: the OMW 1.4 files, the seven truncated
Wikipedia dumps of ../shared and the English sample.

Every number here was measured on those files (README "Worldwide metadata"); the OMW names are
compared with nltk's own ``synset.lemma_names(lang)``, the fast tokeniser with the plain reference
form, PMI with NLTK's ``BigramAssocMeasures.pmi``.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
import zipfile
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from nltk.collocations import BigramAssocMeasures

from conftest import SHARED_DATA, shared_file
from metadata_builder import cli, languages, paths
from metadata_builder.assemble_worldwide import (
    Candidates, assemble_language, assemble_folder, bigram_candidates, title_candidates, unigram_candidates,
    wordnet_candidates)
from metadata_builder.errors import UserError
from metadata_builder.runtime.executor import Local
from metadata_builder.sources.wiki import segment
from metadata_builder.sources.wiki.counts import wiki_count
from metadata_builder.sources.wiki.dump import ReadReport, iter_pages, plan_shards
from metadata_builder.sources.wiki.cleaner import clean_fast
from metadata_builder.sources.wiki.tokens_v2 import ShardCountsV2, count_reference, split_spaced

DUMPS = ("bn", "el", "hy", "ja", "mr", "uk", "vi")

# --------------------------------------------------------------------------------------- OMW WordNet

#: Distinct names per OMW language ('_' -> space, '+' removed), as nltk 3.10's lemma_names gives them
#: over the shared omw-1.4 files (all 28 checked against nltk when measured; a subset live below).
OMW_COUNTS = {
    "als": 5045, "arb": 14150, "bul": 4983, "cat": 63679, "cmn": 46764, "dan": 3814, "ell": 16180, "eus": 24196,
    "fas": 15886, "fra": 52949, "glg": 35939, "heb": 4726, "hrv": 24379, "ind": 33817, "isl": 9128, "ita": 37292,
    "ita_iwn": 16900, "lit": 10024, "nld": 39448, "nno": 2977, "nob": 3561, "pol": 42520, "por": 50183,
    "qcn": 2563, "slk": 24118, "slv": 36730, "swe": 4767, "zsm": 30781}


@pytest.fixture(scope="session")
def omw_dir(tmp_path_factory) -> Path:
    """The shared omw-1.4.tar.xz installed by ``setup --omw``'s code into a fresh NLTK_DATA."""
    from metadata_builder.provision import provision_omw

    archive = shared_file("omw-1.4/omw-1.4.tar.xz")
    return provision_omw(archive, tmp_path_factory.mktemp("nltk_data"))


@pytest.fixture(scope="session")
def omw_table(omw_dir):
    from metadata_builder.sources.omw import omw_names

    return omw_names("all", omw_dir, progress=False)


def test_omw_names_every_lemma_per_language(omw_table):
    assert omw_table.groupby("lang").size().to_dict() == OMW_COUNTS
    names = {lang: set(group["entry"]) for lang, group in omw_table.groupby("lang")}
    # every lemma of dog.n.01, not one head name; '_' read as a space
    dog = omw_table[omw_table["synset"] == "02084071-n"]
    assert set(dog[dog["lang"] == "ita"]["entry"]) >= {"cane", "Canis familiaris"}
    # '+' removed in every language (the released builder does; its zh/ja/fr strip never fires)
    assert "一丝不苟地" in names["cmn"] and not any("+" in n for ns in names.values() for n in ns)
    assert "leiarperson" in names["nno"]
    # a second file of the same language is named <lang>_<project>, as nltk names it
    assert len(names["ita_iwn"]) == 16900 and "cane" in names["ita_iwn"]
    by = omw_table.set_index(["lang", "entry"])
    assert by.loc[("ita", "cane"), "pos"] == "n" and by.loc[("ita", "cane"), "synsets"] >= 1


@pytest.mark.filterwarnings("ignore::UserWarning")  # nltk warns about the offsets WordNet lacks (skipped)
def test_omw_names_equal_nltk_lemma_names(omw_dir, omw_table):
    """nltk's reader built explicitly on omw-1.4 (nltk >= 3.10's default looks for omw-2.0)."""
    from nltk.corpus.reader import CorpusReader, WordNetCorpusReader

    from metadata_builder.sources.wordnet import load_wordnet_root

    wn = WordNetCorpusReader(load_wordnet_root(), CorpusReader(str(omw_dir), r".*/wn-data-.*\.tab", encoding="utf8"))
    wn.add_omw()
    assert {"als", "ita_iwn", "qcn", "zsm"} <= set(wn.langs())
    for lang in ("als", "dan", "nno", "nob", "qcn", "swe"):
        expected = {n.replace("_", " ").replace("+", "") for ss in wn.all_synsets(lang=lang)
                    for n in ss.lemma_names(lang)}
        assert set(omw_table.loc[omw_table["lang"] == lang, "entry"]) == expected, lang


def test_nltk_download_zip_layout_reads_the_same(omw_dir, omw_table, tmp_path, monkeypatch):
    """``nltk.download('omw-1.4')`` leaves corpora/omw-1.4.zip with a top folder omw-1.4/."""
    import nltk

    from metadata_builder.provision import provision_omw
    from metadata_builder.sources.omw import find_omw, omw_names

    zipped = tmp_path / "nltk_data" / "corpora" / "omw-1.4.zip"
    zipped.parent.mkdir(parents=True)
    with zipfile.ZipFile(zipped, "w") as z:
        for project in ("als", "nor"):
            for f in sorted((omw_dir / project).iterdir()):
                z.write(f, f"omw-1.4/{project}/{f.name}")
    monkeypatch.setattr(paths, "NLTK_DATA_DIR", tmp_path / "nltk_data")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")] + list(nltk.data.path))
    assert ".zip" in str(find_omw())
    zip_table = omw_names(["als", "nno", "nob"], progress=False)
    folder = omw_table[omw_table["lang"].isin(["als", "nno", "nob"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(zip_table, folder)
    # setup --omw also takes that zip
    dest = provision_omw(zipped, tmp_path / "from-zip")
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.tab")) == \
        ["als/wn-data-als.tab", "nor/wn-data-nno.tab", "nor/wn-data-nob.tab"]


def test_omw_wikipedia_map():
    assert len(languages.omw_to_wiki("released")) == 30
    assert languages.omw_to_wiki()["als"] == "sq" and languages.omw_to_wiki("released")["als"] == "als"
    assert {k: v for k, v in languages.omw_to_wiki().items() if v != languages.omw_to_wiki("released")[k]} == \
        {"als": "sq"}
    assert languages.omw_codes_for("sq") == ["als"] and languages.omw_codes_for("als", "released") == ["als"]
    assert languages.omw_codes_for("it") == ["ita"]  # ita_iwn stays unmapped, as released
    assert languages.wiki_code("zh_yuewiki") == "zh_yue"
    assert languages.wiki_code(None, "https://zh-min-nan.wikipedia.org/wiki/X") == "zh_min_nan"
    assert languages.wiki_code("enwiktionary") is None


# --------------------------------------------------------------------------------------- segmenters


def test_japanese_segmentation_is_mecab_ipadic():
    seg = segment.Segmenter(segment.spec_for("ja"))
    assert seg("東京タワーの夜") == ["東京", "タワー", "の", "夜"]
    assert seg("私は日本語を勉強しています") == ["私", "は", "日本語", "を", "勉強", "し", "て", "い", "ます"]
    assert seg("東京都庁は新宿区にある。") == ["東京", "都庁", "は", "新宿", "区", "に", "ある", "。"]
    assert seg("すもももももももものうち") == ["すもも", "も", "もも", "も", "もも", "の", "うち"]
    assert seg("アンパサンド（&）は記号である。") == ["アンパサンド", "（&）", "は", "記号", "で", "ある", "。"]


def test_other_segmenters_offline():
    def run(lang, text):
        return segment.Segmenter(segment.spec_for(lang))(text)

    assert run("zh", "中華民國是一個位於東亞的國家。") == ["中華民國", "是", "一個", "位", "於", "東亞", "的", "國家", "。"]
    assert run("th", "ผมชอบกินข้าวผัดมากครับ") == ["ผม", "ชอบ", "กิน", "ข้าวผัด", "มาก", "ครับ"]
    assert run("lo", "ຂ້ອຍຮັກພາສາລາວ") == ["ຂ້ອຍ", "ຮັກ", "ພາສາລາວ"]
    assert run("km", "ខ្ញុំស្រលាញ់ភាសាខ្មែរ") == ["ខ្ញុំ", "ស្រលាញ់", "ភាសា", "ខ្មែរ"]
    assert run("my", "မြန်မာနိုင်ငံသည်") == ["မြန်", "မာ", "နိုင်", "ငံ", "သည်"]
    assert run("my", "၁၉၄၈ခုနှစ်Yangon။") == ["၁၉၄၈", "ခု", "နှစ်", "Yangon", "။"]
    assert run("bo", "ལྷ་ས་ནི་བོད་ཀྱི་རྒྱལ་ས་ཡིན།") == ["ལྷ་", "ས་", "ནི་", "བོད་", "ཀྱི་", "རྒྱལ་", "ས་", "ཡིན", "།"]


def test_missing_segmenter_is_one_line_naming_the_extra(monkeypatch):
    real = segment.importlib.import_module

    def no_fugashi(name, *args):
        if name == "fugashi":
            raise ImportError("No module named 'fugashi'")
        return real(name, *args)

    monkeypatch.setattr(segment.importlib, "import_module", no_fugashi)
    with pytest.raises(UserError) as err:
        segment.spec_for("ja")
    assert str(err.value) == ("Japanese (ja) is segmented with mecab-ipadic, which is not installed: "
                              "pip install 'metadata-builder[ja]' (or [worldwide] for every language)")


# --------------------------------------------------------------------------------------- tokens


def test_v2_tokens_follow_the_released_rules():
    assert split_spaced("AT&T don't «Київ» 東京タワー a,b\u3000c\u200bd") == [
        "AT", "&", "T", "don", "'", "t", "«Київ»", "東", "京", "タワー", "a", ",", "b", "c\u200bd"]
    u, b, a = count_reference(["New York. It is big", "Nueva York"])
    assert u == {"New": 1, "York": 2, "It": 1, "is": 1, "big": 1, "Nueva": 1}  # no lower-casing
    assert b == {("New", "York"): 1, ("It", "is"): 1, ("is", "big"): 1, ("Nueva", "York"): 1}  # "." breaks
    assert a["York"] == 2
    seg = segment.Segmenter(segment.spec_for("ja"))
    u, b, _ = count_reference(["東京タワーの夜。「東京」（&）〜大阪"], seg)
    assert "」（&）〜" not in u and ("夜", "東京") not in b  # a weird token is dropped and breaks the chain


def _articles(lang: str, limit: int) -> list[str]:
    dump = shared_file(f"wiki-truncated-dumps/{lang}wiki-truncated-100k.xml.xz")
    [shard] = plan_shards([dump], 1 << 30)
    texts = []
    for page in iter_pages(shard, ReadReport()):
        if page.ns == 0 and page.redirect is None:
            texts.append(clean_fast(page.text, shard.siteinfo))
            if len(texts) == limit:
                break
    return texts


@pytest.mark.parametrize("lang", ["ja", "uk", "vi", "hy"])
def test_fast_counter_equals_reference_on_real_articles(lang):
    texts = _articles(lang, 40)
    seg = segment.Segmenter(segment.spec_for(lang)) if languages.is_no_space(lang) else None
    unigrams, bigrams, articles = count_reference(texts, seg)
    counts = ShardCountsV2(seg)
    counts.BATCH_CHARS = 200_000  # several batches
    for text in texts:
        counts.add_text(text)
    tables = counts.tables()
    words = tables["words"].to_pydict()
    assert dict(zip(words["word"], words["count"])) == unigrams
    assert dict(zip(words["word"], words["articles"])) == articles
    pairs = tables["bigrams"].to_pydict()
    assert {(x, y): n for x, y, n in zip(pairs["w1"], pairs["w2"], pairs["count"])} == bigrams
    assert len(unigrams) > 1000


# --------------------------------------------------------------------------------------- counts of every dump

#: articles, tokens N, unigram types, bigram types, titles of each dump (recipe metaclip-v2).
DUMP_FACTS = {
    "bn": (380, 570_266, 72_933, 348_855, 380), "el": (524, 827_017, 87_408, 312_153, 524),
    "hy": (279, 749_176, 118_179, 437_469, 279), "ja": (189, 964_181, 56_728, 272_145, 189),
    "mr": (949, 410_508, 76_420, 242_229, 949), "uk": (512, 603_236, 100_511, 278_053, 512),
    "vi": (274, 1_246_707, 29_354, 272_232, 274)}


@pytest.fixture(scope="session")
def counted(tmp_path_factory) -> Path:
    """Every truncated dump counted with the default recipe (metaclip-v2: not English), as
    ``make worldwide-metadata`` does, into ROOT/wiki/<lang>/."""
    shared_file("wiki-truncated-dumps")
    root = tmp_path_factory.mktemp("worldwide")
    for lang in DUMPS:
        dump = SHARED_DATA / "wiki-truncated-dumps" / f"{lang}wiki-truncated-100k.xml.xz"
        wiki_count([dump], root / "wiki" / lang, executor=Local(workers=1, progress=False))
    return root


def test_every_dump_is_counted_in_its_language(counted):
    for lang in DUMPS:
        stats = json.loads((counted / "wiki" / lang / "stats.json").read_text())
        assert (stats["lang"], stats["tokens_recipe"]) == (lang, "metaclip-v2")
        assert (stats["articles"], stats["tokens"], stats["distinct_words"], stats["bigram_rows"],
                stats["titles"]) == DUMP_FACTS[lang], lang
    ja = json.loads((counted / "wiki" / "ja" / "stats.json").read_text())
    assert ja["segmenter"].startswith("mecab-ipadic (fugashi ")


def test_japanese_unigrams_are_words(counted):
    unigrams = pd.read_parquet(counted / "wiki" / "ja" / "unigrams.parquet")
    assert unigrams["word"].head(20).tolist() == [
        "の", "は", "に", "が", "を", "で", "た", "と", "て", "年", "し", "・", "ある", "れ", "さ", "いる", "市", "も",
        "する", "県"]
    top = unigrams.head(5672)  # the unigrams Meta CLIP 2's cap keeps
    assert round(top["word"].str.len().mean(), 2) == 2.31  # v1's rule gave whole phrases (~11 characters)
    assert {"東京", "日本", "アメリカ", "大学"} <= set(top["word"])


def test_pmi_equals_nltk_from_c1_c2_n_for_every_language(counted):
    for lang in DUMPS:
        n = json.loads((counted / "wiki" / lang / "stats.json").read_text())["tokens"]
        bigrams = pd.read_parquet(counted / "wiki" / lang / "bigrams.parquet")
        unigrams = pd.read_parquet(counted / "wiki" / lang / "unigrams.parquet").set_index("word")["count"]
        assert (bigrams["c1"].to_numpy() == unigrams.loc[bigrams["w1"]].to_numpy()).all()
        assert (bigrams["c2"].to_numpy() == unigrams.loc[bigrams["w2"]].to_numpy()).all()
        pmi = [BigramAssocMeasures.pmi(c12, (c1, c2), n)
               for c12, c1, c2 in zip(bigrams["count"], bigrams["c1"], bigrams["c2"])]
        assert max(abs(a - b) for a, b in zip(pmi, bigrams["pmi"])) < 1e-9, lang
        assert bigrams["pmi"].max() <= math.log2(n) + 1e-9  # so plain PMI > 30 needs N > 2^30


def test_language_from_siteinfo_or_option(counted, tmp_path):
    dump = SHARED_DATA / "wiki-truncated-dumps" / "viwiki-truncated-100k.xml.xz"
    ja = SHARED_DATA / "wiki-truncated-dumps" / "jawiki-truncated-100k.xml.xz"
    with pytest.raises(UserError, match=r"different Wikipedias: .*\(vi\), .*\(ja\)"):
        wiki_count([dump, ja], tmp_path / "mixed", executor=Local(progress=False))
    stats = wiki_count([dump], tmp_path / "v1", tokens="metaclip-v1", executor=Local(progress=False))
    assert stats["tokens_recipe"] == "metaclip-v1" and stats["tokens"] != DUMP_FACTS["vi"][1]


# --------------------------------------------------------------------------------------- assembly


def test_caps_and_filters_on_a_crafted_case():
    wordnet = wordnet_candidates(["  dog ", "、。", "", "5", "x" * 300])
    unigrams = unigram_candidates(pd.DataFrame({"word": ["dog", "the", " a ", "!?", "y" * 257] + [f"w{i}" for i in range(25)],
                                                "count": [100, 90, 80, 70, 60] + list(range(25))}))
    assert unigrams.cap == 3  # int(0.1 x 30)
    bigrams = bigram_candidates(pd.DataFrame({"w1": ["東京", "大", "の", "東"], "w2": ["タワー", "阪", "夜", "京"],
                                              "score_v2": [31.0, 30.0, 40.0, 35.0]}), "ja")
    titles = title_candidates(pd.DataFrame({"title": ["Tokyo"], "views": [5]}), "views")
    assert titles.cap == 0  # int(0.76 x 1): still admits one, as released
    result = assemble_language([wordnet, unigrams, bigrams, titles])
    table = result.table.set_index("entry")
    assert table.loc["dog", "source"] == "wordnet" and table.loc["x" * 300, "source"] == "wordnet"  # no length cut
    assert "、。" not in table.index and "5" in table.index and table.loc["5", "source"] == "seed"
    # "dog" is a duplicate and does not use up the cap; "!?" and the 257-character word are skipped
    assert result.table[result.table["source"] == "unigram"]["entry"].tolist() == ["the", "a", "w24"]
    # strict > 30, sorted by score, joined without the space (ja)
    assert result.table[result.table["source"] == "bigram"]["entry"].tolist() == ["の夜", "東京", "東京タワー"]
    assert result.table[result.table["source"] == "title"]["entry"].tolist() == ["Tokyo"]
    assert result.summary["added"].tolist() == [100, 2, 3, 3, 1]


def test_worldwide_assembly_of_every_language(counted, omw_table, tmp_path, capsys):
    omw_table.to_parquet(counted / "wordnet.parquet")
    summary = assemble_folder(counted, tmp_path / "metadata_per_lang")
    rows = summary.set_index("lang")
    assert rows.loc[["bn", "el", "hy", "ja", "mr", "uk", "vi"]].to_dict("index") == {
        "bn": {"wordnet": 0, "unigrams": 7293, "bigrams": 538, "titles": 123, "total": 8054},
        "el": {"wordnet": 16179, "unigrams": 8740, "bigrams": 2442, "titles": 163, "total": 27624},
        "hy": {"wordnet": 0, "unigrams": 11817, "bigrams": 558, "titles": 167, "total": 12642},
        "ja": {"wordnet": 0, "unigrams": 5672, "bigrams": 4276, "titles": 25, "total": 10073},
        "mr": {"wordnet": 0, "unigrams": 7642, "bigrams": 182, "titles": 389, "total": 8313},
        "uk": {"wordnet": 0, "unigrams": 10051, "bigrams": 1006, "titles": 146, "total": 11303},
        "vi": {"wordnet": 0, "unigrams": 2935, "bigrams": 10441, "titles": 115, "total": 13591}}
    assert len(summary) == 7 + 24  # the dumps' languages + the 25 mapped OMW languages (el in both)
    assert rows.loc["sq", "wordnet"] == 5045 and "als" not in rows.index  # Albanian goes to sq
    entries = json.loads((tmp_path / "metadata_per_lang" / "ja.json").read_text())
    table = pd.read_parquet(tmp_path / "metadata_per_lang" / "ja.parquet")
    assert table["entry"].tolist() == entries and entries[:101] == [str(i) for i in range(100)] + ["の"]
    assert "東京" in entries and "東京タワー" not in entries[:100]
    released = assemble_folder(counted, tmp_path / "released", omw_map="released")
    assert "als" in set(released["lang"]) and "sq" not in set(released["lang"])


# --------------------------------------------------------------------------------------- pageviews


def test_pageviews_all_languages_rule(tmp_path):
    from metadata_builder.sources.wiki.pageviews_worldwide import count_pageviews_all_languages

    lines = ["en Main_Page 120 0", "en.m Main_Page 500 0", "en.b Cookbook 7 0", "de.m Hund 3 0", "de Hund 0 0",
             "ja 東京 5 0", "zh-min-nan.m Tâi-oân 4 0", "commons.m File:X 9 0", "commons.m Foo 9 0",
             "www.mw Bar 2 0", '"" x 1 0', "en broken", "en Talk:X 5 0", "en Two 2x 0"]
    folder = tmp_path / "pv"
    folder.mkdir()
    with gzip.open(folder / "pageviews-20240528-000000.gz", "wb") as f:
        f.write("\n".join(lines).encode() + b"\n\xff\xfe bad 1 0\n")
    stats = count_pageviews_all_languages([folder], tmp_path / "views.parquet", executor=Local(progress=False))
    table = pd.read_parquet(tmp_path / "views.parquet")
    assert list(table.itertuples(index=False, name=None)) == [
        ("commons", "Foo", 9, 1), ("de", "Hund", 3, 1), ("en", "Main Page", 620, 2), ("en", "Cookbook", 7, 1),
        ("ja", "東京", 5, 1), ("wwww", "Bar", 2, 1), ("zh_min_nan", "Tâi-oân", 4, 1)]  # www.mw -> wwww, as released
    assert (stats["counted"], stats["zero_views"], stats["colon_titles"], stats["malformed"], stats["quoted"]) == \
        (8, 1, 2, 3, 1)
    count_pageviews_all_languages([folder], tmp_path / "wp.parquet", wikipedia_only=True, executor=Local(progress=False))
    assert set(pd.read_parquet(tmp_path / "wp.parquet")["lang"]) == {"de", "en", "ja", "zh_min_nan"}
    assert 37 == sum(1 for line in (Path(__file__).parent.parent / "data" / "pageview_days_worldwide.txt")
                     .read_text().splitlines() if line[:2] == "20")
