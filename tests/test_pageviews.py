"""Pageview parsing and thresholds (docs/recipe.md §1, titles) on files written in the exact real format.

No real pageview file is reachable offline, so each test writes hourly ``pageviews-YYYYMMDD-HH0000.gz``
files (gzip, ``domain_code page_title views bytes``) and checks the sums against the expected numbers
and against an independent, line-by-line transcription of the recipe written here.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from metadata_builder import cli
from metadata_builder.errors import UserError
from metadata_builder.sources.wiki.pageviews import count_pageviews, scan_file, stats_path
from metadata_builder.runtime.executor import Local

REPO = Path(__file__).resolve().parent.parent


def write_hour(folder: Path, day: str, hour: int, lines: list[bytes | str]) -> Path:
    path = folder / f"pageviews-{day}-{hour:02d}0000.gz"
    data = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines)
    with gzip.open(path, "wb") as f:
        f.write(data)
    return path


def reference_sums(files: list[Path], min_views: int = 50) -> dict[str, int]:
    """The recipe, transcribed independently: whole lines decoded, 'en ' prefix, int(views / 50) > 0."""
    sums: dict[str, int] = defaultdict(int)
    for path in files:
        with gzip.open(path) as f:
            for raw in f:
                try:
                    line = raw.decode().strip()
                except UnicodeDecodeError:
                    continue
                if not line.startswith("en "):
                    continue
                parts = line.split(" ")
                if len(parts) != 4 or not parts[2].lstrip("-").isdigit():
                    continue
                title = parts[1].strip().replace("_", " ")
                if int(int(parts[2]) / min_views) > 0 and ":" not in title:
                    sums[title] += int(parts[2])
    return dict(sums)


HOUR0 = [
    "en Main_Page 120 0",
    "en.m Main_Page 500 0",          # mobile: not counted
    "de Main_Page 900 0",
    "en.wikibooks Main_Page 300 0",  # another project: not counted
    "EN Main_Page 300 0",            # domain must be exactly 'en'
    "en Below_then_at 49 0",         # 49: this hour does not count
    "en Sixty_nine 69 0",            # one hour of 69: counted, sum 69 < 70
    "en Seventy 70 0",               # sum exactly 70
    "en Talk:Main_Page 400 0",       # ':' titles dropped
    "en Category:Cats 75 0",
    "en Z\u00fcrich 55 0",           # real files carry UTF-8 titles
    "en Two_hours 50 0",
    "en.m Two_hours 5000 0",
    "commons.m File:X.jpg 70 0",
    "garbage",                       # malformed: 1 field
    "en Bad_views lots 0",           # malformed: views not an integer
    "en Three fields",               # malformed: 3 fields
    b"en Caf\xe9 80 0",              # malformed: not UTF-8
]
HOUR1 = [
    "en Main_Page 60 0",
    "en Below_then_at 50 0",         # 50: this hour counts
    "en Two_hours 50 0",
    "en Sixty_nine 20 0",            # below 50: not added
    "en Seventy 49 0",
    "de Z\u00fcrich 500 0",
]
EXPECTED = {  # title -> (views, hours)
    "Main Page": (180, 2),
    "Two hours": (100, 2),
    "Seventy": (70, 1),
    "Sixty nine": (69, 1),
    "Z\u00fcrich": (55, 1),
    "Below then at": (50, 1),
}


@pytest.fixture
def two_hours(tmp_path) -> list[Path]:
    folder = tmp_path / "pageviews"
    folder.mkdir()
    return [write_hour(folder, "20180419", 0, HOUR0), write_hour(folder, "20180419", 1, HOUR1)]


def test_rules_and_thresholds_exact(two_hours, tmp_path):
    out = tmp_path / "views.parquet"
    stats = count_pageviews(two_hours, out, executor=Local(progress=False))
    table = pd.read_parquet(out)
    got = {row.title: (row.views, row.hours) for row in table.itertuples()}
    assert got == EXPECTED
    assert {t: v for t, (v, _) in got.items()} == reference_sums(two_hours)
    # ordered by views (highest first), ties by title
    assert table["title"].tolist() == ["Main Page", "Two hours", "Seventy", "Sixty nine", "Z\u00fcrich", "Below then at"]
    assert stats["titles_ge_70"] == 3  # Main Page, Two hours, Seventy; not Sixty nine
    assert stats["lines"] == len(HOUR0) + len(HOUR1) == 24
    assert stats["malformed"] == 4
    assert stats["colon_titles"] == 2
    assert stats["counted"] == 8
    assert stats["below_min"] == 3
    assert stats["en_lines"] == stats["counted"] + stats["below_min"] + stats["colon_titles"] == 13
    assert stats["views_counted"] == sum(v for v, _ in EXPECTED.values()) == 524
    assert stats["days"] == ["20180419"]
    examples = stats["malformed_examples"]
    assert len(examples) == 4
    assert examples[0].startswith(f"{two_hours[0]}:15: ")
    assert [e.split(":")[1] for e in examples] == ["15", "16", "17", "18"]


def test_hour_threshold_is_an_option(two_hours, tmp_path):
    stats = count_pageviews(two_hours, tmp_path / "v.parquet", min_hour_views=70, executor=Local(progress=False))
    table = pd.read_parquet(tmp_path / "v.parquet")
    assert dict(zip(table["title"], table["views"])) == {"Main Page": 120, "Seventy": 70}
    assert dict(zip(table["title"], table["views"])) == reference_sums(two_hours, 70)
    assert stats["counted"] == 2


def random_hour(rng: random.Random, n_lines: int) -> list[str]:
    domains = ["en"] * 4 + ["en.m"] * 4 + ["de", "fr.m", "ja", "commons.m", "en.wikibooks", "en.b", "es"]
    prefixes = ["", "", "", "", "Talk:", "User:", "Category:"]
    lines = []
    for _ in range(n_lines):
        title = f"{rng.choice(prefixes)}Page_{rng.randrange(2000)}{rng.choice(['', '_(film)', '_é'])}"
        views = int(rng.expovariate(1 / 40)) + 1
        lines.append(f"{rng.choice(domains)} {title} {views} 0")
    lines.insert(n_lines // 2, "en  broken_line")
    return lines


def test_random_hours_match_independent_sum_and_workers(tmp_path):
    rng = random.Random(3)
    folder = tmp_path / "pv"
    folder.mkdir()
    files = [write_hour(folder, day, hour, random_hour(rng, 5000))
             for day in ("20200417", "20220829") for hour in (0, 7, 23)]
    s1 = count_pageviews([folder], tmp_path / "w1.parquet", executor=Local(workers=1, progress=False))
    s2 = count_pageviews(files[::-1], tmp_path / "w2.parquet",
                         work_dir=tmp_path / "parts2", executor=Local(workers=2, progress=False))
    assert (tmp_path / "w1.parquet").read_bytes() == (tmp_path / "w2.parquet").read_bytes()
    table = pd.read_parquet(tmp_path / "w1.parquet")
    expected = reference_sums(files)
    assert dict(zip(table["title"], table["views"].tolist())) == expected
    assert len(table) == len(expected) > 500
    assert s1["malformed"] == s2["malformed"] == 6
    assert s1["views_counted"] == sum(expected.values())
    assert s1["days"] == ["20200417", "20220829"]
    assert (table["hours"] <= 6).all() and (table["views"] >= 50 * table["hours"]).all()


def test_resume_redoes_only_unfinished_files(tmp_path):
    rng = random.Random(5)
    folder = tmp_path / "pv"
    folder.mkdir()
    files = [write_hour(folder, "20191026", h, random_hour(rng, 2000)) for h in range(4)]
    good = files[2].read_bytes()
    files[2].write_bytes(good[: len(good) // 2])  # a download cut short
    with pytest.raises(UserError, match=r"pageviews-20191026-020000\.gz.*truncated or corrupt gzip"):
        count_pageviews([folder], tmp_path / "views.parquet", executor=Local(progress=False))
    assert not (tmp_path / "views.parquet").exists()
    files[2].write_bytes(good)  # downloaded again
    stats = count_pageviews([folder], tmp_path / "views.parquet", executor=Local(progress=False))
    assert stats["files_resumed"] == 3
    fresh = count_pageviews([folder], tmp_path / "fresh.parquet", work_dir=tmp_path / "fresh", executor=Local(progress=False))
    assert fresh["files_resumed"] == 0
    assert (tmp_path / "views.parquet").read_bytes() == (tmp_path / "fresh.parquet").read_bytes()
    again = count_pageviews([folder], tmp_path / "views.parquet", executor=Local(progress=False))
    assert again["files_resumed"] == 4
    os.utime(files[0], ns=(0, 0))  # a changed input is scanned again
    assert count_pageviews([folder], tmp_path / "views.parquet", executor=Local(progress=False))["files_resumed"] == 3


def test_scan_file_reports_line_numbers(tmp_path):
    path = write_hour(tmp_path, "20210112", 5, ["en A 60 0", "en A", "de B 1 0", "x y z w v", "en C 50 0"])
    table, report = scan_file(path)
    assert dict(zip(table["title"], table["views"])) == {"A": 60, "C": 50}
    assert report["malformed"] == 2
    assert [e.rsplit(":", 2)[0].split(":")[-1] for e in report["malformed_examples"]] == ["2", "4"]


def test_cli_writes_table_and_report(two_hours, tmp_path, capsys):
    out = tmp_path / "views.parquet"
    assert cli.main(["pageviews", str(two_hours[0].parent), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "6 titles (3 with summed views >= 70)" in printed
    assert "4 malformed" in printed
    assert stats_path(out) == str(tmp_path / "views.stats.json") and os.path.isfile(stats_path(out))


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["pageviews", str(tmp_path / "nope.gz"), "--out", str(tmp_path / "v.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.gz: no such file or folder" in err
    (tmp_path / "empty").mkdir()
    assert cli.main(["pageviews", str(tmp_path / "empty"), "--out", str(tmp_path / "v.parquet")]) == 2
    assert "no pageviews-*.gz file" in capsys.readouterr().err
    bad = tmp_path / "pageviews-20180419-000000.gz"
    bad.write_bytes(b"not gzip at all\n")
    assert cli.main(["pageviews", str(bad), "--out", str(tmp_path / "v.parquet"), "--workers", "1"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # lines before it: the progress bar
    assert last.startswith("metadata-builder: error: ") and "truncated or corrupt gzip" in last


def test_recipe_day_list():
    """The recipe's 26 days, as the download script reads them (one YYYYMMDD a line, # comments)."""
    lines = (REPO / "data" / "pageview_days.txt").read_text().splitlines()
    days = [d for d in (line.split("#", 1)[0].strip() for line in lines) if d]
    assert all(len(d) == 8 and d.isdigit() for d in days)
    assert len(days) == len(set(days)) == 26
    assert days[0] == "20180419" and days[-1] == "20220829" and days == sorted(days)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_download_script_on_a_local_mirror(tmp_path):
    """The download script, pointed at a local file:// mirror (never the internet in tests)."""
    mirror = tmp_path / "mirror"
    month = mirror / "2018" / "2018-04"
    month.mkdir(parents=True)
    for hour in range(24):
        write_hour(month, "20180419", hour, [f"en Hour_{hour} {50 + hour} 0"])
    days = tmp_path / "days.txt"
    days.write_text("# one day\n20180419\n")
    out = tmp_path / "downloaded"
    env = {**os.environ, "PAGEVIEWS_BASE_URL": mirror.as_uri()}
    script = REPO / "scripts" / "download_pageviews.sh"
    done = subprocess.run(["bash", str(script), str(days), str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"pageviews-20180419-{h:02d}0000.gz" for h in range(24)]
    stats = count_pageviews([out], tmp_path / "v.parquet", executor=Local(progress=False))
    assert stats["views_counted"] == sum(50 + h for h in range(24))
    (month / "pageviews-20180419-050000.gz").unlink()
    (out / "pageviews-20180419-050000.gz").unlink()
    again = subprocess.run(["bash", str(script), str(days), str(out)], env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "1 file(s) failed" in again.stderr
    days.write_text("2018-04-19\n")
    bad = subprocess.run(["bash", str(script), str(days), str(out)], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "is not a day as YYYYMMDD" in bad.stderr
