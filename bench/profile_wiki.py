"""Where one ``wiki-count`` worker's CPU goes, stage by stage, on real text (``bench-wiki``'s profile).

A dump is counted as one shard in this process (what one worker does), with each stage's functions
wrapped by a stopwatch that books CPU time (``time.process_time``: every thread of the process,
so indexed_bzip2's decoding thread too) to exactly one stage, nested calls subtracted:

- decompression: the shard's decompressed chunks (``dump.shard_chunks``);
- page splitting: cutting ``<page>`` ... ``</page>`` out of them (``dump._page_blobs``);
- XML: one page's fields (``dump.parse_page``);
- cleaning: wikitext -> text (the cleaner);
- links: finding link targets in the wikitext and normalising them as titles;
- tokens and counts: pieces, runs, piece ids, word, token and pair counts (the compiled counter's
  ``add_text``, one pass; in the Arrow form ``_pieces``, ``normalize``, ``_tokenise``, ``_compact``);
- spilling: the counters as tables, written as parquet partials (``ShardCounts.tables``, ``_spill``);
- other: the page loop itself (stats, titles, redirects) and what no stage claims.

Then the merge of that one shard's partials (``merge``, DuckDB, CPU of all its threads), and the
fixed start-up (``python -m metadata_builder wiki-count --help`` and a run on a 3-page dump, in a
fresh process, wall and CPU). Stopwatch overhead is ~1 us per wrapped call (a few per page).

    python -m bench.profile_wiki [DUMP ...]   (default: the real-text corpus, per language)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench import realtext, wikidump

STAGES = ("decompression", "page splitting", "XML", "cleaning", "links", "tokens and counts", "spilling", "other")
RUN_DIR = wikidump.BENCH_DIR / "run" / "profile"


class Stopwatch:
    """CPU seconds per stage; a wrapped call's time goes to its stage minus its wrapped callees'."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []  # [stage, time of wrapped callees]

    def _enter(self, stage: str) -> float:
        self._stack.append([stage, 0.0])
        return time.process_time()

    def _exit(self, started: float) -> None:
        total = time.process_time() - started
        stage, inner = self._stack.pop()
        self.seconds[stage] += total - inner
        if self._stack:
            self._stack[-1][1] += total

    def function(self, fn, stage: str):
        def timed(*args, **kwargs):
            started = self._enter(stage)
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit(started)
        return timed

    def iterator(self, iterator, stage: str):
        """An iterator whose every ``next`` is booked to ``stage``."""
        iterator = iter(iterator)
        while True:
            started = self._enter(stage)
            try:
                item = next(iterator)
            except StopIteration:
                self._exit(started)
                return
            except BaseException:
                self._exit(started)
                raise
            self._exit(started)
            yield item

    def generator_function(self, fn, stage: str):
        def timed(*args, **kwargs):
            return self.iterator(fn(*args, **kwargs), stage)
        return timed


class _TimedPattern:
    """A compiled regex whose ``findall`` is booked to a stage."""

    def __init__(self, pattern, watch: Stopwatch, stage: str):
        self.pattern, self.findall = pattern, watch.function(pattern.findall, stage)

    def __getattr__(self, name):
        return getattr(self.pattern, name)


def _patches(watch: Stopwatch) -> list[tuple[object, str, object]]:
    """(owner, attribute, timed replacement) for every stage's functions."""
    from metadata_builder.sources.wiki import cleaner, dump, tokens
    from metadata_builder.sources.wiki.counts import shard

    def timed_cleaner(name):
        return watch.function(cleaner.get_cleaner(name), "cleaning")

    out = [
        (dump, "shard_chunks", watch.generator_function(dump.shard_chunks, "decompression")),
        (dump, "_page_blobs", watch.generator_function(dump._page_blobs, "page splitting")),
        (dump, "parse_page", watch.function(dump.parse_page, "XML")),
        (shard, "get_cleaner", timed_cleaner),
        (shard, "_LINK", _TimedPattern(shard._LINK, watch, "links")),
        (shard, "_spill", watch.function(shard._spill, "spilling")),
    ]
    counter = tokens.ShardCounts
    for name in ("add_text", "_tokenise", "_compact"):  # whichever the counter in use has
        if hasattr(counter, name):
            out.append((counter, name, watch.function(getattr(counter, name), "tokens and counts")))
    out.append((counter, "tables", watch.function(counter.tables, "spilling")))
    for name in ("normalize_titles", "normalize_title"):  # whichever the shard module uses at the spill
        if hasattr(shard, name):
            out.append((shard, name, watch.function(getattr(shard, name), "links")))
            break
    return out


def cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (DuckDB's threads are this process)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def profile_dump(dump: str, out: Path) -> dict:
    """One dump counted as one shard here, stage by stage, then its merge. CPU seconds."""
    from metadata_builder.sources.wiki.counts import merge as merge_module
    from metadata_builder.sources.wiki.counts import shard as shard_module
    from metadata_builder.sources.wiki.dump import plan_shards
    from metadata_builder.sources.wiki.tokens import prepare_counter

    prepare_counter()  # once per process (the CLI's parent does it before forking workers)
    shutil.rmtree(out, ignore_errors=True)
    [piece] = plan_shards([dump], 1 << 40)
    watch = Stopwatch()
    patches = _patches(watch)
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, timed in patches:
        setattr(owner, name, timed)
    try:
        started = time.process_time()
        stats = shard_module.count_shard(piece, out / "shards" / piece.name)
        total = time.process_time() - started
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    stages = {s: watch.seconds.get(s, 0.0) for s in STAGES}
    stages["other"] += total - sum(stages.values())
    started = cpu_seconds()
    merge_module.merge(out, [out / "shards" / piece.name])
    merge_cpu = cpu_seconds() - started
    return {"stages": stages, "count_cpu_s": total, "merge_cpu_s": merge_cpu, "stats": {
        k: stats[k] for k in ("pages", "articles", "redirects", "other_namespaces", "tokens", "words", "bytes")}}


def _tiny_dump(folder: Path) -> Path:
    """A 3-page dump (the sample's first three pages): what a run costs when there is nothing to do."""
    header, pages, footer = wikidump.read_sample()
    path = folder / "tiny-pages-articles.xml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + b"".join(pages[:3]) + b"</mediawiki>\n")
    return path


def startup(repeat: int = 3) -> dict:
    """Fixed cost, in fresh processes: ``wiki-count --help`` and a run on a 3-page dump (median)."""
    from bench.measure import run_measured

    tiny = _tiny_dump(RUN_DIR)
    commands = {
        "help": [sys.executable, "-m", "metadata_builder", "wiki-count", "--help"],
        "tiny run": [sys.executable, "-m", "metadata_builder", "wiki-count", str(tiny), "--out",
                     str(RUN_DIR / "tiny-out"), "--workers", "2", "--no-progress"],
    }
    out = {}
    for name, argv in commands.items():
        runs = []
        for _ in range(repeat):
            shutil.rmtree(RUN_DIR / "tiny-out", ignore_errors=True)
            run = run_measured(argv, 0.05, stdout=subprocess.DEVNULL)
            if run["exit_code"]:
                raise SystemExit(f"[profile] {' '.join(argv)} failed")
            runs.append(run)
        runs.sort(key=lambda r: r["wall_s"])
        middle = runs[len(runs) // 2]
        out[name] = {"wall_s": middle["wall_s"], "cpu_s": middle["cpu_s"]}
    return out


def profile_corpus() -> dict:
    """Every language of the real-text corpus, one after the other, in this process."""
    corpus = realtext.build()
    return {lang: {**profile_dump(facts["dump"], RUN_DIR / lang), "xml_chars": facts["xml_chars"]}
            for lang, facts in corpus["langs"].items()}


def table(profiles: dict, start: dict | None = None) -> list[str]:
    """Markdown: CPU seconds per stage (rows) and language (columns), with each stage's share."""
    langs = list(profiles)
    total = {s: sum(p["stages"][s] for p in profiles.values()) for s in STAGES}
    count_all = sum(total.values())
    merge_all = sum(p["merge_cpu_s"] for p in profiles.values())
    lines = ["| stage (CPU s) | " + " | ".join(langs) + " | all | share |",
             "|---|" + "---:|" * (len(langs) + 2)]
    for s in STAGES:
        lines.append(f"| {s} | " + " | ".join(f"{profiles[l]['stages'][s]:.2f}" for l in langs)
                     + f" | {total[s]:.2f} | {total[s] / count_all:.0%} |")
    lines.append("| **one worker, all stages** | " + " | ".join(f"{profiles[l]['count_cpu_s']:.2f}" for l in langs)
                 + f" | **{count_all:.2f}** | 100% |")
    lines.append("| merge (DuckDB, this language alone) | " + " | ".join(
        f"{profiles[l]['merge_cpu_s']:.2f}" for l in langs) + f" | {merge_all:.2f} | |")
    lines.append("| XML MB per CPU s (one worker) | " + " | ".join(
        f"{profiles[l]['stats']['bytes'] / 1e6 / profiles[l]['count_cpu_s']:.1f}" for l in langs)
        + f" | {sum(p['stats']['bytes'] for p in profiles.values()) / 1e6 / count_all:.1f} | |")
    if start:
        lines.append("")
        lines.append(f"Start-up (fresh process, median of 3): `wiki-count --help` {start['help']['wall_s']:.2f} s wall "
                     f"({start['help']['cpu_s']:.2f} CPU s); a run on a 3-page dump with `--workers 2` "
                     f"{start['tiny run']['wall_s']:.2f} s wall ({start['tiny run']['cpu_s']:.2f} CPU s).")
    return lines


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dumps", nargs="*", help="dumps to profile (default: the real-text corpus by language)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument("--no-startup", action="store_true")
    args = parser.parse_args(argv)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.dumps:
        profiles = {Path(d).name.split("-")[0]: profile_dump(d, RUN_DIR / Path(d).name) for d in args.dumps}
    else:
        profiles = profile_corpus()
    start = None if args.no_startup else startup()
    load += " -> " + " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print("\n".join(table(profiles, start)))
    print(f"\nLoad average (1/5/15 min) before -> after: {load}")
    if args.json:
        args.json.write_text(json.dumps({"profiles": profiles, "startup": start, "load": load}, indent=1) + "\n")


if __name__ == "__main__":
    main()
