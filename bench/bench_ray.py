"""Ray engine against the local engine, side by side on the same machine and the same 2 CPUs.

Writes ``bench/results/ray.md``. What it measures, so that a user can tell what Ray costs before it
pays off on a cluster:

- starting a local Ray instance (``ray.init``, once per driver);
- per-task overhead: many no-op tasks, local processes vs Ray tasks;
- ``shared`` travel: ``ray.put`` of the real matcher, and its first load in each worker;
- ``match`` of a real pool (the 10,000 LAION alt-texts, the same file repeated as ``--shards``
  shards) against ``build/metadata.json``: wall time, texts/s, the ratio local/ray, and a check that
  both engines wrote the same bytes.

Run with ``make bench-ray`` (``BENCH_RAY_ARGS="--shards 40"``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from metadata_builder import paths
from metadata_builder.runtime.executor import Local, Ray

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
LAION = Path(os.environ.get("METADATA_BUILDER_SHARED", REPO.parent / "shared" / "data")) / \
    "laion400m-alttext-sample-10k" / "test_10000.parquet"
WORK = paths.CACHE_DIR / "bench" / "ray"


def _noop(task, shared):
    return task


_LOADS = 0  # in a Ray worker: how many times it deserialised the shared matcher


class _Counted:
    """The matcher, counting its deserialisations in whichever process they happen."""

    def __init__(self, matcher):
        self.matcher = matcher

    def __reduce__(self):
        return _loaded, (self.matcher,)


def _loaded(matcher):
    global _LOADS
    _LOADS += 1
    return _Counted(matcher)


def _first_load(task, shared):
    return os.getpid(), _LOADS


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.rglob("*")):
        relative = p.relative_to(folder)
        if p.is_file() and p.name != "stats.json" and relative.parts[0] != "_job":  # (timings live there)
            out[str(relative)] = p.read_bytes()
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=20, help="pool shards of 10,000 texts (default 20)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--metadata", type=Path, default=paths.BUILD_DIR / "metadata.json")
    parser.add_argument("--noop-tasks", type=int, default=200)
    args = parser.parse_args(argv)
    if not LAION.exists():
        sys.exit(f"{LAION}: the shared LAION sample is absent (it lives beside the project checkout)")
    if not args.metadata.exists():
        sys.exit(f"{args.metadata}: missing; run 'make metadata' first")

    import ray

    from metadata_builder.match.engine import Engine
    from metadata_builder.match.metadata import load_metadata
    from metadata_builder.match.run import match_pools

    shutil.rmtree(WORK, ignore_errors=True)
    pool = WORK / "pool"
    pool.mkdir(parents=True)
    texts = pd.read_parquet(LAION, columns=["TEXT"]).reset_index(drop=True)
    for i in range(args.shards):
        texts.to_parquet(pool / f"{i:05d}-laion.parquet", index=False)
    n_texts = len(texts) * args.shards
    load = os.getloadavg()

    # the local engine first: forking a process that runs Ray works, but is best avoided
    noop, match_seconds = {}, {}
    for engine in ("local", "ray"):
        if engine == "ray":
            t = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
            ray_start = time.perf_counter() - t
        t = time.perf_counter()
        run_on = Ray(workers=args.workers, progress=False) if engine == "ray" else Local(workers=args.workers, progress=False)
        list(run_on.map(_noop, range(args.noop_tasks)))
        noop[engine] = (time.perf_counter() - t) / args.noop_tasks * 1e3
        if engine == "ray":
            entries = load_metadata(args.metadata)
            matcher = Engine(entries)
            t = time.perf_counter()
            ref = ray.put(matcher)
            put_seconds = time.perf_counter() - t
            del ref
            t = time.perf_counter()
            loads = dict(run_on.map(_first_load, range(4 * args.workers), shared=_Counted(matcher)))
            first_loads_seconds = time.perf_counter() - t
        out = WORK / f"match-{engine}"
        t = time.perf_counter()
        match_pools([str(pool)], args.metadata, out, executor=run_on)
        match_seconds[engine] = time.perf_counter() - t
    same = _tree_bytes(WORK / "match-local") == _tree_bytes(WORK / "match-ray")
    stats = json.loads((WORK / "match-ray" / "stats.json").read_text())

    def ratio(a, b):
        return f"{a / b:.2f}"

    rows = [
        ("start a local Ray instance (once per driver)", "–", f"{ray_start:.1f} s", "–"),
        (f"no-op task overhead ({args.noop_tasks} tasks)", f"{noop['local']:.2f} ms/task",
         f"{noop['ray']:.2f} ms/task", ratio(noop["local"], noop["ray"])),
        (f"ray.put of the matcher ({len(entries):,} entries, {matcher.engine})", "(fork: 0)",
         f"{put_seconds:.2f} s", "–"),
        (f"{4 * args.workers} tasks incl. first load in each worker", "–",
         f"{first_loads_seconds:.2f} s ({len(set(loads.values()))} workers)", "–"),
        (f"match {n_texts:,} texts in {args.shards} shards", f"{match_seconds['local']:.1f} s",
         f"{match_seconds['ray']:.1f} s", ratio(match_seconds["local"], match_seconds["ray"])),
        ("match texts/s", f"{n_texts / match_seconds['local']:,.0f}", f"{n_texts / match_seconds['ray']:,.0f}",
         ratio(match_seconds["local"], match_seconds["ray"])),
    ]
    lines = [
        "# Ray engine vs local engine",
        "",
        f"{args.workers} workers on this machine ({os.cpu_count()} CPUs, load average before "
        f"{load[0]:.1f}); Ray {ray.__version__}, local Ray instance with num_cpus={args.workers}. "
        "Ratio = local time / Ray time (> 1: Ray faster).",
        "",
        "| what | local | ray | ratio |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"Outputs byte-identical under both engines: **{'yes' if same else 'NO'}** "
        f"({stats['matched_texts']:,} matched texts, {stats['matches']:,} matches).",
        "",
        "On one machine both engines share the same CPUs, so Ray can only add its start and per-task cost;",
        "it pays off when the shards are spread over several machines (the shared object is then sent once",
        "per node). The machine may be shared with other jobs: compare the ratios, not the absolute times.",
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ray.md").write_text("\n".join(lines))
    print("\n".join(lines))
    ray.shutdown()


if __name__ == "__main__":
    main()
