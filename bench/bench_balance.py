"""``make bench-balance``: sampling and a 50-value t sweep over >= 10M matched texts.

Input: the real LAION sample (``../shared/data/laion400m-alttext-sample-10k``) matched by
``metadata-builder match`` against ``build/metadata.json``, then *replicated*: the pool is tiled
100 times into one 1M-row parquet file (rows ``r + 10,000 j``), hard-linked as many times as needed
to pass ``--texts`` matched texts (default 10M), and the copies matched by ``metadata-builder match``
(a complete match folder like any other). Built once under ``.cache/bench/balance/``.

Each step runs in its own process (wall time, CPU time and peak RSS, as ``bench-wiki`` measures),
beside its baseline in the same run:

- **sweep**: ``expected_size(match, 50 t values, executor=Local(workers=2))`` (parquet reading included) against
  the straightforward loop: every shard loaded once, then for each t ``keep_probabilities`` and
  its sum (``sum P``, ``sum P (1 - P)``);
- **draws**: the kept set of every text at the 6% tail-share t, with our counter-based hash
  (``sample_flat``) against numpy's ``default_rng`` stream (the published code's way, unseeded
  there): in memory, one process, I/O excluded;
- **balance**: the whole command, ``balance(match, out, t, executor=Local(workers=2))``: draws, online export and
  the curated subset re-read from the 1M-row pool for every shard.

The markdown table goes to ``bench/results/balance.md`` (raw numbers in ``balance.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.measure import run_measured
from metadata_builder import paths
from metadata_builder.runtime.executor import Local

ROOT = paths.PROJECT_ROOT
RESULTS = ROOT / "bench" / "results"
BENCH_DIR = paths.CACHE_DIR / "bench" / "balance"
SHARED = Path(os.environ.get("METADATA_BUILDER_SHARED", ROOT.parent / "shared" / "data"))
SAMPLE = SHARED / "laion400m-alttext-sample-10k" / "test_10000.parquet"
TILE = 100  # pool copies per replicated shard (1M rows)
N_T = 50


def log(message: str) -> None:
    print(f"[bench-balance] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- inputs


def build_inputs(metadata: Path, target_texts: int) -> Path:
    """The match folder of the real pool replicated to ``target_texts`` matched texts (cached);
    returns its path. The copies are hard links of one tiled parquet file, matched by the real
    ``metadata-builder match`` (so the folder is a complete match like any other: fingerprints, text
    hashes, completion record)."""
    import pandas as pd
    import pyarrow.parquet as pq

    if not SAMPLE.exists():
        raise SystemExit(f"[bench-balance] {SAMPLE} is absent: the benchmark replicates this real pool")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    sample_match = BENCH_DIR / "match-sample"
    command = [sys.executable, "-m", "metadata_builder", "match"]
    if not (sample_match / "_job" / "complete.json").exists():
        subprocess.run(command + [str(SAMPLE), "--metadata", str(metadata), "--out", str(sample_match),
                                  "--workers", "1", "--no-progress"], check=True)
    (shard,) = json.loads((sample_match / "manifest.json").read_text())["shards"]
    matched = pq.read_metadata(sample_match / "shards" / f"{shard['name']}.parquet").num_rows
    per_copy = matched * TILE
    n_copies = -(-target_texts // per_copy)
    out = BENCH_DIR / f"match-of-{n_copies}-copies"  # (match-NxT: hand-made folders of earlier versions)
    if (out / "_job" / "complete.json").exists():
        return out
    pool = BENCH_DIR / f"pool-x{TILE}.parquet"
    if not pool.exists():
        sample = pd.read_parquet(SAMPLE)
        tmp = pool.with_suffix(".tmp")
        pd.concat([sample] * TILE, ignore_index=True).to_parquet(tmp, index=False)
        os.replace(tmp, pool)
    copies = BENCH_DIR / f"pool-{n_copies}x{TILE}"
    copies.mkdir(exist_ok=True)
    for k in range(n_copies):
        link = copies / f"copy-{k:05d}.parquet"
        if not link.exists():
            os.link(pool, link)
    log(f"matching {out}: {n_copies} pool files of {shard['rows'] * TILE:,} texts ({per_copy:,} matched each)")
    subprocess.run(command + [str(copies), "--metadata", str(metadata), "--out", str(out), "--workers", "2"],
                   check=True)
    return out


def sweep_ts(counts: np.ndarray) -> np.ndarray:
    """50 t values spread geometrically from 1 to the largest count."""
    return np.geomspace(1, float(counts.max()), N_T)


# --------------------------------------------------------------------------- steps (one process each)


def step_sweep(match_dir: Path, workers: int) -> dict:
    from metadata_builder.balance import expected_size
    from metadata_builder.match.output import MatchOutput

    match = MatchOutput(match_dir)
    start = time.perf_counter()
    table = expected_size(match, sweep_ts(match.counts), executor=Local(workers=workers))
    return {"seconds": time.perf_counter() - start, "expected": table["expected"].tolist(),
            "variance": table["variance"].tolist()}


def load_all(match):
    """Every shard's (offsets, ids) in memory."""
    from metadata_builder.balance import flatten_entry_ids

    return [(s["name"], match.table(s["name"], ("row", "entry_ids"))) for s in match.shards], flatten_entry_ids


