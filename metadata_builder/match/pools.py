"""Read alt-text pools in record batches: parquet, jsonl, tsv/csv, plain text, COCO captions,
webdataset tar shards and Arrow files (Hugging Face ``datasets``).

A pool is given as files, folders (every pool file under them) or globs; its files are sorted by
path so shard names and outputs never depend on the order a shell lists them in. Each file is one
shard, read in batches of rows, never whole (except COCO's single JSON document).

Rules a user may need to know:

- text column: ``--text-column NAME`` or, by default, the first of :data:`TEXT_COLUMNS` present;
  tsv/csv files have a header when their first line holds that name; otherwise they have none and the
  text is column 0 (CC3M is ``caption<TAB>url`` without a header), or the column number given.
  ``--column-names caption,url`` names the columns of headerless tsv/csv files: the text column is
  then found (or given) by name, and the curated rows carry those names instead of ``"0"``, ``"1"``.
- webdataset ``.tar`` shards (``.tar.gz`` too): one row per sample (the members sharing a key,
  ``dir/000123.jpg``, ``dir/000123.txt``, ``dir/000123.json``), in tar order. A sample's record is
  ``__key__``, ``txt`` (its ``.txt`` member) and the fields of its ``.json`` member; the text is
  ``txt`` when samples have one, else a caption field of the json. Image members are skipped unread.
- Arrow files (``.arrow``, IPC stream or file format: what Hugging Face ``datasets`` writes in its
  cache and with ``save_to_disk``) are read like parquet; a ``datasets.Dataset`` object given from
  Python stands for its Arrow files (:func:`dataset_files`).
- COCO caption files: one row per annotation; the curated rows re-read for ``balance`` carry the
  annotation's keys plus its image's (``file_name``, ``coco_url``, ``height``, ...).
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
import posixpath
import re
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import UserError
from ..runtime import storage

FORMATS = ("parquet", "jsonl", "tsv", "csv", "txt", "coco", "webdataset", "arrow")
TEXT_COLUMNS = ("TEXT", "text", "caption", "Caption", "alt_text", "ALT_TEXT", "alt")
_EXTENSIONS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".tsv": "tsv",
               ".csv": "csv", ".txt": "txt", ".json": "coco", ".tar": "webdataset", ".arrow": "arrow"}
_COMPRESSED = (".gz", ".bz2", ".xz")
#: Files a Hugging Face ``save_to_disk`` folder holds beside its Arrow files: not pools.
_DATASET_SIDE_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")
#: The webdataset column holding the sample's key, and the one holding its ``.txt`` member.
WDS_KEY, WDS_TEXT = "__key__", "txt"


@dataclass
class PoolFile:
    """One shard: a pool file, its format and the stable name its outputs carry."""

    path: str
    format: str
    name: str
    text_column: Any = None  # resolved by :func:`probe`: a name or a column number
    header: bool = False
    columns: list | None = None  # --column-names of a headerless tsv/csv
    fingerprint: dict | None = None  # :func:`metadata_builder.runtime.storage.fingerprint` at match time

    @property
    def identity(self) -> dict | None:
        """What the shard job checks of this file on a resume: its content fingerprint."""
        return self.fingerprint

    def to_dict(self) -> dict:
        """What the match manifest records of the file: resolved text column (and the column names
        given), content fingerprint."""
        out = {"name": self.name, "path": self.path, "format": self.format,
               "text_column": self.text_column, "header": self.header}
        if self.columns is not None:
            out["columns"] = list(self.columns)
        out["fingerprint"] = self.fingerprint
        return out

    @classmethod
    def from_dict(cls, shard: dict) -> "PoolFile":
        """The pool file a manifest's shard entry describes (no probing: its columns are resolved)."""
        return cls(path=shard["path"], format=shard["format"], name=shard["name"],
                   text_column=shard.get("text_column"), header=bool(shard.get("header", False)),
                   columns=shard.get("columns"), fingerprint=shard.get("fingerprint"))

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


