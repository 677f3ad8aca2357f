"""Per-language WordNet names from the Open Multilingual Wordnet (OMW 1.4; recipe ``metaclip-v2``).

Meta CLIP 2 (released ``metadata/build_multilingual_wordnet.py``) takes, for every OMW language,
**every** lemma name of every synset (not one head name as in v1), with ``_`` read as a space and
``+`` removed. ``+`` marks a morpheme or compound boundary in the tab files (``一丝不苟+地``,
Nynorsk ``leiar+person``), so removing it gives the written form (``一丝不苟地``, ``leiarperson``);
the release removes it in every language (its assembly's extra ``+`` strip for zh/ja/fr then never
fires) and so do we. English is not taken from OMW: it keeps WordNet 3.0 and the v1 rule.

The tab files (``<project>/wn-data-<lang>.tab``, offsets of WordNet 3.0) are read directly, with
nltk's own semantics (``WordNetCorpusReader.custom_lemmas``): lines starting with ``#`` skipped, a
line is ``offset-pos <tab> [lang:]lemma <tab> ... value`` (the value is the last field, stripped,
spaces -> ``_``), duplicates per synset dropped, an adjective offset that is a satellite in WordNet
becomes ``-s``, offsets WordNet does not have are skipped, and a second file of the same language is
named ``<lang>_<project>`` (``iwn/wn-data-ita.tab`` -> ``ita_iwn``). A test checks the names against
nltk's ``synset.lemma_names(lang)`` for every language present.

Where the files are: ``--omw-dir`` (a folder of ``<project>/wn-data-*.tab``), else nltk's ``omw-1.4``
corpus: ``corpora/omw-1.4/`` as ``metadata-builder setup --omw`` installs it, or the
``corpora/omw-1.4.zip`` that ``nltk.download('omw-1.4')`` writes. The reader is built explicitly on
that corpus, because nltk >= 3.10's default ``wordnet`` looks for ``omw-2.0`` instead.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict

import pandas as pd
from tqdm.auto import tqdm

from .. import paths
from ..errors import UserError
from .wordnet_files import authorize

HOW_TO_GET_OMW = (
    "install the Open Multilingual Wordnet with 'metadata-builder setup --omw PATH' (PATH: a folder of "
    "<project>/wn-data-<lang>.tab files or its omw-1.4 .tar.xz/.zip), or with the internet run "
    "\"python -c \\\"import nltk; nltk.download('omw-1.4')\\\"\", or pass --omw-dir"
)
TAB_PATTERN = r".*/wn-data-.*\.tab"


def find_omw(omw_dir=None):
    """The OMW corpus root: ``omw_dir`` if given, else nltk's ``omw-1.4`` (folder first, then zip)."""
    import nltk

    if omw_dir is not None:
        folder = os.path.abspath(os.fspath(omw_dir))
        if not os.path.isdir(folder):
            raise UserError(f"--omw-dir {omw_dir} is not a folder; {HOW_TO_GET_OMW}")
        return folder
    search = [str(paths.NLTK_DATA_DIR)] + list(nltk.data.path)
    for resource in ("corpora/omw-1.4", "corpora/omw-1.4.zip/omw-1.4/"):
        try:
            return nltk.data.find(resource, paths=search)
        except LookupError:
            continue
    raise UserError(f"Open Multilingual Wordnet (omw-1.4) not found; {HOW_TO_GET_OMW}")


def omw_reader(omw_dir=None):
    """nltk's plain ``CorpusReader`` over the OMW tab files (a folder or nltk's zip)."""
    from nltk.corpus.reader import CorpusReader

    root = find_omw(omw_dir)
    authorize(root)
    reader = CorpusReader(root, TAB_PATTERN, encoding="utf8")
    if not reader.fileids():
        raise UserError(f"{getattr(root, 'path', root)} holds no <project>/wn-data-<lang>.tab file; {HOW_TO_GET_OMW}")
    return reader


def omw_files(reader) -> dict[str, str]:
    """Language code -> tab file, named as nltk names them (``WordNetCorpusReader.add_provs``)."""
    langs: dict[str, str] = {"eng": ""}
    out = {}
    for fileid in reader.fileids():  # sorted
        project, name = posixpath.split(fileid)
        lang = name[: -len(".tab")].split("-")[-1]
        if lang in langs or project in ("cldr", "wikt"):
            lang = f"{lang}_{project}"
        langs[lang] = project
        out[lang] = fileid
    return out


def omw_languages(omw_dir=None) -> list[str]:
    """The OMW language codes present (nltk's names, English excluded)."""
    return sorted(omw_files(omw_reader(omw_dir)))


def _tab_lemmas(lines, lang: str) -> dict[str, list[str]]:
    """``offset-pos`` -> lemma values of one tab file, in file order (nltk's ``custom_lemmas``)."""
    code = lang.split("_")[0]
    lemmas: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if line.startswith("#"):
            continue
        fields = line.strip().split("\t")
        if len(fields) < 3:
            continue
        key, label, value = fields[0], fields[1], fields[-1]
        parts = label.split(":")
        if parts[-1] != "lemma" or (len(parts) > 1 and parts[0] != code):
            continue
        value = value.strip().replace(" ", "_")
        names = lemmas[key]
        if value not in names:
            names.append(value)
    return lemmas


