"""Build a large multistream Wikipedia dump from the small real sample, for benchmarks.

The real English sample (``paths.WIKI_SAMPLE``, 206 pages, 6 MB of XML) is far too small to time a
dump reader. This module repeats its pages until the XML reaches the requested size and writes the
result exactly as Wikimedia writes ``*-pages-articles-multistream.xml.bz2`` dumps:

- the ``<mediawiki>`` header with ``<siteinfo>`` is its own first bz2 stream;
- then one bz2 stream per 100 pages;
- the closing ``</mediawiki>`` is its own last stream;
- ``*-multistream-index.txt.bz2`` lists every page as ``offset:page_id:title``, where offset is
  the byte offset, in the compressed dump, of the bz2 stream holding the page.

Repeated pages get fresh ids (copy k of page id i becomes ``k * stride + i``) and fresh titles
(``"<title> (bench copy k)"``; redirects point into their own copy) so that every page stays
distinct. Their text is unchanged, so word counts on the big dump are exactly k times the sample's.

Compression runs on every core (one bz2 stream per task). The result is cached under
``.cache/bench/`` and written atomically: a dump whose index exists is complete.
"""

from __future__ import annotations

import argparse
import bz2
import math
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

from metadata_builder import paths

PAGES_PER_STREAM = 100
#: Streams compressed per pool round: bounds memory to about this many 100-page chunks.
STREAMS_PER_ROUND = 64
BENCH_DIR = paths.CACHE_DIR / "bench"

_PAGE = re.compile(rb"  <page>\n.*?</page>\n", re.DOTALL)
_TITLE = re.compile(rb"<title>(.*?)</title>")
_PAGE_ID = re.compile(rb"\n    <id>(\d+)</id>")
_REDIRECT = re.compile(rb'<redirect title="(.*?)" />')


def split_dump(xml: bytes) -> tuple[bytes, list[bytes], bytes]:
    """Split a dump's XML into header, complete pages and footer.

    Returns
    -------
    header : bytes
        Everything up to and including ``</siteinfo>\\n``.
    pages : list of bytes
        Each complete ``  <page>...</page>\\n`` block, in dump order (a page cut by a truncated file
        has no ``</page>`` and is left out).
    footer : bytes
        Everything after the last complete page (``</mediawiki>``, or the cut page's start).
    """
    head_end = xml.index(b"</siteinfo>\n") + len(b"</siteinfo>\n")
    pages = _PAGE.findall(xml, head_end)
    footer_start = xml.rindex(b"</page>\n") + len(b"</page>\n")
    return xml[:head_end], pages, xml[footer_start:]


def read_sample(sample: Path = paths.WIKI_SAMPLE) -> tuple[bytes, list[bytes], bytes]:
    """The (small) real sample split by :func:`split_dump`."""
    if not sample.exists():
        sys.exit(f"{sample}: Wikipedia sample missing; run `make setup` (scripts/setup.sh) first")
    return split_dump(bz2.decompress(sample.read_bytes()))


def sample_facts(pages: list[bytes]) -> dict:
    """Pages of one copy by kind: main-namespace articles and redirects, other namespaces."""
    other = sum(1 for p in pages if b"<ns>0</ns>" not in p)
    redirects = sum(1 for p in pages if b"<ns>0</ns>" in p and _REDIRECT.search(p))
    return {"pages": len(pages), "articles": len(pages) - other - redirects,
            "redirects": redirects, "other_namespaces": other}


def page_copy(page: bytes, copy: int, stride: int) -> tuple[bytes, int, bytes]:
    """Copy ``copy`` of one page: fresh id and title. Returns (xml, page_id, escaped title)."""
    page_id = int(_PAGE_ID.search(page).group(1)) + copy * stride
    if copy:
        suffix = b" (bench copy %d)" % copy
        page = _TITLE.sub(lambda m: b"<title>" + m.group(1) + suffix + b"</title>", page, count=1)
        page = _REDIRECT.sub(lambda m: b'<redirect title="' + m.group(1) + suffix + b'" />', page, count=1)
        page = _PAGE_ID.sub(b"\n    <id>%d</id>" % page_id, page, count=1)
    return page, page_id, _TITLE.search(page).group(1)


def _compress(chunk: bytes) -> bytes:
    return bz2.compress(chunk, 9)


def dump_paths(size_mb: int) -> tuple[Path, Path]:
    """Cached dump and index paths for a dump of ``size_mb`` MiB of XML (real naming scheme)."""
    stem = f"benchwiki-{size_mb}MiB-pages-articles-multistream"
    return BENCH_DIR / f"{stem}.xml.bz2", BENCH_DIR / f"{stem}-index.txt.bz2"