def expand_pools(specs: list, fmt: str = "auto") -> list[PoolFile]:
    """Files, folders and globs -> sorted distinct pool files with stable shard names.

    Each may be a local path or an fsspec URL (``s3://bucket/pool/*.parquet``, ``gs://...``):
    remote files keep their URL, ``file://`` URLs become plain local paths. A folder stands for the
    pool files under it (by extension, unless ``--format`` says what they are). From Python, a
    Hugging Face ``datasets.Dataset`` stands for its Arrow files (:func:`dataset_files`).
    """
    ordered = storage.expand(as_paths(specs), keep=None if fmt != "auto" else _known,
                             what=f"pool file ({', '.join(sorted(_EXTENSIONS))})")
    return [PoolFile(path=p, format=detect_format(p) if fmt == "auto" else fmt, name=f"{i:05d}-{_stem(p)}")
            for i, p in enumerate(ordered)]


def as_paths(specs: list) -> list:
    """``specs`` with each Hugging Face ``datasets.Dataset`` replaced by its Arrow files."""
    paths = []
    for spec in specs:
        paths += dataset_files(spec) if _is_dataset(spec) else [spec]
    return paths


def _known(name: str) -> bool:
    if name in _DATASET_SIDE_FILES:
        return False
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


def probe(pool: PoolFile, text_column: str | None, id_column: str | None,
          column_names: list[str] | None = None, id_what: str = "id") -> PoolFile:
    """Check the file is of its format and its columns exist, before any work starts; resolve the
    text column and header. ``column_names``: names for the columns of a headerless tsv/csv
    (``--column-names``); ``id_what`` names the second column in messages (``lang`` for
    ``--lang-column``).
    """
    path = pool.path
    _sniff(pool)
    if column_names is not None and pool.format not in ("tsv", "csv"):
        raise UserError(f"{path}: --column-names names the columns of headerless tsv/csv files; "
                        f"this is a {pool.format} pool, whose columns have names already")
    if pool.format in ("parquet", "arrow"):
        names = _schema(pool).names
        pool.text_column = _pick(names, text_column, path)
        if id_column is not None:
            _pick(names, id_column, path, id_what)
    elif pool.format in ("tsv", "csv") and column_names is not None:
        first = _first_line(path)
        fields = _fields(first, pool.format)
        if len(fields) != len(column_names):
            raise UserError(f"{path}: --column-names gives {len(column_names)} names "
                            f"({','.join(column_names)}) but the first line has {len(fields)} fields; "
                            "give one name per column")
        pool.columns = list(column_names)
        pool.header = fields == list(column_names)  # a header equal to the names given is skipped
        wanted = text_column if text_column is not None and not text_column.isdigit() else None
        if text_column is not None and text_column.isdigit():
            wanted = column_names[int(text_column)] if int(text_column) < len(column_names) else text_column
        pool.text_column = _pick(list(column_names), wanted, path)
        if id_column is not None:
            _pick(list(column_names), id_column, path, id_what)
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
    elif pool.format == "webdataset":
        records = _wds_records(path, {})
        first = next(records, None)
        records.close()
        names = list(first) if first else [WDS_KEY, WDS_TEXT]
        if text_column is None and WDS_TEXT in names:
            pool.text_column = WDS_TEXT
        else:
            pool.text_column = _pick(names, text_column, path)
        if id_column is not None:
            _pick(names, id_column, path, id_what)
    elif pool.format == "txt":
        if id_column is not None:
            raise UserError(f"{path}: a plain text pool has no {id_what} column; drop --{id_what}-column")
    else:
        raise UserError(f"--format {pool.format!r}: unknown; choose one of {', '.join(FORMATS)}")
    return pool


def read_batches(pool: PoolFile, id_column: str | None = None, batch_size: int = 8192) -> Iterator[Batch]:
    """Yield the shard's rows in batches of ``batch_size`` (``probe`` it first)."""
    reader = {"parquet": _parquet, "jsonl": _jsonl, "tsv": _delimited, "csv": _delimited,
              "txt": _txt, "coco": _coco, "webdataset": _webdataset, "arrow": _arrow}[pool.format]
    try:
        yield from reader(pool, id_column, batch_size)
    except UserError:
        raise
    except (OSError, EOFError, ValueError, lzma.LZMAError, csv.Error, tarfile.TarError) as exc:
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

    columns = [pool.text_column] + ([id_column] if id_column else [])
    try:
        batches = storage.parquet_file(pool.path).iter_batches(batch_size=batch_size, columns=columns)
        yield from _arrow_batches(pool, batches, id_column)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{pool.path}: unreadable parquet ({type(exc).__name__}: {exc}); "
                        "check or remove the shard") from None


