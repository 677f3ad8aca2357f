"""Assemble metadata.json (+ metadata.parquet) from the sources, in Table 1's order.

Seeds "0".."99", then WordNet, Wikipedia unigrams, bigrams and titles (each optional but WordNet),
each cut by its threshold; defaults are recipe metaclip-v1's (count >= 100 and >= 3 articles,
PMI >= 30, summed views >= 70). Without pageviews, titles can be ranked by in-links instead.
"""

from ..assemble import (
    assemble,
    bigram_source,
    format_summary,
    title_source_inlinks,
    title_source_views,
    unigram_source,
    wordnet_source,
    write_outputs,
)
from ..errors import UserError

NAME = "assemble"
HELP = "seeds + WordNet + Wikipedia sources -> metadata.json and metadata.parquet"


def add_arguments(p):
    p.add_argument("--wordnet", help="output of 'metadata-builder wordnet' (a path or URL; required by metaclip-v1)")
    wiki = p.add_argument_group("Wikipedia sources (outputs of 'metadata-builder wiki-count' and 'pageviews')")
    wiki.add_argument("--unigrams", help="unigrams.parquet (word, count, articles)")
    wiki.add_argument("--unigram-min", type=int, default=100, help="keep words with count >= this (default 100)")
    wiki.add_argument("--unigram-min-articles", type=int, default=3,
                      help="... and seen in >= this many articles (default 3; needs an 'articles' column)")
    wiki.add_argument("--bigrams", help="bigrams.parquet (w1, w2, count, c1, c2, pmi, score_v2)")
    rule = wiki.add_mutually_exclusive_group()
    rule.add_argument("--bigram-pmi", type=float, default=None,
                      help="keep pairs with NLTK PMI >= this (default 30, recipe metaclip-v1)")
    rule.add_argument("--bigram-budget", type=int, default=None,
                      help="instead: the N pairs of best Meta CLIP 2 score_v2")
    wiki.add_argument("--titles",
                      help="titles.parquet (title, page_id, inlinks): the title source when ranked by in-links")
    wiki.add_argument("--pageviews", help="output of 'metadata-builder pageviews' (title, views)")
    wiki.add_argument("--title-rank", choices=("views", "inlinks"),
                      help="rank titles by summed pageviews (recipe; default when --pageviews is given) "
                           "or by in-links (default otherwise)")
    wiki.add_argument("--title-min-views", type=int, default=70,
                      help="keep titles with summed views >= this (default 70)")
    wiki.add_argument("--title-in-dump", action="store_true",
                      help="with --title-rank views and --titles: keep only titles that are articles of the dump "
                           "(the recipe keeps every pageview title)")
    wiki.add_argument("--title-min-inlinks", type=int, default=1,
                      help="with --title-rank inlinks: keep titles with >= this many in-links (default 1)")
    p.add_argument("--total", type=int, default=500_000, help="stop at exactly this many entries (default 500000)")
    v2 = p.add_argument_group("recipe metaclip-v2 (Meta CLIP 2: one language's metadata, with caps instead of thresholds)")
    v2.add_argument("--recipe", choices=("metaclip-v1", "metaclip-v2"), default="metaclip-v1",
                    help="metaclip-v1 (default): English, Table 1's thresholds; metaclip-v2: one language (--lang), "
                         "--wordnet is the table of 'wordnet --lang', --pageviews of 'pageviews --all-languages'")
    v2.add_argument("--lang", help="with --recipe metaclip-v2: the Wikipedia code to assemble (ja, vi, ...)")
    v2.add_argument("--omw-map", default="metaclip-v2",
                    help="OMW -> Wikipedia map: metaclip-v2 (default: Albanian als -> sq), released (als -> als, "
                         "Alemannic), or a .tsv with columns omw, wiki")
    v2.add_argument("--bigram-score", choices=("score_v2", "pmi"), default="score_v2",
                    help="the score compared with 30 (strict): score_v2 (default, the paper's corrected PMI) or "
                         "pmi (plain NLTK PMI, which cannot exceed log2 N)")
    p.add_argument("--out", required=True, help="metadata.json path (or URL); metadata.parquet is written beside it")