def build_dump(size_mb: int = 1024, workers: int | None = None) -> dict:
    """Write (or reuse) a multistream dump with at least ``size_mb`` MiB of XML.

    Returns a dict with the dump and index paths, ``pages``, ``articles``, ``redirects``,
    ``xml_bytes``, ``bz2_bytes``, ``streams`` and ``copies``; cached next to the dump as JSON.
    """
    import json

    dump, index = dump_paths(size_mb)
    info_path = dump.with_suffix(".json")
    if dump.exists() and index.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if "other_namespaces" not in info:  # cached by an older version of this module
            info.update({k: info["copies"] * v for k, v in sample_facts(read_sample()[1]).items()})
            info_path.write_text(json.dumps(info, indent=1) + "\n")
        return info

    header, pages, footer = read_sample()
    page_bytes = sum(map(len, pages))
    copies = math.ceil((size_mb * 2**20 - len(header) - len(footer)) / page_bytes)
    stride = 10 ** len(str(max(int(_PAGE_ID.search(p).group(1)) for p in pages)))
    facts = sample_facts(pages)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)

    def chunks():
        """Yield (xml chunk, [(page_id, title), ...]) per bz2 stream, in dump order."""
        yield header, []
        batch, entries = [], []
        for copy in range(copies):
            for page in pages:
                xml, page_id, title = page_copy(page, copy, stride)
                batch.append(xml)
                entries.append((page_id, title))
                if len(batch) == PAGES_PER_STREAM:
                    yield b"".join(batch), entries
                    batch, entries = [], []
        if batch:
            yield b"".join(batch), entries
        yield footer, []

    start = time.time()
    tmp_dump, tmp_index = dump.with_name(dump.name + ".tmp"), index.with_name(index.name + ".tmp")
    offset = xml_bytes = streams = 0
    source = chunks()
    index_writer = bz2.BZ2File(tmp_index, "wb")
    with open(tmp_dump, "wb") as out, multiprocessing.Pool(workers or os.cpu_count()) as pool:
        while True:
            round_ = [c for _, c in zip(range(STREAMS_PER_ROUND), source)]
            if not round_:
                break
            for (xml, entries), compressed in zip(round_, pool.map(_compress, [x for x, _ in round_])):
                for page_id, title in entries:
                    index_writer.write(b"%d:%d:%s\n" % (offset, page_id, title))
                out.write(compressed)
                offset += len(compressed)
                xml_bytes += len(xml)
                streams += 1
            print(f"\rbuilding {dump.name}: {xml_bytes / 2**20:,.0f} / {size_mb:,} MiB of XML",
                  end="", file=sys.stderr, flush=True)
    index_writer.close()
    print(f" ({time.time() - start:.0f} s)", file=sys.stderr)
    os.replace(tmp_dump, dump)
    os.replace(tmp_index, index)
    info = {
        "dump": str(dump), "index": str(index), "copies": copies,
        **{k: copies * v for k, v in facts.items()},
        "xml_bytes": xml_bytes, "bz2_bytes": offset, "streams": streams,
        "build_seconds": round(time.time() - start, 1),
    }
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    return info


def write_multistream(source: Path, out: Path, *, pages_per_stream: int = PAGES_PER_STREAM) -> Path:
    """``source``'s pages, unchanged, as a multistream ``.xml.bz2`` with its ``-index.txt.bz2`` beside it.

    Wikimedia's layout (header stream, one stream per ``pages_per_stream`` pages, footer stream):
    the tests use it to cut the real sample into byte-range shards.
    """
    return write_pages_multistream(*read_sample(Path(source)), out, pages_per_stream=pages_per_stream)


def write_pages_multistream(header: bytes, pages: list[bytes], footer: bytes, out: Path, *,
                            pages_per_stream: int = PAGES_PER_STREAM, pool=None) -> Path:
    """Pages, unchanged, as a multistream ``.xml.bz2`` (+ ``-index.txt.bz2``), written atomically.

    ``pool``: an optional ``multiprocessing.Pool`` compressing the streams in parallel.
    """
    from html import unescape

    out = Path(out)
    if not out.name.endswith(".xml.bz2"):
        raise ValueError(f"{out}: a multistream dump must be named *.xml.bz2")
    index = out.with_name(out.name[: -len(".xml.bz2")] + "-index.txt.bz2")
    out.parent.mkdir(parents=True, exist_ok=True)
    batches = [pages[first:first + pages_per_stream] for first in range(0, len(pages), pages_per_stream)]
    chunks = [header] + [b"".join(batch) for batch in batches] + [footer]
    compressed = pool.map(_compress, chunks) if pool is not None else [_compress(c) for c in chunks]
    tmp_out, tmp_index = out.with_name(out.name + ".tmp"), index.with_name(index.name + ".tmp")
    with open(tmp_out, "wb") as f, bz2.open(tmp_index, "wt", encoding="utf-8") as idx:
        f.write(compressed[0])
        for batch, stream in zip(batches, compressed[1:-1]):
            offset = f.tell()
            for page in batch:
                title = unescape(_TITLE.search(page).group(1).decode("utf-8"))
                idx.write(f"{offset}:{int(_PAGE_ID.search(page).group(1))}:{title}\n")
            f.write(stream)
        f.write(compressed[-1])
    os.replace(tmp_index, index)
    os.replace(tmp_out, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="MiB of XML (default 1024)")
    parser.add_argument("--workers", type=int, default=None, help="compression processes (default: all cores)")
    args = parser.parse_args(argv)
    print(build_dump(args.size_mb, args.workers))


if __name__ == "__main__":
    main()
