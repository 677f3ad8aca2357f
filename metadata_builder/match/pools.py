"""Read alt-text pools in record batches: parquet, jsonl, tsv/csv, plain text, COCO captions.

A pool is given as files, folders (every pool file under them) or globs; its files are sorted by
path so shard names and outputs never depend on the order a shell lists them in. Each file is one
shard, read in batches of rows, never whole (except COCO's single JSON document).

Rules a user may need to know:

- text column: ``--text-column NAME`` or, by default, the first of :data:`TEXT_COLUMNS` present;
  tsv/csv files have a header when their first line holds that name; otherwise they have none and the
  text is column 0 (CC3M is ``caption<TAB>url`` without a header), or the column number given.
- a row's number (``row``) is its 0-based position among the file's data rows (header excluded).
- null texts match nothing; empty texts are matched as ``"  "`` like the recipe does.
- invalid UTF-8 is replaced by U+FFFD and counted (``bad_utf8``); a jsonl line that is no JSON
  object, or whose text is not a string, counts as a ``bad_row`` with a null text. None is fatal.
- ``.gz``, ``.bz2`` and ``.xz`` text files are read through the matching decompressor.
- a csv/tsv record is one line (quoted fields spanning lines are not supported); tsv fields are
  split on tabs as they are, without quote handling.
"""

from __future__ import annotations

import csv
import json
import lzma
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import UserError
from ..runtime import storage

FORMATS = ("parquet", "jsonl", "tsv", "csv", "txt", "coco")
TEXT_COLUMNS = ("TEXT", "text", "caption", "Caption", "alt_text", "ALT_TEXT", "alt")
_EXTENSIONS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".tsv": "tsv",
               ".csv": "csv", ".txt": "txt", ".json": "coco"}
_COMPRESSED = (".gz", ".bz2", ".xz")


@dataclass
class PoolFile:
    """One shard: a pool file, its format and the stable name its outputs carry."""

    path: str
    format: str
    name: str
    text_column: Any = None  # resolved by :func:`probe`: a name or a column number
    header: bool = False
    fingerprint: dict | None = None  # :func:`metadata_builder.runtime.storage.fingerprint` at match time

    @property
    def identity(self) -> dict | None:
        """What the shard job checks of this file on a resume: its content fingerprint."""
        return self.fingerprint

    def to_dict(self) -> dict:
        """What the match manifest records of the file: resolved text column, content fingerprint."""
        return {"name": self.name, "path": self.path, "format": self.format,
                "text_column": self.text_column, "header": self.header, "fingerprint": self.fingerprint}

    @classmethod
    def from_dict(cls, shard: dict) -> "PoolFile":
        """The pool file a manifest's shard entry describes (no probing: its columns are resolved)."""
        return cls(path=shard["path"], format=shard["format"], name=shard["name"],
                   text_column=shard.get("text_column"), header=bool(shard.get("header", False)),
                   fingerprint=shard.get("fingerprint"))

    def check_unchanged(self) -> None:
        """Refuse to read rows back from a pool file rewritten since the match (one line)."""
        if self.fingerprint is None:
            return
        now = storage.fingerprint(self.path)
        if now != self.fingerprint:
            what = [k for k in sorted(set(now) | set(self.fingerprint)) if now.get(k) != self.fingerprint.get(k)]
            raise UserError(f"{self.path}: changed since the match ({', '.join(what)} differ); "
                            "rerun the match on the pool as it is now")


@dataclass
class Batch:
    """Rows ``first_row .. first_row + n - 1`` of a shard."""

    first_row: int
    texts: Any  # pyarrow string array (valid UTF-8) or list[str | None]
    ids: Any = None  # pyarrow array or list, when an id column was asked for
    counts: dict = field(default_factory=dict)  # null, empty, bad_utf8, bad_rows

    def __len__(self) -> int:
        return len(self.texts)


def detect_format(path: str) -> str:
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    fmt = _EXTENSIONS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise UserError(f"{path}: cannot tell the pool format from the file name; "
                        f"pass --format ({', '.join(FORMATS)})")
    return fmt


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in list(_COMPRESSED) + list(_EXTENSIONS):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "pool"


