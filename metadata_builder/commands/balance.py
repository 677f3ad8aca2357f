"""Balance a matched pool with Algorithm 1 of MetaCLIP: cap every metadata entry at about t texts.

p[e] = t / max(count[e], t); a text is kept if any of its matched entries wins its draw, so
P(keep) = 1 - prod(1 - p[e]). Draws are a hash of (seed, shard, row, entry): the kept set is the same
for any worker count or shard order, and the same seed gives byte-identical outputs. Give t directly
(--t 20000, the 400M set's value) or by the share of matches tail entries should hold
(--tail-share 0.06, the authors' rule); --expected-only prints the expected size and its standard
deviation for each t without sampling.
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
                     help="choose the smallest t whose tail entries (count < t) hold this share of all matches (e.g. 0.06)")
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
    if args.tail_share is not None:
        t = B.t_for_tail_share(match.counts, args.tail_share)
        print(f"tail share {args.tail_share:g} -> t = {t:,} (tail share reached: {B.tail_share(match.counts, t):.4f})")
    if args.expected_only is not None:
        ts = sorted(set(args.expected_only) | {t})
        table = B.expected_size(match, ts, executor=run_on)
        print(table.to_string(index=False, formatters={"expected": "{:,.1f}".format, "std": "{:,.1f}".format,
                                                       "variance": "{:,.1f}".format, "tail_share": "{:.4f}".format}))
        return 0
    if args.out is None:
        raise UserError("balance: --out DIR is required (or use --expected-only)")
    stats = B.balance(match, args.out, t=t, seed=args.seed, per_image=args.per_image,
                      image_column=args.image_column, executor=run_on)
    if stats.get("up_to_date"):
        print(f"{args.out} is up to date (same match and settings, finished):")
    print(f"t = {stats['t']:,} (tail share {stats['tail_share']:.4f}), seed {stats['seed']}"
          f"{', one text per image' if stats['per_image'] else ''}: kept {stats['kept']:,} of "
          f"{stats['texts']:,} matched texts (expected {stats['expected']:,.1f} ± {stats['std']:,.1f}) -> {args.out}")
    return 0
