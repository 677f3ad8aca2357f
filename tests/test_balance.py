"""Balancing (docs/recipe.md §3) on real pools: exact probabilities, reproducible draws, t from tail share.

The match folders are written by a plain docs/recipe.md §2 reference matcher (a few lines below), in the
match-output contract, so these tests check balancing independently of the fast matcher.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metadata_builder import balance as B
from reference import Reference, space
from metadata_builder.errors import UserError
from metadata_builder.match.output import FORMAT_VERSION, entries_digest
from metadata_builder.match.text_hash import text_hashes
from metadata_builder.runtime.storage import fingerprint
from metadata_builder.runtime.executor import Local
from metadata_builder.runtime.shards import ShardJob



def write_match_dir(out: Path, pools: list[Path], entries: list[str], text_column: str,
                    id_column: str | None = None, order=sorted) -> Path:
    """A match folder in the contract's format (manifest, shards/SHARD.parquet, entry_counts.npy)."""
    job = ShardJob(out, "match", {"reference": [str(p) for p in sorted(pools)], "order": order.__name__}).start()
    (out / "shards").mkdir(parents=True, exist_ok=True)
    reference = Reference(entries)
    counts = np.zeros(len(entries), dtype=np.uint64)
    shards = []
    for k, path in enumerate(sorted(pools)):
        df = pd.read_parquet(path)
        name = f"{k:05d}-{path.stem}"
        sets = [reference.match(t if isinstance(t, str) else "") for t in df[text_column]]
        rows = [r for r, s in enumerate(sets) if s]
        columns = {"row": pa.array(rows, pa.int64())}
        if id_column:
            columns["id"] = pa.array(df[id_column].iloc[rows].astype(str).tolist())
        columns["entry_ids"] = pa.array([sets[r] for r in rows], pa.list_(pa.int32()))
        texts = df[text_column].iloc[rows]
        columns["text_hash"] = pa.array(text_hashes([t if isinstance(t, str) else None for t in texts]), pa.uint64())
        pq.write_table(pa.table(columns), out / "shards" / f"{name}.parquet")
        for r in rows:
            counts[sets[r]] += 1
        shards.append({"name": name, "path": str(path.resolve()), "format": "parquet", "rows": len(df),
                       "text_column": text_column, "header": False, "fingerprint": fingerprint(path)})
    np.save(out / "entry_counts.npy", counts)
    manifest = {"format_version": FORMAT_VERSION,
                "metadata": {"path": str(out / "metadata.json"), "sha256": "reference",
                             "entries_sha256": entries_digest(entries), "entries": len(entries)},
                "normalize": "metaclip-v1", "id_column": id_column,
                "shards": order(shards, key=lambda s: s["name"])}
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "metadata.json").write_text(json.dumps(entries))
    job.finish()  # a finished match folder
    return out


