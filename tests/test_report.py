"""The report end to end, through the CLI as `make report` runs it: wiki-captions of the embedded sample,
match, balance, report; then the same on the real pools in ../shared/data when present."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metadata_builder.assemble import Source, assemble, write_outputs
from metadata_builder.cli import main


@pytest.fixture(scope="module")
def metadata(tmp_path_factory, wordnet30_entries):
    """Seeds + WordNet 3.0 (the embedded default's first two sources)."""
    out = tmp_path_factory.mktemp("report-metadata")
    result = assemble([Source("wordnet", wordnet30_entries["entry"])], total=None)
    return write_outputs(result, out / "metadata.json")


def embedded_images(html: str) -> list[str]:
    return re.findall(r'<img alt="([a-z_]+)" src="data:image/png;base64,', html)


def check_report(out, match_dir, capsys_text: str = "") -> dict:
    """What every report must hold, checked against the match folder's own numbers."""
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    images = embedded_images(html)
    assert len(images) >= 5 and len(set(images)) == len(images)
    assert 'src="http' not in html and "src='http" not in html  # self-contained
    for name in images:
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](figures/{name}.png)" in md
    for heading in ("## Summary", "## Head and tail", "## The effect of t", "## Per source", "## Top entries"):
        assert heading in md
    stats = json.loads((match_dir / "stats.json").read_text())
    counts = np.load(match_dir / "entry_counts.npy").astype(np.int64)
    head_tail = pd.read_csv(out / "tables" / "head_tail.csv").set_index("group")
    assert head_tail.loc["all", "matches"] == stats["matches"] == counts.sum()
    assert head_tail.drop(index="all")["matches"].sum() == stats["matches"]
    assert head_tail.drop(index="all")["entries"].sum() == len(counts)
    sources = pd.read_csv(out / "tables" / "sources.csv").set_index("source")
    assert sources.drop(index="all")["matches"].sum() == sources.loc["all", "matches"] == stats["matches"]
    summary = dict(pd.read_csv(out / "tables" / "summary.csv").itertuples(index=False))
    assert summary["texts in the pool"] == f"{stats['texts']:,}"
    assert summary["texts with at least one match"].startswith(f"{stats['matched_texts']:,} ")
    assert f"report: {(out / 'report.html').resolve()}" in capsys_text
    return summary


def run_cli(argv, capsys) -> str:
    assert main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def test_make_report_pipeline_on_the_embedded_default(metadata, tmp_path, capsys, wiki_sample):
    metadata_json, metadata_parquet = metadata
    out = run_cli(["wiki-captions", "--out", tmp_path / "captions.parquet", "--no-progress"], capsys)
    assert "1,191 texts" in out
    run_cli(["match", tmp_path / "captions.parquet", "--metadata", metadata_json, "--out", tmp_path / "match"], capsys)
    out = run_cli(["balance", tmp_path / "match", "--tail-share", "0.06", "--out", tmp_path / "balanced"], capsys)
    assert "t = 2 " in out
    out = run_cli(["report", tmp_path / "match", "--metadata", metadata_parquet, "--balanced", tmp_path / "balanced",
                   "--out", tmp_path / "report"], capsys)
    summary = check_report(tmp_path / "report", tmp_path / "match", out)
    assert summary["t (this report)"] == "2"  # the 6% rule on this pool (count-1 entries already hold more)
    assert summary["texts in the pool"] == "1,191"
    balanced = json.loads((tmp_path / "balanced" / "stats.json").read_text())
    assert f"{balanced['kept']:,} of {balanced['texts']:,} matched texts" in (tmp_path / "report" / "report.md").read_text()
    assert "balanced" in embedded_images((tmp_path / "report" / "report.html").read_text())
    # an explicit t is reported as given, and the table says so
    out = run_cli(["report", tmp_path / "match", "--metadata", metadata_parquet, "--t", "20",
                   "--out", tmp_path / "report20"], capsys)
    head_tail = pd.read_csv(tmp_path / "report20" / "tables" / "head_tail.csv")
    assert list(head_tail["group"]) == ["never matched (count = 0)", "tail (1 <= count < 20)",
                                        "at t (count = 20, kept whole)", "head (count > 20)", "all"]