def step_sweep_baseline(match_dir: Path) -> dict:
    from metadata_builder.balance import entry_probabilities, keep_probabilities_flat
    from metadata_builder.match.output import MatchOutput

    match = MatchOutput(match_dir)
    start = time.perf_counter()
    shards, flatten = load_all(match)
    flat = [flatten(table["entry_ids"]) for _, table in shards]
    expected, variance = [], []
    for t in sweep_ts(match.counts):
        p = entry_probabilities(match.counts, t)
        e = v = 0.0
        for offsets, ids in flat:
            keep = keep_probabilities_flat(offsets, ids, p)
            e += float(keep.sum())
            v += float((keep * (1 - keep)).sum())
        expected.append(e)
        variance.append(v)
    return {"seconds": time.perf_counter() - start, "expected": expected, "variance": variance}


def step_draws(match_dir: Path, baseline: bool) -> dict:
    from metadata_builder.balance import entry_probabilities, per_text, sample_flat, t_for_tail_share, text_keys
    from metadata_builder.match.output import MatchOutput

    match = MatchOutput(match_dir)
    shards, flatten = load_all(match)
    prepared = [(name, table["row"].to_numpy(), *flatten(table["entry_ids"])) for name, table in shards]
    t = t_for_tail_share(match.counts, 0.06)
    p = entry_probabilities(match.counts, t)
    rng = np.random.default_rng()
    start = time.perf_counter()
    kept = 0
    for name, rows, offsets, ids in prepared:
        if baseline:
            wins = rng.random(len(ids)) < p[ids]
            kept += int(per_text(np.logical_or, wins, offsets, False).sum())
        else:
            kept += int(sample_flat(offsets, ids, p, text_keys(0, name, rows)).sum())
    return {"seconds": time.perf_counter() - start, "kept": kept, "t": t,
            "matches": int(sum(len(ids) for *_, ids in prepared))}


def step_balance(match_dir: Path, workers: int) -> dict:
    from metadata_builder.balance import balance

    out = BENCH_DIR / "balanced"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    stats = balance(match_dir, out, tail_share_target=0.06, seed=0, executor=Local(workers=workers, progress=False))
    return {"seconds": time.perf_counter() - start, **{k: stats[k] for k in
            ("t", "tail_share", "texts", "kept", "expected", "std", "z", "head_entries", "head_expected_over_t")}}


# --------------------------------------------------------------------------- measuring