def split_parquet(source: Path, folder: Path, pieces: int, columns=None) -> list[Path]:
    """Cut a real pool into ``pieces`` parquet files (several shards for the worker tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    df = pd.read_parquet(source, columns=columns)
    bounds = np.linspace(0, len(df), pieces + 1).astype(int)
    paths = []
    for k in range(pieces):
        path = folder / f"part{k}.parquet"
        df.iloc[bounds[k]:bounds[k + 1]].reset_index(drop=True).to_parquet(path, index=False)
        paths.append(path)
    return paths


def matched_sets(match_dir: Path) -> dict[tuple[str, int], list[int]]:
    out = {}
    for path in sorted((match_dir / "shards").glob("*.parquet")):
        df = pd.read_parquet(path)
        for row, ids in zip(df["row"], df["entry_ids"]):
            out[(path.stem, int(row))] = [int(e) for e in ids]
    return out


def kept_keys(out_dir: Path) -> set[tuple[str, int]]:
    keys = set()
    for path in sorted((out_dir / "curated").glob("*.parquet")):
        keys |= {(path.stem, int(r)) for r in pq.read_table(path, columns=["row"])["row"].to_pylist()}
    return keys


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def entries(wordnet30_entries) -> list[str]:
    from metadata_builder.assemble import Source, assemble

    return assemble([Source("wordnet", wordnet30_entries["entry"])], total=None).entries


@pytest.fixture(scope="module")
def laion_match(tmp_path_factory, laion_parquet, entries) -> Path:
    """The LAION sample cut into 4 pool files, matched by the reference matcher."""
    base = tmp_path_factory.mktemp("laion")
    pools = split_parquet(laion_parquet, base / "pool", 4)
    return write_match_dir(base / "match", pools, entries, "TEXT")


@pytest.fixture(scope="module")
def laion_match_reversed(laion_match) -> Path:
    """The same match folder with its shards listed in the opposite order."""
    other = laion_match.parent / "match_reversed"
    job = ShardJob(other, "match", {"reversed": str(laion_match)}).start()
    (other / "shards").symlink_to(laion_match / "shards")
    (other / "entry_counts.npy").symlink_to(laion_match / "entry_counts.npy")
    manifest = json.loads((laion_match / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][::-1]
    (other / "manifest.json").write_text(json.dumps(manifest))
    job.finish()
    return other


@pytest.fixture(scope="module")
def laion_counts(laion_match) -> np.ndarray:
    return np.load(laion_match / "entry_counts.npy")


@pytest.fixture(scope="module")
def coco_match(tmp_path_factory, coco_captions, entries) -> Path:
    """COCO val2017 captions (5 per image) as a parquet pool, matched with ``image_id`` as the id."""
    base = tmp_path_factory.mktemp("coco")
    data = json.loads(coco_captions.read_text())
    pool = pd.DataFrame(data["annotations"])[["image_id", "id", "caption"]]
    (base / "pool").mkdir()
    halves = [base / "pool" / "a.parquet", base / "pool" / "b.parquet"]
    pool.iloc[:12_000].to_parquet(halves[0], index=False)  # an image's captions may span both files
    pool.iloc[12_000:].reset_index(drop=True).to_parquet(halves[1], index=False)
    return write_match_dir(base / "match", halves, entries, "caption", id_column="image_id")


# --------------------------------------------------------------------------- the match itself


def test_reference_match_of_the_laion_sample(laion_match, laion_counts, entries):
    sets = matched_sets(laion_match)
    assert len(entries) == 86_654
    assert len(sets) == 5_065  # about half the 10,000 alt-texts match, as docs/recipe.md §2 says
    assert int(laion_counts.sum()) == 17_279 == sum(map(len, sets.values()))
    assert int((laion_counts > 0).sum()) == 4_425
    assert int(laion_counts.max()) == 919
    assert space("new york, ny\tcity") == " new york ,  ny city "
    assert Reference(["new", "york", "new york", "ny", "dog"]).match("new york, ny hot-dog (dog)") == [0, 1, 2, 3]


# --------------------------------------------------------------------------- tail share and t


def test_tail_share_matches_its_definition(laion_counts):
    c = laion_counts.astype(np.int64)
    for t in (1, 2, 3, 10, 11, 50, 919, 920, 10**9):
        assert B.tail_share(laion_counts, t) == c[c < t].sum() / c.sum()
    ts = np.arange(1, 925)
    assert B.tail_shares(laion_counts, ts).tolist() == [B.tail_share(laion_counts, t) for t in ts]
    assert B.tail_share(laion_counts, 11) == pytest.approx(0.507552520)
    assert B.tail_share(np.zeros(5, dtype=np.uint64), 3) == 0.0


def test_t_for_tail_share_is_the_smallest_t_reaching_p(laion_counts):
    ts = np.arange(1, int(laion_counts.max()) + 3)
    shares = np.array([B.tail_share(laion_counts, t) for t in ts])
    for p in (0.0, 0.01, 0.06, 0.1, 0.25, 0.5, 0.507552520, 0.8, 0.99, 1.0):
        brute = int(ts[np.argmax(shares >= p)])  # smallest candidate t with share >= p
        assert B.t_for_tail_share(laion_counts, p) == brute, p
    assert B.t_for_tail_share(laion_counts, 0.06) == 2
    assert B.t_for_tail_share(laion_counts, 0.5) == 11
    assert B.t_for_tail_share(laion_counts, 1.0) == 920
    with pytest.raises(UserError, match="outside"):
        B.t_for_tail_share(laion_counts, 1.5)


def test_t_for_tail_share_inverts_tail_share_to_the_smallest_equal_t(laion_counts):
    ts = np.arange(1, int(laion_counts.max()) + 3)
    shares = [B.tail_share(laion_counts, t) for t in ts]
    smallest_with_share = {}
    for t, s in zip(ts, shares):
        smallest_with_share.setdefault(s, int(t))
    for t, s in zip(ts, shares):
        assert B.t_for_tail_share(laion_counts, s) == smallest_with_share[s]
    # the inverse lands on 1 or one above an entry count (where the step function moves)
    present = set(laion_counts[laion_counts > 0].tolist())
    assert all(t == 1 or t - 1 in present for t in smallest_with_share.values())


# --------------------------------------------------------------------------- probabilities and size


def python_keep_probability(ids, counts, t) -> float:
    miss = 1.0
    for e in ids:
        miss *= 1.0 - t / max(float(counts[e]), t)
    return 1.0 - miss


def test_keep_probabilities_follow_algorithm_1(laion_match, laion_counts):
    sets = list(matched_sets(laion_match).values())
    for t in (1, 5, 11, 100):
        fast = B.keep_probabilities(sets, laion_counts, t)
        slow = [python_keep_probability(s, laion_counts, t) for s in sets]
        assert np.allclose(fast, slow, rtol=0, atol=1e-12)
    # a text with a tail entry (count <= t) is always kept; no entry, never
    fast = B.keep_probabilities([[int(np.argmax(laion_counts))], [], sets[0]], laion_counts, 919)
    assert fast.tolist() == [1.0, 0.0, 1.0]
    table = pq.read_table(laion_match / "shards" / "00000-part0.parquet")
    arrow = B.keep_probabilities(table["entry_ids"], laion_counts, 11)
    assert arrow.tolist() == B.keep_probabilities(table["entry_ids"].to_pylist(), laion_counts, 11).tolist()


def test_expected_size_is_the_sum_of_keep_probabilities(laion_match, laion_counts):
    sets = list(matched_sets(laion_match).values())
    ts = [1, 2, 5, 11, 50, 100, 500, 919]
    table = B.expected_size(laion_match, ts)
    assert table.columns.tolist() == ["t", "expected", "variance", "std", "tail_share"]
    for t, expected, variance in zip(table["t"], table["expected"], table["variance"]):
        p = np.array([python_keep_probability(s, laion_counts, t) for s in sets])
        assert expected == pytest.approx(p.sum(), rel=1e-12)
        assert variance == pytest.approx((p * (1 - p)).sum(), rel=1e-9, abs=1e-9)
    assert table["expected"].iloc[-1] == 5_065 and table["variance"].iloc[-1] == 0
    assert round(table["expected"][3], 3) == 3555.693
    two = B.expected_size(laion_match, ts, executor=Local(workers=2))
    assert two["expected"].tolist() == table["expected"].tolist()  # same floats for any worker count
    # the polynomial sums agree with multiplying every text's factors directly
    offsets, ids = B.flatten_entry_ids(sets)
    long_way = B.expected_size_flat(offsets, ids, laion_counts, ts, poly_below=1)
    assert np.allclose(long_way[0], table["expected"], rtol=1e-12)
    assert np.allclose(long_way[1], table["variance"], rtol=1e-9)
    # only t / count matters: counts x 1e9 (the polynomial degree then drops to stay in float64's
    # range) give the same sizes
    huge = B.expected_size_flat(offsets, ids, laion_counts * np.uint64(10**9), np.array(ts) * 1e9)
    assert np.allclose(huge[0], table["expected"], rtol=1e-12)
    assert np.allclose(huge[1], table["variance"], rtol=1e-9)


# --------------------------------------------------------------------------- sampling


def test_same_seed_same_kept_set_for_any_worker_count_and_shard_order(laion_match, laion_match_reversed,
                                                                         tmp_path):
    one = B.balance(laion_match, tmp_path / "one", t=11, seed=7, executor=Local(workers=1, progress=False))
    two = B.balance(laion_match, tmp_path / "two", t=11, seed=7, executor=Local(workers=2, progress=False))
    rev = B.balance(laion_match_reversed, tmp_path / "rev", t=11, seed=7, executor=Local(workers=2, progress=False))
    assert kept_keys(tmp_path / "one") == kept_keys(tmp_path / "two") == kept_keys(tmp_path / "rev")
    assert one["kept"] == two["kept"] == rev["kept"] == len(kept_keys(tmp_path / "one")) == 3_553
    # byte-identical outputs with 1 and 2 workers
    for rel in ["stats.json", "entry_kept.npy", "entry_expected_kept.npy",
                *[f"{d}/{p.name}" for d in ("curated", "online") for p in (tmp_path / "one" / d).glob("*.parquet")]]:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel
    assert np.array_equal(np.load(tmp_path / "one" / "entry_kept.npy"), np.load(tmp_path / "rev" / "entry_kept.npy"))


def test_different_seeds_differ_with_about_the_same_size(laion_match, tmp_path):
    sizes, sets = [], []
    for seed in (0, 1, 2):
        stats = B.balance(laion_match, tmp_path / str(seed), t=11, seed=seed, executor=Local(progress=False))
        sizes.append(stats["kept"])
        sets.append(kept_keys(tmp_path / str(seed)))
        assert abs(stats["kept"] - stats["expected"]) < 4 * stats["std"]
    assert sizes == [3_541, 3_552, 3_536]
    assert sets[0] != sets[1] and sets[1] != sets[2]
    assert len(sets[0] & sets[1]) < min(sizes)  # genuinely different sets, not a shift


def test_t_at_least_max_count_keeps_every_matched_text_and_no_other(laion_match, laion_counts, tmp_path):
    stats = B.balance(laion_match, tmp_path / "all", t=int(laion_counts.max()), seed=3, executor=Local(progress=False))
    assert stats["kept"] == stats["texts"] == 5_065 and stats["expected"] == 5_065 and stats["variance"] == 0
    assert kept_keys(tmp_path / "all") == set(matched_sets(laion_match))
    # the curated rows are the pool's own rows: same columns and values, read back by row number
    manifest = json.loads((laion_match / "manifest.json").read_text())
    for shard in manifest["shards"]:
        pool = pd.read_parquet(shard["path"])
        kept = pd.read_parquet(tmp_path / "all" / "curated" / f"{shard['name']}.parquet")
        assert kept.columns.tolist() == pool.columns.tolist() + ["shard", "row", "keep_probability"]
        assert kept["TEXT"].tolist() == pool["TEXT"].iloc[kept["row"]].tolist()
        assert kept["URL"].tolist() == pool["URL"].iloc[kept["row"]].tolist()
        assert (kept["keep_probability"] == 1.0).all()
    assert np.array_equal(np.load(tmp_path / "all" / "entry_kept.npy"), laion_counts)


def test_draws_follow_the_probabilities(laion_match, laion_counts):
    """Per-match draws are uniform: over 40 seeds each text's keep rate matches its probability."""
    sets = list(matched_sets(laion_match).values())
    keys = list(matched_sets(laion_match))
    offsets, ids = B.flatten_entry_ids(sets)
    p_entry = B.entry_probabilities(laion_counts, 11)
    probability = B.keep_probabilities_flat(offsets, ids, p_entry)
    rate = np.zeros(len(sets))
    seeds = range(40)
    for seed in seeds:
        for name in sorted({k[0] for k in keys}):
            mask = np.array([k[0] == name for k in keys])
            rows = np.array([k[1] for k in keys])[mask]
            sub = [s for s, m in zip(sets, mask) if m]
            o, i = B.flatten_entry_ids(sub)
            rate[mask] += B.sample_flat(o, i, p_entry, B.text_keys(seed, name, rows))
    rate /= len(seeds)
    # total kept over 40 runs vs its expectation: within 4 standard deviations
    total, mean = rate.sum() * len(seeds), probability.sum() * len(seeds)
    std = math.sqrt((probability * (1 - probability)).sum() * len(seeds))
    assert abs(total - mean) < 4 * std
    u = B.match_draws(B.text_keys(0, "00000-part0", np.arange(5_000)), np.arange(5_001), np.zeros(5_000, int))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / 5_000)