def expand_pools(specs: list[str], fmt: str = "auto") -> list[PoolFile]:
    """Files, folders and globs -> sorted distinct pool files with stable shard names.

    Each may be a local path or an fsspec URL (``s3://bucket/pool/*.parquet``, ``gs://...``):
    remote files keep their URL, ``file://`` URLs become plain local paths. A folder stands for the
    pool files under it (by extension, unless ``--format`` says what they are).
    """
    ordered = storage.expand(specs, keep=None if fmt != "auto" else _known,
                             what=f"pool file ({', '.join(sorted(_EXTENSIONS))})")
    return [PoolFile(path=p, format=detect_format(p) if fmt == "auto" else fmt, name=f"{i:05d}-{_stem(p)}")
            for i, p in enumerate(ordered)]


def _known(name: str) -> bool:
    try:
        detect_format(name)
        return True
    except UserError:
        return False


def _open_binary(path: str):
    """The pool file's bytes, decompressed by extension (local or URL)."""
    return storage.open_input(path, decompress=True)


def _decode(raw: bytes, counts: dict) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        counts["bad_utf8"] = counts.get("bad_utf8", 0) + 1
        return raw.decode("utf-8", "replace")


def _first_line(path: str) -> str:
    with _open_binary(path) as f:
        try:
            return f.readline().decode("utf-8", "replace").rstrip("\r\n")
        except (OSError, EOFError, ValueError) as exc:
            raise UserError(f"{path}: unreadable ({exc}); check or remove the file") from None


def _pick(columns: list[str], wanted: str | None, path: str, what: str = "text") -> str:
    if wanted is not None:
        if wanted not in columns:
            raise UserError(f"{path}: no {what} column {wanted!r} (columns: {', '.join(map(str, columns[:20]))}); "
                            f"pass --{what}-column with one of them")
        return wanted
    for name in TEXT_COLUMNS:
        if name in columns:
            return name
    raise UserError(f"{path}: no text column among {', '.join(TEXT_COLUMNS)} "
                    f"(columns: {', '.join(map(str, columns[:20]))}); pass --text-column")


#: A caption may be longer than the csv module's default field limit (128 KiB): real data, not an error.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_MAGIC = {b"PAR1": "parquet", b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ": "xz"}


def _fields(line: str, fmt: str) -> list[str]:
    """One tsv/csv line as fields: tsv split on tabs as it is (captions hold quotes), csv by the csv module."""
    return line.split("\t") if fmt == "tsv" else next(csv.reader([line]), [])


def _sniff(pool: PoolFile) -> None:
    """Refuse a file whose content is not the format it is read as (``--format tsv`` on a parquet
    file would read binary as text: every row a bad row, exit 0)."""
    try:
        with _open_binary(pool.path) as f:
            head = f.read(8)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise UserError(f"{pool.path}: unreadable ({exc}); check or remove the file") from None
    found = next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
    if pool.format == "parquet":
        if found != "parquet":
            raise UserError(f"{pool.path}: not a parquet file (it does not start with PAR1); pass its --format")
    elif found is not None:
        hint = "pass --format parquet" if found == "parquet" else f"name it *.{pool.format}.{'gz' if found == 'gzip' else found}"
        raise UserError(f"{pool.path}: read as {pool.format} but its content is {found}; {hint}")


