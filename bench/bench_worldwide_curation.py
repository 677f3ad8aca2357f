"""Worldwide curation (Meta CLIP 2): language ID accuracy and speed, per-language matching against the
released approach, memory with every language loaded.

Writes ``bench/results/worldwide_curation.md`` (raw numbers in ``worldwide_curation.json``). Run with
``make bench-worldwide`` (``BENCH_WORLDWIDE_CURATION_ARGS="--repeat 1"`` for a quick run).

- **Pool**: the real multilingual pool of ``make worldwide`` (:mod:`bench.worldwide_pool`: Multi30k
  train captions in en/de/fr/cs, the captions of the eight Wikipedia dumps, the Tatoeba sentences),
  read from ``build/worldwide/pool`` when ``make worldwide`` made it, else built once in
  ``.cache/bench/worldwide/pool``; repeated ``--copies`` times for the matching runs.
- **Metadata**: the per-language lists ``--metadata`` (default ``build/worldwide/metadata_per_lang``,
  what ``make worldwide-metadata`` writes); without them, stand-in lists built from ``../shared``
  (dump titles + OMW lemmas, English = ``build/metadata.json``), said so in the results.
- **Language ID**: top-1 accuracy against the known language on Multi30k val (4 x 1,014 captions),
  Tatoeba (all 125,134 labelled lines; "supported" = lines whose language the tool has a label for)
  and each dump's captions (gold = the wiki's language: noisy, English alt texts and Latin names count
  as errors), for ``fasttext-lid176`` (the one ``match --lang-id`` uses) and, when installed, pycld2,
  py3langid and lingua; speed in texts per CPU second, one process.
- **Matching** (one core each, in child processes, A B A B): ours (one ``Engine`` per language
  present, texts matched in Arrow batches) against the released approach (one pyahocorasick
  automaton of ``(id, key)`` per language, per text ``txt.strip()``, the seven ``str.replace`` of
  ``spacing``, ``automaton.iter`` and a ``set``), on the same texts with the same language (our
  LID's), with the released keys (``--normalize script-aware-released``, goal >= 2x per core and
  every per-language count identical) and with ours (``script-aware``). CPU seconds of the matching
  loop only; builds timed apart; RSS with every language's matcher loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
WORK = REPO / ".cache" / "bench" / "worldwide"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------------------- inputs


def pool_folder() -> Path:
    """The worldwide pool's parquet files (``make worldwide``'s, else built here once)."""
    built = REPO / "build" / "worldwide" / "pool"
    if built.is_dir() and len(list(built.glob("*.parquet"))) >= 10:
        return built
    from bench import worldwide_pool

    folder = WORK / "pool"
    worldwide_pool.main(["--out", str(folder)])
    return folder


def metadata_folder(given: str | None) -> tuple[Path, bool]:
    """``(folder, real)``: the per-language lists, or stand-ins built from ../shared."""
    path = Path(given) if given else REPO / "build" / "worldwide" / "metadata_per_lang"
    if path.is_dir() and list(path.glob("*.json")):
        return path, not path.name.startswith("stand_in")
    if given:
        sys.exit(f"{path}: no {{lang}}.json lists there")
    from bench import worldwide_pool

    folder = WORK / "stand_in_metadata"
    if not (folder / "en.json").exists():
        english = REPO / "build" / "metadata.json"
        if not english.exists():
            sys.exit(f"{english} is missing: run 'make metadata' (the English list of the stand-in metadata)")
        worldwide_pool.stand_in_metadata(folder, json.loads(english.read_text(encoding="utf-8")))
    return folder, False


def read_pool(folder: Path):
    import pandas as pd

    frames = [pd.read_parquet(p, columns=["text", "source", "gold"]) for p in sorted(folder.glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- language ID


def _tools() -> dict:
    """Language-ID tools available here: name -> (labels function over a list of texts, label set)."""
    from metadata_builder.match.languages import lid_map, model

    fasttext = model("fasttext-lid176")
    tools = {"fasttext-lid176 (ours)": (lambda texts: fasttext.predict(texts)[0], set(lid_map()))}
    try:
        import pycld2

        def cld2(texts):
            out = []
            for t in texts:
                try:
                    code = pycld2.detect(t)[2][0][1] if t else "un"
                except pycld2.error:
                    code = "un"
                out.append({"un": "", "iw": "he", "zh-Hant": "zh", "xxx": ""}.get(code, code))
            return out
        tools["pycld2 0.42"] = (cld2, {c[1] for c in pycld2.LANGUAGES} | {"he", "zh"})
    except ImportError:
        pass
    try:
        import py3langid

        from py3langid import langid

        ident = langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE)
        tools["py3langid 0.4.0"] = (lambda texts: [ident.classify(t)[0] if t else "" for t in texts],
                                    set(ident.nb_classes))
    except ImportError:
        pass
    return tools


def lid_accuracy(pool) -> dict:
    """Accuracy (%) per dataset and tool, and each tool's texts per CPU second on the mixed captions."""
    import pandas as pd

    from bench.worldwide_pool import multi30k

    val = multi30k("val")
    sets = {"multi30k val": val, "tatoeba (all)": pool[pool["source"] == "tatoeba"]}
    captions = pool[pool["source"].str.startswith("wiki-")]
    for lang in sorted(captions["gold"].unique()):
        sets[f"wiki captions {lang}"] = captions[captions["gold"] == lang]
    results: dict = {}
    for name, (predict, labels) in _tools().items():
        row = {}
        for set_name, frame in sets.items():
            texts = frame["text"].fillna("").tolist()
            gold = frame["gold"].fillna("").to_numpy()
            start = time.process_time()
            got = np.array(predict(texts), dtype=object)
            seconds = time.process_time() - start
            row[set_name] = round(100 * float((got == gold).mean()), 1)
            if set_name == "tatoeba (all)":
                supported = np.array([g in labels for g in gold])
                row["tatoeba (supported)"] = round(100 * float((got[supported] == gold[supported]).mean()), 1)
            if set_name == "multi30k val":
                row["texts/CPU s (multi30k)"] = round(len(texts) / seconds)
        texts = captions["text"].fillna("").tolist()
        start = time.process_time()
        predict(texts)
        row["texts/CPU s (captions)"] = round(len(texts) / (time.process_time() - start))
        results[name] = row
    return {"sets": {k: len(v) for k, v in sets.items()}, "tools": results}


