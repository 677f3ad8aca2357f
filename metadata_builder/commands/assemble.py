"""Assemble metadata.json (+ metadata.parquet) from the sources, in Table 1's order."""

from pathlib import Path

from ..assemble import assemble, format_summary, wordnet_source, write_outputs

NAME = "assemble"
HELP = "seeds + WordNet + Wikipedia sources -> metadata.json and metadata.parquet"


def add_arguments(p):
    p.add_argument("--wordnet", required=True, type=Path, help="output of 'metadata-builder wordnet'")
    p.add_argument("--total", type=int, default=500_000, help="stop at exactly this many entries (default 500000)")
    p.add_argument("--out", required=True, type=Path, help="metadata.json path; metadata.parquet is written beside it")


def run(args):
    sources = [wordnet_source(args.wordnet)]
    result = assemble(sources, total=args.total)
    out_json, out_parquet = write_outputs(result, args.out)
    print(format_summary(result.summary))
    print(f"\n{len(result.table):,} entries -> {out_json}\n{'':>{len(f'{len(result.table):,} entries')}} -> {out_parquet}")