def probe(pool: PoolFile, text_column: str | None, id_column: str | None, id_what: str = "id") -> PoolFile:
    """Check the file is of its format and its columns exist, before any work starts; resolve the
    text column and header. ``id_what`` names the second column in messages (``lang`` for
    ``--lang-column``)."""
    path = pool.path
    _sniff(pool)
    if pool.format == "parquet":
        try:
            names = storage.parquet_file(path).schema_arrow.names
        except Exception as exc:  # noqa: BLE001 - any reader failure names the file
            raise UserError(f"{path}: not a readable parquet file ({type(exc).__name__}: {exc}); "
                            "check or remove the shard") from None
        pool.text_column = _pick(names, text_column, path)
        if id_column is not None:
            _pick(names, id_column, path, id_what)
    elif pool.format in ("tsv", "csv"):
        first = _first_line(path)
        fields = _fields(first, pool.format)
        wanted = [text_column] if text_column is not None else list(TEXT_COLUMNS)
        if any(w in fields for w in wanted):
            pool.header = True
            pool.text_column = _pick(fields, text_column, path)
            if id_column is not None:
                _pick(fields, id_column, path, id_what)
        elif text_column is None or text_column.isdigit():
            pool.text_column = int(text_column or 0)
            if id_column is not None and not id_column.isdigit():
                raise UserError(f"{path}: has no header, so --{id_what}-column must be a column number, "
                                f"not {id_column!r}")
        else:
            raise UserError(f"{path}: no text column {text_column!r} in the first line "
                            f"({first[:80]!r}); pass a header name or a column number")
    elif pool.format == "jsonl":
        pool.text_column = text_column or "text"
        first = _first_line(path)
        try:
            record = json.loads(first) if first.strip() else {}
        except ValueError:
            record = {}
        if isinstance(record, dict) and record:
            pool.text_column = _pick(list(record), text_column, path)
            if id_column is not None:
                _pick(list(record), id_column, path, id_what)
    elif pool.format == "coco":
        pool.text_column = text_column or "caption"
    elif pool.format == "txt":
        if id_column is not None:
            raise UserError(f"{path}: a plain text pool has no {id_what} column; drop --{id_what}-column")
    else:
        raise UserError(f"--format {pool.format!r}: unknown; choose one of {', '.join(FORMATS)}")
    return pool


def read_batches(pool: PoolFile, id_column: str | None = None, batch_size: int = 8192) -> Iterator[Batch]:
    """Yield the shard's rows in batches of ``batch_size`` (``probe`` it first)."""
    reader = {"parquet": _parquet, "jsonl": _jsonl, "tsv": _delimited, "csv": _delimited,
              "txt": _txt, "coco": _coco}[pool.format]
    try:
        yield from reader(pool, id_column, batch_size)
    except UserError:
        raise
    except (OSError, EOFError, ValueError, lzma.LZMAError, csv.Error) as exc:
        raise UserError(f"{pool.path}: unreadable {pool.format} ({type(exc).__name__}: {exc}); "
                        "check or remove the shard") from None


def arrow_texts(column, counts: dict, where: str = "the text column"):
    """A text column of an Arrow table as the matcher reads it: a valid UTF-8 string array, or a
    list of ``str | None`` where bytes had to be decoded (invalid UTF-8 replaced and counted in
    ``counts["bad_utf8"]``). Matching and balance's check of re-read rows both go through here."""
    import pyarrow as pa

    text = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(text.type):
        text = text.dictionary_decode()
    if pa.types.is_null(text.type):
        return [None] * len(text)
    if pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
        try:
            text.validate(full=True)
        except pa.ArrowInvalid:  # invalid UTF-8: replace it, row by row
            text = text.cast(pa.binary())
    if pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
        return [None if t is None else _decode(t, counts) for t in text.to_pylist()]
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        raise UserError(f"{where} holds {text.type}, not text; pass --text-column")
    return text


def _parquet(pool: PoolFile, id_column, batch_size):
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [pool.text_column] + ([id_column] if id_column else [])
    try:
        batches = storage.parquet_file(pool.path).iter_batches(batch_size=batch_size, columns=columns)
        row = 0
        for rb in batches:
            counts = {"null": rb.column(0).null_count}
            text = arrow_texts(rb.column(0), counts, f"{pool.path}: column {pool.text_column!r}")
            empty = sum(1 for t in text if t == "") if isinstance(text, list) else \
                int(pc.sum(pc.equal(pc.binary_length(text), 0)).as_py() or 0)
            counts["empty"] = empty
            yield Batch(row, text, rb.column(1) if id_column else None, counts)
            row += len(rb)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{pool.path}: unreadable parquet ({type(exc).__name__}: {exc}); "
                        "check or remove the shard") from None


