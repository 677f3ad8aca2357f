"""Balance a matched pool with Algorithm 1 of MetaCLIP: cap every metadata entry at about t texts.

p[e] = t / max(count[e], t); a text is kept if any of its matched entries wins its draw, so
P(keep) = 1 - prod(1 - p[e]). Draws are a hash of (seed, shard, row, entry): the kept set is the same
for any worker count or shard order, and the same seed gives byte-identical outputs. Give t directly
(--t 20000, the 400M set's value) or by the share of matches tail entries (count < t) should hold
(--tail-share 0.06, the authors' rule); --expected-only prints the expected size and its standard
deviation for each t without sampling.

The curated rows go to OUT/curated/ (parquet only: one table for pandas, DuckDB, HF datasets, or
img2dataset with --url-column/--caption-column naming its url and caption columns).

A per-language match (match --lang-id / --lang-column) gets one t per language (Meta CLIP 2):
--t-en T keeps T for English and gives every other language the t of English's tail share at T;
--tail-share P chooses English's t by share P, then does the same (without English: every language
at P); --t-rule picks how a share becomes a t
(smallest: ours, exact; nearest: the released p_to_t). Counts are per text, as released.
"""

import argparse
import sys

from .. import balance as B
from ..match.output import MatchOutput
from ..runtime import executor

NAME = "balance"
HELP = "curate a matched pool: per-entry cap t (Algorithm 1), reproducible draws"


def _ts(value: str) -> list[int]:
    """``5,10,20`` -> [5, 10, 20] (one value, so the match folder after it is never taken as a t)."""
    if not value:
        return []
    try:
        ts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give t values separated by commas, e.g. 1000,5000,20000") from None
    if any(t < 1 for t in ts):
        raise argparse.ArgumentTypeError(f"{value!r}: every t must be >= 1")
    return ts


def add_arguments(p):
    p.add_argument("match_dir", help="output folder of 'metadata-builder match' (a path or URL)")
    cap = p.add_mutually_exclusive_group(required=True)
    cap.add_argument("--t", type=int, help="per-entry cap t (the 400M set used 20000)")
    cap.add_argument("--tail-share", type=float,
                     help="choose the smallest t whose tail entries (count < t) hold this share of all matches (e.g. 0.06); "
                          "per language: English's t by that share, every other language the t of English's share at it")
    cap.add_argument("--t-en", type=int, help="per-language match: English's t; every other language gets the t "
                                              "of English's tail share at it (released Meta CLIP 2: 170000)")
    p.add_argument("--t-rule", default="smallest", choices=B.T_RULES,
                   help="how a tail share becomes a t: smallest (the smallest t whose share is >= p; ours, exact) or "
                        "nearest (the released p_to_t: the count whose cumulative share is nearest p)")
    p.add_argument("--seed", type=int, default=0, help="seed of the hash-based draws (default 0)")
    p.add_argument("--per-image", action="store_true",
                   help="Meta CLIP 2 variant: first choose one matched text per image at random, then balance; "
                        "what is kept is counted in images")
    p.add_argument("--image-column", help="pool column identifying the image for --per-image "
                                          "(default: the match's --id-column)")
    p.add_argument("--count-over", choices=B.COUNT_OVER, default="texts",
                   help="with --per-image, what the entry counts behind t and p[e] count: every matched text "
                        "(texts, the released code; default) or the chosen text of each image (images)")
    export = p.add_argument_group("curated rows for download tools (img2dataset reads url and caption)")
    export.add_argument("--url-column", metavar="COLUMN", help="pool column exported as 'url' (e.g. URL, coco_url)")
    export.add_argument("--caption-column", metavar="COLUMN", help="pool column exported as 'caption' (e.g. TEXT)")
    p.add_argument("--audit", action="store_true",
                   help="also write OUT/audit/: every pool text with its entries, p, draws, winning entries and "
                        "why it was kept or dropped")
    p.add_argument("--expected-only", type=_ts, nargs="?", const=[], metavar="T,T,...",
                   help="print the expected size and std for these t values (comma-separated) and the chosen t, "
                        "and write nothing")
    p.add_argument("--out", help="output folder, local or a URL such as s3://bucket/balanced (required unless --expected-only)")
    executor.add_executor_arguments(p)


def _warn(lines) -> None:
    for line in lines:
        print(f"metadata-builder: warning: {line}", file=sys.stderr)


