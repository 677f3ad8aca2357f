"""Paths that may live on shared or object storage: local, ``file://``, ``s3://``, ``gs://``, ...

Every function takes a local path or an fsspec URL, so the same command runs on a laptop and on a
Ray cluster whose nodes read their shards from a bucket or a shared file system. Remote protocols
need fsspec's driver installed on every node (``pip install s3fs`` for ``s3://``, ``gcsfs`` for
``gs://``); credentials come from the usual places of those libraries (environment, config files).

Writes are atomic where the storage allows it and safe everywhere: the data goes to a temporary name
beside the target and is moved onto it only once complete (``os.replace`` locally, ``fs.mv``
elsewhere; on object stores a move is a copy and a delete, but an object only ever appears whole).
A shard's completion marker (``NAME.done.json`` beside ``NAME.parquet``) is written last, so a
shard counts as finished only when its marker exists: a job killed at any point (a lost node, a
killed driver) resumes by redoing exactly the shards without a marker.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import tempfile
import uuid
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

from . import atomic
from .errors import UserError

#: The suffix of a shard's completion marker: ``shards/NAME.parquet`` -> ``shards/NAME.done.json``.
MARKER_SUFFIX = ".done.json"


def filesystem(path: str | os.PathLike):
    """``(fs, path_inside_fs)`` for a local path or URL; a missing driver is a :class:`UserError`."""
    path = os.fspath(path)
    try:
        return url_to_fs(path)
    except (ImportError, ValueError) as exc:
        protocol = path.split("://", 1)[0]
        raise UserError(f"{path}: cannot open {protocol}:// paths ({exc}); install fsspec's driver for it "
                        "(s3fs for s3://, gcsfs for gs://) on every machine of the job") from None


def is_local(path: str | os.PathLike) -> bool:
    """True for plain paths and ``file://`` URLs (the files can be handed to any library)."""
    path = os.fspath(path)
    return "://" not in path or path.startswith("file://")


def local_path(path: str | os.PathLike) -> str:
    """The plain local path of ``path`` (``file://`` stripped); a remote URL is a :class:`UserError`."""
    path = os.fspath(path)
    if not is_local(path):
        raise UserError(f"{path}: this step needs a local or shared-file-system path, not object storage; "
                        "copy the file to a local or mounted folder")
    return path[len("file://"):] if path.startswith("file://") else path


def join(base: str | os.PathLike, *parts: str) -> str:
    """``base/part/...`` keeping a URL's protocol (``s3://b/x`` + ``y`` -> ``s3://b/x/y``)."""
    base = os.fspath(base)
    if is_local(base) and not base.startswith("file://"):
        return os.path.join(base, *parts)
    return posixpath.join(base, *parts)


def _fresh(fs, inner: str) -> None:
    """Forget what this process cached about ``inner`` (s3fs/gcsfs keep listings): other processes,
    the workers, write markers and shards behind this one's back, and markers are the truth."""
    with contextlib.suppress(Exception):
        fs.invalidate_cache(inner)


def exists(path: str | os.PathLike) -> bool:
    fs, inner = filesystem(path)
    _fresh(fs, inner)
    return fs.exists(inner)


