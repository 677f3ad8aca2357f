"""Every file the toolkit reads or writes goes through here: local paths, ``file://``, ``s3://``, ``gs://``, ...

Every function takes a local path or an fsspec URL, so the same command runs on a laptop and on a
Ray cluster whose nodes read their shards from a bucket or a shared file system. Remote protocols
need fsspec's driver installed on every node (``pip install s3fs`` for ``s3://``, ``gcsfs`` for
``gs://``); credentials come from the usual places of those libraries (environment, config files).

Writes are atomic where the storage allows it and safe everywhere: the data goes to a hidden
temporary name beside the target (``.NAME.*.tmp``) and is moved onto it only once complete
(``os.replace`` locally, ``fs.mv`` elsewhere; on object stores a move is a copy and a delete, but an
object only ever appears whole). A temporary left by a killed process is removed by the next run
(:func:`remove_temporaries`). What marks a shard or a whole job finished is :mod:`.shards`'s business.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import posixpath
import shutil
import tempfile
import uuid
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

from ..errors import UserError

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


_DECOMPRESSORS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


def open_input(path: str | os.PathLike, *, decompress: bool = False):
    """A binary file object to read ``path``: a local file as it is (seekable; byte ranges cost
    nothing), a URL through fsspec (read by range). With ``decompress``, ``.gz``/``.bz2``/``.xz``
    files are decompressed on the fly. A missing or unreadable file is one line naming it."""
    import importlib

    path = canonical(path)
    suffix = os.path.splitext(path)[1].lower()
    if not is_local(path):
        return open_file(path, "rb", **({"compression": "infer"} if decompress else {}))
    try:
        if decompress and suffix in _DECOMPRESSORS:
            return importlib.import_module(_DECOMPRESSORS[suffix]).open(path, "rb")
        return open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot open ({exc.strerror or exc}); check the file") from None


def size(path: str | os.PathLike) -> int:
    """The size of a file in bytes (local or remote)."""
    path = canonical(path)
    if is_local(path):
        try:
            return os.path.getsize(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc.strerror or exc}); check the path") from None
    fs, inner = filesystem(path)
    return int(fs.size(inner))


def glob(pattern: str | os.PathLike) -> list[str]:
    """The paths matching ``pattern``, sorted, each with the pattern's protocol (usable as input)."""
    pattern = os.fspath(pattern)
    fs, inner = filesystem(pattern)
    found = sorted(fs.glob(inner))
    if is_local(pattern) and not pattern.startswith("file://"):
        return found
    return [fs.unstrip_protocol(p) for p in found]


def expand(specs, *, keep=None, what: str = "input file") -> list[str]:
    """Files, folders and globs -> the sorted distinct files they name.

    A folder stands for every file under it (recursively) whose name ``keep(name)`` accepts, hidden
    ones (``.name``) and bookkeeping folders (``_name``) skipped; a glob for the files it matches.
    Local files come back as absolute plain paths, remote ones as URLs. ``what`` names the files
    in the one-line errors (``"pool file (.parquet, .jsonl, ...)"``).
    """
    import glob as globbing

    found: set[str] = set()
    for spec in specs:
        spec = canonical(spec)
        pattern = any(ch in spec for ch in "*?[")
        if not is_local(spec):
            fs, inner = filesystem(spec)
            if pattern:
                files = [f for f in fs.glob(inner) if fs.isfile(f)]
            elif fs.isdir(inner):
                files = [f for f in fs.find(inner) if not _hidden(f[len(inner):])
                         and (keep is None or keep(posixpath.basename(f)))]
                if not files:
                    raise UserError(f"{spec}: folder holds no {what}")
            elif fs.isfile(inner):
                files = [inner]
            else:
                raise UserError(f"{spec}: no such file or folder; check the path")
            if pattern and not files:
                raise UserError(f"{spec}: the pattern matches no file; check the path")
            found.update(fs.unstrip_protocol(f) for f in files)
            continue
        if pattern:
            files = [f for f in globbing.glob(spec, recursive=True) if os.path.isfile(f)]
            if not files:
                raise UserError(f"{spec}: the pattern matches no file; check the path")
        elif os.path.isdir(spec):
            files = [os.path.join(root, f) for root, dirs, names in os.walk(spec) for f in names
                     if not _hidden(os.path.relpath(os.path.join(root, f), spec))
                     and (keep is None or keep(f))]
            if not files:
                raise UserError(f"{spec}: folder holds no {what}")
        elif os.path.isfile(spec):
            files = [spec]
        else:
            raise UserError(f"{spec}: no such file or folder; check the path")
        found.update(os.path.abspath(f) for f in files)
    return sorted(found)


