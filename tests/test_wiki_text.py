"""Wikitext cleaning and the recipe's tokens: rules on small cases, both cleaners on the real sample."""

from __future__ import annotations

from collections import Counter

import pytest

from metadata_builder.sources.wiki.cleaner import clean_fast, clean_mwparserfromhell
from metadata_builder.sources.wiki.dump import ReadReport, Siteinfo, iter_pages, plan_shards
from metadata_builder.sources.wiki.tokens import ShardCounts, is_word, runs, unigram_tokens

INFO = Siteinfo({0: "", 6: "File", 14: "Category", 10: "Template"})


def test_unigram_rule_of_the_spec():
    text = "The U.S. dog's 'quoted' well-known dog- 3rd 1990s café–bar rock’n’roll _x_ Über"
    assert unigram_tokens(text) == ["the", "u", "s", "dog's", "well-known", "café-bar", "rock'n'roll",
                                    "_x_", "über"]
    assert [is_word(w) for w in ("dog", "-a", "a-", "a1", "'t", "x_y", "é")] == [True, False, False, False,
                                                                                 False, True, True]


def test_runs_break_at_punctuation_lines_and_dropped_pieces():
    text = "New York City, in 1990 the big apple\nUnited  States (USA) of 'America"
    # "'America" starts with an apostrophe: the rule drops it whole
    assert runs(text) == [["New", "York", "City"], ["in"], ["the", "big", "apple"], ["United", "States"],
                          ["USA"], ["of"]]
    counts = ShardCounts()
    counts.add_text(text)
    tables = {name: table.to_pydict() for name, table in counts.tables().items()}
    bigrams = Counter(dict(zip(zip(tables["bigrams"]["w1"], tables["bigrams"]["w2"]), tables["bigrams"]["count"])))
    pairs = Counter(p for run in runs(text) for p in zip(run, run[1:]))
    assert bigrams == pairs
    assert ("City", "in") not in bigrams and ("in", "the") not in bigrams
    assert Counter(dict(zip(tables["words"]["word"], tables["words"]["count"]))) == Counter(unigram_tokens(text))


def test_fast_cleaner_rules():
    wikitext = (
        "'''Anarchism''' is a [[political philosophy]]<ref name=a>Cite ''this''</ref> of [[dog]]s"
        "{{citation needed|date=2020}}<!-- hidden --> and [[Stateless society|stateless societies]].\n"
        "[[File:A.jpg|thumb|A [[caption]] here]]\n[[Category:Anarchism]]\n[[fr:Anarchisme]]\n"
        "{| class=wikitable\n|-\n| cell || cell\n|}\n"
        "== History ==\n* An [http://example.org external link] and http://bare.example.org &amp; &nbsp;x<br/>y\n"
        "{{Infobox|a={{nested|b}}|c=d}}[[:Category:Visible]]"
    )
    assert clean_fast(wikitext, INFO) == (
        "Anarchism is a political philosophy of dogs and stateless societies.\n\n\n\n"
        "History\nAn external link and  & \xa0x\ny\nCategory:Visible"
    )


def test_reference_cleaner_drops_files_and_categories():
    text = clean_mwparserfromhell("A [[dog|hound]].\n[[File:A.jpg|thumb|caption]]\n[[Category:X]] {{t|x}}", INFO)
    assert text.strip() == "A hound."


def _counts(pages, clean, info):
    counts = Counter()
    for page in pages:
        counts.update(unigram_tokens(clean(page.text, info)))
    return counts


@pytest.mark.slow  # mwparserfromhell needs ~9 s of CPU for the 106 articles
def test_fast_cleaner_against_mwparserfromhell_on_the_sample(wiki_sample):
    """Measured gap between the two cleaners (reported in README "Wikipedia sources")."""
    [shard] = plan_shards([wiki_sample], 1 << 26)
    pages = [p for p in iter_pages(shard, ReadReport()) if p.ns == 0 and p.redirect is None]
    fast = _counts(pages, clean_fast, shard.siteinfo)
    ref = _counts(pages, clean_mwparserfromhell, shard.siteinfo)
    assert (sum(fast.values()), sum(ref.values())) == (442_881, 486_071)
    assert (len(fast), len(ref)) == (35_158, 39_731)
    l1 = sum(abs(fast[w] - ref[w]) for w in fast.keys() | ref.keys())
    assert l1 == 43_392  # 8.9% of the reference's tokens
    top = lambda c, k: {w for w, _ in c.most_common(k)}  # noqa: E731
    assert len(top(fast, 1000) & top(ref, 1000)) == 944
    assert len(top(fast, 100) & top(ref, 100)) == 94


