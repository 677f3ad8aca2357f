"""Every fast form of wiki-count beside its reference form, on every real page we have.

The fast forms (compiled counter, expat page fields, split-based link pass, table pass by marker
lines, link-target fast path, the C class table) must give exactly what their reference forms give:
on the English sample and the seven truncated dumps of ../shared (complete pages), on every code
point where a character class decides, and on malformed or odd input.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from bench import realtext, wikidump
from metadata_builder.sources.wiki import cleaner, tokens
from metadata_builder.sources.wiki.counts.shard import _LINK, normalize_title, normalize_titles
from metadata_builder.sources.wiki.dump import Siteinfo, parse_page, parse_page_tree, read_siteinfo

LANGS = ("bn", "el", "hy", "ja", "mr", "uk", "vi")

needs_compiled = pytest.mark.skipif(tokens._tokencount is None,
                                    reason="the compiled counter is not built (no C compiler at install)")


def _sources(wiki_sample):
    from conftest import SHARED_DATA

    found = {"en": wiki_sample}
    for lang in LANGS:
        path = SHARED_DATA / "wiki-truncated-dumps" / f"{lang}wiki-truncated-100k.xml.xz"
        if path.exists():
            found[lang] = path
    return found


@pytest.fixture(scope="module")
def real_pages(wiki_sample):
    """lang -> (siteinfo, [page blob]): every complete page of every real dump available."""
    out = {}
    for lang, path in _sources(wiki_sample).items():
        xml = realtext.read_source(path)
        header, pages, _ = wikidump.split_dump(xml)
        out[lang] = (read_siteinfo(path), [p.strip() for p in pages])
    if len(out) < 1 + len(LANGS):
        pytest.skip("the truncated dumps of ../shared/data are absent: only the English sample checked elsewhere")
    return out


@pytest.fixture(scope="module")
def real_articles(real_pages):
    """lang -> (siteinfo, [(page, clean text)]) of every main-namespace article."""
    out = {}
    for lang, (info, blobs) in real_pages.items():
        pages = [parse_page_tree(b, info) for b in blobs]
        articles = [p for p in pages if p.ns == 0 and p.redirect is None]
        out[lang] = (info, [(p, cleaner.clean_fast(p.text, info)) for p in articles])
    return out


def _outcome(parse, blob, info):
    try:
        return "ok", vars(parse(blob, info))
    except (ET.ParseError, ValueError) as exc:
        return "error", type(exc).__name__, str(exc)


def test_expat_page_fields_equal_elementtree_on_every_real_page(real_pages):
    n = 0
    for lang, (info, blobs) in real_pages.items():
        for blob in blobs:
            assert _outcome(parse_page, blob, info) == _outcome(parse_page_tree, blob, info), (lang, blob[:80])
            n += 1
    assert n == 206 + 5_623


def test_expat_page_fields_equal_elementtree_on_malformed_and_odd_pages(real_pages):
    info, blobs = real_pages["en"]
    page = next(b for b in blobs if b"&quot;" in b and b"<ns>0</ns>" in b)
    edits = [
        (b"</title>", b""),  # mismatched tag
        (b"&quot;", b"&nbsp;"),  # undefined entity
        (b"&quot;", b"&#0;"),  # invalid character reference
        (b"&quot;", b"&#x1F600;"),
        (b"\n", b"\r\n"),  # line ends normalised
        (b"<text ", b'<text a="1\tb" '),
        (b"</text>", b"<b>x</b>tail</text>"),  # a child element ends .text
        (b"<ns>0</ns>", b""),
        (b"<ns>0</ns>", b"<ns>x</ns>"),
        (b"<revision>", b"<revision><text>first</text></revision><revision>"),
        (b"<title>", b"<title>a<sub/>b"),
        (b"<title>", b'<redirect title="A&amp;B\tC" /><title>'),
        (b"<page>", b"<page><b:x/>"),  # unbound prefix (namespaces on, as ElementTree)
        (b"<title>", b"<title><!-- c --><?pi x?>"),
        (b"</text>", b"<![CDATA[x<y]]></text>"),
    ]
    variants = [page.replace(old, new, 1) for old, new in edits] + [
        page[:-20], page + b"junk", page.replace(b"a", b"\xff", 1),
        b"<page><title>x</title><id>1</id></page>",
        b"<page><title>x</title><id>1</id><revision><text/></revision></page>",
    ]
    outcomes = []
    for blob in variants:
        fast, tree = _outcome(parse_page, blob, info), _outcome(parse_page_tree, blob, info)
        assert fast == tree, blob[:120]
        outcomes.append(fast[0])
    # the malformed ones really are: mismatched tag, undefined entity, &#0;, <ns>x, unbound prefix,
    # cut, junk after the page, bad UTF-8, no <revision>
    errors = [0, 1, 2, 8, 12, 15, 16, 17, 18]
    assert outcomes == ["error" if i in errors else "ok" for i in range(len(variants))]


@needs_compiled
def test_char_table_from_c_equals_the_one_from_re():
    assert tokens._tokencount.char_table() == tokens.char_table_from_re()


def _reference_tables(texts):
    words, articles, cased, pairs = Counter(), Counter(), Counter(), Counter()
    for text in texts:
        found = tokens.unigram_tokens(text)
        words.update(found)
        articles.update(set(found))
        for run in tokens.runs(text):
            cased.update(run)
            pairs.update(zip(run, run[1:]))
    return {"words": {w: (n, articles[w]) for w, n in words.items()}, "cased": dict(cased), "bigrams": dict(pairs)}


def _tables(counter, texts):
    for text in texts:
        counter.add_text(text)
    t = {name: table.to_pydict() for name, table in counter.tables().items()}
    return {"words": {w: (n, a) for w, n, a in zip(t["words"]["word"], t["words"]["count"], t["words"]["articles"])},
            "cased": dict(zip(t["cased"]["word"], t["cased"]["count"])),
            "bigrams": {(a, b): n for a, b, n in zip(t["bigrams"]["w1"], t["bigrams"]["w2"], t["bigrams"]["count"])}}


@needs_compiled
def test_compiled_counter_equals_the_reference_on_every_real_article(real_articles):
    sizes = {}
    for lang, (_, articles) in real_articles.items():
        texts = [text for _, text in articles]
        got, want = _tables(tokens.CompiledShardCounts(), texts), _reference_tables(texts)
        for part in ("words", "cased", "bigrams"):
            assert got[part] == want[part], (lang, part)
        sizes[lang] = len(want["words"])
    assert sizes == {"en": 35_158, "bn": 13_809, "el": 75_359, "hy": 90_152, "ja": 113_781, "mr": 11_175,
                     "uk": 87_135, "vi": 22_929}


@needs_compiled
def test_compiled_counter_on_every_code_point():
    """Each code point alone, between letters, after a word, and upper/lower-case contexts (final
    sigma, dotted I) against the reference forms."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    texts = [f"a{c}b c{c} {c}d x\u03a3{c}y" for c in chars[::7]] + [f"Ab{c}CD ef {c}" for c in chars[3::7]]
    texts += ["ΟΔΟΣ. ΟΔΟΣ ΟΔΟΣ's İstanbul İi", "’tis rock’n’roll – well–known", "a\u2028b c\x1cd e\x85f", ""]
    rng = random.Random(0)
    for _ in range(2_000):
        texts.append("".join(rng.choice(["Σ", "σ", "İ", "a", "B", " ", "\n", "'", "-", "1", ".", "\u2013", "\u2019",
                                         "ß", "\u0345", "\u00a0", "_"]) for _ in range(rng.randint(0, 12))))
    for chunk in range(0, len(texts), 40_000):
        part = texts[chunk:chunk + 40_000]
        assert _tables(tokens.CompiledShardCounts(), part) == _reference_tables(part)


