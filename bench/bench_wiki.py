"""``make bench-wiki``: our ``wiki-count`` against wikiextractor + a plain word count, same dumps.

Two corpora, each labelled for what it measures (``bench/README.md``):

- **real text** (``bench/realtext.py``): every real page available exactly once, the English sample
  and the seven truncated dumps of ``../shared`` (complete pages), joined in one multistream dump:
  paired runs ours/baseline/ours/baseline, plus one worker's CPU per stage and per language
  (``bench/profile_wiki.py``), the fixed start-up, and the projection to full English Wikipedia
  from the rate measured on the real English pages;
- **repeated sample**: the English sample repeated to >= 1 GiB (``bench/wikidump.py``): every word
  and pair after the first copy is already known, so it flatters a counter; kept to compare with
  earlier runs.

Both pipelines run on the same 2 cores:

- ours: ``metadata-builder wiki-count DUMP --out DIR --workers 2`` (unigrams, bigrams, titles);
- baseline: ``wikiextractor --no-templates --processes 2 -o - DUMP | plain_wordcount.py``
  (unigrams only). wikiextractor is AGPL, so it lives only in its own venv
  ``.cache/bench/venv-wikiextractor``, never in the project's dependencies.

Measured per run: wall time, CPU time, MB/s of XML, pages/s, peak RSS (largest single process,
from ``wait4``'s rusage, and the peak of the summed RSS of the whole process tree, sampled by
psutil). Then the overlap of the two methods' top-10,000 words. The markdown page goes to
``bench/results/wiki.md`` (raw numbers in ``wiki.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path


from bench import profile_wiki, realtext, wikidump
from bench.measure import run_measured
from metadata_builder import paths

ROOT = paths.PROJECT_ROOT
RESULTS = ROOT / "bench" / "results"
RUN_DIR = wikidump.BENCH_DIR / "run"
WX_VENV = wikidump.BENCH_DIR / "venv-wikiextractor"
WX_VERSION = "3.1.0"
TOP = 10_000
#: Full English Wikipedia: ~80 GB of XML (~22 GB bz2), 6.8M articles (issue 3).
ENWIKI_XML_BYTES = 80e9
ENWIKI_ARTICLES = 6.8e6
#: The merge's share at full scale, from bench-wiki-scale's extrapolation (bench/README.md): hours
#: for ``--bigrams all`` (every pair, real-text pair density) and ``--bigrams pmi30``.
ENWIKI_MERGE_HOURS = {"all": 0.6, "pmi30": 0.07}


def ensure_wikiextractor() -> Path:
    """wikiextractor in its own venv (AGPL: never installed into the project's environment)."""
    exe = WX_VENV / "bin" / "wikiextractor"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(WX_VENV)], check=True)
        subprocess.run([str(WX_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        f"wikiextractor=={WX_VERSION}"], check=True)
    return exe


def load() -> str:
    """The machine's load averages (1, 5, 15 min): the CPU is shared with other work."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(command: str, label: str, interval: float = 0.5) -> dict:
    """Run a shell command (pipefail); wall and CPU seconds and peak RSS (see ``run_measured``)."""
    print(f"[bench-wiki] {label}: {command}", file=sys.stderr, flush=True)
    run = run_measured(["bash", "-o", "pipefail", "-c", command], interval)
    if run.pop("exit_code"):
        raise SystemExit(f"[bench-wiki] {label} failed: {command}")
    return run


def run_ours(dump: dict, workers: int, extra: str) -> tuple[dict, list[tuple[str, int]], dict]:
    """``metadata-builder wiki-count`` from scratch (its output folder removed: it resumes)."""
    out = RUN_DIR / Path(dump["dump"]).name.split("-pages-")[0] / "ours"
    shutil.rmtree(out, ignore_errors=True)
    command = (f"{sys.executable} -m metadata_builder wiki-count {dump['dump']} --out {out} --workers {workers} "
               f"--no-progress {extra}").strip()
    result = measure(command, "ours")
    import pyarrow.parquet as pq

    table = pq.read_table(out / "unigrams.parquet", columns=["word", "count", "articles"]).to_pydict()
    # unigrams.parquet keeps every word; docs/recipe.md §1's ">= 3 articles" is applied here, as in the baseline.
    words = [(w, c) for w, c, a in zip(table["word"], table["count"], table["articles"]) if a >= 3]
    stats_path = out / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    return result, words, stats


def run_baseline(dump: dict, workers: int) -> tuple[dict, list[tuple[str, int]]]:
    """``wikiextractor --no-templates`` piped into the docs/recipe.md §1.4 plain word count."""
    exe = ensure_wikiextractor()
    out = RUN_DIR / Path(dump["dump"]).name.split("-pages-")[0] / "baseline-words.tsv"
    out.parent.mkdir(parents=True, exist_ok=True)
    counter = Path(__file__).with_name("plain_wordcount.py")
    command = (f"{exe} --no-templates --processes {workers} -q -o - {dump['dump']}"
               f" | {sys.executable} {counter} > {out}")
    result = measure(command, "baseline")
    words = []
    with open(out, encoding="utf-8") as f:
        for line in f:
            word, count, _ = line.rstrip("\n").split("\t")
            words.append((word, int(count)))
    return result, words


def top_words(words: list[tuple[str, int]], n: int = TOP) -> set[str]:
    """The n most frequent words, ties broken alphabetically."""
    return {w for w, _ in sorted(words, key=lambda wc: (-wc[1], wc[0]))[:n]}


def rates(result: dict, dump: dict, workers: int) -> dict:
    """Throughputs and the projections to full enwiki for one measured run.

    Wall-clock rates suffer when other jobs share the CPU; CPU seconds much less so. The CPU-based
    projection assumes the work spreads perfectly over ``workers`` cores (an optimistic bound).
    """
    wall = result["wall_s"]
    mb_per_cpu_s = dump["xml_bytes"] / 1e6 / result["cpu_s"]
    mb_s = dump["xml_bytes"] / 1e6 / wall
    articles_s = dump["articles"] / wall
    return {
        **result,
        "xml_mb_s": mb_s,
        "pages_s": dump["pages"] / wall,
        "articles_s": articles_s,
        "enwiki_hours_by_bytes": ENWIKI_XML_BYTES / 1e6 / mb_s / 3600,
        "enwiki_hours_by_articles": ENWIKI_ARTICLES / articles_s / 3600,
        "xml_mb_per_cpu_s": mb_per_cpu_s,
        "enwiki_hours_by_cpu": ENWIKI_XML_BYTES / 1e6 / (mb_per_cpu_s * workers) / 3600,
    }


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def report(dump: dict, runs: dict, overlap: dict, loads: dict, workers: int, extra: str) -> str:
    """The markdown page written to ``bench/results/wiki.md``."""
    lines = [
        "## Repeated sample (flatters a counter: every word and pair after the first copy is known)",
        "",
        f"Dump: `{Path(dump['dump']).name}`: {dump['xml_bytes'] / 1e9:.3f} GB of XML "
        f"({dump['bz2_bytes'] / 1e6:.0f} MB bz2, {dump['streams']:,} bz2 streams, "
        f"{dump['pages']:,} pages = {dump['articles']:,} articles + {dump['redirects']:,} redirects + "
        f"{dump['other_namespaces']:,} pages of other namespaces): "
        f"the real enwiki sample's 206 pages repeated {dump['copies']} times with fresh ids and titles.",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; both methods on "
        f"{workers} workers. Load average (1/5/15 min) before: {loads['before']}; "
        f"between runs: {loads.get('between', '-')}; after: {loads['after']}.",
        "",
        "| method | wall s | CPU s | XML MB/s | pages/s | articles/s | XML MB per CPU s "
        "| max RSS (1 process) | peak RSS (process tree) | full enwiki by MB/s "
        f"| full enwiki by CPU s on {workers} cores | full enwiki by articles/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "ours": f"ours: `metadata-builder wiki-count --workers {workers}{' ' + extra if extra else ''}`",
        "baseline": f"baseline: `wikiextractor --no-templates --processes {workers}` + plain count",
    }
    for key in ("ours", "baseline"):
        if key not in runs:
            lines.append(f"| {names[key]} | not run | | | | | | | | | | |")
            continue
        r = runs[key]
        lines.append(
            f"| {names[key]} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['xml_mb_s']:.2f} | "
            f"{r['pages_s']:.0f} | {r['articles_s']:.0f} | {r['xml_mb_per_cpu_s']:.2f} | "
            f"{gib(r['max_rss_process'])} | {gib(r['peak_rss_tree'])} | "
            f"{r['enwiki_hours_by_bytes']:.1f} h | {r['enwiki_hours_by_cpu']:.1f} h | "
            f"{r['enwiki_hours_by_articles']:.1f} h |"
        )
    lines.append("")
    if "ours" in runs and "baseline" in runs:
        ratio = runs["ours"]["xml_mb_s"] / runs["baseline"]["xml_mb_s"]
        cpu_ratio = runs["ours"]["xml_mb_per_cpu_s"] / runs["baseline"]["xml_mb_per_cpu_s"]
        lines.append(f"- **Speed ratio ours / baseline: {ratio:.2f}x by wall clock, {cpu_ratio:.2f}x by CPU "
                     "time** (goal >= 1.5x; ours also counts bigrams and title in-links, the baseline only "
                     "unigrams).")
    if "ours" in runs:
        r = runs["ours"]
        lines.append(f"- **Projection for full enwiki (~80 GB XML) with ours: {r['enwiki_hours_by_bytes']:.1f} h "
                     f"by wall-clock MB/s, {r['enwiki_hours_by_cpu']:.1f} h by CPU time on {workers} cores** "
                     "(goal <= 1 h on this machine).")
        timings = r.get("stats", {}).get("timings", {})
        if timings:
            lines.append(f"- Ours, phases: count {timings.get('count_seconds', 0):.1f} s, merge "
                         f"{timings.get('merge_seconds', 0):.1f} s; {r['stats'].get('shards', '?')} shards.")
    if overlap:
        lines.append(f"- Overlap of the top-{TOP:,} words: {overlap['shared']:,} shared "
                     f"({overlap['shared'] / TOP:.1%}); distinct words kept: ours {overlap['ours_words']:,}, "
                     f"baseline {overlap['baseline_words']:,}; summed counts: ours {overlap['ours_tokens']:,}, "
                     f"baseline {overlap['baseline_tokens']:,}.")
    lines += [
        "",
        "Notes:",
        "- The CPU is shared with other jobs on this machine; the load averages above say how busy it was.",
        "- Projection 'by MB/s' scales by bytes of XML (the fairer one: the sample's articles are long, "
        f"{dump['xml_bytes'] / dump['articles'] / 1e3:.0f} KB of XML per article here against "
        f"{ENWIKI_XML_BYTES / ENWIKI_ARTICLES / 1e3:.0f} KB for enwiki); 'by articles/s' is pessimistic "
        "for the same reason.",
        "- The repeated pages give exactly the sample's vocabulary (~30k words, ~10^5 distinct bigrams) "
        "many times over: the out-of-core merge of ~10^8 distinct bigram pairs that the full dump needs "
        "is NOT exercised at this scale, so the projection covers reading, cleaning and counting only "
        "(`make bench-wiki-scale` measures memory and the merge with a growing vocabulary).",
        "- Top-10,000 ties: counts are multiples of the copy count, many words share a count at the "
        "10,000th rank; ties are broken alphabetically in both lists.",
        "- Peak RSS of the process tree sums RSS over processes, so copy-on-write pages shared by "
        "forked workers are counted once per process (an upper bound).",
    ]
    return "\n".join(lines) + "\n"


def paired(dump: dict, workers: int, extra: str, pairs: int) -> dict:
    """Ours and the baseline alternately (A B A B ...) on one dump: each run with the load before it."""
    runs, words, stats = [], {}, {}
    for i in range(pairs):
        for method in ("ours", "baseline"):
            before = load()
            if method == "ours":
                result, words["ours"], stats = run_ours(dump, workers, extra)
            else:
                result, words["baseline"] = run_baseline(dump, workers)
            runs.append({"method": method, "pair": i + 1, "load_before": before, **rates(result, dump, workers)})
    overlap = {
        "shared": len(top_words(words["ours"]) & top_words(words["baseline"])),
        "ours_words": len(words["ours"]), "baseline_words": len(words["baseline"]),
        "ours_tokens": sum(c for _, c in words["ours"]), "baseline_tokens": sum(c for _, c in words["baseline"]),
    }
    return {"runs": runs, "overlap": overlap, "stats": stats}


def language_rates(profiles: dict, corpus: dict) -> list[dict]:
    """One worker's rates per language (CPU seconds of every stage, decompression to spill)."""
    out = []
    for lang, p in profiles.items():
        cpu = p["count_cpu_s"]
        facts = corpus["langs"][lang]
        out.append({"lang": lang, "pages": facts["pages"], "articles": facts["articles"],
                    "xml_mb": facts["xml_bytes"] / 1e6, "bytes_per_char": facts["xml_bytes"] / facts["xml_chars"],
                    "mb_s": facts["xml_bytes"] / 1e6 / cpu, "mchars_s": facts["xml_chars"] / 1e6 / cpu,
                    "ktokens_s": p["stats"]["tokens"] / 1e3 / cpu, "pages_s": facts["pages"] / cpu,
                    "decompression_share": p["stages"]["decompression"] / cpu, "cpu_s": cpu,
                    "merge_cpu_s": p["merge_cpu_s"]})
    return out


def projection(rates_by_lang: list[dict], workers: int) -> dict:
    """Full English Wikipedia from the rate of one worker on the real English pages.

    Count phase: 80 GB of XML / (the English MB per CPU second x ``workers``), every byte priced at
    the rate of the sample's articles (long, markup-heavy: an upper bound, since enwiki's redirects
    and other namespaces are only read, not cleaned or tokenised); English XML is ~1.003 bytes per
    character (measured on the sample), so MB/s and characters/s give the same projection. The merge
    is added from bench-wiki-scale's extrapolation (not measured here).
    """
    en = next(r for r in rates_by_lang if r["lang"] == "en")
    count_h = ENWIKI_XML_BYTES / 1e6 / (en["mb_s"] * workers) / 3600
    return {"en_mb_s": en["mb_s"], "en_mchars_s": en["mchars_s"], "bytes_per_char": en["bytes_per_char"],
            "count_hours": count_h, **{f"total_hours_{k}": count_h + v for k, v in ENWIKI_MERGE_HOURS.items()}}


def real_text_report(corpus: dict, real: dict | None, profiles: dict | None, start: dict | None,
                     workers: int, extra: str) -> list[str]:
    """The markdown of the real-text section."""
    joined = corpus["joined"]
    lines = [
        "## Real text (never repeats: every page of the real dumps once)",
        "",
        f"Dump: `{Path(joined['dump']).name}`: {joined['xml_bytes'] / 1e6:.1f} MB of XML "
        f"({joined['xml_chars'] / 1e6:.1f} M characters, {joined['bz2_bytes'] / 1e6:.1f} MB bz2), "
        f"{joined['pages']:,} pages = {joined['articles']:,} articles + {joined['redirects']:,} redirects + "
        f"{joined['other_namespaces']:,} other namespaces: the English sample and "
        f"{len(corpus['langs']) - 1} truncated dumps ({', '.join(l for l in corpus['langs'] if l != 'en')}), "
        "complete pages only, one multistream dump with the English `<siteinfo>`.",
        "",
    ]
    if real:
        lines += ["| run | load (1 min) before | method | wall s | CPU s | XML MB/s | pages/s | max RSS (1 process) "
                  "| peak RSS (tree) |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in real["runs"]:
            lines.append(f"| {r['pair']} | {r['load_before'].split(' / ')[0]} | {r['method']} | {r['wall_s']:.2f} | "
                         f"{r['cpu_s']:.2f} | {r['xml_mb_s']:.2f} | {r['pages_s']:.0f} | {gib(r['max_rss_process'])} | "
                         f"{gib(r['peak_rss_tree'])} |")
        ratios = []
        for i in sorted({r["pair"] for r in real["runs"]}):
            o = next(r for r in real["runs"] if r["pair"] == i and r["method"] == "ours")
            b = next(r for r in real["runs"] if r["pair"] == i and r["method"] == "baseline")
            ratios.append((b["wall_s"] / o["wall_s"], b["cpu_s"] / o["cpu_s"]))
        lines += ["", "- **Ours / baseline, pair by pair: " + "; ".join(
            f"{w:.2f}x by wall clock, {c:.2f}x by CPU" for w, c in ratios) + "** (goal >= 3x by wall clock; "
            "ours also counts bigrams and title in-links, the baseline only unigrams)."]
        timings = real["stats"].get("timings", {})
        if timings:
            lines.append(f"- Ours, last run's phases: count {timings.get('count_seconds', 0):.1f} s, merge "
                         f"{timings.get('merge_seconds', 0):.1f} s, total {timings.get('total_seconds', 0):.1f} s "
                         f"in the command; {real['stats'].get('shards', '?')} shards.")
        o = real["overlap"]
        lines.append(f"- Top-{TOP:,} words shared: {o['shared']:,} ({o['shared'] / TOP:.1%}); words kept (>= 3 "
                     f"articles): ours {o['ours_words']:,}, baseline {o['baseline_words']:,}; summed counts: ours "
                     f"{o['ours_tokens']:,}, baseline {o['baseline_tokens']:,}.")
    if start:
        lines += ["", f"Fixed start-up (fresh process, median of 3): `wiki-count --help` "
                  f"{start['help']['wall_s']:.2f} s wall ({start['help']['cpu_s']:.2f} CPU s); a whole run on a "
                  f"3-page dump with `--workers 2` {start['tiny run']['wall_s']:.2f} s wall "
                  f"({start['tiny run']['cpu_s']:.2f} CPU s)."]
    if profiles:
        by_lang = language_rates(profiles, corpus)
        lines += ["", "### One worker per language (CPU time of every stage, decompression to spill)", "",
                  "| language | pages | articles | XML MB | XML bytes per character | XML MB per CPU s | "
                  "M characters per CPU s | k tokens per CPU s | pages per CPU s | decompression share |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in by_lang:
            lines.append(f"| {r['lang']} | {r['pages']:,} | {r['articles']:,} | {r['xml_mb']:.1f} | "
                         f"{r['bytes_per_char']:.2f} | {r['mb_s']:.2f} | {r['mchars_s']:.2f} | {r['ktokens_s']:.0f} | "
                         f"{r['pages_s']:.0f} | {r['decompression_share']:.0%} |")
        lines += ["", "Where the CPU goes (one worker, `bench/profile_wiki.py`):", ""]
        lines += profile_wiki.table(profiles)
        proj = projection(by_lang, workers)
        lines += ["", f"- **Full English Wikipedia ({ENWIKI_XML_BYTES / 1e9:.0f} GB of XML) on {workers} cores, from "
                  f"the real English pages' rate ({proj['en_mb_s']:.2f} MB of XML = {proj['en_mchars_s']:.2f} M "
                  f"characters per CPU second, {proj['bytes_per_char']:.3f} bytes per character): count "
                  f"{proj['count_hours']:.2f} h**, every byte priced at the rate of the sample's articles (an "
                  "upper bound: redirects and other namespaces are only read); with the merge as bench-wiki-scale "
                  f"extrapolates it, {proj['total_hours_pmi30']:.2f} h with `--bigrams pmi30` (the recipe's "
                  f"table) and {proj['total_hours_all']:.2f} h with every bigram (goal <= 1 h)."]
    lines += ["", "Notes:",
              "- The CPU may be shared with other jobs: the load average before each run says how busy it was; "
              "CPU seconds suffer less than wall seconds, and pairs run back to back.",
              "- Both tools read the joined dump's single (English) `<siteinfo>`, so the other languages' local "
              "namespace names (`Tập tin:`) are unknown to both alike; per-language rates use each language's "
              "own dump."]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="MiB of XML in the repeated dump (default 1024)")
    parser.add_argument("--workers", type=int, default=2, help="workers for both methods (default 2)")
    parser.add_argument("--pairs", type=int, default=2, help="ours/baseline pairs on the real text (default 2)")
    parser.add_argument("--skip-real", action="store_true", help="no real-text runs")
    parser.add_argument("--skip-profile", action="store_true", help="no per-language profile")
    parser.add_argument("--skip-repeated", action="store_true", help="no repeated-sample runs")
    parser.add_argument("--skip-ours", action="store_true", help="repeated sample: baseline only")
    parser.add_argument("--skip-baseline", action="store_true", help="repeated sample: ours only")
    parser.add_argument("--ours-args", default="", help="extra arguments for wiki-count, e.g. '--cleaner fast'")
    parser.add_argument("--out", type=Path, default=RESULTS / "wiki.md")
    args = parser.parse_args(argv)

    corpus = realtext.build()
    saved = {"args": vars(args) | {"out": str(args.out)}, "corpus": corpus}
    start = profiles = real = None
    if not args.skip_profile:
        start = profile_wiki.startup()
        profiles = profile_wiki.profile_corpus()
        saved.update(startup=start, profiles=profiles, load_after_profile=load())
    if not args.skip_real:
        real = paired(corpus["joined"], args.workers, args.ours_args, args.pairs)
        saved["real"] = real
    lines = ["# bench-wiki: dump -> word counts", "",
             f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; both methods on "
             f"{args.workers} workers. Load average (1/5/15 min) at the start: {load()}.", ""]
    lines += real_text_report(corpus, real, profiles, start, args.workers, args.ours_args)

    if not args.skip_repeated:
        dump = wikidump.build_dump(args.size_mb)
        loads = {"before": load()}
        runs, words = {}, {}
        if not args.skip_ours:
            result, words["ours"], stats = run_ours(dump, args.workers, args.ours_args)
            runs["ours"] = rates(result, dump, args.workers)
            runs["ours"]["stats"] = stats
            loads["between"] = load()
        if not args.skip_baseline:
            result, words["baseline"] = run_baseline(dump, args.workers)
            runs["baseline"] = rates(result, dump, args.workers)
        loads["after"] = load()
        overlap = {}
        if len(words) == 2:
            overlap = {
                "shared": len(top_words(words["ours"]) & top_words(words["baseline"])),
                "ours_words": len(words["ours"]), "baseline_words": len(words["baseline"]),
                "ours_tokens": sum(c for _, c in words["ours"]),
                "baseline_tokens": sum(c for _, c in words["baseline"]),
            }
        lines += ["", report(dump, runs, overlap, loads, args.workers, args.ours_args)]
        saved["repeated"] = {"dump": dump, "runs": runs, "overlap": overlap, "loads": loads}

    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(saved, indent=1, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
