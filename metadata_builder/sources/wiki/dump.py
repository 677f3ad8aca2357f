"""Read MediaWiki XML dumps page by page, streaming, in shards that workers can read on their own.

Formats: ``.xml.bz2``, ``.xml.gz``, ``.xml.xz`` (one shard per file: such streams cannot be entered
in the middle), multistream ``.xml.bz2`` with its ``-index.txt.bz2`` beside it (found by name:
``X.xml.bz2`` -> ``X-index.txt.bz2``), cut into shards of whole bz2 streams by byte range so every
worker seeks to its own range and decompresses only that part, and uncompressed ``.xml``, cut into
byte ranges (a shard owns the pages whose ``<page>`` starts in its range).

Pages are cut from the decompressed bytes at ``<page>`` ... ``</page>`` (the markers cannot occur
inside page text, where ``<`` is escaped) and each page is parsed on its own. So a malformed page
is counted and skipped without losing the rest, memory holds one page at a time (never a whole
shard), and a dump cut mid-page (truncated download, ``head`` of a dump) yields every complete page
and a :class:`Cut` saying where it stopped.

Namespaces come from the dump's ``<siteinfo>``: a page is in the main namespace when its ``<ns>`` is
0 (or, in old dumps without ``<ns>``, when its title has no known namespace prefix).
"""

from __future__ import annotations

import atexit
import bz2
import functools
import io
import lzma
import os
import pyexpat
import re
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ...errors import UserError
from ...runtime import storage

CHUNK = 1 << 20  # bytes of an uncompressed file read at a time
RAW_CHUNK = 1 << 18  # compressed bytes fed to a decompressor at a time (its output: a few MB at most)
#: Canonical names that work in every wiki, whatever the local names in <siteinfo>.
CANONICAL = {6: ["File", "Image"], 14: ["Category"], -2: ["Media"]}


@dataclass
class Siteinfo:
    """Namespaces of a dump: key -> local name (main namespace ``0`` -> ``""``)."""

    namespaces: dict[int, str] = field(default_factory=dict)
    first_letter: bool = True  # titles' first letter is case-insensitive (``<case>first-letter``)
    dbname: str | None = None  # ``<dbname>`` (``jawiki``): which wiki, hence its language
    base: str | None = None  # ``<base>``: the main page's URL (``https://ja.wikipedia.org/wiki/...``)

    @functools.cached_property
    def link_prefixes(self) -> frozenset[str]:
        """Prefixes that put a title in another namespace (lower-cased)."""
        return frozenset(self.prefixes())

    @functools.cached_property
    def hidden_link_prefixes(self) -> frozenset[str]:
        """Prefixes of links that show no text: files, images, media, categories (lower-cased)."""
        return frozenset(self.names_of(6, 14, -2))

    def names_of(self, *keys: int) -> set[str]:
        """Lower-cased names (local and canonical) of the given namespaces."""
        out = set()
        for k in keys:
            if self.namespaces.get(k):
                out.add(self.namespaces[k].lower())
            out.update(n.lower() for n in CANONICAL.get(k, []))
        return out

    def prefixes(self) -> set[str]:
        """Lower-cased names of every namespace but the main one (link and title prefixes)."""
        return {n.lower() for k, n in self.namespaces.items() if k != 0 and n} | {
            n.lower() for names in CANONICAL.values() for n in names}


@dataclass(frozen=True)
class Shard:
    """A piece of one dump file a worker reads alone.

    The whole file (``end`` None: compressed, not multistream), a byte range of whole bz2 streams
    (multistream), or a byte range of an uncompressed ``.xml`` (``plain``: the shard owns the pages
    whose ``<page>`` starts in its range, reading past its end to finish the last one).
    """

    path: str
    index: int  # which DUMP argument
    start: int = 0
    end: int | None = None
    siteinfo: Siteinfo | None = field(default=None, compare=False, hash=False)
    plain: bool = False
    #: multistream: ``(offset, pages)`` of every bz2 stream in [start, end), from the index, so that a
    #: corrupt stream costs that stream only
    streams: tuple = field(default=(), compare=False, hash=False)
    #: a cut multistream download: pages its index lists past the end of the file (lost)
    pages_beyond_end: int = field(default=0, compare=False, hash=False)

    @property
    def name(self) -> str:
        if self.end is None:
            return f"{self.index:03d}-whole"
        return f"{self.index:03d}-{self.start:014d}-{self.end:014d}"

    @property
    def compressed_bytes(self) -> int:
        return (self.end if self.end is not None else storage.size(self.path)) - self.start