def test_link_pass_and_table_pass_equal_their_plain_forms(real_pages):
    rng = random.Random(1)
    for lang, (info, blobs) in real_pages.items():
        rule = cleaner._LinkRule(info)
        for blob in blobs[:400]:
            text = parse_page_tree(blob, info).text
            assert cleaner._replace_links(text, rule) == cleaner._replace_links_plain(text, rule), lang
            assert cleaner._remove_tables(text) == cleaner._remove_tables_plain(text), lang
    rule = cleaner._LinkRule(real_pages["en"][0])
    for _ in range(30_000):
        text = "".join(rng.choice(["[[", "]]", "|", ":", "a", "B", " ", "File:", "fr:", ":Category:", "\n", "é"])
                       for _ in range(rng.randint(0, 12)))
        assert cleaner._replace_links(text, rule) == cleaner._replace_links_plain(text, rule), text
        table = "".join(rng.choice(["{|", "|}", " ", "\n", "\t", "a", "|", "{", "}", "\r", "\u00a0"])
                        for _ in range(rng.randint(0, 14)))
        assert cleaner._remove_tables(table) == cleaner._remove_tables_plain(table), table


def test_link_targets_fast_path_equals_the_reference(real_pages):
    n = 0
    for lang, (info, blobs) in real_pages.items():
        raws = list(dict.fromkeys(r for b in blobs for r in _LINK.findall(parse_page_tree(b, info).text)))
        assert normalize_titles(raws, info) == [normalize_title(r, info) for r in raws], lang
        n += len(raws)
    assert n > 250_000
    info = Siteinfo({0: "", 1: "Talk", 6: "File", 14: "Category"})
    rng = random.Random(2)
    alphabet = list(" _\t:#aBßŉǅ&;xÀ\u00a0\u2003") + ["&amp;", "&#124;", "Talk:", "File:", "ﬀ", ""]
    raws = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(30_000)]
    for first_letter in (True, False):
        info.first_letter = first_letter
        assert normalize_titles(raws, info) == [normalize_title(r, info) for r in raws]


def test_a_run_imports_neither_pandas_nor_pyarrow_compute(wiki_sample, tmp_path):
    """The fixed start-up stays small: a whole wiki-count run in a fresh process never imports pandas
    (~0.4 s: pyarrow's pa.array/to_numpy would) nor pyarrow.compute (~0.1 s)."""
    code = (
        "import sys, json\n"
        "from metadata_builder import cli\n"
        f"assert cli.main(['wiki-count', {str(wiki_sample)!r}, '--out', {str(tmp_path / 'out')!r}, '--workers', '2', "
        "'--no-progress']) == 0\n"
        "print(json.dumps(sorted(m for m in ('pandas', 'pyarrow.compute') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    expected = [] if tokens._tokencount is not None else ["pandas", "pyarrow.compute"]  # the Arrow form needs them
    assert imported == expected
