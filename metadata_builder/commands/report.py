"""Write the analysis report of a matched pool: report.html (self-contained) and report.md.

Tables: summary, head/tail split at t (the paper's Table 2), top entries (Table 3), per-source
breakdown with never-matched and dead entries, the effect of t over a grid (exact expected size,
tail share, head entries, balance). Figures: rank-frequency, count histogram, the tail-to-head
cumulative curve raw and clipped at several t (Figures 2-3), effect of t, per source, top entries,
and before/after balancing when --balanced is given. t defaults to the paper's rule: the smallest t
whose tail entries hold 6% of all matches.
"""

NAME = "report"
HELP = "HTML + markdown report of a matched pool: head/tail, top entries, sources, effect of t"


def add_arguments(p):
    p.add_argument("match_dir", metavar="MATCH_DIR", help="output folder of 'metadata-builder match' (a path or URL)")
    p.add_argument("--metadata",
                   help="the metadata the match used, for each entry's source: metadata.parquet, or metadata.json "
                        "(its parquet beside it is read; a JSON list alone has no sources); for a per-language match "
                        "its metadata_per_lang folder (the report then adds a per-language section, and an entry's "
                        "source is its language). Default: the metadata the match folder names")
    cap = p.add_mutually_exclusive_group()
    cap.add_argument("--t", type=int, help="threshold to report on (default: the --balanced run's t, else the one "
                                           "giving a 6%% tail share)")
    cap.add_argument("--tail-share", type=float, help="choose t as the smallest whose tail share reaches this (e.g. 0.06)")
    p.add_argument("--balanced", help="output folder of 'metadata-builder balance' on the same match (optional)")
    p.add_argument("--top-k", type=int, default=25, help="entries in the top-entries table (default 25)")
    p.add_argument("--title", help="report title (default: from the match folder's name)")
    p.add_argument("--out", required=True, help="output folder (a path or URL): report.html, report.md, figures/, tables/")


def run(args):
    import matplotlib

    matplotlib.use("Agg")
    from analysis.report import build_report

    from ..errors import UserError
    from ..runtime import storage

    if args.t is not None and args.t < 1:
        raise UserError(f"--t must be >= 1, got {args.t}")
    if not 1 <= args.top_k <= 1000:
        raise UserError(f"--top-k must be between 1 and 1000, got {args.top_k}")
    if args.tail_share is not None and not 0 < args.tail_share <= 1:
        raise UserError(f"--tail-share must be in (0, 1], got {args.tail_share}")
    storage.check_writable(args.out, folder=True)
    report = build_report(args.match_dir, args.metadata, args.out, t=args.t, tail_share=args.tail_share,
                          balanced=args.balanced, top_k=args.top_k, title=args.title)
    import sys

    print("\n".join(f"{q:<48} {v}" for q, v in report.summary.itertuples(index=False)))
    for line in report.warnings:
        print(f"metadata-builder: warning: {line}", file=sys.stderr)
    print(f"\nreport: {report.paths['html']}\n        {report.paths['markdown']}")
    return 0
