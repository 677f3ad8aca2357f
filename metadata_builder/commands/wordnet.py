"""Write WordNet's names as a parquet table: English synset names (recipe metaclip-v1), or with
--lang every lemma name of the Open Multilingual Wordnet's languages (recipe metaclip-v2).

Columns: entry, synset (first synset giving the name), pos, synsets (how many give it); with --lang
also lang (the OMW code, e.g. cmn, ita, ita_iwn), the synset as its WordNet 3.0 id (02084071-n).
"""

from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..runtime import storage
from ..sources.wordnet import NAME_RULES, wordnet_entries, wordnet_identity

NAME = "wordnet"
HELP = "WordNet synset names (Table 1 row 'WordNet synsets'), or per-language OMW names (--lang)"


def add_arguments(p):
    p.add_argument("--out", required=True, help="output table (.parquet; a path or URL)")
    p.add_argument("--wordnet-dir", type=Path, help="a WordNet 3.0/3.1 dict folder (default: nltk's installed corpus)")
    p.add_argument("--name-rule", choices=NAME_RULES, default="metaclip-v1",
                   help="metaclip-v1: cut the synset name at the first dot (published recipe); "
                        "full-name: cut at the last two dots")
    p.add_argument("--lang", metavar="CODES",
                   help="Meta CLIP 2 (recipe metaclip-v2): every lemma name of these Open Multilingual Wordnet "
                        "languages (OMW codes, comma-separated, e.g. cmn,fra,ita_iwn; or 'all'), '_' -> space, "
                        "'+' removed; needs the OMW ('setup --omw PATH', nltk's omw-1.4, or --omw-dir)")
    p.add_argument("--omw-dir", type=Path, help="with --lang: a folder of <project>/wn-data-<lang>.tab files "
                                                "(default: nltk's omw-1.4 corpus)")
    p.add_argument("--force", action="store_true", help="rebuild even when --out is up to date")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    storage.check_writable(args.out)
    if args.lang is not None:
        return _run_omw(args)
    if args.omw_dir is not None:
        raise UserError("--omw-dir applies to --lang only (the OMW languages)")
    made_from = {"wordnet": wordnet_identity(args.wordnet_dir), "name_rule": args.name_rule, "version": __version__}
    if not args.force and storage.read_provenance(args.out) == made_from:
        print(f"{args.out} is up to date (same WordNet files and rule); --force rebuilds it")
        return 0
    df = wordnet_entries(args.wordnet_dir, args.name_rule, progress=not args.no_progress)
    storage.write_parquet(df, args.out, provenance=made_from)
    print(f"WordNet {df.attrs['wordnet_version']}: {df.attrs['n_synsets']:,} synsets -> "
          f"{len(df):,} distinct names (rule {args.name_rule}) -> {args.out}")


def _run_omw(args):
    from ..sources.omw import omw_identity, omw_names

    if args.name_rule != "metaclip-v1":
        raise UserError("--name-rule applies to English synset names; --lang takes every lemma name")
    langs = "all" if args.lang.strip() == "all" else [c.strip() for c in args.lang.split(",") if c.strip()]
    made_from = {"wordnet": wordnet_identity(args.wordnet_dir), **omw_identity(args.omw_dir), "lang": langs,
                 "rule": "metaclip-v2", "version": __version__}
    if not args.force and storage.read_provenance(args.out) == made_from:
        print(f"{args.out} is up to date (same WordNet and OMW files, same languages); --force rebuilds it")
        return 0
    df = omw_names(langs, args.omw_dir, args.wordnet_dir, progress=not args.no_progress)
    storage.write_parquet(df, args.out, provenance=made_from)
    counts = df.groupby("lang", sort=True).size()
    print(f"OMW {df.attrs['omw_root']}: {len(counts)} languages, {len(df):,} names (every lemma, "
          f"rule metaclip-v2) -> {args.out}")
    print("  " + ", ".join(f"{lang} {n:,}" for lang, n in counts.items()))