@dataclass
class Page:
    title: str
    page_id: int
    ns: int
    redirect: str | None  # target title of a redirect page
    text: str


@dataclass
class Cut:
    """Where a dump or shard stopped before its end: a truncated file."""

    path: str
    shard: str
    offset: int  # decompressed byte offset (within the shard) of the incomplete page or data
    reason: str
    last_complete_page: str | None


@dataclass
class Corrupt:
    """A bz2 stream of a multistream dump that could not be decoded: skipped, its pages lost."""

    path: str
    shard: str
    offset: int  # compressed byte offset of the stream in the dump
    end: int  # where the next stream starts
    pages_lost: int  # pages the index lists in that stream
    error: str


@dataclass
class ReadReport:
    """Filled while a shard is read: malformed pages, corrupt streams skipped, and the cut, if any."""

    bytes: int = 0  # decompressed XML bytes read
    malformed: int = 0
    malformed_examples: list = field(default_factory=list)
    cut: Cut | None = None
    corrupt: list = field(default_factory=list)  # Corrupt streams skipped


#: Yielded among a shard's decompressed chunks where a corrupt stream was skipped: the page cut
#: short there is dropped, reading goes on with the next stream's pages.
SKIPPED = object()


def index_path(dump: str | os.PathLike) -> Path | str | None:
    """The multistream index beside ``dump`` (``X.xml.bz2`` -> ``X-index.txt.bz2``), or None."""
    if not storage.is_local(dump):  # a URL: same rule, kept as a URL
        dump = os.fspath(dump)
        if not dump.endswith(".xml.bz2"):
            return None
        candidate = dump[: -len(".xml.bz2")] + "-index.txt.bz2"
        return candidate if storage.is_file(candidate) else None
    dump = Path(dump)
    if not dump.name.endswith(".xml.bz2"):
        return None
    candidate = dump.with_name(dump.name[: -len(".xml.bz2")] + "-index.txt.bz2")
    return candidate if candidate.exists() else None


def stream_table(index: str | os.PathLike) -> list[tuple[int, int]]:
    """``(offset, pages)`` of every stream a multistream index lists (lines ``offset:page_id:title``)."""
    streams: list[list[int]] = []
    number = 0
    try:
        with storage.open_input(os.fspath(index)) as raw, bz2.open(raw, "rb") as f:
            for number, line in enumerate(f, 1):
                head = line.split(b":", 1)[0]
                try:
                    offset = int(head)
                except ValueError:
                    raise UserError(f"{index}: line {number} is not 'offset:page_id:title'; "
                                    "pass the -index.txt.bz2 that belongs to the dump") from None
                if streams and offset == streams[-1][0]:
                    streams[-1][1] += 1
                else:
                    streams.append([offset, 1])
    except (EOFError, OSError) as exc:
        raise UserError(f"{index}: truncated or corrupt after line {number:,} ({exc}); download the index "
                        "again, or move it away to read the dump as one stream") from None
    offsets = [o for o, _ in streams]
    if offsets != sorted(offsets):
        raise UserError(f"{index}: stream offsets are not increasing; is it a multistream index?")
    return [(o, n) for o, n in streams]


def _decompressor(path: str):
    """A factory of incremental decompressors for the file's format, or None (uncompressed)."""
    name = str(path)
    if name.endswith(".bz2"):
        return bz2.BZ2Decompressor
    if name.endswith(".xz"):
        return lzma.LZMADecompressor
    if name.endswith(".gz"):
        return lambda: zlib.decompressobj(wbits=31)
    return None


