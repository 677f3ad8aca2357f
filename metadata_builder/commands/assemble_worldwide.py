"""Assemble the metadata of every language found in a folder of per-language sources (recipe
metaclip-v2, Meta CLIP 2): SOURCES/wiki/<lang>/ (wiki-count outputs), SOURCES/wordnet.parquet
('wordnet --lang all'), SOURCES/pageviews.parquet ('pageviews --all-languages', optional: titles are
ranked by in-links without it). English takes the v1 metadata given with --english.

Writes OUT/{lang}.json (a JSON list of strings, id = index), OUT/{lang}.parquet (id, entry, source,
score_name, score), OUT/summary.tsv (lang, wordnet, unigrams, bigrams, titles, total) and
OUT/summary.json (each language's sources with their caps), and prints the per-language table.
"""

from ..assemble_worldwide import BIGRAM_SCORES, assemble_folder, format_languages
from ..runtime import storage

NAME = "assemble-worldwide"
HELP = "every language of a folder of per-language sources -> metadata_per_lang/{lang}.json (recipe metaclip-v2)"


def add_arguments(p):
    p.add_argument("sources", help="folder holding wiki/<lang>/, wordnet.parquet and optionally pageviews.parquet")
    p.add_argument("--out", help="output folder (default: SOURCES/metadata_per_lang)")
    p.add_argument("--english", help="the v1 metadata.json that becomes en.json (metadata.parquet beside it is used too)")
    p.add_argument("--omw-map", default="metaclip-v2",
                   help="OMW -> Wikipedia map: metaclip-v2 (default: Albanian als -> sq), released (als -> als), "
                        "or a .tsv with columns omw, wiki")
    p.add_argument("--bigram-score", choices=BIGRAM_SCORES, default="score_v2",
                   help="the score compared with 30 (strict): score_v2 (default) or pmi")
    p.add_argument("--title-min-inlinks", type=int, default=1,
                   help="without pageviews: titles need this many in-links (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    out = args.out or storage.join(args.sources, "metadata_per_lang")
    storage.check_writable(out, folder=True)
    summary = assemble_folder(args.sources, out, english=args.english, omw_map=args.omw_map,
                              bigram_score=args.bigram_score, min_inlinks=args.title_min_inlinks,
                              progress=not args.no_progress)
    print(format_languages(summary))
    print(f"\n{len(summary)} languages -> {out}/{{lang}}.json, {{lang}}.parquet, summary.tsv")
