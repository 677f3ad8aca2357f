"""Match alt-text pools against the metadata (docs/recipe.md §2 sub-string matching) and write a match folder.

The folder (shards/*.parquet with the matched entry ids per text, entry_counts.npy/.json,
stats.json, manifest.json) is all that ``balance`` and the analyses need. A killed run resumes:
rerun the same command.

Worldwide (Meta CLIP 2, docs/recipe.md §4): give each text's language with --lang-id (an offline
model) or --lang-column, and --metadata a folder of per-language lists (metadata_per_lang/): every
text is matched against its own language's list only, and counts are kept per language.
"""


from ..match.engine import DUPLICATES, ENGINES
from ..match.languages import INSTALL_HINT, MODELS
from ..match.normalize import DEFAULT, OPTIONS
from ..match.pools import FORMATS
from ..match.run import match_pools
from ..runtime import executor

NAME = "match"
HELP = "sub-string match alt-text pools against the metadata (entry counts, matched ids per text)"


def add_arguments(p):
    p.add_argument("pools", nargs="+", metavar="POOL", help="pool files, folders or globs; local or URLs (s3://, gs://, file://)")
    p.add_argument("--metadata", required=True,
                   help="metadata.json (a JSON list of strings) or metadata.parquet, or a folder of per-language lists "
                        "{lang}.json (metadata_per_lang/, needs --lang-id or --lang-column); a path or URL")
    p.add_argument("--out", required=True, help="output folder, local or a URL such as s3://bucket/match (resumed when it exists)")
    p.add_argument("--text-column", help="text column name, or a column number for tsv/csv without header "
                                         "(default: the first of TEXT, text, caption, ...; column 0 without header)")
    p.add_argument("--id-column", help="a column kept beside the row number in the outputs")
    p.add_argument("--column-names", type=_names, metavar="NAME,NAME,...",
                   help="names for the columns of headerless tsv/csv files, e.g. caption,url for CC3M: "
                        "--text-column then takes a name, and the curated rows of 'balance' carry these names")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="pool format (default: by extension)")
    p.add_argument("--normalize", default=None,
                   help=f"{DEFAULT} (published rule; the default for one list) or a comma-separated list of "
                        f"{', '.join(OPTIONS)} (script-aware is the default for a per-language folder)")
    p.add_argument("--matcher", default="auto", choices=ENGINES,
                   help="engine: hash (fast, space-padded keys), automaton (pyahocorasick, any key), mixed "
                        "(hash + automaton for the keys without padding); the same results")
    lang = p.add_mutually_exclusive_group()
    lang.add_argument("--lang-id", choices=MODELS,
                      help=f"find each text's language with this offline model ({INSTALL_HINT}); "
                           "fasttext-lid176: fastText's lid.176.ftz, as Meta CLIP 2 released")
    lang.add_argument("--lang-column", help="the pool column holding each text's language (lid.176 labels or "
                                            "Wikipedia codes)")
    p.add_argument("--duplicate-ids", default="all", choices=DUPLICATES,
                   help="a duplicated entry string credits all its ids (default, the published plain matcher) or "
                        "only the last (the released pyahocorasick matchers)")
    p.add_argument("--batch-size", type=int, default=8192, help="rows per batch (default 8192; memory per worker grows with it)")
    executor.add_executor_arguments(p)


def _names(value: str) -> list[str]:
    import argparse

    names = [n.strip() for n in value.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{value!r}: give distinct, non-empty names separated by commas")
    return names


def run(args):
    stats = match_pools(args.pools, args.metadata, args.out, text_column=args.text_column,
                        id_column=args.id_column, column_names=args.column_names, fmt=args.format, normalize=args.normalize,
                        matcher=args.matcher, batch_size=args.batch_size, executor=executor.from_args(args),
                        lang_id=args.lang_id, lang_column=args.lang_column, duplicates=args.duplicate_ids)
    for warning in stats.get("warnings", []):
        print(f"warning: {warning}")
    if stats.get("up_to_date"):
        print(f"{args.out} is up to date (same metadata and pool files, finished); its counts:")
    if stats.get("languages"):
        print(language_table(stats))
    print(f"{stats['texts']:,} texts, {stats['matched_texts']:,} with a match ({stats['matched_share']:.1%}), "
          f"{stats['matches']:,} matches ({stats['matches_per_text']:.2f} per text); "
          f"{stats['entries_matched']:,} of {stats['entries']:,} entries matched -> {args.out}")


def language_table(stats: dict) -> str:
    """One line per language: texts, matched texts, matches, entries hit (units: texts)."""
    lines = [f"{'language':<9} {'texts':>10} {'matched':>10} {'share':>7} {'matches':>11} {'entries hit':>17}"]
    for lang, s in sorted(stats["languages"].items(), key=lambda kv: (-kv[1]["texts"], kv[0])):
        hit = f"{s['entries_matched']:,} of {s['entries']:,}" if s["entries"] else "no metadata"
        lines.append(f"{lang:<9} {s['texts']:>10,} {s['matched_texts']:>10,} {s['matched_share']:>7.1%} "
                     f"{s['matches']:>11,} {hit:>17}")
    return "\n".join(lines)