def _arrow_batches(pool: PoolFile, batches, id_column):
    """Batches of Arrow record batches (text column first, then the id column): nulls, empties
    and invalid UTF-8 counted (:func:`arrow_texts`); a column that holds no text is refused."""
    import pyarrow.compute as pc

    row = 0
    for rb in batches:
        counts = {"null": rb.column(0).null_count}
        text = arrow_texts(rb.column(0), counts, f"{pool.path}: column {pool.text_column!r}")
        empty = sum(1 for t in text if t == "") if isinstance(text, list) else \
            int(pc.sum(pc.equal(pc.binary_length(text), 0)).as_py() or 0)
        counts["empty"] = empty
        yield Batch(row, text, rb.column(1) if id_column else None, counts)
        row += len(rb)


# --- Arrow files (Hugging Face datasets) ----------------------------------------------------------

def _is_dataset(spec) -> bool:
    """A Hugging Face ``datasets`` object (checked by name: ``datasets`` need not be installed)."""
    return type(spec).__module__.split(".")[0] == "datasets"


def dataset_files(dataset) -> list[str]:
    """The Arrow files behind a Hugging Face ``datasets.Dataset``, to match it as a pool.

    A Dataset loaded with ``load_dataset``, ``Dataset.from_parquet`` or ``load_from_disk`` is backed
    by Arrow files in its cache or folder, in row order: matching them is matching the Dataset, and
    ``balance`` re-reads the curated rows from them. A Dataset held in memory, or one that is a
    selection of its files' rows (``select``, ``filter``, ``shuffle``), has no such files: save it
    first (``ds.save_to_disk(DIR)``, or ``ds.flatten_indices()`` for a selection).
    """
    kind = type(dataset).__name__
    if kind in ("DatasetDict", "IterableDatasetDict"):
        raise UserError(f"a {kind} holds several splits ({', '.join(dataset)}); pass one of them, e.g. ds['train']")
    if not hasattr(dataset, "cache_files") or kind.startswith("Iterable"):
        raise UserError(f"a {kind} streams its rows and has no Arrow files to match; load it as a Dataset "
                        "(streaming=False) or write it to parquet first")
    files = [f["filename"] for f in dataset.cache_files]
    if not files:
        raise UserError("this Dataset lives in memory (no Arrow file behind it); save it first "
                        "(ds.save_to_disk(DIR)) and match DIR, or match a parquet file of it")
    if getattr(dataset, "_indices", None) is not None or sum(arrow_rows(f) for f in files) != len(dataset):
        raise UserError(f"this Dataset is a selection of {len(dataset):,} rows of its Arrow files "
                        "(select, filter, shuffle, a split); call ds = ds.flatten_indices() first, "
                        "or ds.save_to_disk(DIR) and match DIR")
    return files


def _arrow_reader(path: str):
    """A reader of an Arrow IPC file (file or stream format) that yields record batches."""
    import pyarrow as pa

    source = pa.memory_map(path) if storage.is_local(path) else pa.BufferReader(storage.read_bytes(path))
    try:
        reader = pa.ipc.open_file(source)
        return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:
        source.seek(0)
        reader = pa.ipc.open_stream(source)
        return reader.schema, iter(reader)


def _schema(pool: PoolFile):
    """The Arrow schema of a parquet or Arrow pool file, or one line saying it is unreadable."""
    import pyarrow as pa

    try:
        if pool.format == "parquet":
            return storage.parquet_file(pool.path).schema_arrow
        return _arrow_reader(storage.canonical(pool.path))[0]
    except UserError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UserError(f"{pool.path}: not a readable {pool.format} file ({type(exc).__name__}: {exc}); "
                        "check or remove the shard") from None


def known_rows(pools: list[PoolFile]) -> int | None:
    """How many texts these pool files hold, when every one says so cheaply (parquet footers, Arrow
    batches); None as soon as one is a text file (known only by reading it through)."""
    total = 0
    for pool in pools:
        if pool.format == "parquet":
            total += storage.parquet_file(pool.path).metadata.num_rows
        elif pool.format == "arrow" and storage.is_local(storage.canonical(pool.path)):
            total += arrow_rows(pool.path)
        else:
            return None
    return total


def arrow_rows(path: str) -> int:
    """Rows of an Arrow IPC file (memory-mapped: the batches are not copied)."""
    return sum(batch.num_rows for batch in _arrow_reader(storage.canonical(path))[1])