# --------------------------------------------------------------------------- matching (children)


def _spacing(text: str) -> str:
    """The released ``spacing`` (also v1's): pad, wrap seven characters, turn tab/newline/return into spaces."""
    spaced = f" {text} "
    for ch in (",", ".", ";", ":", "?", "!", "`"):
        spaced = spaced.replace(ch, f" {ch} ")
    for ch in ("\t", "\n", "\r"):
        spaced = spaced.replace(ch, " ")
    return spaced


def _child(args) -> dict:
    """One side of the comparison, in its own process: build every language, match, count, report."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from metadata_builder.match.engine import Engine
    from metadata_builder.match.metadata import language_files, load_language
    from metadata_builder.match.normalize import parse

    table = pq.read_table(args.texts)
    langs = table["lang"].to_pylist()
    lists = language_files(args.metadata)
    present = sorted(set(langs) & set(lists))
    norm = parse(args.normalize)
    before = rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    built = {}
    for lang in present:
        entries = load_language(lists[lang])
        if args.side == "ours":
            built[lang] = (Engine(entries, norm), len(entries))
        else:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for idx, entry in enumerate(entries):
                key = norm.key(entry)
                automaton.add_word(key, (idx, key))
            automaton.make_automaton()
            built[lang] = (automaton, len(entries))
    build = {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
             "rss_mb_added": rss_mb() - before}
    texts = table["text"].combine_chunks()
    order = np.argsort(np.array(langs, dtype=object), kind="stable")
    lang_sorted = np.array(langs, dtype=object)[order]
    bounds = {lang: np.searchsorted(lang_sorted, [lang, lang], side="left")[0] for lang in present}
    counts = {lang: np.zeros(n, dtype=np.int64) for lang, (_, n) in built.items()}
    groups = {}
    for lang in present:
        lo = bounds[lang]
        hi = int(np.searchsorted(lang_sorted, lang, side="right"))
        idx = order[lo:hi]
        groups[lang] = texts.take(pa.array(idx)) if args.side == "ours" else [texts[int(i)].as_py() for i in idx]
    n_texts = sum(len(g) for g in groups.values())
    cpu = time.process_time()
    if args.side == "ours":
        for lang, sub in groups.items():
            matcher = built[lang][0]
            for lo in range(0, len(sub), 8192):
                _, entry = matcher.match_arrow(sub.slice(lo, 8192))
                counts[lang] += np.bincount(entry, minlength=len(counts[lang]))
    else:
        for lang, sub in groups.items():
            automaton, c = built[lang][0], counts[lang]
            for txt in sub:
                found = set()
                for _, (entry_id, _) in automaton.iter(_spacing(txt.strip() if txt else "")):
                    found.add(entry_id)
                c[list(found)] += 1
    match_cpu = time.process_time() - cpu
    np.savez(args.counts, **counts)
    return {"side": args.side, "normalize": args.normalize, "texts": n_texts, "languages": len(present),
            "match_cpu_s": match_cpu, "texts_per_cpu_s": n_texts / match_cpu, "build": build,
            "rss_mb_loaded": rss_mb()}


def run_child(side: str, normalize: str, texts: Path, metadata: Path, counts: Path) -> dict:
    from bench.measure import run_measured

    argv = [sys.executable, "-m", "bench.bench_worldwide_curation", "_child", "--side", side, "--normalize", normalize,
            "--texts", str(texts), "--metadata", str(metadata), "--counts", str(counts), "--report", str(counts) + ".json"]
    measured = run_measured(argv, env={**os.environ, "PYTHONPATH": str(REPO)})
    if measured["exit_code"]:
        sys.exit(f"{side} child failed ({measured['exit_code']})")
    report = json.loads(Path(str(counts) + ".json").read_text())
    report["peak_rss_mb"] = measured["max_rss_process"] / 2**20
    return report


def same_counts(a: Path, b: Path) -> tuple[bool, int]:
    with np.load(a) as x, np.load(b) as y:
        same = sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)
        return same, int(sum(int(x[k].sum()) for k in x.files))


def matching(pool, metadata: Path, copies: int, repeat: int) -> dict:
    """Label the pool once (our LID), then run ours and the released approach A B A B per key rule."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from metadata_builder.match.languages import metadata_language, model
    from metadata_builder.match.metadata import language_files

    available = set(language_files(metadata))
    texts = pool["text"].fillna("").tolist()
    labels, _ = model("fasttext-lid176").predict(texts)
    langs = [metadata_language(label, available) for label in labels]
    path = WORK / "matching_texts.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"text": pa.array(texts * copies, pa.string()), "lang": pa.array(langs * copies, pa.string())})
    pq.write_table(table, path)
    out = {}
    for normalize in ("script-aware-released", "script-aware"):
        runs = {"ours": [], "released approach": []}
        for i in range(repeat):
            for side, name in (("ours", "ours"), ("released", "released approach")):
                counts = WORK / f"counts-{side}-{normalize}-{i}.npz"
                runs[name].append(run_child(side, normalize, path, metadata, counts))
                print(f"{normalize} {name} run {i + 1}: {runs[name][-1]['texts_per_cpu_s']:,.0f} texts/CPU s, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
        identical, matches = same_counts(WORK / f"counts-ours-{normalize}-0.npz",
                                         WORK / f"counts-released-{normalize}-0.npz")
        best = {name: max(r, key=lambda x: x["texts_per_cpu_s"]) for name, r in runs.items()}
        out[normalize] = {"runs": runs, "best": best, "identical_counts": identical, "matches": matches,
                          "ratio": best["ours"]["texts_per_cpu_s"] / best["released approach"]["texts_per_cpu_s"]}
    return out


# --------------------------------------------------------------------------- report


def write_results(result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "worldwide_curation.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    lines = ["# Worldwide curation: language ID, per-language matching, memory", "",
             f"Machine load (1-min average) before / after: {result['load_before']:.1f} / {result['load_after']:.1f}; "
             f"{os.cpu_count()} cores. Metadata: {result['metadata']} "
             f"({'real per-language lists' if result['metadata_real'] else 'stand-in lists: dump titles + OMW lemmas'}).", ""]
    lid = result["lid"]
    if lid:
        sets = list(lid["sets"])
        cols = ["multi30k val", "tatoeba (all)", "tatoeba (supported)"] + [s for s in sets if s.startswith("wiki")]
        wiki = [c for c in cols if c.startswith("wiki")]
        lines += ["## Language ID (top-1 accuracy %, texts per CPU second on one core)", "",
                  "| tool | " + " | ".join(cols) + " | wiki captions mean | texts/CPU s (multi30k) | texts/CPU s (captions) |",
                  "|---|" + "---:|" * (len(cols) + 3)]
        for tool, row in lid["tools"].items():
            mean = sum(row[c] for c in wiki) / len(wiki) if wiki else float("nan")
            lines.append(f"| {tool} | " + " | ".join(f"{row.get(c, float('nan')):.1f}" for c in cols)
                         + f" | {mean:.1f} | {row['texts/CPU s (multi30k)']:,} | {row['texts/CPU s (captions)']:,} |")
        lines += ["", "Texts per set: " + ", ".join(f"{k} {v:,}" for k, v in lid["sets"].items()) + ".", ""]
    for normalize, m in result["matching"].items():
        b = m["best"]
        o, r = b["ours"], b["released approach"]
        lines += [f"## Matching, keys `{normalize}` ({o['texts']:,} texts in {o['languages']} languages, one core)", "",
                  "| | ours | released approach | ratio |", "|---|---:|---:|---:|",
                  f"| texts per CPU second (best of {len(m['runs']['ours'])}, A B A B) | {o['texts_per_cpu_s']:,.0f} | "
                  f"{r['texts_per_cpu_s']:,.0f} | **{m['ratio']:.2f}x** |",
                  "| runs (texts per CPU second) | " + ", ".join(f"{x['texts_per_cpu_s']:,.0f}" for x in m["runs"]["ours"])
                  + " | " + ", ".join(f"{x['texts_per_cpu_s']:,.0f}" for x in m["runs"]["released approach"]) + " | |",
                  f"| build of every language: CPU s | {o['build']['cpu_s']:.1f} | {r['build']['cpu_s']:.1f} | |",
                  f"| memory with every language loaded (RSS added by the build) | {o['build']['rss_mb_added']:,.0f} MB | "
                  f"{r['build']['rss_mb_added']:,.0f} MB | |",
                  f"| peak RSS of the process | {o['peak_rss_mb']:,.0f} MB | {r['peak_rss_mb']:,.0f} MB | |",
                  f"| identical per-language counts | {'yes' if m['identical_counts'] else '**NO**'} "
                  f"({m['matches']:,} matches) | | |", ""]
    path = RESULTS / "worldwide_curation.md"
    path.write_text("\n".join(lines))
    return path


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["_child"]:
        parser = argparse.ArgumentParser()
        for name in ("--side", "--normalize", "--texts", "--metadata", "--counts", "--report"):
            parser.add_argument(name, required=True)
        args = parser.parse_args(argv[1:])
        Path(args.report).write_text(json.dumps(_child(args), default=float))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metadata", help="per-language lists (default build/worldwide/metadata_per_lang)")
    parser.add_argument("--copies", type=int, default=4, help="copies of the pool in the matching runs (default 4)")
    parser.add_argument("--repeat", type=int, default=2, help="A B pairs per key rule (default 2: A B A B)")
    parser.add_argument("--skip-lid", action="store_true", help="no language-ID accuracy table")
    parser.add_argument("--skip-matching", action="store_true", help="no matching comparison")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    metadata, real = metadata_folder(args.metadata)
    pool = read_pool(pool_folder())
    print(f"pool: {len(pool):,} texts; metadata: {metadata}", flush=True)
    lid = None if args.skip_lid else lid_accuracy(pool)
    result = {"load_before": load_before, "metadata": str(metadata), "metadata_real": real, "lid": lid,
              "matching": {} if args.skip_matching else matching(pool, metadata, args.copies, args.repeat),
              "load_after": os.getloadavg()[0]}
    print(write_results(result).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
