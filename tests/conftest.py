"""Shared fixtures: where the real test data lives, skipping with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metadata_builder import paths

REPO = Path(__file__).resolve().parent.parent
#: Real third-party data for tests and benchmarks, beside the checkout; absent in a user's clone.
SHARED_DATA = Path(os.environ.get("METADATA_BUILDER_SHARED", REPO.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """A file under ``../shared/data``, or skip the test saying why."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared test data lives beside the project checkout only)")
    return path


@pytest.fixture(scope="session")
def laion_parquet() -> Path:
    return shared_file("laion400m-alttext-sample-10k/test_10000.parquet")


@pytest.fixture(scope="session")
def coco_captions() -> Path:
    return shared_file("coco-captions-val2017/captions_val2017.json")


@pytest.fixture(scope="session")
def cc3m_tsv() -> Path:
    return shared_file("cc3m-validation/Validation_GCC-1.1.0-Validation.tsv")


@pytest.fixture(scope="session")
def truncated_dumps() -> dict[str, Path]:
    folder = shared_file("wiki-truncated-dumps")
    return {lang: folder / f"{lang}wiki-truncated-100k.xml.xz" for lang in ("ja", "uk", "vi")}


@pytest.fixture(scope="session")
def wiki_sample() -> Path:
    """The real shortened English dump from the gensim wheel (``make test`` provisions it)."""
    if not paths.WIKI_SAMPLE.exists():
        pytest.fail(f"{paths.WIKI_SAMPLE} missing: run 'make setup' (make test does it)")
    return paths.WIKI_SAMPLE


@pytest.fixture(scope="session")
def wordnet30_synsets():
    """All WordNet 3.0 synsets with their v1 names (read once per session: ~10 s)."""
    from metadata_builder.sources.wordnet import wordnet_synsets

    return wordnet_synsets(progress=False)


@pytest.fixture(scope="session")
def wordnet30_entries(wordnet30_synsets):
    from metadata_builder.sources.wordnet import entries_from_synsets

    return entries_from_synsets(wordnet30_synsets)


def fail_wiki_shard(monkeypatch, name: str) -> None:
    """Make wiki-count's shard ``name`` raise, here and in the forked workers (``monkeypatch.undo()`` heals it)."""
    from metadata_builder.sources.wiki.counts import shard as module

    original = module.count_shard

    def count_shard(shard, *args, **kwargs):
        if shard.name == name:
            raise RuntimeError(f"injected failure in shard {name}")
        return original(shard, *args, **kwargs)

    monkeypatch.setattr(module, "count_shard", count_shard)


def executor_for(engine: str, workers: int = 1, progress: bool = False):
    """The executor a test parametrised by engine name runs on."""
    from metadata_builder.runtime.executor import Local, Ray

    return Ray(workers=workers, progress=progress) if engine == "ray" else Local(workers=workers, progress=progress)


def multistream_sample(sample: Path, folder: Path, streams: int = 4):
    """The real English sample rewritten as a multistream dump of ``streams`` page streams.

    Returns ``(dump, index, pages)``; with ``--shard-mb`` tiny, wiki-count cuts it into ``streams``
    byte-range shards, which is what the engine and storage tests need.
    """
    import bz2
    import math

    from bench.wikidump import write_multistream

    pages = bz2.decompress(sample.read_bytes()).count(b"<page>")
    dump = write_multistream(sample, folder / "enwiki-sample-multistream.xml.bz2",
                             pages_per_stream=math.ceil(pages / streams))
    index = folder / "enwiki-sample-multistream-index.txt.bz2"
    return dump, index, pages