def makedirs(path: str | os.PathLike) -> None:
    """Create a folder (a no-op on object stores, where folders are only key prefixes)."""
    fs, inner = filesystem(path)
    try:
        fs.makedirs(inner, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {os.fspath(path)}: {exc}; choose a writable output location") from None


def open_file(path: str | os.PathLike, mode: str = "rb", **kwargs):
    """Open for reading (or plain writing) like :func:`open`; use as a context manager.

    ``compression="infer"`` decompresses ``.bz2``/``.xz``/``.gz`` on the fly.
    """
    try:
        return fsspec.open(os.fspath(path), mode, **kwargs).open()
    except FileNotFoundError:
        raise UserError(f"{os.fspath(path)}: no such file; check the path") from None
    except (ImportError, ValueError) as exc:
        filesystem(path)  # raises the install hint for a missing driver
        raise UserError(f"{os.fspath(path)}: cannot open: {exc}") from None


def glob(pattern: str | os.PathLike) -> list[str]:
    """The paths matching ``pattern``, sorted, each with the pattern's protocol (usable as input)."""
    pattern = os.fspath(pattern)
    fs, inner = filesystem(pattern)
    found = sorted(fs.glob(inner))
    if is_local(pattern) and not pattern.startswith("file://"):
        return found
    return [fs.unstrip_protocol(p) for p in found]


def listdir(folder: str | os.PathLike) -> list[str]:
    """The names (not paths) in ``folder``, sorted; empty when the folder does not exist."""
    fs, inner = filesystem(folder)
    _fresh(fs, inner)
    if not fs.exists(inner):
        return []
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(inner, detail=False))