def _lines(path: str) -> Iterator[bytes]:
    with _open_binary(path) as f:
        for line in f:
            yield line.rstrip(b"\n").rstrip(b"\r")


def _emit(rows: list, ids, first_row: int, counts: dict) -> Batch:
    counts["null"] = counts.get("null", 0) + sum(1 for t in rows if t is None)
    counts["empty"] = sum(1 for t in rows if t == "")
    return Batch(first_row, rows, ids, counts)


def _txt(pool: PoolFile, id_column, batch_size):
    rows, counts, first = [], {}, 0
    for line in _lines(pool.path):
        rows.append(_decode(line, counts))
        if len(rows) == batch_size:
            yield _emit(rows, None, first, counts)
            first, rows, counts = first + len(rows), [], {}
    if rows:
        yield _emit(rows, None, first, counts)


def _delimited(pool: PoolFile, id_column, batch_size):
    lines = _lines(pool.path)
    col, id_col = pool.text_column, None
    if pool.header:
        header = _fields(_decode(next(lines), {}), pool.format)
        col = header.index(pool.text_column)
        id_col = header.index(id_column) if id_column else None
    elif id_column is not None:
        id_col = int(id_column)
    rows, ids, counts, first = [], [], {}, 0
    for line in lines:
        text = _decode(line, counts)
        # tsv: a plain split (captions may hold quotes); csv: the csv module (quoted fields)
        fields = _fields(text, pool.format)
        if col < len(fields):
            rows.append(fields[col])
        else:
            rows.append(None)
            counts["bad_rows"] = counts.get("bad_rows", 0) + 1
        if id_col is not None:
            ids.append(fields[id_col] if id_col < len(fields) else None)
        if len(rows) == batch_size:
            yield _emit(rows, ids if id_col is not None else None, first, counts)
            first, rows, ids, counts = first + len(rows), [], [], {}
    if rows:
        yield _emit(rows, ids if id_col is not None else None, first, counts)


def _jsonl(pool: PoolFile, id_column, batch_size):
    rows, ids, counts, first = [], [], {}, 0
    for line in _lines(pool.path):
        text = None
        try:
            record = json.loads(_decode(line, counts))
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get(pool.text_column), str):
            text = record[pool.text_column]
        elif not (isinstance(record, dict) and record.get(pool.text_column, 0) is None):
            counts["bad_rows"] = counts.get("bad_rows", 0) + 1  # (a JSON null text is just null)
        rows.append(text)
        if id_column is not None:
            ids.append(record.get(id_column) if isinstance(record, dict) else None)
        if len(rows) == batch_size:
            yield _emit(rows, ids if id_column else None, first, counts)
            first, rows, ids, counts = first + len(rows), [], [], {}
    if rows:
        yield _emit(rows, ids if id_column else None, first, counts)


def _coco(pool: PoolFile, id_column, batch_size):
    with _open_binary(pool.path) as f:
        counts: dict = {}
        try:
            doc = json.loads(_decode(f.read(), counts))
        except ValueError as exc:
            raise UserError(f"{pool.path}: not JSON ({exc}); check the file") from None
    annotations = doc.get("annotations") if isinstance(doc, dict) else None
    if not isinstance(annotations, list):
        raise UserError(f"{pool.path}: no 'annotations' list; not a COCO caption file (pass --format)")
    for first in range(0, len(annotations), batch_size):
        chunk = annotations[first:first + batch_size]
        rows = [a.get(pool.text_column) if isinstance(a, dict) and isinstance(a.get(pool.text_column), str)
                else None for a in chunk]
        ids = [a.get(id_column) if isinstance(a, dict) else None for a in chunk] if id_column else None
        yield _emit(rows, ids, first, counts if first == 0 else {})


# --- re-reading rows (the curated subset of balance) ----------------------------------------------

def text_column_of_rows(pool: PoolFile) -> str:
    """The name of the text column in :func:`read_rows`'s table (``"0"`` for a headerless tsv...)."""
    if pool.format == "txt":
        return "text"
    return str(pool.text_column)


