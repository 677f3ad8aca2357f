"""The metadata as ``match``, ``report`` and :class:`~.matcher.Matcher` read it: one list, or a folder
of per-language lists (Meta CLIP 2).

One list is ``metadata.json`` (a JSON list of strings, MetaCLIP's released format: an entry's id is its
index) or ``metadata.parquet`` (what ``assemble`` writes beside it: ``id``, ``entry``, ``source``,
``score_name``, ``score``). Either file gives the same entries; only the parquet knows each entry's
source. Given the JSON, the parquet beside it (same stem) is used for the sources when it exists and
holds the same entries.

A per-language folder (``metadata_per_lang/``, what ``make worldwide-metadata`` writes) holds
``{code}.json`` files with optional ``{code}.parquet`` provenance beside them (``summary.json`` is
not a language). Codes are Wikipedia codes. As in the released ``align_lid_to_wiki.py``, a code with
``_`` is a variant folded into the part before it (``zh_yue``, ``zh_classical`` -> ``zh``;
``be_tarask`` -> ``be``): a language's list is its own file's entries, then each variant's entries not
already present, variants in code order (the release takes ``list(set(...))``, whose order, hence
every id, changes with the interpreter's hash seed). A file ``other.json``, if present, is the list of
the group :data:`~.languages.OTHER`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import UserError
from ..runtime import storage
from .languages import OTHER, fold


#: JSON files of a per-language folder that are no language's list (``assemble-worldwide``'s summary).
NOT_LANGUAGES = frozenset({"summary"})


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(".parquet")


def _table(path: str):
    """``metadata.parquet`` in id order, its ids checked to be 0..N-1."""
    import numpy as np

    try:
        table = storage.read_parquet(path)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors on a damaged or foreign file
        raise UserError(f"{path}: not a readable metadata table ({type(exc).__name__}: {exc}); give the "
                        "metadata.parquet (or metadata.json) written by 'metadata-builder assemble'") from None
    if "entry" not in table.columns:
        raise UserError(f"{path}: no column 'entry' (columns: {', '.join(map(str, table.columns[:10]))}); give the "
                        "metadata.parquet written by 'metadata-builder assemble' (id, entry, source, ...)")
    if "id" in table.columns:
        table = table.sort_values("id", kind="stable").reset_index(drop=True)
        if not np.array_equal(table["id"].to_numpy(), np.arange(len(table))):
            raise UserError(f"{path}: its ids are not 0..N-1; give the metadata.parquet written by 'metadata-builder assemble'")
    bad = table["entry"].map(lambda e: not isinstance(e, str))
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise UserError(f"{path}: entry {i} is {table['entry'].iloc[i]!r}, not a string")
    return table


def load_metadata(path: str | os.PathLike) -> list[str]:
    """The metadata's entries (id = index), from ``metadata.json`` or ``metadata.parquet``."""
    path = storage.canonical(path)
    if _is_parquet(path):
        if not storage.is_file(path):
            raise UserError(f"{path}: no such metadata table; give the metadata.parquet (or metadata.json) "
                            "written by 'metadata-builder assemble'")
        return _table(path)["entry"].tolist()
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8") if storage.is_local(path)
                             else storage.read_text(path))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the metadata ({exc.strerror or exc})") from None
    except ValueError as exc:  # JSON or UTF-8 error
        raise UserError(f"{path}: not valid JSON ({exc}); the metadata must be a JSON list of strings") from None
    if not isinstance(entries, list):
        raise UserError(f"{path}: the metadata is a JSON {type(entries).__name__}, not a list of strings")
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise UserError(f"{path}: entry {i} is {json.dumps(entry)[:40]} ({type(entry).__name__}), "
                            "not a string; the metadata must be a JSON list of strings")
    return entries


def parquet_beside(path: str | os.PathLike) -> str:
    """``metadata.parquet`` for ``metadata.json`` (the file ``assemble`` writes beside it)."""
    path = storage.canonical(path)
    return path[: -len(".json")] + ".parquet" if path.lower().endswith(".json") else path


def load_metadata_table(path: str | os.PathLike, entries: list[str] | None = None):
    """The metadata as a DataFrame (``id``, ``entry``, ``source``, ...) or None when only a JSON list
    is there (no sources known).

    Given ``metadata.json``, its parquet beside it is read when it exists and holds exactly the
    same entries (``entries``, else the JSON's own): a parquet from another build is not used.
    """
    path = storage.canonical(path)
    table_path = parquet_beside(path)
    if not _is_parquet(table_path) or not storage.is_file(table_path):
        if _is_parquet(path):
            raise UserError(f"{path}: no such metadata table; give the metadata.parquet (or metadata.json) "
                            "written by 'metadata-builder assemble'")
        return None
    table = _table(table_path)
    if table_path != path:
        entries = entries if entries is not None else load_metadata(path)
        if table["entry"].tolist() != list(entries):
            return None
    return table


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with storage.open_file(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_folder(path: str | os.PathLike) -> bool:
    """Whether ``--metadata`` names a per-language folder rather than one JSON list."""
    path = storage.canonical(path)
    if storage.is_local(path):
        return os.path.isdir(path)
    return not storage.is_file(path) and bool(storage.listdir(path))


def language_files(folder: str | os.PathLike) -> dict[str, list[str]]:
    """``{language: [its files]}`` of a per-language folder: each language's own ``{code}.json``
    first, then its variants' files in code order."""
    folder = storage.canonical(folder)
    names = [n for n in storage.listdir(folder) if n.endswith(".json") and not n.startswith((".", "_"))
             and n[: -len(".json")] not in NOT_LANGUAGES]
    if not names:
        raise UserError(f"{folder}: no {{lang}}.json metadata lists in it; give the metadata_per_lang folder "
                        "that 'make worldwide-metadata' writes, or one metadata.json")
    groups: dict[str, list[str]] = {}
    for name in sorted(names, key=lambda n: ("_" in n[:-5], n)):  # own files before variants
        code = name[: -len(".json")]
        groups.setdefault(fold(code), []).append(str(storage.under(folder, name)))
    return dict(sorted(groups.items()))


def load_language(paths: list[str]) -> list[str]:
    """One language's list: its own file's entries, then each variant's new ones (first one wins)."""
    if len(paths) == 1:
        return load_metadata(paths[0])
    merged = dict.fromkeys(load_metadata(paths[0]))
    for path in paths[1:]:
        merged.update(dict.fromkeys(e for e in load_metadata(path) if e not in merged))
    return list(merged)


__all__ = ["OTHER", "is_folder", "language_files", "load_language", "load_metadata", "load_metadata_table",
           "parquet_beside", "sha256_file"]