@contextlib.contextmanager
def _remote_temp(fs, inner: str):
    """A hidden temporary name beside ``inner`` on ``fs``; removed afterwards if still there."""
    parent, name = posixpath.split(inner)
    tmp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError, OSError):
            if fs.exists(tmp):
                fs.rm(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Yield a file object; its content appears at ``path`` only if the block finishes.

    Local paths use :func:`metadata_builder.atomic.atomic_path` (``os.replace``); other file systems
    write a hidden temporary name beside ``path`` and move it on success, removing it on failure.
    """
    if is_local(path):
        with atomic.atomic_path(local_path(path)) as tmp, open(tmp, mode) as handle:
            yield handle
        return
    fs, inner = filesystem(path)
    with _remote_temp(fs, inner) as tmp:
        with fs.open(tmp, mode) as handle:
            yield handle
        fs.mv(tmp, inner)


@contextlib.contextmanager
def atomic_local_path(path: str | os.PathLike):
    """Yield a local temporary file path; on success it becomes ``path`` (local or remote).

    For libraries that write to a file name (pyarrow's ``ParquetWriter``, ``np.save``, DuckDB's
    ``COPY``): a drop-in for :func:`metadata_builder.atomic.atomic_path` that also accepts URLs
    (the finished file is uploaded under a temporary name, then moved onto ``path``).
    """
    if is_local(path):
        with atomic.atomic_path(local_path(path)) as tmp:
            yield tmp
        return
    fs, inner = filesystem(path)
    with tempfile.TemporaryDirectory(prefix="metadata-builder-") as folder:
        tmp = Path(folder) / posixpath.basename(inner)
        yield tmp
        with _remote_temp(fs, inner) as remote_tmp:
            fs.put_file(str(tmp), remote_tmp)
            fs.mv(remote_tmp, inner)


@contextlib.contextmanager
def local_copy(path: str | os.PathLike):
    """Yield a local path holding ``path``'s content: itself when local, else a downloaded copy
    (removed afterwards). For readers that need a real file (DuckDB, memory-mapped numpy)."""
    if is_local(path):
        yield Path(local_path(path))
        return
    fs, inner = filesystem(path)
    if not fs.exists(inner):
        raise UserError(f"{os.fspath(path)}: no such file; check the path")
    with tempfile.TemporaryDirectory(prefix="metadata-builder-") as folder:
        tmp = Path(folder) / posixpath.basename(inner)
        fs.get_file(inner, str(tmp))
        yield tmp


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj, **dumps_kwargs) -> None:
    write_text(path, json.dumps(obj, **{"indent": 1, "sort_keys": True, **dumps_kwargs}) + "\n")


def read_text(path: str | os.PathLike) -> str:
    with open_file(path, "rb") as handle:
        return handle.read().decode("utf-8")


def read_json(path: str | os.PathLike):
    return json.loads(read_text(path))


def write_parquet(df, path: str | os.PathLike) -> None:
    """A DataFrame as parquet (no pandas index), atomically, anywhere fsspec writes."""
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    write_bytes(path, buffer.getvalue())


def read_parquet(path: str | os.PathLike, **kwargs):
    import pandas as pd

    with open_file(path, "rb") as handle:
        return pd.read_parquet(handle, **kwargs)


# --- completion markers ---------------------------------------------------------------------------

def marker_path(output: str | os.PathLike) -> str:
    """The completion marker of a shard output: ``dir/NAME.parquet`` -> ``dir/NAME.done.json``."""
    output = os.fspath(output)
    head, name = (output.rsplit("/", 1) if "/" in output else ("", output))
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name  # drop the last extension only
    return f"{head}/{stem}{MARKER_SUFFIX}" if head else f"{stem}{MARKER_SUFFIX}"


def write_marker(output: str | os.PathLike, stats: dict | None = None) -> None:
    """Declare ``output`` complete (call it after ``output`` is written): its marker holds ``stats``."""
    write_json(marker_path(output), stats or {})


def read_marker(output: str | os.PathLike) -> dict | None:
    """The stats of a completed shard output, or ``None`` when it has no marker (not finished)."""
    marker = marker_path(output)
    if not exists(marker):
        return None
    return read_json(marker)


def is_done(output: str | os.PathLike) -> bool:
    """Whether ``output`` was completed by an earlier run (its marker exists)."""
    return exists(marker_path(output))



# --- one code path for local folders and URLs ---------------------------------------------------

def canonical(path: str | os.PathLike) -> str:
    """``path`` as the commands keep it: a ``file://`` URL becomes its plain local path (so it takes
    the local fast path and its outputs are byte-identical to a plain path's); other URLs are kept."""
    path = os.fspath(path)
    return local_path(path) if is_local(path) else path


def under(base: str | os.PathLike, *parts: str):
    """``base/part/...``: a :class:`~pathlib.Path` for a local ``base`` (as before), a URL string otherwise."""
    base = canonical(base)
    if is_local(base):
        return Path(base).joinpath(*parts)
    return posixpath.join(base.rstrip("/"), *parts)


def is_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an existing file (local or remote)."""
    path = canonical(path)
    if is_local(path):
        return os.path.isfile(path)
    fs, inner = filesystem(path)
    _fresh(fs, inner)
    return fs.isfile(inner)


def parquet_file(path: str | os.PathLike):
    """A :class:`pyarrow.parquet.ParquetFile` of a local path or URL (remote: read by range through
    an fsspec file object, only the footer and the column chunks asked for are fetched)."""
    import pyarrow.parquet as pq

    path = canonical(path)
    if is_local(path):
        return pq.ParquetFile(path)
    return pq.ParquetFile(open_file(path, "rb"))


def read_table(path: str | os.PathLike, columns=None):
    """A parquet file as a pyarrow table (local or remote)."""
    import pyarrow.parquet as pq

    path = canonical(path)
    if is_local(path):
        return pq.read_table(path, columns=columns)
    with open_file(path, "rb") as handle:
        return pq.read_table(handle, columns=columns)


def load_numpy(path: str | os.PathLike):
    """``np.load`` of a local path or URL (``.npy`` array or ``.npz`` archive, read whole)."""
    import numpy as np

    path = canonical(path)
    if is_local(path):
        return np.load(path)
    return np.load(io.BytesIO(read_bytes(path)))


def read_bytes(path: str | os.PathLike) -> bytes:
    with open_file(path, "rb") as handle:
        return handle.read()


def upload(local: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copy the local file ``local`` to ``path`` (local or URL), atomically like every write here."""
    import shutil

    with atomic_local_path(path) as tmp:
        shutil.copyfile(local, tmp)


def remove_tree(path: str | os.PathLike) -> None:
    """Delete a folder (or key prefix) and everything under it; nothing when it does not exist."""
    fs, inner = filesystem(canonical(path))
    _fresh(fs, inner)
    if fs.exists(inner):
        fs.rm(inner, recursive=True)
