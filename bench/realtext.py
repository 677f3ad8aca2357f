"""Build the real-text benchmark corpus: every real page available, each exactly once.

The repeated-sample dump of ``bench/wikidump.py`` never grows its vocabulary after the first copy,
so it flatters a counter (every word and pair is already known). This corpus never repeats:

- ``en``: the real shortened English sample (``paths.WIKI_SAMPLE``, 206 pages: 106 articles);
- ``bn el hy ja mr uk vi``: the seven truncated dumps of ``../shared/data/wiki-truncated-dumps/``
  (the first 100,000 lines of each 2023-05-01 dump, cut mid-page: only complete pages are kept),
  when present (a user's clone does not have them; the English part is built regardless).

Each language becomes a valid multistream dump as Wikimedia writes them (its own ``<siteinfo>``,
one bz2 stream per 100 pages, ``</mediawiki>``, the ``-index.txt.bz2``), so per-language rates use
the right namespace names. ``joined`` is every page of every language in one multistream dump with
the English ``<siteinfo>`` (the shape the issue measured, and one input file for wikiextractor,
which takes only one): its non-English pages' localised namespace names (``Tập tin:``) are unknown
to both tools alike. Built under ``.cache/bench/real/`` (a few seconds, cached; offline).
"""

from __future__ import annotations

import argparse
import json
import lzma
import multiprocessing
import os
from pathlib import Path

from bench import wikidump
from metadata_builder import paths

REAL_DIR = wikidump.BENCH_DIR / "real"
#: The seven truncated dumps beside the checkout (absent in a user's clone).
SHARED_DUMPS = Path(os.environ.get("METADATA_BUILDER_SHARED", paths.PROJECT_ROOT.parent / "shared" / "data")) \
    / "wiki-truncated-dumps"
LANGS = ("bn", "el", "hy", "ja", "mr", "uk", "vi")
FOOTER = b"</mediawiki>\n"
VERSION = 1


def dump_path(name: str) -> Path:
    return REAL_DIR / f"{name}wiki-real-pages-articles-multistream.xml.bz2"


def sources(shared: Path = SHARED_DUMPS) -> dict[str, Path]:
    """Language -> source file: the English sample, then every truncated dump present."""
    out = {"en": paths.WIKI_SAMPLE}
    for lang in LANGS:
        path = shared / f"{lang}wiki-truncated-100k.xml.xz"
        if path.exists():
            out[lang] = path
    return out


def read_source(path: Path) -> bytes:
    """The XML of a source dump (a truncated ``.xz`` decodes up to its cut)."""
    if path.suffix == ".xz":
        return lzma.LZMADecompressor().decompress(path.read_bytes())
    import bz2

    return bz2.decompress(path.read_bytes())


def facts(header: bytes, pages: list[bytes]) -> dict:
    """Pages by kind, XML bytes and characters (header + pages + footer: the dump's XML)."""
    kinds = wikidump.sample_facts(pages)
    xml_bytes = len(header) + sum(map(len, pages)) + len(FOOTER)
    xml_chars = (len(header.decode("utf-8")) + sum(len(p.decode("utf-8")) for p in pages)
                 + len(FOOTER))
    return {**kinds, "xml_bytes": xml_bytes, "xml_chars": xml_chars}


def build(shared: Path = SHARED_DUMPS) -> dict:
    """Write (or reuse) the per-language dumps and the joined dump; return their facts.

    Returns ``{"langs": {lang: facts}, "joined": facts}``, each with ``dump`` (path), ``pages``,
    ``articles``, ``redirects``, ``other_namespaces``, ``xml_bytes``, ``xml_chars`` and
    ``bz2_bytes``; cached in ``.cache/bench/real/corpus.json``.
    """
    found = sources(shared)
    info_path = REAL_DIR / "corpus.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("version") == VERSION and list(info["langs"]) == list(found) \
                and all(Path(d["dump"]).exists() for d in [*info["langs"].values(), info["joined"]]):
            return info
    REAL_DIR.mkdir(parents=True, exist_ok=True)
    langs, joined_pages, joined_header = {}, [], None
    with multiprocessing.Pool(os.cpu_count()) as pool:
        for lang, source in found.items():
            header, pages, _ = wikidump.split_dump(read_source(source))
            out = wikidump.write_pages_multistream(header, pages, FOOTER, dump_path(lang), pool=pool)
            langs[lang] = {"dump": str(out), "source": str(source), **facts(header, pages),
                           "bz2_bytes": out.stat().st_size}
            joined_header = joined_header or header
            joined_pages += pages
        out = wikidump.write_pages_multistream(joined_header, joined_pages, FOOTER,
                                               dump_path("joined"), pool=pool)
    joined = {"dump": str(out), "langs": list(langs), **facts(joined_header, joined_pages),
              "bz2_bytes": out.stat().st_size}
    info = {"version": VERSION, "langs": langs, "joined": joined}
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED_DUMPS, help="folder of the truncated dumps")
    args = parser.parse_args(argv)
    print(json.dumps(build(args.shared), indent=1))


if __name__ == "__main__":
    main()
