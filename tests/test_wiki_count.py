"""wiki-count on real dumps: the gensim English sample, multistream shards, resume, truncated dumps."""

from __future__ import annotations

import bz2
import functools
import gzip
import json
import lzma
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
from nltk.collocations import BigramAssocMeasures, BigramCollocationFinder
from nltk.probability import FreqDist

from metadata_builder import cli
from metadata_builder.errors import UserError
from metadata_builder.runtime.executor import TasksFailed
from metadata_builder.sources.wiki.cleaner import clean_fast
from conftest import fail_wiki_shard
from metadata_builder.sources.wiki.counts import wiki_count
from bench.wikidump import write_multistream
from metadata_builder.sources.wiki.dump import ReadReport, Siteinfo, iter_pages, plan_shards
from metadata_builder.sources.wiki.tokens import ShardCounts
from metadata_builder.runtime.executor import Local

OUTPUTS = ("unigrams.parquet", "bigrams.parquet", "titles.parquet")


def _same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def sample_run(wiki_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "counts"
    stats = wiki_count([wiki_sample], out, executor=Local(workers=1, progress=False))
    return out, stats


@pytest.fixture(scope="module")
def sample_articles(wiki_sample):
    """(title, wikitext) of the sample's articles, read with ElementTree independently of dump.py."""
    ns = "{http://www.mediawiki.org/xml/export-0.10/}"
    pages = []
    with bz2.open(wiki_sample) as f:
        for _, elem in ET.iterparse(f):
            if elem.tag == ns + "page":
                pages.append((elem.findtext(ns + "title"), elem.findtext(ns + "ns"),
                              elem.find(ns + "redirect") is not None, elem.findtext(f"{ns}revision/{ns}text")))
                elem.clear()
    return pages


@functools.lru_cache(maxsize=None)
def _ok(piece: str) -> bool:
    return bool(piece) and bool(re.match(r"\w", piece[0])) and bool(re.match(r"\w", piece[-1])) \
        and not any(ch.isdecimal() for ch in piece)


def _independent_words(text: str) -> list[str]:
    """docs/recipe.md §1.4 written out plainly, without the module's regular expressions."""
    text = text.lower().replace("\u2013", "-").replace("\u2019", "'")
    return [piece for piece in re.split(r"[^\w\-']+", text) if _ok(piece)]


def _independent_bigrams(text: str) -> Counter:
    """Pairs of case-kept words adjacent in a line with only spaces between them."""
    text = text.replace("\u2013", "-").replace("\u2019", "'")
    pairs = Counter()
    for line in text.splitlines():
        parts = re.split(r"([\w\-']+)", line)  # separator, piece, separator, piece, ..., separator
        for i in range(1, len(parts) - 2, 2):
            a, between, b = parts[i], parts[i + 1], parts[i + 2]
            if between.isspace() and _ok(a) and _ok(b):
                pairs[a, b] += 1
    return pairs


def test_sample_page_numbers(sample_run, sample_articles):
    _, stats = sample_run
    main = [p for p in sample_articles if p[1] == "0"]
    assert (stats["pages"], stats["articles"], stats["redirects"], stats["other_namespaces"]) == (206, 106, 99, 1)
    assert (len(sample_articles), sum(not p[2] for p in main), sum(p[2] for p in main)) == (206, 106, 99)
    assert stats["skipped"] == 0 and stats["cut"] == [] and not stats["truncated"]
    assert (stats["tokens"], stats["words"], stats["distinct_words"]) == (442_876, 442_881, 35_158)
    assert stats["bytes"] == 6_089_746


def test_sample_unigrams_match_an_independent_count(sample_run, sample_articles):
    out, stats = sample_run
    siteinfo = Siteinfo({6: "File", 14: "Category", 0: ""})
    counts, articles = Counter(), Counter()
    for title, ns, redirect, text in sample_articles:
        if ns == "0" and not redirect:
            words = _independent_words(clean_fast(text, siteinfo))
            counts.update(words)
            articles.update(set(words))
    table = pd.read_parquet(out / "unigrams.parquet")
    got = dict(zip(table.word, table["count"]))
    assert got == dict(counts)
    assert dict(zip(table.word, table.articles)) == dict(articles)
    for word, n, arts in [("the", 33_210, 106), ("anarchism", 115, 2), ("aristotle", 186, 10),
                          ("well-known", 12, 10), ("don't", 14, 11), ("d'état", 7, 5)]:
        assert (got[word], articles[word]) == (n, arts), word
    assert sum(got.values()) == stats["words"]
    assert table["count"].is_monotonic_decreasing


def test_sample_bigrams_and_pmi_equal_nltk(sample_run, sample_articles):
    out, stats = sample_run
    siteinfo = Siteinfo({6: "File", 14: "Category", 0: ""})
    pairs, cased = Counter(), Counter()
    for title, ns, redirect, text in sample_articles:
        if ns == "0" and not redirect:
            clean = clean_fast(text, siteinfo)
            pairs.update(_independent_bigrams(clean))
            cased.update(w for w in re.findall(r"[\w\-']+", clean.replace("\u2013", "-").replace("\u2019", "'"))
                         if _ok(w))
    table = pd.read_parquet(out / "bigrams.parquet")
    assert len(table) == len(pairs) == 190_046
    assert dict(zip(zip(table.w1, table.w2), table["count"])) == dict(pairs)
    assert sum(cased.values()) == stats["tokens"]
    # NLTK itself, on the same counts: its finder computes N from the unigram FreqDist.
    finder = BigramCollocationFinder(FreqDist(cased), FreqDist(pairs))
    nltk_pmi = dict(finder.score_ngrams(BigramAssocMeasures.pmi))
    ours = dict(zip(zip(table.w1, table.w2), table.pmi))
    assert max(abs(ours[k] - nltk_pmi[k]) for k in nltk_pmi) < 1e-9
    assert table.loc[(table.w1 == "United") & (table.w2 == "States"), "count"].item() == 309
    # Meta CLIP 2 score, recomputed from the table
    p30 = table.pmi.quantile(0.3)
    assert p30 == pytest.approx(stats["pmi_p30"], abs=1e-12)
    expected = (table["count"] + 1) ** 0.7 * (table.pmi - p30)
    assert (table.score_v2 - expected).abs().max() < 1e-9
    top = table.sort_values("score_v2", ascending=False).head(3)
    assert [f"{a} {b}" for a, b in zip(top.w1, top.w2)] == ["United States", "such as", "New York"]


def test_sample_titles_with_inlinks(sample_run, sample_articles):
    out, _ = sample_run
    titles = pd.read_parquet(out / "titles.parquet")
    assert len(titles) == 106 and titles.title.is_unique
    assert titles.iloc[0].tolist() == ["Angola", 701, 14]
    # independent count: links in articles' wikitext to "Angola", directly or through a redirect
    n = sum(len(re.findall(r"\[\[\s*angola\s*(?:[|#][^\]]*)?\]\]", text, re.I))
            for _, ns, r, text in sample_articles if ns == "0" and not r)
    assert n == 14


def test_pmi_shortcut_is_exact(sample_run, tmp_path, wiki_sample):
    """Only pairs of words with count <= N / 2^t can reach PMI t: the shortcut loses none."""
    out, stats = sample_run
    full = pd.read_parquet(out / "bigrams.parquet")
    assert (full.pmi >= 30).sum() == 0  # N = 442,876 < 2^30: no pair can reach 30 on the sample
    t = 15  # N / 2^15 = 13.5: words seen at most 13 times
    small_stats = wiki_count([wiki_sample], tmp_path, bigram_table="pmi30", pmi_min=t, executor=Local(workers=1, progress=False))
    small = pd.read_parquet(tmp_path / "bigrams.parquet")
    expected = full[full.pmi >= t]
    assert len(small) == len(expected) == 8_043
    pd.testing.assert_frame_equal(small.drop(columns="score_v2").reset_index(drop=True),
                                  expected.drop(columns="score_v2").reset_index(drop=True))
    cased = pd.read_parquet(out / "shards" / "000-whole" / "cased-00000.parquet")
    assert small_stats["pmi30_candidate_words"] == (cased["count"] <= stats["tokens"] / 2**t).sum() == 36_373
    assert (tmp_path / "unigrams.parquet").read_bytes() == (out / "unigrams.parquet").read_bytes()


def test_inlinks_resolve_redirects_and_normalise_titles(tmp_path):
    """A small hand-made dump: links by text, lower-case first letter, underscores, #section, redirect."""
    def page(title, pid, text, redirect=None):
        r = f'<redirect title="{redirect}" />' if redirect else ""
        return (f"<page><title>{title}</title><ns>0</ns><id>{pid}</id>{r}<revision><id>1</id>"
                f'<text xml:space="preserve">{text}</text></revision></page>')
    xml = ('<mediawiki><siteinfo><namespaces><namespace key="0" case="first-letter" />'
           '<namespace key="14" case="first-letter">Category</namespace></namespaces></siteinfo>'
           + page("Alpha", 1, "See [[beta]], [[Beta_redirect|b]], [[Beta#History]] and [[Category:Beta]].")
           + page("Beta redirect", 2, "#REDIRECT [[Beta]]", redirect="Beta")
           + page("Beta", 3, "Back to [[Alpha]]. [[Gamma]] does not exist.")
           + "</mediawiki>")
    (tmp_path / "tiny.xml").write_text(xml)
    stats = wiki_count([tmp_path / "tiny.xml"], tmp_path / "out", executor=Local(progress=False))
    assert (stats["pages"], stats["articles"], stats["redirects"]) == (3, 2, 1)
    titles = pd.read_parquet(tmp_path / "out" / "titles.parquet")
    assert titles.values.tolist() == [["Beta", 3, 3], ["Alpha", 1, 1]]
    # the same dump gzip-compressed (two concatenated members) reads the same
    (tmp_path / "tiny.xml.gz").write_bytes(gzip.compress(xml[:300].encode()) + gzip.compress(xml[300:].encode()))
    wiki_count([tmp_path / "tiny.xml.gz"], tmp_path / "gz", executor=Local(progress=False))
    _same_outputs(tmp_path / "gz", tmp_path / "out")


@pytest.fixture(scope="module")
def multistream(wiki_sample, tmp_path_factory):
    return write_multistream(wiki_sample, tmp_path_factory.mktemp("ms") / "sample-multistream.xml.bz2",
                             pages_per_stream=20)


@pytest.mark.parametrize("workers,form", [(1, "compiled"), (2, "compiled"), (2, "arrow")])
def test_multistream_shards_give_identical_outputs(multistream, sample_run, tmp_path, workers, form, monkeypatch):
    # with 2 workers, also spill the counters often (the Arrow form in small batches, so the size is
    # checked often): partial files must sum to the same tables, whichever counter made them
    from metadata_builder.sources.wiki import tokens

    if form == "compiled" and tokens._tokencount is None:
        pytest.skip("the compiled counter is not built (no C compiler at install)")
    counter = {"compiled": tokens.CompiledShardCounts, "arrow": tokens.ArrowShardCounts}[form]
    monkeypatch.setattr(tokens, "ShardCounts", counter)  # the v1 recipe's counter; inherited by forked workers
    spill = 3_000_000 if workers == 1 else 40_000
    if form == "arrow":
        monkeypatch.setattr(counter, "BATCH_CHARS", 1 << 15)
    stats = wiki_count([multistream], tmp_path, shard_mb=0.2, spill_entries=spill, executor=Local(workers=workers, progress=False))
    assert stats["shards"] == 6
    parts = len(list((tmp_path / "shards").glob("*/bigrams-*.parquet")))
    assert parts == {(1, "compiled"): 6, (2, "compiled"): 14, (2, "arrow"): 14}[workers, form]
    assert (stats["pages"], stats["articles"], stats["redirects"], stats["tokens"]) == (206, 106, 99, 442_876)
    _same_outputs(tmp_path, sample_run[0])


def test_plain_xml_byte_range_shards_give_identical_outputs(wiki_sample, sample_run, tmp_path):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(bz2.decompress(wiki_sample.read_bytes()))
    stats = wiki_count([dump], tmp_path / "out", shard_mb=0.7, executor=Local(workers=2, progress=False))
    assert stats["shards"] == 9 and stats["bytes"] == dump.stat().st_size == 6_089_746
    assert (stats["pages"], stats["articles"], stats["redirects"], stats["tokens"]) == (206, 106, 99, 442_876)
    _same_outputs(tmp_path / "out", sample_run[0])


def test_injected_failure_then_resume_is_identical(multistream, sample_run, tmp_path, monkeypatch):
    third = plan_shards([multistream], int(0.2 * (1 << 20)))[2].name  # a shard in the middle of the dump
    fail_wiki_shard(monkeypatch, third)
    with pytest.raises(TasksFailed, match=third):
        wiki_count([multistream], tmp_path, shard_mb=0.2, executor=Local(workers=1, progress=False))
    done = sorted(p.stem for p in (tmp_path / "_job" / "markers").glob("*.json"))
    assert len(done) == 5 and not (tmp_path / "unigrams.parquet").exists()
    monkeypatch.undo()
    stats = wiki_count([multistream], tmp_path, shard_mb=0.2, executor=Local(workers=1, progress=False))
    assert stats["shards_resumed"] == 5
    _same_outputs(tmp_path, sample_run[0])


def test_killed_run_resumes_byte_identical(multistream, sample_run, tmp_path):
    cmd = [sys.executable, "-m", "metadata_builder", "wiki-count", str(multistream), "--out", str(tmp_path),
           "--workers", "1", "--shard-mb", "0.2", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "_job" / "markers").glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    finished = len(list((tmp_path / "_job" / "markers").glob("*.json")))
    assert 1 <= finished < 6 and not (tmp_path / "unigrams.parquet").exists()
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["shards_resumed"] == finished
    _same_outputs(tmp_path, sample_run[0])


def test_malformed_page_is_skipped_and_counted(wiki_sample, tmp_path):
    xml = bz2.decompress(wiki_sample.read_bytes())
    pages = [m.start() for m in re.finditer(rb"<page>", xml)]
    # the first 30 pages; the 2nd (Anarchism) broken: its <title> is never closed
    start, stop = pages[1], pages[2]
    broken = xml[start:stop].replace(b"</title>", b"", 1)
    dump = tmp_path / "broken.xml"
    dump.write_bytes(xml[:start] + broken + xml[stop:pages[30]] + b"</mediawiki>\n")
    stats = wiki_count([dump], tmp_path / "out", executor=Local(workers=1, progress=False))
    assert (stats["pages"], stats["skipped"], stats["malformed"]) == (29, 1, 1)
    assert stats["malformed_examples"][0]["offset"] == start
    assert stats["cut"] == []
    assert "Anarchism" not in set(pd.read_parquet(tmp_path / "out" / "titles.parquet").title)


def test_truncated_dumps_keep_every_complete_page(truncated_dumps, tmp_path):
    """ja through the CLI (whole count, exit 0); uk and vi through the reader (the cut is its job)."""
    expected = {"ja": (238, 189, 15, "Help:目次"), "uk": (532, 512, 13, "1701"), "vi": (970, 274, 86, "Tiệp")}
    for lang, dump in truncated_dumps.items():
        text = lzma.decompress(dump.read_bytes())
        pages, articles, redirects, last = expected[lang]
        assert text.count(b"</page>") == pages  # independent: complete pages in the file
        if lang == "ja":
            code = cli.main(["wiki-count", str(dump), "--out", str(tmp_path / lang), "--workers", "1",
                             "--no-progress"])
            assert code == 0
            stats = json.loads((tmp_path / lang / "stats.json").read_text())
            assert (stats["pages"], stats["articles"], stats["redirects"]) == (pages, articles, redirects)
            assert stats["truncated"] and len(stats["cut"]) == 1
            cut = stats["cut"][0]
        else:
            [shard] = plan_shards([dump], 1 << 26)
            report = ReadReport()
            read = list(iter_pages(shard, report))
            main = [p for p in read if p.ns == 0]
            assert (len(read), sum(p.redirect is None for p in main), sum(p.redirect is not None for p in main)) \
                == (pages, articles, redirects)
            cut = asdict(report.cut)
        assert cut["offset"] == text.rindex(b"<page>") and cut["last_complete_page"] == last
        assert "truncated" in cut["reason"]


def test_cut_compressed_download_is_reported(wiki_sample, tmp_path):
    """A .bz2 cut in half (an interrupted download): every complete page, then the cut."""
    data = wiki_sample.read_bytes()
    dump = tmp_path / "cut.xml.bz2"
    dump.write_bytes(data[: len(data) // 2])
    stats = wiki_count([dump], tmp_path / "out", executor=Local(progress=False))
    [cut] = stats["cut"]
    xml = bz2.BZ2Decompressor().decompress(data[: len(data) // 2])  # independent: what is readable
    assert stats["pages"] == xml.count(b"</page>") == 115
    assert cut["last_complete_page"] == "Auteur Theory Film" and cut["offset"] == xml.rindex(b"<page>")
    assert "compressed data ends early" in cut["reason"]


def test_user_errors(tmp_path, wiki_sample, capsys):
    assert cli.main(["wiki-count", str(tmp_path / "nope.xml.bz2"), "--out", str(tmp_path / "o")]) == 2
    assert "no such dump file" in capsys.readouterr().err
    (tmp_path / "not-a-dump.xml").write_text("hello\n")
    with pytest.raises(UserError, match="not a MediaWiki XML dump"):
        wiki_count([tmp_path / "not-a-dump.xml"], tmp_path / "o2", executor=Local(progress=False))
    # a folder holding another run's shards is refused rather than mixed
    small = tmp_path / "small.xml"
    small.write_bytes(bz2.decompress(wiki_sample.read_bytes())[:200_000] + b"</mediawiki>")
    wiki_count([small], tmp_path / "o3", executor=Local(progress=False))
    with pytest.raises(UserError, match=r"holds a wiki-count run with other settings \(changed: cleaner\)"):
        wiki_count([small], tmp_path / "o3", cleaner="mwparserfromhell", executor=Local(progress=False))
