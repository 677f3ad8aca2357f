"""Sum hourly Wikipedia pageviews per English title (the popularity behind Table 1's title source).

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
    executor.add_executor_arguments(p)


def run(args):
    stats = count_pageviews(args.inputs, args.out, work_dir=args.work_dir, min_hour_views=args.hour_min_views,
                            executor=executor.from_args(args))
    print(f"{stats['files']:,} files ({stats['files_resumed']:,} already done), {stats['lines']:,} lines, "
          f"{stats['en_lines']:,} 'en' lines: {stats['counted']:,} counted (>= {stats['min_hour_views']} views), "
          f"{stats['below_min']:,} below, {stats['colon_titles']:,} with ':', {stats['malformed']:,} malformed")
    for example in stats["malformed_examples"]:
        print(f"  malformed: {example}")
    print(f"{stats['titles']:,} titles ({stats['titles_ge_70']:,} with summed views >= 70) -> {args.out}")
    print(f"report -> {stats_path(args.out)}")
