"""The report end to end, through the CLI as `make report` runs it: wiki-captions of the embedded sample,
match, balance, report; then the same on the real pools in ../shared/data when present."""

from __future__ import annotations

import json
import re

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