def test_head_entries_exceed_t_through_co_occurring_entries(laion_match, laion_counts, tmp_path):
    """Alone, a head entry would keep t texts in expectation; shared texts kept for others add more."""
    t = 50
    stats = B.balance(laion_match, tmp_path / "h", t=t, seed=0, executor=Local(progress=False))
    expected_kept = np.load(tmp_path / "h" / "entry_expected_kept.npy")
    # independent computation: sum over each head entry's texts of the text's keep probability
    sets = list(matched_sets(laion_match).values())
    check = np.zeros(len(laion_counts))
    for s in sets:
        p = python_keep_probability(s, laion_counts, t)
        for e in s:
            check[e] += p
    head = laion_counts > t
    assert np.allclose(expected_kept, check, rtol=1e-12, atol=1e-9)
    assert stats["head_entries"] == int(head.sum()) == 25
    ratio = check[head] / t
    assert stats["head_expected_over_t"]["mean"] == pytest.approx(ratio.mean())
    assert (ratio >= 1 - 1e-12).all()  # never below t in expectation
    assert round(stats["head_expected_over_t"]["median"], 3) == 1.743
    assert round(stats["head_expected_over_t"]["max"], 3) == 13.206


# --------------------------------------------------------------------------- with the real matcher and the CLI


@pytest.fixture(scope="module")
def metadata_json(tmp_path_factory, entries) -> Path:
    path = tmp_path_factory.mktemp("metadata") / "metadata.json"
    path.write_text(json.dumps(entries))
    return path