def _hidden(relative: str) -> bool:
    """A path inside a folder that expansion skips: a hidden part, or a ``_bookkeeping`` folder."""
    parts = [p for p in relative.replace(os.sep, "/").split("/") if p]
    return any(p.startswith(".") for p in parts) or any(p.startswith("_") for p in parts[:-1])


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


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: a file path that is a folder
    (or a folder path that is a file), or a location whose folder cannot be created or written."""
    path = canonical(path)
    if not is_local(path):
        filesystem(path)  # a missing driver is one line now, not after the work
        return
    target = Path(path)
    if not folder and target.is_dir():
        raise UserError(f"cannot write {target}: it is a folder; give a file name (e.g. {target / 'out.parquet'})")
    if folder and target.exists() and not target.is_dir():
        raise UserError(f"cannot write into {target}: it is a file; give a folder")
    parent = target if folder else target.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {target}: {existing} is not a writable folder; choose a writable output location")


def check_outside(out: str | os.PathLike, inputs, what: str = "input") -> None:
    """Refuse an output folder inside (or equal to) a folder that is read as input: a rerun would
    read the run's own outputs as input."""
    out = canonical(out)
    for spec in inputs:
        spec = canonical(spec)
        base = spec
        for i, ch in enumerate(spec):  # a glob reads below the folder before its first wildcard
            if ch in "*?[":
                base = spec[:i].rsplit("/", 1)[0] or "/"
                break
        if is_local(out) and is_local(base):
            out_path, folder = Path(out).resolve(), Path(base).resolve()
            inside = folder.is_dir() and (out_path == folder or folder in out_path.parents)
        else:
            inside = out.rstrip("/") == base.rstrip("/") or out.startswith(base.rstrip("/") + "/")
        if inside:
            raise UserError(f"--out {out} is inside the {what} folder {spec}: its outputs would be read as "
                            f"{what} on the next run; choose an --out outside it")


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    import glob as globbing

    return globbing.escape(name)


def _unwritable(path, exc: OSError) -> UserError:
    return UserError(f"cannot write {path}: {exc.strerror or exc}; choose a writable output location")


