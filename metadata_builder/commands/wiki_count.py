"""Count a Wikipedia XML dump: unigrams (docs/recipe.md §1.4 rule), bigrams with PMI and Meta CLIP 2 score, titles
with in-links. Streaming and sharded (multistream dumps are split by stream byte ranges); a killed
run, restarted with the same arguments, redoes only the unfinished shards.

Writes in --out: unigrams.parquet (word, count, articles), bigrams.parquet (w1, w2, count, c1, c2,
pmi, score_v2), titles.parquet (title, page_id, inlinks), stats.json, and shards/ (partials; keep them
to resume, delete them once done).
"""

import json

from ..runtime import executor
from ..sources.wiki.cleaner import CLEANERS
from ..sources.wiki.counts import wiki_count
from ..sources.wiki.counts.merge import BIGRAM_TABLES
from ..sources.wiki.segment import SEGMENTERS
from ..sources.wiki.tokenization import TOKEN_RECIPES

NAME = "wiki-count"
HELP = "unigram counts, bigram PMI and titles with in-links from Wikipedia XML dumps"


def add_arguments(p):
    p.add_argument("dumps", nargs="+", metavar="DUMP",
                   help="MediaWiki dump(s), paths or URLs (s3://, gs://, file://): .xml.bz2, .xml.gz, .xml.xz (one shard each), a multistream .xml.bz2 "
                        "with its -index.txt.bz2 beside it, or .xml (both split into shards by byte range)")
    p.add_argument("--out", required=True, help="output folder, local or a URL such as s3://bucket/wiki")
    p.add_argument("--cleaner", choices=CLEANERS, default="fast",
                   help="wikitext -> text: fast (regex, default) or mwparserfromhell (strip_code, slower reference)")
    p.add_argument("--bigrams", dest="bigram_table", choices=BIGRAM_TABLES, default="all",
                   help="all: every bigram with pmi and score_v2 (default); pmi30: only PMI >= 30 "
                        "(recipe metaclip-v1; exact shortcut, far less merge work on a full dump)")
    p.add_argument("--pmi-min", type=float, default=30.0,
                   help="the PMI floor of --bigrams pmi30 (default 30, the recipe; the shortcut stays exact)")
    p.add_argument("--shard-mb", type=float, default=None,
                   help="MB per shard of a multistream .xml.bz2 (compressed) or a plain .xml "
                        "(default: 1/16 of the dumps' size, between 8 and 64)")
    p.add_argument("--spill-entries", type=int, default=3_000_000,
                   help="a worker writes its counters out past this many keys (bounds its memory; default 3M)")
    p.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit of the merge (default 4GB)")
    p.add_argument("--tokens", choices=TOKEN_RECIPES, default="auto",
                   help="tokenisation recipe: metaclip-v1 (lower-cased words, sentence-level bigrams), metaclip-v2 "
                        "(Meta CLIP 2: white space, CJK-like characters and punctuation alone, case kept, a word "
                        "segmenter for languages without spaces); auto (default): v1 for English, v2 otherwise")
    p.add_argument("--lang", help="the dumps' Wikipedia code (ja, vi, zh_yue...; default: from their <siteinfo>)")
    p.add_argument("--segmenter", choices=sorted(SEGMENTERS),
                   help="metaclip-v2: another segmenter than the language's (mecab-ipadic for ja, jieba for zh...)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    executor.add_executor_arguments(p)


def run(args):
    stats = wiki_count(args.dumps, args.out, cleaner=args.cleaner, shard_mb=args.shard_mb,
                       spill_entries=args.spill_entries, bigram_table=args.bigram_table,
                       memory_limit=args.memory_limit, pmi_min=args.pmi_min, executor=executor.from_args(args),
                       tokens=args.tokens, lang=args.lang, segmenter=args.segmenter)
    if stats.get("up_to_date"):
        print(f"{args.out} is up to date (same dumps and options, finished); its counts:")
    recipe = stats.get("tokens_recipe", "metaclip-v1")
    print(f"language {stats.get('lang') or 'not given'}, tokens {recipe}"
          + (f", segmenter {stats['segmenter']}" if stats.get("segmenter") else ""))
    print(f"{stats['pages']:,} pages: {stats['articles']:,} articles, {stats['redirects']:,} redirects, "
          f"{stats['other_namespaces']:,} other namespaces, {stats['skipped']:,} skipped\n"
          f"{stats['tokens']:,} tokens, {stats['distinct_words']:,} words, {stats['bigram_rows']:,} bigrams, "
          f"{stats['titles']:,} titles ({stats['bytes'] / 1e6:,.1f} MB of XML in "
          f"{stats['timings']['total_seconds']:.1f} s; {stats['shards_resumed']} of {stats['shards']} shards resumed)")
    for bad in stats.get("corrupt_streams", []):
        print(f"corrupt: {bad['path']}: the bz2 stream at byte {bad['offset']:,} cannot be decoded ({bad['error']}); "
              f"its {bad['pages_lost']:,} pages were skipped, the rest of the shard was read")
    for cut in stats["cut"]:
        print(f"truncated: {cut['path']} (shard {cut['shard']}) at byte {cut['offset']:,}: {cut['reason']}; "
              f"last complete page {json.dumps(cut['last_complete_page'], ensure_ascii=False)}")
    print(f"-> {args.out}")
