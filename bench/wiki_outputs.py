"""sha256 of ``wiki-count``'s outputs on every real input: proof that a speed-up changed no byte.

Runs ``wiki-count`` on the English sample (as shipped, and as a multistream dump), on each of the
seven truncated dumps (as shipped: ``.xml.xz``, cut mid-page; and as the complete-page multistream
dumps of ``bench/realtext.py``), on the joined real-text dump (2 workers, default shards and
``--shard-mb 1``; and ``--bigrams pmi30``), and on a 64 MiB repeated-sample dump, then records the
sha256 of ``unigrams.parquet``, ``bigrams.parquet`` and ``titles.parquet`` with the counts of
``stats.json`` that do not depend on time. ``--check FILE`` compares with an earlier record and
exits 1 on any difference. Parquet files name the pyarrow version that wrote them, so records
compare only within one environment (the versions are recorded too).

    python -m bench.wiki_outputs --out bench/results/wiki-outputs.json [--check OLD.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

from bench import realtext, wikidump
from metadata_builder import paths

OUTPUTS = ("unigrams.parquet", "bigrams.parquet", "titles.parquet")
STATS = ("pages", "articles", "redirects", "other_namespaces", "skipped", "tokens", "words",
         "distinct_words", "bigram_rows", "bigram_pairs", "titles", "bytes", "truncated")
RUN_DIR = wikidump.BENCH_DIR / "run" / "outputs"


def cases() -> list[tuple[str, list[str], dict]]:
    """(name, dumps, wiki_count options) of every run."""
    corpus = realtext.build()
    out = [("en-sample.bz2", [str(paths.WIKI_SAMPLE)], {})]
    for lang, source in realtext.sources().items():
        if lang != "en":
            out.append((f"{lang}-truncated.xz", [str(source)], {}))
    for lang, facts in corpus["langs"].items():
        out.append((f"{lang}-multistream", [facts["dump"]], {}))
    joined = [corpus["joined"]["dump"]]
    out += [("joined", joined, {"workers": 2}),
            ("joined-shard-1mb", joined, {"workers": 2, "shard_mb": 1}),
            ("joined-pmi30", joined, {"workers": 2, "bigram_table": "pmi30"})]
    repeated = wikidump.build_dump(64)
    out.append(("repeated-64MiB", [repeated["dump"]], {"workers": 2}))
    return out


def record(tokens: str | None = None) -> dict:
    """Run every case; ``tokens`` (e.g. ``metaclip-v1``) is passed to wiki_count when it takes it."""
    import inspect

    import duckdb
    import pyarrow

    from metadata_builder.runtime.executor import Local
    from metadata_builder.sources.wiki.counts import wiki_count

    runs = {}
    for name, dumps, options in cases():
        out = RUN_DIR / name
        shutil.rmtree(out, ignore_errors=True)
        workers = options.pop("workers", 1)
        if tokens and "tokens" in inspect.signature(wiki_count).parameters:
            options["tokens"] = tokens
        stats = wiki_count(dumps, out, executor=Local(workers=workers, progress=False), **options)
        runs[name] = {
            "sha256": {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in OUTPUTS},
            "stats": {k: stats[k] for k in STATS},
        }
        print(f"{name}: {stats['tokens']:,} tokens, {stats['distinct_words']:,} words, "
              f"{stats['bigram_rows']:,} bigrams, {stats['titles']:,} titles", file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)
    return {"versions": {"pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__,
                         "python": sys.version.split()[0]}, "runs": runs}


def compare(old: dict, new: dict) -> list[str]:
    """Every difference between two records (missing runs, hashes, counts)."""
    diffs = []
    if old["versions"] != new["versions"]:
        diffs.append(f"versions differ: {old['versions']} vs {new['versions']} (hashes not comparable)")
    for name, run in old["runs"].items():
        if name not in new["runs"]:
            diffs.append(f"{name}: not run")
            continue
        for kind in ("sha256", "stats"):
            for key, value in run[kind].items():
                if new["runs"][name][kind].get(key) != value:
                    diffs.append(f"{name} {key}: {value} -> {new['runs'][name][kind].get(key)}")
    return diffs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=paths.PROJECT_ROOT / "bench" / "results" / "wiki-outputs.json")
    parser.add_argument("--check", type=Path, help="an earlier record to compare with (exit 1 on any difference)")
    parser.add_argument("--tokens", help="the tokens recipe for every run (when wiki_count has recipes)")
    args = parser.parse_args(argv)
    new = record(args.tokens)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(new, indent=1) + "\n")
    print(f"-> {args.out}")
    if args.check:
        diffs = compare(json.loads(args.check.read_text()), new)
        for line in diffs:
            print("DIFFERENT:", line)
        if diffs:
            sys.exit(1)
        print(f"identical to {args.check}: {len(new['runs'])} runs, {3 * len(new['runs'])} files")


if __name__ == "__main__":
    main()
