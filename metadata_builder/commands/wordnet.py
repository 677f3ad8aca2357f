"""Write WordNet's synset names (one row per distinct name) as a parquet table.

Columns: entry, synset (first synset giving the name), pos, synsets (how many give it).
"""

from pathlib import Path

from .. import atomic
from ..wordnet_source import NAME_RULES, wordnet_entries

NAME = "wordnet"
HELP = "WordNet synset names (Table 1 row 'WordNet synsets')"


def add_arguments(p):
    p.add_argument("--out", required=True, type=Path, help="output table (.parquet)")
    p.add_argument("--wordnet-dir", type=Path, help="a WordNet 3.0/3.1 dict folder (default: nltk's installed corpus)")
    p.add_argument("--name-rule", choices=NAME_RULES, default="metaclip-v1",
                   help="metaclip-v1: cut the synset name at the first dot (published recipe); "
                        "full-name: cut at the last two dots")


def run(args):
    df = wordnet_entries(args.wordnet_dir, args.name_rule)
    atomic.write_parquet(df, args.out)
    print(f"WordNet {df.attrs['wordnet_version']}: {df.attrs['n_synsets']:,} synsets -> "
          f"{len(df):,} distinct names (rule {args.name_rule}) -> {args.out}")
