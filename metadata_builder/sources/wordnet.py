"""WordNet source: one metadata name per synset (MetaCLIP Table 1, row "WordNet synsets").

The published recipe (``docs/recipe.md`` §1) takes every synset of WordNet 3.0, all parts of
speech, and keeps its *name* cut at the first dot with ``_`` read as a space. That rule has quirks we
reproduce on purpose: ``st._andrew's_cross.n.01`` gives ``st`` and ``.22_caliber.a.01`` gives the
empty string. The ``full-name`` rule cuts at the last two dots instead (``st. andrew's cross``), a
documented improvement that is never the default.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .. import paths
from ..errors import UserError
from .wordnet_files import HOW_TO_GET_WORDNET, WORDNET_FILES, authorize, copy_wordnet_dict, find_nltk_wordnet

NAME_RULES = ("metaclip-v1", "full-name")


def synset_entry(synset_name: str, rule: str = "metaclip-v1") -> str:
    """The metadata entry of one synset name such as ``'hot_dog.n.01'``.

    >>> synset_entry("st._andrew's_cross.n.01")
    'st'
    >>> synset_entry("st._andrew's_cross.n.01", rule="full-name")
    "st. andrew's cross"
    """
    if rule == "metaclip-v1":
        lemma = synset_name.split(".", 1)[0]
    elif rule == "full-name":
        lemma = synset_name.rsplit(".", 2)[0]
    else:
        raise UserError(f"unknown name rule {rule!r}; choose one of {', '.join(NAME_RULES)}")
    return lemma.replace("_", " ")


def _check_dict_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise UserError(f"--wordnet-dir {folder} does not exist; {HOW_TO_GET_WORDNET}")
    missing = [name for name in WORDNET_FILES[:8] if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"{folder} is not a WordNet dict folder (missing {', '.join(missing)}); "
            "point --wordnet-dir at the folder holding data.noun, index.noun, ..."
        )


def load_wordnet(wordnet_dir: str | os.PathLike | None = None):
    """An nltk ``WordNetCorpusReader``.

    ``wordnet_dir`` (a WordNet 3.0 or 3.1 dict folder) wins when given; otherwise nltk's installed
    corpus is used (including the copy ``make setup`` puts in the project cache).
    """
    root = load_wordnet_root(wordnet_dir)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The multilingual functions")
            return _reader_class()(root, None)
    except (OSError, ValueError, LookupError) as exc:
        raise UserError(f"cannot read WordNet at {root}: {exc}; {HOW_TO_GET_WORDNET}") from None


def load_wordnet_root(wordnet_dir=None):
    """The WordNet folder nltk will read (a path, or nltk's pointer into a zip), authorised for nltk.

    ``wordnet_dir`` (a WordNet 3.0 or 3.1 dict folder) wins when given; otherwise nltk's installed
    corpus is used (including the copy ``make setup`` puts in the project cache).
    """
    if wordnet_dir is not None:
        folder = Path(wordnet_dir)
        _check_dict_folder(folder)
        if not (folder / "lexnames").is_file() or not all((folder / f"{p}.exc").is_file() for p in ("noun", "verb", "adj", "adv")):
            # nltk needs lexnames and the .exc files; make a conforming copy in the cache.
            folder = copy_wordnet_dict(folder, paths.CACHE_DIR / "wordnet-dirs" / _folder_key(folder), create_missing_exc=True)
        root = str(folder)
    else:
        root = find_nltk_wordnet()
        if root is None:
            raise UserError(f"WordNet not found; {HOW_TO_GET_WORDNET}")
    authorize(root)
    return root


def _reader_class():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class MonolingualWordNetReader(WordNetCorpusReader):
        """nltk's reader without the WordNet-3.0 sense mapping it builds for multilingual data.

        That mapping reloads a second copy of WordNet from ``nltk.data.path`` (and fails on a lone
        3.1 folder); names and synsets do not depend on it.
        """

        def map_wn(self, version="wordnet"):
            return None

    return MonolingualWordNetReader


def wordnet_identity(wordnet_dir=None) -> dict:
    """What the names depend on: the fingerprints of the WordNet files that will be read."""
    from ..runtime import storage

    if wordnet_dir is not None:
        folder = Path(wordnet_dir)
        _check_dict_folder(folder)
    else:
        root = find_nltk_wordnet()
        if root is None:
            raise UserError(f"WordNet not found; {HOW_TO_GET_WORDNET}")
        text = str(getattr(root, "path", root))
        if ".zip" in text:  # nltk's zipped corpus: the archive is the content
            archive = text[: text.index(".zip") + len(".zip")]
            return {"files": {Path(archive).name: storage.fingerprint(archive)}}
        folder = Path(text)
    return {"files": {name: storage.fingerprint(folder / name) for name in WORDNET_FILES[:8]}}


def _folder_key(folder: Path) -> str:
    import hashlib

    return hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]


#: Synsets of the WordNet versions the recipe knows: a database that gives another count is damaged.
KNOWN_SYNSETS = {"3.0": 117_659, "3.1": 117_791}


def wordnet_synsets(wordnet_dir=None, name_rule: str = "metaclip-v1", progress: bool = True) -> pd.DataFrame:
    """One row per synset: ``synset``, ``pos``, ``entry`` (its name under ``name_rule``).

    A database that cannot be read to its end, or that gives another number of synsets than its
    version has (a truncated ``data.noun``), is refused with one line: its names would be wrong.
    """
    if name_rule not in NAME_RULES:
        raise UserError(f"unknown name rule {name_rule!r}; choose one of {', '.join(NAME_RULES)}")
    reader = load_wordnet(wordnet_dir)
    where = getattr(getattr(reader, "root", None), "path", None) or wordnet_dir or "the installed WordNet"
    try:
        version = reader.get_version()
    except Exception as exc:  # noqa: BLE001 - a damaged header: nltk raises many kinds
        raise UserError(f"cannot read WordNet at {where}: {type(exc).__name__}: {exc}; {HOW_TO_GET_WORDNET}") from None
    expected = KNOWN_SYNSETS.get(version)
    rows = []
    try:
        for synset in tqdm(reader.all_synsets(), desc="WordNet synsets", unit=" synsets", total=expected,
                           disable=not progress):
            name = synset.name()
            rows.append((name, synset.pos(), synset_entry(name, name_rule)))
    except Exception as exc:  # noqa: BLE001 - a damaged data file: nltk raises many kinds
        raise UserError(f"WordNet at {where} is damaged (after {len(rows):,} synsets: {type(exc).__name__}: "
                        f"{str(exc)[:120]}); reinstall it: {HOW_TO_GET_WORDNET}") from None
    if expected is not None and len(rows) != expected:
        raise UserError(f"WordNet {version} at {where}: {len(rows):,} synsets read where it has {expected:,}; "
                        f"a data file is truncated or damaged, reinstall it: {HOW_TO_GET_WORDNET}")
    df = pd.DataFrame(rows, columns=["synset", "pos", "entry"])
    df.attrs["wordnet_version"] = version
    return df


def wordnet_entries(wordnet_dir=None, name_rule: str = "metaclip-v1", progress: bool = True) -> pd.DataFrame:
    """Distinct names, one row each, sorted by the entry string.

    Columns: ``entry``, ``synset`` (the first synset, in WordNet's order, that gives the name),
    ``pos`` (its part of speech), ``synsets`` (how many synsets give the name). The empty name of the
    v1 rule is kept here, as the recipe produces it; ``assemble`` drops it.
    """
    return entries_from_synsets(wordnet_synsets(wordnet_dir, name_rule, progress))


def entries_from_synsets(synsets: pd.DataFrame) -> pd.DataFrame:
    """Collapse :func:`wordnet_synsets` output to distinct names (see :func:`wordnet_entries`)."""
    grouped = synsets.groupby("entry", sort=False)
    df = grouped.first().reset_index()
    df["synsets"] = grouped.size().to_numpy()
    df = df.sort_values("entry", kind="stable").reset_index(drop=True)[["entry", "synset", "pos", "synsets"]]
    df.attrs["wordnet_version"] = synsets.attrs.get("wordnet_version")
    df.attrs["n_synsets"] = len(synsets)
    return df
