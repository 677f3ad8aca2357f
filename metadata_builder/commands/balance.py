"""Balance a matched pool with Algorithm 1 of MetaCLIP: cap every metadata entry at about t texts.

p[e] = t / max(count[e], t); a text is kept if any of its matched entries wins its draw, so
P(keep) = 1 - prod(1 - p[e]). Draws are a hash of (seed, shard, row, entry): the kept set is the same
for any worker count or shard order, and the same seed gives byte-identical outputs. Give t directly
(--t 20000, the 400M set's value) or by the share of matches tail entries should hold
(--tail-share 0.06, the authors' rule); --expected-only prints the expected size and its standard
deviation for each t without sampling.

A per-language match (match --lang-id / --lang-column) gets one t per language (Meta CLIP 2):
--t-en T keeps T for English and gives every other language the t of English's tail share at T;
--tail-share P gives every language the t of share P; --t-rule picks how a share becomes a t
(smallest: ours, exact; nearest: the released p_to_t). Counts are per text, as released.
"""


from .. import balance as B
from ..match.output import MatchOutput
from ..runtime import executor

NAME = "balance"
HELP = "curate a matched pool: per-entry cap t (Algorithm 1), reproducible draws"


def add_arguments(p):
    p.add_argument("match_dir", help="output folder of 'metadata-builder match' (a path or URL)")
    cap = p.add_mutually_exclusive_group(required=True)
    cap.add_argument("--t", type=int, help="per-entry cap t (the 400M set used 20000)")
    cap.add_argument("--tail-share", type=float,
                     help="choose the smallest t whose tail entries (count < t) hold this share of all matches (e.g. 0.06); "
                          "per language: each language's own t for that share")
    cap.add_argument("--t-en", type=int, help="per-language match: English's t; every other language gets the t "
                                              "of English's tail share at it (released Meta CLIP 2: 170000)")
    p.add_argument("--t-rule", default="smallest", choices=B.T_RULES,
                   help="how a tail share becomes a t: smallest (the smallest t whose share is >= p; ours, exact) or "
                        "nearest (the released p_to_t: the count whose cumulative share is nearest p)")
    p.add_argument("--seed", type=int, default=0, help="seed of the hash-based draws (default 0)")
    p.add_argument("--per-image", action="store_true",
                   help="Meta CLIP 2 variant: first choose one matched text per image at random, then balance")
    p.add_argument("--image-column", help="pool column identifying the image for --per-image "
                                          "(default: the match's --id-column)")
    p.add_argument("--expected-only", type=int, nargs="*", metavar="T",
                   help="print expected size and std for these t values (and the chosen t) and write nothing")
    p.add_argument("--out", help="output folder, local or a URL such as s3://bucket/balanced (required unless --expected-only)")
    executor.add_executor_arguments(p)


def run(args):
    from ..errors import UserError

    match = MatchOutput(args.match_dir)
    run_on = executor.from_args(args)
    t = args.t
    if args.tail_share is not None and not match.languages:
        t = B.t_for_share(match.counts, args.tail_share, args.t_rule)
        print(f"tail share {args.tail_share:g} -> t = {t:,} by the {args.t_rule} rule "
              f"(tail share reached: {B.tail_share(match.counts, t):.4f})")
    if args.expected_only is not None:
        if match.languages:
            raise UserError("--expected-only takes a match without languages; a per-language match's sizes "
                            "are in the balance's stats.json (expected per language)")
        ts = sorted(set(args.expected_only) | {t})
        table = B.expected_size(match, ts, executor=run_on)
        print(table.to_string(index=False, formatters={"expected": "{:,.1f}".format, "std": "{:,.1f}".format,
                                                       "variance": "{:,.1f}".format, "tail_share": "{:.4f}".format}))
        return 0
    if args.out is None:
        raise UserError("balance: --out DIR is required (or use --expected-only)")
    stats = B.balance(match, args.out, t=t, seed=args.seed, per_image=args.per_image,
                      image_column=args.image_column, executor=run_on, t_en=args.t_en, t_rule=args.t_rule,
                      tail_share_target=args.tail_share if match.languages else None)
    if stats.get("up_to_date"):
        print(f"{args.out} is up to date (same match and settings, finished):")
    if stats.get("languages"):
        print(language_table(stats))
        where = (f"p = {stats['p']:.4f} (English's tail share at t = {stats['t_en']:,})" if stats["t_en"] is not None
                 else f"p = {stats['p']:.4f}" if stats["p"] is not None else f"t = {stats['t']:,} for every language")
        head = f"per-language t ({stats['t_rule']} rule), {where}, seed {stats['seed']}"
    else:
        head = f"t = {stats['t']:,} (tail share {stats['tail_share']:.4f}), seed {stats['seed']}"
    if stats["per_image"]:
        kept = (f"kept {stats['kept']:,} of {stats['images']:,} images (one matched text each, chosen among "
                f"{stats['texts']:,} matched texts; expected {stats['expected']:,.1f} ± {stats['std']:,.1f} images)")
    else:
        kept = (f"kept {stats['kept']:,} of {stats['texts']:,} matched texts "
                f"(expected {stats['expected']:,.1f} ± {stats['std']:,.1f} texts)")
    print(f"{head}: {kept} -> {args.out}")
    return 0


def language_table(stats: dict) -> str:
    """Per language: texts, matched texts, entries hit, t, tail share, kept (texts, or images)."""
    unit = stats["unit"]
    lines = [f"{'language':<9} {'texts':>9} {'matched':>9} {'entries hit':>11} {'t':>7} {'tail share':>10} "
             f"{'kept ' + unit:>12}"]
    for lang, s in sorted(stats["languages"].items(), key=lambda kv: (-kv[1]["pool_texts"], kv[0])):
        lines.append(f"{lang:<9} {s['pool_texts']:>9,} {s['matched_texts']:>9,} {s['entries_hit']:>11,} "
                     f"{s['t']:>7,} {s['tail_share']:>10.4f} {s['kept_' + unit]:>12,}")
    return "\n".join(lines)