def verify_rows(pool: PoolFile, table, expected_hashes) -> None:
    """Refuse rows read back from ``pool`` whose texts are not the ones the match hashed (a pool
    rewritten, shuffled or regenerated since the match)."""
    import numpy as np

    from .output import text_hashes

    column = text_column_of_rows(pool)
    if column not in table.column_names:
        raise UserError(f"{pool.path}: no column {column!r} any more; the pool changed since the match, rerun it")
    found = text_hashes(arrow_texts(table[column], {}, f"{pool.path}: column {column!r}"))
    wrong = int((found != np.asarray(expected_hashes, dtype=np.uint64)).sum())
    if wrong:
        raise UserError(f"{pool.path}: {wrong:,} of {len(found):,} rows read back differ from the texts the match "
                        "saw (rows shuffled or rewritten since the match); rerun the match on the pool as it is now")


def read_rows(pool: PoolFile, rows, batch_size: int = 65_536, expected_rows: int | None = None):
    """The pool's original rows ``rows`` (sorted) of one pool file, as a pyarrow table.

    Parquet is read by record batch with its own schema. Other formats are streamed line by line
    with the row numbering of :func:`read_batches` (data rows, header excluded): jsonl keeps each
    object's keys, tsv/csv the header's names (``"0"``, ``"1"``... without a header), txt a ``text``
    column, COCO each annotation's keys. ``expected_rows``: the file's row count as the match saw
    it (a parquet file with another count is refused).
    """
    import numpy as np
    import pyarrow as pa

    rows = np.asarray(rows, dtype=np.int64)
    path = storage.canonical(pool.path)
    if pool.format != "parquet":
        return _records_table(_text_pool_records(pool, rows))
    try:
        reader = storage.parquet_file(path)
    except (OSError, pa.ArrowException, UserError) as exc:
        raise UserError(f"{path}: cannot read the pool file the match used ({exc})") from None
    if expected_rows is not None and reader.metadata.num_rows != expected_rows:
        raise UserError(f"{path}: has {reader.metadata.num_rows} rows, the match saw {expected_rows}; "
                        "the pool changed since the match, rerun it")
    pieces, start = [], 0
    for batch in reader.iter_batches(batch_size=batch_size):
        lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
        if hi > lo:
            pieces.append(batch.take(pa.array(rows[lo:hi] - start)))
        start += batch.num_rows
    if pieces:
        return pa.Table.from_batches(pieces)
    return reader.schema_arrow.empty_table()


def _records_table(records: list[dict]):
    """Records with possibly different keys as one table: every key seen, in first-seen order.

    A column whose values arrow cannot type together (a jsonl field that is a number here and a
    string there) is kept as JSON text.
    """
    import pyarrow as pa

    names = list(dict.fromkeys(key for record in records for key in record))
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values])
    return pa.table(columns) if columns else pa.table({})


def _text_pool_records(pool: PoolFile, rows) -> list[dict]:
    """Records of the wanted rows of a jsonl / tsv / csv / txt / COCO pool, streamed."""
    path, fmt = str(pool.path), pool.format
    wanted = iter(rows.tolist())
    target = next(wanted, None)
    records: list[dict] = []
    if target is None:
        return records

    def lines():
        if fmt == "coco":
            with _open_binary(path) as fh:
                doc = json.loads(_decode(fh.read(), {}))
            yield from doc.get("annotations", [])
            return
        source = _lines(path)
        header = None
        if fmt in ("tsv", "csv"):
            if pool.header:
                header = _fields(_decode(next(source), {}), fmt)
        for line in source:
            text = _decode(line, {})
            if fmt == "txt":
                yield {"text": text}
            elif fmt == "jsonl":
                try:
                    record = json.loads(text)
                except ValueError:
                    record = None
                yield record if isinstance(record, dict) else {}
            else:
                fields = _fields(text, fmt)
                names = header or [str(i) for i in range(len(fields))]
                yield dict(zip(names, fields))

    for row, record in enumerate(lines()):
        if row == target:
            records.append(record if isinstance(record, dict) else {})
            target = next(wanted, None)
            if target is None:
                break
    return records