def _compressed_chunks(path: str, start: int, end: int, make, on_progress=None) -> Iterator[bytes]:
    """Decompress bytes [start, end) of ``path``: one or more concatenated streams.

    Everything that can be decompressed is yielded before an ``EOFError`` reports a stream cut short
    (a file-like reader such as ``bz2.BZ2File`` would drop its last buffered part), so a cut
    download still gives every complete page.
    """
    with storage.open_input(path) as f:
        f.seek(start)
        left = end - start
        decomp, fed = make(), False
        while left > 0:
            data = f.read(min(RAW_CHUNK, left))
            if not data:
                break
            left -= len(data)
            if on_progress is not None:
                on_progress(end - start - left)
            while data:
                out = decomp.decompress(data)
                fed = True
                if out:
                    yield out
                if decomp.eof:
                    data = decomp.unused_data
                    decomp, fed = make(), False
                else:
                    data = b""
        if fed and not decomp.eof:
            raise EOFError("compressed data ended before the end of a stream")


#: indexed_bzip2 readers in use. Its reader runs a thread, and a reader still open when Python shuts
#: down aborts the process ("terminate called"); a generator left suspended (an exception escaping
#: the page loop) would do that, so every reader still open is closed at exit.
_OPEN_BZ2: set = set()


@atexit.register
def _close_bz2_readers() -> None:
    for reader in list(_OPEN_BZ2):
        reader.close()
    _OPEN_BZ2.clear()


class _Range(io.RawIOBase):
    """Bytes [start, end) of a seekable binary file, as a file of their own (for indexed_bzip2)."""

    def __init__(self, f, start: int, end: int):
        self.f, self.start, self.end, self.pos = f, start, end, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.end - self.start}[whence]
        self.pos = max(0, min(base + offset, self.end - self.start))
        return self.pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.end - self.start - self.pos)
        if n <= 0:
            return 0
        self.f.seek(self.start + self.pos)
        data = self.f.read(n)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _bz2_fast(path: str, start: int, end: int, on_progress=None) -> Iterator[bytes]:
    """Decompress the bz2 streams in bytes [start, end) of ``path`` with indexed_bzip2 (MIT), whose
    decoder takes ~20% less CPU than Python's ``bz2`` (libbz2). Its errors are bare: callers fall
    back to ``bz2`` to learn what went wrong."""
    import indexed_bzip2

    with storage.open_input(path) as f, _Range(f, start, end) as raw, indexed_bzip2.open(raw, parallelization=1) as bz:
        _OPEN_BZ2.add(bz)
        try:
            while chunk := bz.read(CHUNK):
                if on_progress is not None:
                    on_progress(raw.pos)
                yield chunk
        finally:
            _OPEN_BZ2.discard(bz)


def _bz2_chunks(path: str, start: int, end: int, on_progress=None) -> Iterator[bytes]:
    """Decompress the bz2 stream(s) in bytes [start, end) of ``path`` (a file whose streams are not
    indexed). indexed_bzip2 reports a cut or corrupt stream only as a bare error, after holding back
    up to ~1 MB it had decoded; so on any error the range is decoded again with ``bz2`` and what was
    already yielded is skipped: a cut download gives exactly the pages, and the error, that
    :func:`_compressed_chunks` gives.
    """
    done = 0
    try:
        for chunk in _bz2_fast(path, start, end, on_progress):
            done += len(chunk)
            yield chunk
        return
    except Exception:  # noqa: BLE001 - redone below with bz2, which raises the meaningful error
        pass
    for chunk in _compressed_chunks(path, start, end, bz2.BZ2Decompressor, on_progress):
        if done >= len(chunk):
            done -= len(chunk)
            continue
        yield chunk[done:]
        done = 0


def _file_chunks(path: str, on_progress=None) -> Iterator[bytes]:
    """Decompressed chunks of a whole file; ``on_progress(compressed bytes read)`` after each."""
    make = _decompressor(path)
    if make is None:
        return _plain_chunks(path, 0, storage.size(path), on_progress)
    if make is bz2.BZ2Decompressor:
        return _bz2_chunks(path, 0, storage.size(path), on_progress)
    return _compressed_chunks(path, 0, storage.size(path), make, on_progress)