def measure(args: list[str], label: str, interval: float = 0.2) -> dict:
    """Run one step in a fresh process: wall, CPU, peak RSS (largest process; summed tree)."""
    log(f"{label} ...")
    result_file = BENCH_DIR / f"step-{label}.json"
    result_file.unlink(missing_ok=True)
    run = run_measured([sys.executable, "-m", "bench.bench_balance", *args, "--result", str(result_file)],
                       interval, cwd=ROOT)
    if run.pop("exit_code"):
        raise SystemExit(f"[bench-balance] step {label} failed")
    result = json.loads(result_file.read_text())
    log(f"{label}: {result['seconds']:.2f} s")
    return {**result, **run}


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def report(info: dict, runs: dict, loads: dict) -> str:
    texts, matches = info["texts"], info["matches"]
    lines = [
        "# bench-balance: sampling and a 50-value t sweep",
        "",
        f"Input: the real LAION sample matched against `{info['metadata']}` ({info['entries']:,} entries), "
        f"replicated to **{texts:,} matched texts** ({matches:,} matches, {info['shards']} shards of "
        f"{texts // info['shards']:,}); curated rows are re-read from a {info['pool_rows']:,}-row parquet pool.",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}. "
        f"Load average (1/5/15 min) before: {loads['before']}; after: {loads['after']} "
        "(the CPU is shared with other work: CPU seconds are the steadier figure).",
        "",
        "| step | method | time in step s | process wall s | CPU s | max RSS (1 process) | peak RSS (tree) | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [
        ("50-t sweep", "ours: `expected_size(match, ts, executor=Local(workers=2))`", "sweep", "sweep_baseline"),
        ("50-t sweep", "baseline: per-t `keep_probabilities` loop (data in memory)", "sweep_baseline", None),
        ("draws at 6% tail share", "ours: counter-based hash `sample_flat`", "draws", "draws_baseline"),
        ("draws at 6% tail share", "baseline: `default_rng().random` stream", "draws_baseline", None),
        ("whole `balance` (workers=2)", "draws + online export + curated subset", "balance", None),
    ]
    for step, method, key, versus in rows:
        if key not in runs:
            lines.append(f"| {step} | {method} | not run | | | | | |")
            continue
        r = runs[key]
        ratio = f"{runs[versus]['seconds'] / r['seconds']:.1f}x faster" if versus in runs else ""
        lines.append(f"| {step} | {method} | {r['seconds']:.2f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{mib(r['max_rss_process'])} | {mib(r['peak_rss_tree'])} | {ratio} |")
    lines.append("")
    if "sweep" in runs:
        s = runs["sweep"]["seconds"]
        lines.append(f"- **Sweep of {N_T} t values over {texts:,} texts: {s:.2f} s** (goal < 10 s), "
                     f"parquet reading included.")
    if "sweep" in runs and "sweep_baseline" in runs:
        a, b = np.array(runs["sweep"]["expected"]), np.array(runs["sweep_baseline"]["expected"])
        va, vb = np.array(runs["sweep"]["variance"]), np.array(runs["sweep_baseline"]["variance"])
        lines.append(f"- Same numbers: largest relative difference of the expected sizes "
                     f"{float(np.max(np.abs(a - b) / np.maximum(b, 1))):.1e}, of the variances "
                     f"{float(np.max(np.abs(va - vb) / np.maximum(vb, 1e-300))):.1e}.")
    if "draws" in runs and "draws_baseline" in runs:
        d, b = runs["draws"], runs["draws_baseline"]
        lines.append(f"- Draws over {d['matches']:,} matches at t = {d['t']:,}: kept {d['kept']:,} (hash, seed 0) "
                     f"vs {b['kept']:,} (unseeded stream); the hash costs {d['seconds'] / b['seconds']:.2f}x the "
                     "stream and makes the kept set independent of shard order and worker count.")
    if "balance" in runs:
        r = runs["balance"]
        lines.append(f"- `balance` at the 6% tail share: t = {r['t']:,} (tail share {r['tail_share']:.4f}), kept "
                     f"{r['kept']:,} of {r['texts']:,} (expected {r['expected']:,.1f} ± {r['std']:,.1f}, "
                     f"z = {r['z']:+.2f}); {r['texts'] / r['seconds']:,.0f} matched texts/s.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=10_000_000, help="matched texts to replicate to (default 10M)")
    parser.add_argument("--metadata", type=Path, default=paths.BUILD_DIR / "metadata.json")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], help="steps to skip (sweep_baseline, draws, balance ...)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--match", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:  # inside a measured child process
        result = {"sweep": lambda: step_sweep(args.match, args.workers),
                  "sweep_baseline": lambda: step_sweep_baseline(args.match),
                  "draws": lambda: step_draws(args.match, baseline=False),
                  "draws_baseline": lambda: step_draws(args.match, baseline=True),
                  "balance": lambda: step_balance(args.match, args.workers)}[args.step]()
        args.result.write_text(json.dumps(result))
        return 0
    if not args.metadata.exists():
        raise SystemExit(f"[bench-balance] {args.metadata} missing: run 'make metadata' first")
    match_dir = build_inputs(args.metadata, args.texts)
    from metadata_builder.match.output import MatchOutput

    match = MatchOutput(match_dir)
    first = json.loads((match_dir / "manifest.json").read_text())["shards"][0]
    import pyarrow.parquet as pq

    shard_meta = pq.ParquetFile(match_dir / "shards" / f"{first['name']}.parquet").metadata
    per_shard = shard_meta.num_rows
    info = {"texts": per_shard * len(match.shards), "matches": int(match.counts.sum()), "shards": len(match.shards),
            "entries": match.n_entries, "metadata": str(args.metadata), "pool_rows": first["rows"]}
    loads = {"before": " / ".join(f"{x:.2f}" for x in os.getloadavg())}
    runs = {}
    for step in ("sweep", "sweep_baseline", "draws", "draws_baseline", "balance"):
        if step in args.skip:
            continue
        runs[step] = measure(["--step", step, "--match", str(match_dir), "--workers", str(args.workers)], step)
    loads["after"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "balance.json").write_text(json.dumps({"info": info, "runs": runs, "loads": loads}, indent=1))
    text = report(info, runs, loads)
    (RESULTS / "balance.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