@contextlib.contextmanager
def _local_atomic_path(path: str | os.PathLike):
    """A temporary path beside local ``path``, moved onto it only on success (``os.replace``)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder; give a file name (e.g. {path / 'out.parquet'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):  # left by a killed earlier write
            with contextlib.suppress(OSError):
                stale.unlink()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Yield a file object; its content appears at ``path`` only if the block finishes.

    Local paths are written beside ``path`` and moved onto it (``os.replace``); other file systems
    write a hidden temporary name beside ``path`` and move it on success, removing it on failure.
    """
    if is_local(path):
        with _local_atomic_path(local_path(path)) as tmp, open(tmp, mode) as handle:
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
    ``COPY``); for a URL the finished file is uploaded under a temporary name, then moved onto ``path``.
    """
    if is_local(path):
        with _local_atomic_path(local_path(path)) as tmp:
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


def local_copies(paths: list, scratch: str | os.PathLike) -> list[str]:
    """Local paths holding ``paths``' contents: each local one itself, each remote one downloaded
    into ``scratch`` (the caller's temporary folder). For readers that need real files (DuckDB)."""
    local = []
    for i, path in enumerate(paths):
        if is_local(path):
            local.append(canonical(path))
        else:
            local.append(os.path.join(scratch, f"part-{i:06d}{posixpath.splitext(os.fspath(path))[1]}"))
            fs, inner = filesystem(path)
            fs.get_file(inner, local[-1])
    return local


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


#: The parquet key-value metadata key under which an output records what it was made from.
PROVENANCE_KEY = b"metadata_builder"


def write_parquet(df, path: str | os.PathLike, provenance: dict | None = None) -> None:
    """A DataFrame as parquet (no pandas index), atomically, anywhere fsspec writes.

    ``provenance``: what the table was made from, kept in the file's own metadata
    (:func:`read_provenance`), so a rerun can tell an up-to-date output from a stale one.
    """
    buffer = io.BytesIO()
    if provenance is None:
        df.to_parquet(buffer, index=False)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = {**(table.schema.metadata or {}), PROVENANCE_KEY: json.dumps(provenance, sort_keys=True).encode()}
        pq.write_table(table.replace_schema_metadata(meta), buffer)
    write_bytes(path, buffer.getvalue())


def read_provenance(path: str | os.PathLike) -> dict | None:
    """What a parquet output written with ``provenance`` was made from (None: unknown or no file)."""
    try:
        if not is_file(path):
            return None
        meta = parquet_file(path).schema_arrow.metadata or {}
        return json.loads(meta[PROVENANCE_KEY]) if PROVENANCE_KEY in meta else None
    except Exception:  # noqa: BLE001 - an unreadable file is simply not up to date
        return None


def read_parquet(path: str | os.PathLike, **kwargs):
    import pandas as pd

    with open_file(path, "rb") as handle:
        return pd.read_parquet(handle, **kwargs)


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
    with atomic_local_path(path) as tmp:
        shutil.copyfile(local, tmp)


def remove_tree(path: str | os.PathLike) -> None:
    """Delete a folder (or key prefix) and everything under it; nothing when it does not exist."""
    fs, inner = filesystem(canonical(path))
    _fresh(fs, inner)
    if fs.exists(inner):
        fs.rm(inner, recursive=True)


def remove(path: str | os.PathLike) -> None:
    """Delete one file; nothing when it does not exist."""
    path = canonical(path)
    if is_local(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    fs, inner = filesystem(path)
    _fresh(fs, inner)
    if fs.exists(inner):
        fs.rm(inner)


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def remove_temporaries(folder: str | os.PathLike) -> int:
    """Remove the hidden ``.NAME.*.tmp`` files and folders a killed run left anywhere under ``folder``."""
    folder = canonical(folder)
    removed = 0
    if is_local(folder):
        for root, dirs, files in os.walk(folder):
            for name in [d for d in dirs if _is_temporary(d)]:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
                dirs.remove(name)
                removed += 1
            for name in files:
                if _is_temporary(name):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(root, name))
                    removed += 1
        return removed
    fs, inner = filesystem(folder)
    _fresh(fs, inner)
    if not fs.exists(inner):
        return 0
    for path in fs.find(inner):
        if any(_is_temporary(part) for part in path[len(inner):].split("/")):
            with contextlib.suppress(FileNotFoundError, OSError):
                fs.rm(path)
            removed += 1
    return removed


def write_npy(path: str | os.PathLike, array) -> None:
    """One numpy array as ``.npy``, atomically, anywhere fsspec writes."""
    import numpy as np

    with atomic_local_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array)


def fingerprints(paths: list) -> list[dict]:
    """:func:`fingerprint` of many files, several at a time (object stores answer slowly, not busily)."""
    from concurrent.futures import ThreadPoolExecutor

    if len(paths) < 8:
        return [fingerprint(p) for p in paths]
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(fingerprint, paths))


#: Bytes hashed at each end of a file by :func:`fingerprint`.
FINGERPRINT_BLOCK = 1 << 16


def fingerprint(path: str | os.PathLike) -> dict:
    """What identifies a file's content cheaply: size, modification time and a hash of its first and
    last 64 KiB (a parquet file's footer, with its row-group statistics, is in the last block).

    Reading two blocks costs the same for a 1 KB and a 100 GB file; a file rewritten with other
    content almost always changes one of the three.
    """
    path = canonical(path)
    digest = hashlib.blake2b(digest_size=16)
    if is_local(path):
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                digest.update(f.read(FINGERPRINT_BLOCK))
                if st.st_size > FINGERPRINT_BLOCK:
                    f.seek(max(FINGERPRINT_BLOCK, st.st_size - FINGERPRINT_BLOCK))
                    digest.update(f.read(FINGERPRINT_BLOCK))
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc.strerror or exc}); check the path") from None
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blake2b": digest.hexdigest()}
    fs, inner = filesystem(path)
    _fresh(fs, inner)
    info = fs.info(inner)
    size = int(info["size"])
    with fs.open(inner, "rb") as f:
        digest.update(f.read(FINGERPRINT_BLOCK))
        if size > FINGERPRINT_BLOCK:
            f.seek(max(FINGERPRINT_BLOCK, size - FINGERPRINT_BLOCK))
            digest.update(f.read(FINGERPRINT_BLOCK))
    version = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
    return {"size": size, "version": str(version), "blake2b": digest.hexdigest()}