def omw_name(lemma: str) -> str:
    """A lemma as a metadata name (Meta CLIP 2): ``_`` -> space, ``+`` removed.

    >>> omw_name("一丝不苟+地"), omw_name("Canis_familiaris")
    ('一丝不苟地', 'Canis familiaris')
    """
    return lemma.replace("_", " ").replace("+", "")


#: WordNet data file of each part of speech (``s``, adjective satellites, live in ``data.adj``).
_DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "s": "data.adj", "r": "data.adv"}


def synset_types(wordnet_dir=None) -> dict[str, dict[int, str]]:
    """Data file -> {offset: synset type} of WordNet (3.0: the offsets OMW uses).

    Read from the data files' lines (an offset is a synset's byte offset, written at the start of its
    line; the third field is its type, ``a`` or ``s`` for adjectives), which is what nltk's
    ``synset_from_pos_and_offset`` checks, without building each synset.
    """
    from .wordnet import load_wordnet_root

    root = load_wordnet_root(wordnet_dir)
    out = {}
    for name in sorted(set(_DATA_FILES.values())):
        pointer = root.join(name) if hasattr(root, "join") else None
        if pointer is not None:
            with pointer.open() as f:
                data = f.read()
        else:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
        types = {}
        for line in data.split(b"\n"):
            if line[:1].isdigit():
                fields = line.split(b" ", 3)
                types[int(fields[0])] = fields[2].decode("ascii")
        out[name] = types
    return out


def language_synsets(reader, fileid: str, lang: str, types: dict):
    """``(synset id, pos, lemmas)`` of every synset nltk yields for ``lang``, in its order.

    Mirrors ``all_synsets(lang=...)`` + ``lemma_names(lang)``: an adjective offset that WordNet
    types ``s`` is relabelled ``-s``; offsets WordNet lacks are skipped; a synset's names are the
    ones filed under its own ``offset-pos`` (so a ``-s`` line for a head adjective gives none).
    """
    with reader.root.join(fileid).open() as f:  # bytes at once: nltk's line reader is ~3x slower
        raw = _tab_lemmas(f.read().decode("utf-8").split("\n"), lang)
    merged: dict[str, list[str]] = {}
    for key, names in raw.items():
        offset, _, pos = key.partition("-")
        if pos == "a" and offset.isdigit() and types["data.adj"].get(int(offset)) == "s":
            key = f"{offset}-s"
        if key in merged:
            merged[key].extend(n for n in names if n not in merged[key])
        else:
            merged[key] = list(names)
    seen = set()
    for key in merged:
        offset, _, pos = key.partition("-")
        if pos not in _DATA_FILES or not offset.isdigit():
            continue
        actual = types[_DATA_FILES[pos]].get(int(offset))
        if actual is None:
            continue
        synset = f"{int(offset):08d}-{actual}"
        names = merged.get(synset, [])
        if names and synset not in seen:
            seen.add(synset)
            yield synset, actual, names


def omw_names(langs="all", omw_dir=None, wordnet_dir=None, progress: bool = True) -> pd.DataFrame:
    """Distinct names per OMW language: ``lang``, ``entry``, ``synset`` (the first synset giving it, in
    tab-file order, as its WordNet 3.0 id ``offset-pos``, e.g. ``02084071-n``), ``pos``, ``synsets``
    (how many synsets give it); sorted by lang, then entry (code-point order).

    ``langs``: ``"all"`` (every language present) or a list of OMW codes (``eng`` is refused: English
    keeps the v1 WordNet rule).
    """
    reader = omw_reader(omw_dir)
    files = omw_files(reader)
    if langs == "all":
        chosen = sorted(files)
    else:
        chosen = list(dict.fromkeys(langs))
        if "eng" in chosen:
            raise UserError("--lang eng: English keeps WordNet 3.0 and the v1 rule (run 'wordnet' without --lang)")
        missing = [code for code in chosen if code not in files]
        if missing:
            raise UserError(f"--lang {','.join(missing)}: not in the OMW files at "
                            f"{getattr(reader.root, 'path', reader.root)} (present: {', '.join(sorted(files))})")
    types = synset_types(wordnet_dir)
    frames = []
    for lang in tqdm(chosen, desc="OMW languages", unit=" lang", disable=not progress):
        first: dict[str, tuple[str, str]] = {}
        count: dict[str, int] = defaultdict(int)
        for synset, pos, lemmas in language_synsets(reader, files[lang], lang, types):
            for entry in dict.fromkeys(omw_name(lemma) for lemma in lemmas):
                count[entry] += 1
                first.setdefault(entry, (synset, pos))
        entries = sorted(first)
        frames.append(pd.DataFrame({
            "lang": lang, "entry": entries, "synset": [first[e][0] for e in entries],
            "pos": [first[e][1] for e in entries], "synsets": [count[e] for e in entries]}))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["lang", "entry", "synset", "pos", "synsets"])
    df["synsets"] = df["synsets"].astype("int64")
    df.attrs["omw_root"] = str(getattr(reader.root, "path", reader.root))
    return df


def omw_identity(omw_dir=None) -> dict:
    """What the names depend on: the tab files' fingerprints (or the zip's)."""
    from ..runtime import storage

    reader = omw_reader(omw_dir)
    root = str(getattr(reader.root, "path", reader.root))
    if ".zip" in root:
        archive = root[: root.index(".zip") + len(".zip")]
        return {"omw": {os.path.basename(archive): storage.fingerprint(archive)}}
    return {"omw": {f: storage.fingerprint(os.path.join(root, f)) for f in reader.fileids()}}