def test_unclosed_markup_is_text_not_a_hang():
    """Unclosed refs, links and external links (vandalised pages) end as text, in linear time."""
    assert clean_fast("[http://x a " * 3 + "end", INFO) == "[ a [ a [ a end"  # bare URLs removed
    assert clean_fast("a <ref>b <ref>c</ref> d", INFO) == "a b  d"
    assert clean_fast("[[a|b " * 3 + "c]]", INFO) == "[[a|b [[a|b b c"
    assert clean_fast("{{a " * 3 + "x }}", INFO) == "{{a {{a "  # the innermost closed one goes


@pytest.mark.parametrize("arrow_space", [True, False])
def test_arrow_pieces_equal_python_pieces_on_every_code_point(arrow_space, monkeypatch):
    """The Arrow tokeniser's RE2 class is built from Python's answers: check all 1.1M code points,
    with Arrow's white-space split and with the regex split used when Arrow's white space differs."""
    from metadata_builder.sources.wiki import tokens
    from metadata_builder.sources.wiki.tokens import _pieces, run_tokens

    rules = tokens.arrow_rules()
    assert rules.same_space  # this pyarrow splits on exactly Python's white space
    monkeypatch.setattr(tokens, "_ARROW", rules._replace(same_space=arrow_space))
    texts = [f"a{chr(c)}b c" for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    squeeze = lambda tokens: [t for i, t in enumerate(tokens) if t and not (t == "|" == tokens[i - 1])]  # noqa: E731
    got = _pieces(texts).to_pylist()
    differ = [t for t, pieces in zip(texts, got) if squeeze(pieces) != squeeze(run_tokens(t))]
    assert differ == []
    assert got[ord(".")] == ["a", "|", "b", "c"] and got[ord("é")] == ["aéb", "c"] and got[ord("\n")] == ["a", "|", "b", "c"]


def test_fast_forms_of_cleaner_rules_equal_their_plain_regexes():
    """The list-mark regex and the URL search are rewritten for speed; fuzz them against the plain forms."""
    import random
    import re

    from metadata_builder.sources.wiki import cleaner

    plain_marks, plain_urls = re.compile(r"^[*#:;]+\s*", re.M), cleaner._URL
    rng = random.Random(0)
    for _ in range(20_000):
        text = "".join(rng.choice(["*", "#", ":", ";", " ", "\n", "\t", "a", "/", "http", "s", "ftp", "://", "]"])
                       for _ in range(rng.randint(0, 16)))
        assert cleaner._LIST_MARK.sub("", text) == plain_marks.sub("", text), text
        assert cleaner._remove_urls(text) == plain_urls.sub("", text), text


def test_arrow_word_flags_equal_is_word_on_every_word_character():
    """The vectorised rule (no \\d, no ' or - at either end) against the regex, around every \\w, ' and -."""
    from metadata_builder.sources.wiki.tokens import _word_flags

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and is_word("a" + chr(c) + "a")
             or chr(c) in "'-"]
    pieces = [p for c in chars for p in (c, "a" + c, c + "a", "a" + c + "a", c + "'", "-" + c)]
    assert len(chars) > 130_000
    assert _word_flags(pieces).tolist() == [int(is_word(p)) for p in pieces]


@pytest.mark.parametrize("form", ["compiled", "arrow"])
def test_spilled_counters_are_freed_without_the_garbage_collector(form):
    """No reference cycles: a worker drops each spilled counter (and its vocabularies) at once."""
    import gc
    import weakref

    from metadata_builder.sources.wiki import tokens

    if form == "compiled" and tokens._tokencount is None:
        pytest.skip("the compiled counter is not built (no C compiler at install)")
    counts = {"compiled": tokens.CompiledShardCounts, "arrow": tokens.ArrowShardCounts}[form]()
    counts.add_text("New York City, in 1990 the big apple")
    counts.tables()
    parts = [counts._cased, counts._lower] if form == "arrow" else [counts.links]
    refs = [weakref.ref(counts)] + [weakref.ref(p) for p in parts]
    del parts
    gc.disable()
    try:
        del counts
        assert [r() for r in refs] == [None] * len(refs)
    finally:
        gc.enable()