def _multistream_chunks(shard: Shard, report: ReadReport | None = None, on_progress=None) -> Iterator:
    """Decompress the bz2 streams of a multistream shard, skipping any that cannot be decoded.

    The fast path decodes the whole range with indexed_bzip2. On an error it goes on stream by
    stream with ``bz2`` from the index's boundaries (skipping what was already yielded): a corrupt
    stream is recorded in ``report.corrupt`` (offset, pages lost) and :data:`SKIPPED` is yielded in
    its place, then the next stream is read; a stream cut short by the end of the file (a cut
    download) ends the shard with ``EOFError``, as in :func:`_compressed_chunks`.
    """
    done = 0
    try:
        for chunk in _bz2_fast(shard.path, shard.start, shard.end, on_progress):
            done += len(chunk)
            yield chunk
        return
    except Exception:  # noqa: BLE001 - go on stream by stream, which names the bad stream
        pass
    bounds = [o for o, _ in shard.streams] + [shard.end]
    with storage.open_input(shard.path) as f:
        for (offset, pages), end in zip(shard.streams, bounds[1:]):
            f.seek(offset)
            data = f.read(end - offset)
            if on_progress is not None:
                on_progress(end - shard.start)
            decomp = bz2.BZ2Decompressor()
            try:
                out = decomp.decompress(data)
            except OSError as exc:  # not bz2 data, or a CRC error: this stream only
                if report is not None:
                    report.corrupt.append(Corrupt(shard.path, shard.name, offset, end, pages, str(exc)))
                done = 0  # what the fast path yielded of it is dropped with the page it cut short
                yield SKIPPED
                continue
            if not decomp.eof:
                if len(data) < end - offset or end == storage.size(shard.path):
                    if done < len(out):
                        yield out[done:]
                    raise EOFError(f"compressed data ended inside the stream at byte {offset:,}")
            if done >= len(out):
                done -= len(out)
                continue
            yield out[done:]
            done = 0


def _plain_chunks(path: str, start: int, end: int, on_progress=None) -> Iterator[bytes]:
    """Bytes of an uncompressed file from ``start`` to its end (the reader stops at ``end``'s page)."""
    with storage.open_input(path) as f:
        f.seek(start)
        while chunk := f.read(CHUNK):
            if on_progress is not None:
                on_progress(min(f.tell(), end) - start)
            yield chunk


def shard_chunks(shard: Shard, on_progress=None, report: ReadReport | None = None) -> Iterator:
    """Decompressed chunks of a shard; ``on_progress(compressed bytes of the shard read so far)``.
    A multistream shard may also yield :data:`SKIPPED` where a corrupt stream was left out."""
    if shard.plain:
        return _plain_chunks(shard.path, shard.start, shard.end, on_progress)
    if shard.end is None:
        return _file_chunks(shard.path, on_progress)
    return _multistream_chunks(shard, report, on_progress)


_NS_RE = re.compile(rb'<namespace[^>]*key="(-?\d+)"[^>]*?(?:/>|>([^<]*)</namespace>)')


def read_siteinfo(path: str | os.PathLike, first_stream_end: int | None = None) -> Siteinfo:
    """Namespaces from the ``<siteinfo>`` at the head of a dump (read only up to ``</siteinfo>``)."""
    head = bytearray()
    chunks = (_bz2_chunks(str(path), 0, first_stream_end) if first_stream_end
              else _file_chunks(str(path)))
    try:
        for chunk in chunks:
            head += chunk
            if b"</siteinfo>" in head or b"<page>" in head or len(head) > 16 * CHUNK:
                break
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise UserError(f"{path}: cannot read the dump's head ({exc}); is it a MediaWiki XML dump?") from None
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    if b"<mediawiki" not in head[:4096] and b"<page>" not in head:
        raise UserError(f"{path}: not a MediaWiki XML dump (no <mediawiki> element at its start)")
    info = Siteinfo()
    end = head.find(b"</siteinfo>")
    block = bytes(head[: end if end >= 0 else len(head)])
    from html import unescape

    for key, name in _NS_RE.findall(block):
        info.namespaces[int(key)] = unescape((name or b"").decode("utf-8")).strip()
    if not info.namespaces:  # no siteinfo: MediaWiki's default English names
        info.namespaces = {-2: "Media", -1: "Special", 0: "", 1: "Talk", 2: "User", 4: "Project",
                           6: "File", 10: "Template", 12: "Help", 14: "Category"}
    info.first_letter = b"<case>case-sensitive</case>" not in block
    for tag in ("dbname", "base"):  # the dump's wiki, for its language (recipe metaclip-v2)
        found = re.search(rb"<%s>([^<]*)</%s>" % (tag.encode(), tag.encode()), block)
        if found:
            setattr(info, tag, unescape(found.group(1).decode("utf-8")).strip())
    return info


