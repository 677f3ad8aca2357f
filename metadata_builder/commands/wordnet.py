"""Write WordNet's synset names (one row per distinct name) as a parquet table.

Columns: entry, synset (first synset giving the name), pos, synsets (how many give it).
"""

from pathlib import Path

from .. import __version__
from ..runtime import storage
from ..sources.wordnet import NAME_RULES, wordnet_entries, wordnet_identity

NAME = "wordnet"
HELP = "WordNet synset names (Table 1 row 'WordNet synsets')"


def add_arguments(p):
    p.add_argument("--out", required=True, help="output table (.parquet; a path or URL)")
    p.add_argument("--wordnet-dir", type=Path, help="a WordNet 3.0/3.1 dict folder (default: nltk's installed corpus)")
    p.add_argument("--name-rule", choices=NAME_RULES, default="metaclip-v1",
                   help="metaclip-v1: cut the synset name at the first dot (published recipe); "
                        "full-name: cut at the last two dots")
    p.add_argument("--force", action="store_true", help="rebuild even when --out is up to date")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    storage.check_writable(args.out)
    made_from = {"wordnet": wordnet_identity(args.wordnet_dir), "name_rule": args.name_rule, "version": __version__}
    if not args.force and storage.read_provenance(args.out) == made_from:
        print(f"{args.out} is up to date (same WordNet files and rule); --force rebuilds it")
        return 0
    df = wordnet_entries(args.wordnet_dir, args.name_rule, progress=not args.no_progress)
    storage.write_parquet(df, args.out, provenance=made_from)
    print(f"WordNet {df.attrs['wordnet_version']}: {df.attrs['n_synsets']:,} synsets -> "
          f"{len(df):,} distinct names (rule {args.name_rule}) -> {args.out}")
