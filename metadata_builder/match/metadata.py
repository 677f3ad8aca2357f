"""The metadata a match reads: one ``metadata.json``, or a folder of per-language lists (Meta CLIP 2).

A per-language folder (``metadata_per_lang/``, what ``make worldwide-metadata`` writes) holds
``{code}.json`` files, each a JSON list of strings (MetaCLIP's format: an entry's id is its index),
with optional ``{code}.parquet`` provenance beside them (``summary.json`` is not a language). Codes
are Wikipedia codes. As in the
released ``align_lid_to_wiki.py``, a code with ``_`` is a variant folded into the part before it
(``zh_yue``, ``zh_classical`` -> ``zh``; ``be_tarask`` -> ``be``): a language's list is its own
file's entries, then each variant's entries not already present, variants in code order (the
release takes ``list(set(...))``, whose order, hence every id, changes with the interpreter's hash
seed). A file ``other.json``, if present, is the list of the group :data:`~.languages.OTHER`.
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


def load_metadata(path: str | os.PathLike) -> list[str]:
    """The metadata: a JSON list of strings (an entry's id is its index)."""
    path = storage.canonical(path)
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


def parquet_beside(json_path: str) -> str:
    return json_path[: -len(".json")] + ".parquet"


__all__ = ["OTHER", "is_folder", "language_files", "load_language", "load_metadata", "parquet_beside", "sha256_file"]