def _rebatch(batches, size: int):
    """Record batches regrouped into ``size`` rows each (Arrow files come in small batches)."""
    import pyarrow as pa

    held, rows = [], 0
    for batch in batches:
        held.append(batch)
        rows += batch.num_rows
        if rows >= size:
            yield from pa.Table.from_batches(held).combine_chunks().to_batches(max_chunksize=size)
            held, rows = [], 0
    if held:
        yield from pa.Table.from_batches(held).combine_chunks().to_batches(max_chunksize=size)


def _arrow(pool: PoolFile, id_column, batch_size):
    import pyarrow as pa

    columns = [pool.text_column] + ([id_column] if id_column else [])
    try:
        schema, batches = _arrow_reader(storage.canonical(pool.path))
        selected = (batch.select(columns) for batch in batches)
        yield from _arrow_batches(pool, _rebatch(selected, batch_size), id_column)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{pool.path}: unreadable arrow ({type(exc).__name__}: {exc}); "
                        "check or remove the shard") from None


# --- webdataset tar shards ------------------------------------------------------------------------

def _wds_records(path: str, counts: dict) -> Iterator[dict]:
    """One record per webdataset sample, in tar order: ``__key__``, ``txt`` and the json's fields.

    A sample is the run of members whose names share the part before the first dot of their base
    name (webdataset's rule: ``dir/000123.seg.png`` belongs to ``dir/000123``). Only ``.txt`` and
    ``.json`` members are read; images are skipped as the tar streams past.
    """
    with _open_binary(path) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        key, record = None, None
        for member in tar:
            if not member.isfile():
                continue
            folder, base = posixpath.split(member.name)
            if base.startswith("."):
                continue
            stem, _, extension = base.partition(".")
            sample = posixpath.join(folder, stem)
            if sample != key:
                if record is not None:
                    yield record
                key, record = sample, {WDS_KEY: sample}
            extension = extension.lower()
            if extension == WDS_TEXT:
                record[WDS_TEXT] = _decode(tar.extractfile(member).read(), counts)
            elif extension == "json":
                try:
                    fields = json.loads(_decode(tar.extractfile(member).read(), counts))
                except ValueError:
                    fields = None
                if isinstance(fields, dict):
                    for name, value in fields.items():
                        record.setdefault(name, value)
                else:
                    counts["bad_rows"] = counts.get("bad_rows", 0) + 1
        if record is not None:
            yield record


def _webdataset(pool: PoolFile, id_column, batch_size):
    rows, ids, counts, first = [], [], {}, 0
    for record in _wds_records(pool.path, counts):
        text = record.get(pool.text_column)
        if not isinstance(text, str):
            if text is not None:
                counts["bad_rows"] = counts.get("bad_rows", 0) + 1
            text = None
        rows.append(text)
        if id_column is not None:
            value = record.get(id_column)
            ids.append(None if value is None else str(value))
        if len(rows) == batch_size:
            yield _emit(rows, ids if id_column else None, first, counts)
            first, rows, ids, counts = first + len(rows), [], [], {}
    if rows:
        yield _emit(rows, ids if id_column else None, first, counts)


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
    if pool.columns is not None:  # --column-names: the columns are known by these names
        col = pool.columns.index(pool.text_column)
        id_col = pool.columns.index(id_column) if id_column else None
    elif pool.header:
        col = header.index(pool.text_column)
        id_col = header.index(id_column) if id_column else None
    elif id_column is not None:
        id_col = int(id_column)
    rows, ids, counts, first = [], [], {}, 0
    for line in lines:
        text = _decode(line, counts)
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

    from .text_hash import text_hashes

    column = text_column_of_rows(pool)
    if column not in table.column_names:
        raise UserError(f"{pool.path}: no column {column!r} any more; the pool changed since the match, rerun it")
    found = text_hashes(arrow_texts(table[column], {}, f"{pool.path}: column {column!r}"))
    wrong = int((found != np.asarray(expected_hashes, dtype=np.uint64)).sum())
    if wrong:
        raise UserError(f"{pool.path}: {wrong:,} of {len(found):,} rows read back differ from the texts the match "
                        "saw (rows shuffled or rewritten since the match); rerun the match on the pool as it is now")


