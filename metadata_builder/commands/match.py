"""Match alt-text pools against the metadata (docs/recipe.md §2 sub-string matching) and write a match folder.

The folder (shards/*.parquet with the matched entry ids per text, entry_counts.npy/.json,
stats.json, manifest.json) is all that ``balance`` and the analyses need. A killed run resumes:
rerun the same command.
"""


from ..match.engine import ENGINES
from ..match.normalize import DEFAULT, OPTIONS
from ..match.pools import FORMATS
from ..match.run import match_pools
from ..runtime import executor

NAME = "match"
HELP = "sub-string match alt-text pools against the metadata (entry counts, matched ids per text)"


def add_arguments(p):
    p.add_argument("pools", nargs="+", metavar="POOL", help="pool files, folders or globs; local or URLs (s3://, gs://, file://)")
    p.add_argument("--metadata", required=True,
                   help="metadata.json (a JSON list of strings) or metadata.parquet (a path or URL)")
    p.add_argument("--out", required=True, help="output folder, local or a URL such as s3://bucket/match (resumed when it exists)")
    p.add_argument("--text-column", help="text column name, or a column number for tsv/csv without header "
                                         "(default: the first of TEXT, text, caption, ...; column 0 without header)")
    p.add_argument("--id-column", help="a column kept beside the row number in the outputs")
    p.add_argument("--column-names", type=_names, metavar="NAME,NAME,...",
                   help="names for the columns of headerless tsv/csv files, e.g. caption,url for CC3M: "
                        "--text-column then takes a name, and the curated rows of 'balance' carry these names")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="pool format (default: by extension)")
    p.add_argument("--normalize", default=DEFAULT,
                   help=f"{DEFAULT} (published rule, default) or a comma-separated list of {', '.join(OPTIONS)}")
    p.add_argument("--matcher", default="auto", choices=ENGINES,
                   help="engine: hash (fast, space-padded keys), automaton (pyahocorasick); same results")
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
                        matcher=args.matcher, batch_size=args.batch_size, executor=executor.from_args(args))
    for warning in stats.get("warnings", []):
        print(f"warning: {warning}")
    if stats.get("up_to_date"):
        print(f"{args.out} is up to date (same metadata and pool files, finished); its counts:")
    print(f"{stats['texts']:,} texts, {stats['matched_texts']:,} with a match ({stats['matched_share']:.1%}), "
          f"{stats['matches']:,} matches ({stats['matches_per_text']:.2f} per text); "
          f"{stats['entries_matched']:,} of {stats['entries']:,} entries matched -> {args.out}")