def run_cli(*argv) -> int:
    from metadata_builder.cli import main

    return main([str(a) for a in argv])


def test_real_match_folder_balances_like_the_reference(laion_match, metadata_json, tmp_path):
    pools = sorted(Path(s["path"]) for s in json.loads((laion_match / "manifest.json").read_text())["shards"])
    assert run_cli("match", *pools, "--metadata", metadata_json, "--out", tmp_path / "match", "--workers", 1) == 0
    assert matched_sets(tmp_path / "match") == matched_sets(laion_match)  # the fast matcher agrees with docs/recipe.md §2
    real = B.balance(tmp_path / "match", tmp_path / "real", t=11, seed=5, executor=Local(progress=False))
    ref = B.balance(laion_match, tmp_path / "ref", t=11, seed=5, executor=Local(progress=False))
    assert kept_keys(tmp_path / "real") == kept_keys(tmp_path / "ref")
    assert {k: v for k, v in real.items() if k != "match_dir"} == {k: v for k, v in ref.items() if k != "match_dir"}


def test_cli_tail_share_prints_the_t_it_chose(laion_match, laion_counts, tmp_path, capsys):
    assert run_cli("balance", laion_match, "--tail-share", "0.5", "--out", tmp_path / "b", "--workers", 2) == 0
    out = capsys.readouterr().out
    assert "tail share 0.5 -> t = 11 " in out
    assert "kept 3,541 of 5,065 matched texts" in out
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert {"t", "tail_share", "texts", "kept", "expected", "variance"} <= set(stats)
    assert stats["t"] == 11 == B.t_for_tail_share(laion_counts, 0.5)
    assert run_cli("balance", laion_match, "--t", "11", "--expected-only", "1,919") == 0
    table = capsys.readouterr().out
    assert "3,555.7" in table and "5,065.0" in table and "expected curated size in texts (of 5,065 candidate texts)" in table
    # the t values are one comma-separated value: the match folder after them is never taken for a t
    assert run_cli("balance", "--expected-only", "1,919", laion_match, "--t", "11") == 0
    assert "3,555.7" in capsys.readouterr().out
    assert run_cli("balance", "--t", "11", "--expected-only", "5", "10") == 2
    assert "--expected-only takes its t values as one comma-separated list" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the old spelling fails loudly (argparse), it cannot swallow the folder
        run_cli("balance", "--expected-only", "5", "10", laion_match, "--t", "11")
    # user errors: one line, exit 2
    assert run_cli("balance", laion_match, "--tail-share", "1.5", "--out", tmp_path / "x") == 2
    assert run_cli("balance", tmp_path / "nowhere", "--t", "5", "--out", tmp_path / "x") == 2
    err = capsys.readouterr().err
    assert "outside [0, 1]" in err and "manifest.json: missing" in err and "Traceback" not in err


