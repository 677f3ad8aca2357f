"""Extract image captions and alt texts from a Wikipedia dump into a parquet pool.

The result is a real image-text pool written by editors (column ``text``), ready for
``metadata-builder match``: ``make report`` uses the captions of the embedded Wikipedia sample.
"""


from .. import paths
from ..runtime import storage
from ..sources.wiki.captions import extract_captions

NAME = "wiki-captions"
HELP = "image captions and alt= texts of a Wikipedia dump -> captions.parquet (a pool to match)"


def add_arguments(p):
    p.add_argument("dump", metavar="DUMP", nargs="?", default=str(paths.WIKI_SAMPLE),
                   help="a MediaWiki pages-articles XML dump (.xml, .bz2, .xz, .gz); "
                        "default: the embedded English sample ('make setup' provisions it)")
    p.add_argument("--out", required=True, help="output pool (.parquet, columns text, kind, page_id, title, file; a path or URL)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    storage.check_writable(args.out)
    df, stats = extract_captions(args.dump, progress=not args.no_progress)
    storage.write_parquet(df, args.out)
    skipped = ", ".join(f"{n:,} {why}" for why, n in sorted(stats.skipped.items())) or "none"
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(stats.kinds.items()))
    print(f"{stats.pages:,} pages ({stats.articles:,} articles read; skipped: {skipped})\n"
          f"{len(df):,} texts ({kinds}) -> {args.out}")
    if stats.cut is not None:
        print(f"warning: {stats.cut.path}: {stats.cut.reason}; every complete page before it was read "
              f"(last: {stats.cut.last_complete_page!r})")
