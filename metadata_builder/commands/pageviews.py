"""Sum hourly Wikipedia pageviews per English title (the popularity behind Table 1's title source),
or with --all-languages per title of every language (recipe metaclip-v2, Meta CLIP 2).

Reads hourly pageviews-YYYYMMDD-HH0000.gz files (or folders of them): domain code exactly 'en', an
hourly line counts if its views are >= --hour-min-views (50), titles with ':' dropped, '_' -> space.
Writes title, views, hours; assemble's --title-min-views (70) makes the final cut. Finished files
are kept in --work-dir: a rerun scans only the others.
"""

from ..runtime import executor
from ..sources.wiki.pageviews import MIN_HOUR_VIEWS, count_pageviews, stats_path

NAME = "pageviews"
HELP = "hourly Wikipedia pageview files -> summed views per English title (Table 1 'titles')"


def add_arguments(p):
    p.add_argument("inputs", nargs="+", metavar="FILE", help="pageviews-YYYYMMDD-HH0000.gz files or folders of them (paths or URLs: s3://, gs://, file://)")
    p.add_argument("--out", required=True, help="output table (.parquet): title, views, hours (a path or URL)")
    p.add_argument("--work-dir", help="per-file partial results (default: OUT.parts beside --out; a path or URL)")
    p.add_argument("--hour-min-views", type=int, default=MIN_HOUR_VIEWS,
                   help=f"an hourly line counts only with at least this many views (default {MIN_HOUR_VIEWS}, "
                        "recipe metaclip-v1)")
    p.add_argument("--all-languages", action="store_true",
                   help="recipe metaclip-v2 (Meta CLIP 2): every domain code, '.m' removed, grouped by the code "
                        "before the first '.', no hourly minimum, zero views skipped; writes lang, title, views, "
                        "hours (data/pageview_days_worldwide.txt lists its 37 days)")
    p.add_argument("--wikipedia-only", action="store_true",
                   help="with --all-languages: only Wikipedia lines (not Wiktionary, Wikibooks... nor commons, "
                        "meta...), which the recipe folds in; an option, not the recipe")
    executor.add_executor_arguments(p)


def run(args):
    if args.all_languages:
        return _run_all_languages(args)
    if args.wikipedia_only:
        from ..errors import UserError

        raise UserError("--wikipedia-only applies to --all-languages")
    stats = count_pageviews(args.inputs, args.out, work_dir=args.work_dir, min_hour_views=args.hour_min_views,
                            executor=executor.from_args(args))
    print(f"{stats['files']:,} files ({stats['files_resumed']:,} already done), {stats['lines']:,} lines, "
          f"{stats['en_lines']:,} 'en' lines: {stats['counted']:,} counted (>= {stats['min_hour_views']} views), "
          f"{stats['below_min']:,} below, {stats['colon_titles']:,} with ':', {stats['malformed']:,} malformed")
    for example in stats["malformed_examples"]:
        print(f"  malformed: {example}")
    print(f"{stats['titles']:,} titles ({stats['titles_ge_70']:,} with summed views >= 70) -> {args.out}")
    print(f"report -> {stats_path(args.out)}")


def _run_all_languages(args):
    from ..sources.wiki.pageviews_worldwide import count_pageviews_all_languages

    if args.hour_min_views != MIN_HOUR_VIEWS:
        from ..errors import UserError

        raise UserError("--hour-min-views applies to the English rule; --all-languages has no hourly minimum")
    stats = count_pageviews_all_languages(args.inputs, args.out, work_dir=args.work_dir,
                                          wikipedia_only=args.wikipedia_only, executor=executor.from_args(args))
    print(f"{stats['files']:,} files ({stats['files_resumed']:,} already done), {stats['lines']:,} lines: "
          f"{stats['counted']:,} counted, {stats['zero_views']:,} with 0 views, {stats['colon_titles']:,} with ':', "
          f"{stats['not_wikipedia']:,} not Wikipedia, {stats['malformed']:,} malformed")
    for example in stats["malformed_examples"]:
        print(f"  malformed: {example}")
    print(f"{stats['titles']:,} titles in {stats['languages']:,} languages -> {args.out}")
    print(f"report -> {stats_path(args.out)}")