def test_rerun_resumes_and_a_new_seed_redoes(laion_match, tmp_path):
    B.balance(laion_match, tmp_path / "b", t=11, seed=0, executor=Local(progress=False))
    marker = tmp_path / "b" / "_job" / "markers" / "00001-part1.json"
    before = marker.stat().st_mtime_ns
    again = B.balance(laion_match, tmp_path / "b", t=11, seed=0, executor=Local(progress=False))
    assert marker.stat().st_mtime_ns == before and again["kept"] == 3_541
    with pytest.raises(UserError, match=r"holds a balance run with other settings \(changed: seed\)"):
        B.balance(laion_match, tmp_path / "b", t=11, seed=1, executor=Local(progress=False))
    assert marker.stat().st_mtime_ns == before  # the seed-0 results are left as they were
    other = B.balance(laion_match, tmp_path / "c", t=11, seed=1, executor=Local(progress=False))
    assert other["kept"] == 3_552 and kept_keys(tmp_path / "c") != kept_keys(tmp_path / "b")


def test_tsv_pool_keeps_its_columns(cc3m_tsv, metadata_json, tmp_path):
    assert run_cli("match", cc3m_tsv, "--metadata", metadata_json, "--out", tmp_path / "m", "--workers", 1) == 0
    counts = np.load(tmp_path / "m" / "entry_counts.npy")
    t = B.t_for_tail_share(counts, 0.06)  # the authors' rule, on a second real pool
    stats = B.balance(tmp_path / "m", tmp_path / "b", t=t, seed=0, executor=Local(progress=False))
    assert (t, stats["texts"], stats["kept"]) == (4, 15_824, 10_416)
    assert stats["tail_share"] == B.tail_share(counts, t) >= 0.06 > B.tail_share(counts, t - 1)
    kept = pd.read_parquet(next((tmp_path / "b" / "curated").glob("*.parquet")))
    pool = pd.read_csv(cc3m_tsv, sep="\t", header=None, quoting=3, dtype=str, keep_default_na=False)
    assert kept.columns.tolist() == ["0", "1", "shard", "row", "keep_probability"] and len(kept) == stats["kept"]
    assert kept["0"].tolist() == pool[0].iloc[kept["row"]].tolist()
    assert kept["1"].tolist() == pool[1].iloc[kept["row"]].tolist()
    assert abs(stats["kept"] - stats["expected"]) < 4 * stats["std"]