def plan_shards(dumps: list[str | os.PathLike], shard_bytes: int) -> list[Shard]:
    """Shards of every dump: whole files, or groups of multistream streams of ~``shard_bytes``."""
    shards = []
    for i, dump in enumerate(dumps):
        dump = storage.canonical(dump)
        dump = Path(dump) if storage.is_local(dump) else dump  # a URL stays a string
        if not storage.is_file(dump):
            raise UserError(f"{dump}: no such dump file; pass a MediaWiki .xml/.xml.bz2/.xml.xz dump")
        index = index_path(dump)
        if index is None and str(dump).endswith(".xml"):  # uncompressed: byte ranges
            info, size = read_siteinfo(dump), storage.size(str(dump))
            starts = list(range(0, size, shard_bytes)) or [0]
            shards += [Shard(str(dump), i, a, min(a + shard_bytes, size), info, plain=True) for a in starts]
            continue
        if index is None:
            shards.append(Shard(str(dump), i, siteinfo=read_siteinfo(dump)))
            continue
        table = stream_table(index)
        size = storage.size(str(dump))
        beyond = sum(n for o, n in table if o >= size)  # a cut download: pages the index lists past its end
        table = [(o, n) for o, n in table if o < size]
        if not table:
            raise UserError(f"{index}: offsets do not fit {dump} ({size:,} bytes); pass the matching index")
        info = read_siteinfo(dump, table[0][0] if table[0][0] > 0 else None)
        group: list[tuple[int, int]] = [table[0]]
        for stream in table[1:]:
            if stream[0] - group[0][0] >= shard_bytes:
                shards.append(Shard(str(dump), i, group[0][0], stream[0], info, streams=tuple(group)))
                group = []
            group.append(stream)
        shards.append(Shard(str(dump), i, group[0][0], size, info, streams=tuple(group), pages_beyond_end=beyond))
    return shards