def read_rows(pool: PoolFile, rows, batch_size: int = 65_536, expected_rows: int | None = None,
              progress=None):
    """The pool's original rows ``rows`` (sorted) of one pool file, as a pyarrow table.

    Parquet and Arrow files are read by record batch with their own schema. Other formats are
    streamed with the row numbering of :func:`read_batches` (data rows, header excluded): jsonl keeps
    each object's keys, tsv/csv the header's names (or ``--column-names``; ``"0"``, ``"1"``...
    without either), txt a ``text`` column, COCO each annotation's keys followed by its image's
    (``file_name``, ``coco_url``, ...), webdataset ``__key__``, ``txt`` and the json's fields.
    ``expected_rows``: the file's row count as the match saw it (a parquet file with another count
    is refused). ``progress(n)``, when given, is called with the number of rows read so far.
    """
    import numpy as np
    import pyarrow as pa

    rows = np.asarray(rows, dtype=np.int64)
    path = storage.canonical(pool.path)
    if pool.format not in ("parquet", "arrow"):
        return _records_table(_text_pool_records(pool, rows, progress))
    try:
        if pool.format == "parquet":
            reader = storage.parquet_file(path)
            total, schema = reader.metadata.num_rows, reader.schema_arrow
            batches = reader.iter_batches(batch_size=batch_size)
        else:
            schema, batches = _arrow_reader(path)
            total = None
    except (OSError, pa.ArrowException, UserError) as exc:
        raise UserError(f"{path}: cannot read the pool file the match used ({exc})") from None
    if expected_rows is not None and total is not None and total != expected_rows:
        raise UserError(f"{path}: has {total} rows, the match saw {expected_rows}; "
                        "the pool changed since the match, rerun it")
    pieces, start = [], 0
    for batch in batches:
        lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
        if hi > lo:
            pieces.append(batch.take(pa.array(rows[lo:hi] - start)))
        start += batch.num_rows
        if progress is not None:
            progress(start)
        if hi == len(rows):  # every wanted row read: the rest of the file is not needed
            break
    if pieces:
        return pa.Table.from_batches(pieces)
    return schema.empty_table()


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


def _coco_records(path: str) -> Iterator[dict]:
    """Each annotation with its image's fields after its own (``file_name``, ``coco_url``,
    ``height``...; the image's ``id`` is the annotation's ``image_id``; a field both have is kept
    as the annotation's, the image's under ``image_NAME``)."""
    with _open_binary(path) as fh:
        doc = json.loads(_decode(fh.read(), {}))
    images = {}
    for image in doc.get("images") or []:
        if isinstance(image, dict) and "id" in image:
            images[image["id"]] = image
    for annotation in doc.get("annotations", []):
        if not isinstance(annotation, dict):
            yield {}
            continue
        record = dict(annotation)
        for name, value in images.get(annotation.get("image_id"), {}).items():
            if name != "id":
                record[name if name not in annotation else f"image_{name}"] = value
        yield record


def _text_pool_records(pool: PoolFile, rows, progress=None) -> list[dict]:
    """Records of the wanted rows of a jsonl / tsv / csv / txt / COCO / webdataset pool, streamed."""
    path, fmt = str(pool.path), pool.format
    wanted = iter(rows.tolist())
    target = next(wanted, None)
    records: list[dict] = []
    if target is None:
        return records

    def lines():
        if fmt == "coco":
            yield from _coco_records(path)
            return
        if fmt == "webdataset":
            yield from _wds_records(path, {})
            return
        source = _lines(path)
        header = None
        if fmt in ("tsv", "csv"):
            if pool.header:
                header = _fields(_decode(next(source), {}), fmt)
            header = pool.columns or header
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
        if progress is not None and not row % 65_536:
            progress(row)
        if row == target:
            records.append(record if isinstance(record, dict) else {})
            target = next(wanted, None)
            if target is None:
                break
    return records


def pool_columns(pool: PoolFile) -> list[str] | None:
    """The columns the curated rows of ``pool`` will have (as :func:`read_rows` names them), read
    from the file's schema, header or first record; None when they vary by row (jsonl)."""
    if pool.format in ("parquet", "arrow"):
        return list(_schema(pool).names)
    if pool.format in ("tsv", "csv"):
        if pool.columns is not None:
            return list(pool.columns)
        fields = next(csv.reader([_first_line(pool.path)], delimiter="\t" if pool.format == "tsv" else ","), [])
        return fields if pool.header else [str(i) for i in range(len(fields))]
    if pool.format == "txt":
        return ["text"]
    if pool.format == "coco":
        first = next(_coco_records(pool.path), None)
        return list(first) if first else None
    return None