def test_per_image_keeps_at_most_one_text_per_image(coco_captions, metadata_json, tmp_path):
    """Meta CLIP 2 variant on COCO (5 captions per image): one random matched caption per image."""
    assert run_cli("match", coco_captions, "--metadata", metadata_json, "--id-column", "image_id",
                   "--out", tmp_path / "m", "--workers", 1) == 0
    one = B.balance(tmp_path / "m", tmp_path / "one", t=20, seed=3, per_image=True, executor=Local(workers=1, progress=False))
    two = B.balance(tmp_path / "m", tmp_path / "two", t=20, seed=3, per_image=True,
                    image_column="image_id", executor=Local(workers=2, progress=False))  # the image read from the pool instead of the match's id
    matched = pd.read_parquet(next((tmp_path / "m" / "shards").glob("*.parquet")))
    images = matched["id"].astype(str)
    assert one["candidates"] == images.nunique() == two["candidates"]
    kept = pd.read_parquet(next((tmp_path / "one" / "curated").glob("*.parquet")))
    assert kept["image_id"].is_unique and len(kept) == one["kept"] == two["kept"]
    assert abs(one["kept"] - one["expected"]) < 4 * one["std"]
    # independent check of the choice: the matched caption with the smallest hash score per image
    name = next((tmp_path / "m" / "shards").glob("*.parquet")).stem
    scores = B.choice_scores(B.text_keys(3, name, matched["row"].to_numpy()))
    chosen = matched.assign(score=scores, image=images).sort_values("score").groupby("image")["row"].first()
    online = pd.read_parquet(tmp_path / "one" / "online" / f"{name}.parquet")
    assert sorted(online["row"]) == sorted(chosen)
    assert set(kept["row"]) <= set(chosen)
    for rel in ("stats.json", "entry_kept.npy", f"curated/{name}.parquet", f"online/{name}.parquet"):
        if rel != "stats.json":
            assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