def test_report_errors_are_one_line(metadata, tmp_path, capsys):
    metadata_json, metadata_parquet = metadata
    assert main(["report", str(tmp_path), "--metadata", str(metadata_parquet), "--out", str(tmp_path / "r")]) == 2
    assert "is not a match folder" in capsys.readouterr().err
    # metadata of another size than the match used
    (tmp_path / "small.json").write_text(json.dumps(["dog", "cat"]))
    pd.DataFrame({"text": ["a dog", "a cat"]}).to_parquet(tmp_path / "pool.parquet")
    assert main(["match", str(tmp_path / "pool.parquet"), "--metadata", str(tmp_path / "small.json"),
                 "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "m"), "--metadata", str(metadata_parquet), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not the metadata the match used" in err and "2 entries" in err
    assert main(["report", str(tmp_path / "m"), "--metadata", str(tmp_path / "none.parquet"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "no such metadata table" in capsys.readouterr().err


def test_report_on_real_pools(metadata, tmp_path, capsys, request):
    """LAION, COCO and CC3M together (one match, three shards), each skipped when ../shared/data lacks it."""
    pools = []
    for name in ("laion_parquet", "coco_captions", "cc3m_tsv"):
        try:
            pools.append(request.getfixturevalue(name))
        except pytest.skip.Exception:
            continue
    if not pools:
        pytest.skip("none of the real pools is in ../shared/data (they live beside the project checkout only)")
    metadata_json, metadata_parquet = metadata
    run_cli(["match", *pools, "--metadata", metadata_json, "--out", tmp_path / "match"], capsys)
    out = run_cli(["report", tmp_path / "match", "--metadata", metadata_parquet, "--out", tmp_path / "report"], capsys)
    summary = check_report(tmp_path / "report", tmp_path / "match", out)
    counts = np.load(tmp_path / "match" / "entry_counts.npy")
    from metadata_builder.balance import t_for_tail_share

    assert summary["t (this report)"] == f"{t_for_tail_share(counts, 0.06):,}"
    assert summary["pool files (shards)"] == f"{len(pools)}"
    if len(pools) == 3:  # measured on seed + WordNet 3.0: 50,847 texts (10,000 + 25,014 + 15,833)
        assert summary["texts in the pool"] == "50,847"


def test_report_of_a_per_image_balance_speaks_in_images(metadata, tmp_path, capsys, coco_captions):
    """COCO (5 captions per image) balanced one text per image: the report's sizes are images, over the
    chosen texts, and it says why head entries end below t (counts over every caption)."""
    metadata_json, _ = metadata
    run_cli(["match", coco_captions, "--metadata", metadata_json, "--id-column", "image_id", "--out", tmp_path / "m"], capsys)
    run_cli(["balance", tmp_path / "m", "--tail-share", "0.06", "--per-image", "--out", tmp_path / "b"], capsys)
    out = run_cli(["report", tmp_path / "m", "--balanced", tmp_path / "b", "--out", tmp_path / "r"], capsys)  # no --metadata
    summary = check_report(tmp_path / "r", tmp_path / "m", out)
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert summary["candidate images"].startswith("5,000 ")
    assert summary["t (this report)"] == f"{stats['t']:,}" and summary["t chosen by"] == "the balance run (a 0.06 tail share)"
    assert summary["expected curated size at t (images)"].startswith(f"{stats['expected']:,.1f} ± {stats['std']:,.1f}")
    balanced = dict(pd.read_csv(tmp_path / "r" / "tables" / "balanced.csv").itertuples(index=False))
    assert balanced["images kept"].startswith(f"{stats['kept']:,} of 5,000 images, one matched text each")
    warnings = pd.read_csv(tmp_path / "r" / "tables" / "warnings.csv")["warning"].tolist()
    assert any(w.startswith("head entries end below t") for w in warnings)
    head = pd.read_csv(tmp_path / "r" / "tables" / "head_vs_t.csv").set_index("Unnamed: 0")
    assert head.loc["after, expected (E[kept] / t)", "median"] == pytest.approx(stats["head_expected_over_t"]["median"])
    assert pd.read_csv(tmp_path / "r" / "tables" / "sources.csv")["source"].tolist() == ["seed", "wordnet", "all"]  # parquet beside the JSON


def test_report_tail_agrees_everywhere_and_warns(metadata, tmp_path, capsys, laion_parquet):
    """One tail (count < t) in the summary, Table 2 and the balance; a JSON list without its parquet
    and a t above every count are accepted, with warnings in the report and on stderr."""
    metadata_json, _ = metadata
    run_cli(["match", laion_parquet, "--metadata", metadata_json, "--out", tmp_path / "m"], capsys)
    out = run_cli(["report", tmp_path / "m", "--metadata", metadata_json, "--out", tmp_path / "r"], capsys)
    summary = check_report(tmp_path / "r", tmp_path / "m", out)
    head_tail = pd.read_csv(tmp_path / "r" / "tables" / "head_tail.csv").set_index("group")
    counts = np.load(tmp_path / "m" / "entry_counts.npy")
    from metadata_builder.balance import tail_share

    t = int(summary["t (this report)"])
    tail_row = head_tail.loc[f"tail (1 <= count < {t:,})"]
    assert tail_row["matches_share"] == pytest.approx(tail_share(counts, t))
    assert summary["tail at t (count < t)"] == f"{int(tail_row['entries']):,} entries holding {tail_share(counts, t):.2%} of the matches"
    warnings = pd.read_csv(tmp_path / "r" / "tables" / "warnings.csv")["warning"].tolist()
    assert any(w.startswith("no t gives a tail share near 6.0%") for w in warnings)  # LAION: 0% at t = 1, 10.7% at t = 2

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "metadata.json").write_bytes(Path(metadata_json).read_bytes())
    assert main(["report", str(tmp_path / "m"), "--metadata", str(alone / "metadata.json"), "--t", "100000",
                 "--out", str(tmp_path / "r2"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "no metadata.parquet with the same entries beside it" in err and "at or above every entry count" in err
    md = (tmp_path / "r2" / "report.md").read_text()
    assert "## Per source" not in md and "## Warnings" in md and "no head entry at t = 100,000" not in md