def _page_blobs(chunks: Iterator[bytes], report: ReadReport, shard: Shard) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, b"<page>...</page>")`` from a byte stream; record a cut at the end."""
    buf = bytearray()
    base = 0  # decompressed offset of buf[0]
    reason = None
    closed = False  # saw </mediawiki> after the last page
    try:
        for chunk in chunks:
            if chunk is SKIPPED:  # a corrupt stream was left out: drop the page it cut short
                base += len(buf)
                del buf[:]
                continue
            report.bytes += len(chunk)
            buf += chunk
            pos = 0
            while True:
                start = buf.find(b"<page>", pos)
                if start < 0:
                    closed = closed or buf.find(b"</mediawiki>", max(0, pos - 16)) >= 0
                    keep = max(pos, len(buf) - 16)  # enough to see a split "<page>" or "</mediawiki>"
                    break
                stop = buf.find(b"</page>", start)
                if stop < 0:
                    keep = start
                    break
                stop += len(b"</page>")
                yield base + start, bytes(buf[start:stop])
                pos = stop
            del buf[:keep]
            base += keep
    except (EOFError, OSError, lzma.LZMAError) as exc:  # truncated or corrupt compressed data
        reason = f"compressed data ends early or is corrupt ({exc})"
    tail = bytes(buf)
    if reason is None and b"<page>" in tail:
        reason = "the dump ends inside a page (truncated file)"
    if reason is None and shard.end in (None, storage.size(shard.path)) and not closed \
            and b"</mediawiki>" not in tail:
        reason = "the dump ends without </mediawiki> (truncated file)"
    if shard.pages_beyond_end:
        reason = (reason or "the file ends before its index does") + \
            f"; the index lists {shard.pages_beyond_end:,} more pages past the end of the file"
    if reason is not None:
        at = tail.find(b"<page>")
        report.cut = Cut(shard.path, shard.name, base + (at if at >= 0 else 0), reason, None)


def _text(elem, tag) -> str | None:
    child = elem.find(tag)
    return None if child is None else (child.text or "")


def _page_of(title, page_id, ns_text, redirect, text, info: Siteinfo) -> Page:
    """A :class:`Page` from its raw fields (None: the element is absent); ValueError when malformed."""
    if not title or page_id is None:
        raise ValueError("no <title> or <id>")
    if ns_text is not None:
        ns = int(ns_text)
    else:
        prefix = title.split(":", 1)[0] if ":" in title else ""
        ns = next((k for k, n in info.namespaces.items() if n and n == prefix), 0)
    if text is None:
        raise ValueError("no <revision><text>")
    return Page(title, int(page_id), ns, redirect, text)


def parse_page_tree(blob: bytes, info: Siteinfo) -> Page:
    """One ``<page>`` element -> :class:`Page` through ElementTree (the reference form of :func:`parse_page`)."""
    page = ET.fromstring(blob)
    redirect = page.find("redirect")
    revision = page.find("revision")
    return _page_of(_text(page, "title"), _text(page, "id"), _text(page, "ns"),
                    None if redirect is None else (redirect.get("title") or ""),
                    None if revision is None else _text(revision, "text"), info)


class _PageFields:
    """expat handlers keeping only what :class:`Page` needs (ElementTree's ``find`` semantics).

    The first ``<title>``, ``<id>``, ``<ns>``, ``<redirect title>`` among the page's children and
    the ``<text>`` of its first ``<revision>``; an element's text is what precedes its first child
    element, as ``Element.text``.
    """

    __slots__ = ("fields", "depth", "current", "parts", "revisions")

    def __init__(self):
        self.fields: dict = {}
        self.depth = 0
        self.current = None  # the field whose text is being collected
        self.parts: list[str] = []
        self.revisions = 0

    def start(self, name, attrs):
        self.depth += 1
        if self.current is not None:  # a child element ends an element's .text
            self._keep()
        if self.depth == 2:
            if name in ("title", "id", "ns") and name not in self.fields:
                self.current = name
            elif name == "redirect" and "redirect" not in self.fields:
                self.fields["redirect"] = attrs.get("title") or ""
            elif name == "revision":
                self.revisions += 1
        elif self.depth == 3 and name == "text" and self.revisions == 1 and "text" not in self.fields:
            self.current = "text"

    def _keep(self):
        self.fields[self.current] = "".join(self.parts)
        self.parts.clear()
        self.current = None

    def end(self, name):
        if self.current is not None:
            self._keep()
        self.depth -= 1

    def data(self, text):
        if self.current is not None:
            self.parts.append(text)


def parse_page(blob: bytes, info: Siteinfo) -> Page:
    """One ``<page>`` element -> :class:`Page` (raises ValueError/ParseError when malformed).

    The same expat parser and options as ElementTree's (namespaces on, text buffered), with handlers
    that keep only the page's fields instead of building its tree: half the time of
    :func:`parse_page_tree` (its reference form, checked equal on every real page and on malformed ones).
    """
    parser = pyexpat.ParserCreate(None, "}")
    parser.buffer_text = True
    parser.buffer_size = 1 << 20
    fields = _PageFields()
    parser.StartElementHandler = fields.start
    parser.EndElementHandler = fields.end
    parser.CharacterDataHandler = fields.data
    try:
        parser.Parse(blob, True)
    except pyexpat.ExpatError as exc:
        error = ET.ParseError(str(exc))
        error.code, error.position = exc.code, (exc.lineno, exc.offset)
        raise error from None
    f = fields.fields
    return _page_of(f.get("title"), f.get("id"), f.get("ns"), f.get("redirect"), f.get("text"), info)


def iter_pages(shard: Shard, report: ReadReport, on_progress=None) -> Iterator[Page]:
    """Every well-formed page of a shard; malformed ones are counted in ``report`` and skipped."""
    info = shard.siteinfo or Siteinfo()
    last = None
    limit = shard.end - shard.start if shard.plain else None
    for offset, blob in _page_blobs(shard_chunks(shard, on_progress, report), report, shard):
        if limit is not None and offset >= limit:
            break  # the next shard's page
        try:
            page = parse_page(blob, info)
        except (ET.ParseError, ValueError) as exc:
            report.malformed += 1
            if len(report.malformed_examples) < 10:
                report.malformed_examples.append({"shard": shard.name, "offset": offset, "error": str(exc)})
            continue
        last = page.title
        yield page
    if limit is not None:
        report.bytes = limit  # XML bytes this shard owns (it read a little past them)
    if report.cut is not None:
        report.cut.last_complete_page = last