def test_per_image_choice_is_global_across_pool_files(coco_match, tmp_path):
    """COCO cut in two files mid-image: an image's captions in both files still give one text."""
    stats = B.balance(coco_match, tmp_path / "b", t=20, seed=0, per_image=True, executor=Local(workers=2, progress=False))
    online = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "b" / "online").glob("*.parquet"))])
    matched = pd.concat([pd.read_parquet(p, columns=["id"]) for p in sorted((coco_match / "shards").glob("*.parquet"))])
    assert online["id"].is_unique and len(online) == matched["id"].nunique() == stats["candidates"]
    manifest = json.loads((coco_match / "manifest.json").read_text())
    split = [set(pd.read_parquet(s["path"])["image_id"]) for s in manifest["shards"]]
    assert len(split[0] & split[1]) > 0  # some images really have captions in both files
    kept = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "b" / "curated").glob("*.parquet"))])
    assert kept["image_id"].is_unique and len(kept) == stats["kept"]
    assert abs(stats["kept"] - stats["expected"]) < 4 * stats["std"]


def test_online_export_lists_every_candidate_with_its_probability(laion_match, laion_counts, tmp_path):
    B.balance(laion_match, tmp_path / "b", t=11, seed=0, executor=Local(progress=False))
    sets = matched_sets(laion_match)
    online = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "b" / "online").glob("*.parquet"))])
    assert online.columns.tolist() == ["shard", "row", "p"]
    assert set(zip(online["shard"], online["row"])) == set(sets)
    expected = [python_keep_probability(sets[(s, r)], laion_counts, 11) for s, r in zip(online["shard"], online["row"])]
    assert np.allclose(online["p"], expected, rtol=0, atol=1e-12)
    kept = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "b" / "curated").glob("*.parquet"))])
    assert (kept["keep_probability"] > 0).all()


def test_jsonl_pool_keeps_its_fields(laion_parquet, metadata_json, tmp_path):
    """A jsonl pool (the LAION sample, one object per line, some with an extra key)."""
    pool = pd.read_parquet(laion_parquet)
    path = tmp_path / "pool.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, (url, text) in enumerate(zip(pool["URL"], pool["TEXT"])):
            record = {"url": url, "text": text} | ({"note": i} if i % 1000 == 0 else {})
            fh.write(json.dumps(record) + "\n")
    assert run_cli("match", path, "--metadata", metadata_json, "--out", tmp_path / "m", "--workers", 1) == 0
    counts = np.load(tmp_path / "m" / "entry_counts.npy")
    stats = B.balance(tmp_path / "m", tmp_path / "b", t=int(counts.max()), seed=0, executor=Local(progress=False))
    kept = pd.read_parquet(next((tmp_path / "b" / "curated").glob("*.parquet")))
    assert len(kept) == stats["texts"] == 5_065
    assert kept.columns.tolist() == ["url", "text", "note", "shard", "row", "keep_probability"]
    assert kept["text"].tolist() == pool["TEXT"].iloc[kept["row"]].tolist()
    assert kept["url"].tolist() == pool["URL"].iloc[kept["row"]].tolist()
    assert (kept["note"].dropna() == kept["row"][kept["note"].notna()]).all()