def title_source(args):
    """The title source the options ask for, or None."""
    rank = args.title_rank or ("views" if args.pageviews else "inlinks")
    if rank == "views":
        if args.pageviews is None:
            raise UserError("--title-rank views needs --pageviews (output of 'metadata-builder pageviews')")
        return title_source_views(args.pageviews, args.title_min_views, args.titles if args.title_in_dump else None)
    if args.title_in_dump:
        raise UserError("--title-in-dump applies to --title-rank views only")
    if args.titles is None:
        if args.title_rank == "inlinks":
            raise UserError("--title-rank inlinks needs --titles (titles.parquet of 'metadata-builder wiki-count')")
        return None
    return title_source_inlinks(args.titles, args.title_min_inlinks)


def run(args):
    from ..runtime import storage

    storage.check_writable(args.out)
    if args.recipe == "metaclip-v2":
        return _run_v2(args)
    if args.lang is not None:
        raise UserError("--lang needs --recipe metaclip-v2 (recipe metaclip-v1 is English)")
    if args.wordnet is None:
        raise UserError("--wordnet is required (the output of 'metadata-builder wordnet')")
    sources = [wordnet_source(args.wordnet)]
    if args.unigrams is not None:
        sources.append(unigram_source(args.unigrams, args.unigram_min, args.unigram_min_articles))
    if args.bigrams is not None:
        pmi = args.bigram_pmi if args.bigram_pmi is not None or args.bigram_budget is not None else 30.0
        sources.append(bigram_source(args.bigrams, pmi, args.bigram_budget))
    elif args.bigram_pmi is not None or args.bigram_budget is not None:
        raise UserError("--bigram-pmi/--bigram-budget need --bigrams (bigrams.parquet of 'metadata-builder wiki-count')")
    title = title_source(args)
    if title is not None:
        sources.append(title)
    result = assemble(sources, total=args.total)
    out_json, out_parquet = write_outputs(result, args.out)
    print(format_summary(result.summary))
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"\n{len(result.table):,} entries -> {out_json}\n{'':>{len(f'{len(result.table):,} entries')}} -> {out_parquet}")


def _run_v2(args):
    from .. import languages
    from ..assemble_worldwide import assemble_language, language_sources, write_language

    if args.lang is None:
        raise UserError("--recipe metaclip-v2 needs --lang (a Wikipedia code: ja, vi, ...); "
                        "'assemble-worldwide' does every language of a folder")
    lang = languages.check_wiki_code(args.lang)
    if lang == "en":
        raise UserError("--lang en: English takes the v1 metadata (Meta CLIP 2); run 'assemble' with recipe metaclip-v1")
    if args.bigram_budget is not None or args.bigram_pmi is not None:
        raise UserError("--bigram-pmi/--bigram-budget are metaclip-v1 options; metaclip-v2 keeps --bigram-score > 30 "
                        "with a cap")
    if args.pageviews is not None and args.titles is not None:
        raise UserError("give --pageviews (titles by views) or --titles (by in-links), not both")
    sources = language_sources(lang, wordnet=args.wordnet, unigrams=args.unigrams, bigrams=args.bigrams,
                               titles=args.titles, pageviews=args.pageviews, omw_map=args.omw_map,
                               bigram_score=args.bigram_score, min_inlinks=args.title_min_inlinks)
    result = assemble_language(sources)
    out_json, out_parquet = write_language(result, args.out)
    print(f"recipe metaclip-v2, language {lang}")
    print(format_summary(result.summary))
    print(f"\n{len(result.table):,} entries -> {out_json}\n{'':>{len(f'{len(result.table):,} entries')}} -> {out_parquet}")