def _expected_only(args, match, run_on) -> int:
    import numpy as np

    from ..errors import UserError

    if match.languages:
        raise UserError("--expected-only takes a match without languages; a per-language match's sizes "
                        "are in the balance's stats.json (expected per language)")
    if args.t_en is not None:
        raise UserError(f"--t-en needs a per-language match (match --lang-id or --lang-column); "
                        f"{match.path} has one list: give --t or --tail-share")
    rows, counts, unit = None, match.counts, "texts"
    if args.per_image:
        chosen = B.choose_one_text_per_image(match, args.seed, args.image_column, executor=run_on)
        rows, unit = chosen, "images"
        if args.count_over == "images":
            counts = B.chosen_counts(match, chosen, executor=run_on.quiet())
    t = args.t if args.t is not None else B.t_for_share(counts, args.tail_share, args.t_rule)
    if args.tail_share is not None:
        print(f"tail share {args.tail_share:g} -> t = {t:,} by the {args.t_rule} rule "
              f"(tail share reached: {B.tail_share(counts, t):.4f})")
    ts = sorted(set(args.expected_only) | {t})
    table = B.expected_size(match, ts, executor=run_on, rows=rows, counts=counts)
    candidates = sum(len(r) for r in rows.values()) if rows is not None else match.matched_texts
    print(f"expected curated size in {unit} (of {candidates:,} candidate {unit}):")
    print(table.to_string(index=False, formatters={"expected": "{:,.1f}".format, "std": "{:,.1f}".format,
                                                   "variance": "{:,.1f}".format, "tail_share": "{:.4f}".format}))
    _warn(w for t_ in ts for w in B.balance_warnings(np.asarray(counts), t_, unit=unit,
                                                     tail_share_target=args.tail_share if t_ == t else None))
    return 0


def run(args):
    from ..errors import UserError

    if args.match_dir.replace(",", "").isdigit():
        raise UserError(f"{args.match_dir!r} is not a match folder; --expected-only takes its t values as one "
                        "comma-separated list (--expected-only 5,10 MATCH_DIR)")
    match = MatchOutput(args.match_dir)
    run_on = executor.from_args(args)
    if args.expected_only is not None:
        return _expected_only(args, match, run_on)
    if args.out is None:
        raise UserError("balance: --out DIR is required (or use --expected-only)")
    stats = B.balance(match, args.out, t=args.t, tail_share_target=args.tail_share, seed=args.seed,
                      per_image=args.per_image, image_column=args.image_column, count_over=args.count_over,
                      url_column=args.url_column, caption_column=args.caption_column, audit=args.audit,
                      executor=run_on, t_en=args.t_en, t_rule=args.t_rule)
    if stats.get("up_to_date"):
        print(f"{args.out} is up to date (same match and settings, finished):")
    if stats.get("languages"):
        print(language_table(stats))
        where = (f"p = {stats['p']:.4f} (English's tail share at t = {stats['t_en']:,})" if stats["t_en"] is not None
                 else f"p = {stats['p']:.4f}" if stats["p"] is not None else f"t = {stats['t']:,} for every language")
        head = f"per-language t ({stats['t_rule']} rule), {where}, seed {stats['seed']}"
    else:
        if args.tail_share is not None:
            print(f"tail share {args.tail_share:g} -> t = {stats['t']:,} by the {args.t_rule} rule (tail share reached: "
                  f"{stats['tail_share']:.4f}; tail = entries with count < t)")
        head = f"t = {stats['t']:,} (tail share {stats['tail_share']:.4f}), seed {stats['seed']}"
    size = f"(expected {stats['expected']:,.1f} ± {stats['std']:,.1f})"
    if stats["per_image"]:
        kept = (f"kept {stats['kept']:,} of {stats.get('images', stats['candidates']):,} images (one matched text each, "
                f"chosen among {stats['texts']:,} matched texts; counts over {stats.get('count_over', 'texts')}) {size}")
    else:
        kept = f"kept {stats['kept']:,} of {stats['texts']:,} matched texts {size}"
    print(f"{head}: {kept} -> {args.out}")
    _warn(stats.get("warnings", []))
    curated = B.BalanceOutput(args.out).curated_folder
    columns = _curated_columns(curated)
    if "url" in columns:
        caption = " --caption_col caption" if "caption" in columns else ""
        print(f"download the images: img2dataset --url_list {curated} --input_format parquet "
              f"--url_col url{caption} --output_folder IMAGES")
    else:
        print(f"curated rows: {curated} ({', '.join(columns)}; one table for pandas, DuckDB, HF datasets; "
              "--url-column/--caption-column name the columns img2dataset reads)")
    return 0


def _curated_columns(folder) -> list[str]:
    """The columns of the curated rows (every file has the same schema): read from one footer."""
    from ..runtime import storage

    names = [n for n in storage.listdir(folder) if n.endswith(".parquet")]
    return storage.parquet_file(storage.under(folder, names[0])).schema_arrow.names if names else []


def language_table(stats: dict) -> str:
    """Per language: texts, matched texts, entries hit, t, tail share, kept (texts, or images)."""
    unit = stats["unit"]
    lines = [f"{'language':<9} {'texts':>9} {'matched':>9} {'entries hit':>11} {'t':>7} {'tail share':>10} "
             f"{'kept ' + unit:>12}"]
    for lang, s in sorted(stats["languages"].items(), key=lambda kv: (-kv[1]["pool_texts"], kv[0])):
        lines.append(f"{lang:<9} {s['pool_texts']:>9,} {s['matched_texts']:>9,} {s['entries_hit']:>11,} "
                     f"{s['t']:>7,} {s['tail_share']:>10.4f} {s['kept_' + unit]:>12,}")
    return "\n".join(lines)
