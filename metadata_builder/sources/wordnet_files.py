"""WordNet on disk: the files nltk's reader needs, where an installed copy is, and how to copy a
WordNet ``dict`` folder into the form nltk (>= 3.9) accepts (no symlinks, no group/world-writable
files, a ``lexnames`` file, which Debian ships only as a man page)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .. import paths
from ..errors import UserError

#: WordNet's lexicographer files (``lexnames(5WN)``): number, name, syntactic category.
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
]
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

#: Files nltk's WordNet reader opens (``index.sense`` is optional for nltk but needed for sense keys).
WORDNET_FILES = tuple(
    f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")
) + tuple(f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")) + ("index.sense",)

HOW_TO_GET_WORDNET = (
    "install Debian's WordNet 3.0 (sudo apt-get install wordnet-base wordnet-sense-index) and run "
    "'make setup', or with the internet run 'python -m nltk.downloader wordnet', "
    "or pass --wordnet-dir pointing at a WordNet dict folder"
)


def lexnames_text() -> str:
    """The 45-line ``lexnames`` file nltk needs and Debian does not ship."""
    lines = []
    for number, name in enumerate(LEXNAMES):
        lines.append(f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n")
    return "".join(lines)


def find_nltk_wordnet(extra_paths=()) -> "os.PathLike | None":
    """nltk's installed ``wordnet`` corpus (NLTK_DATA, nltk's default folders, the project cache)."""
    import nltk

    search = [str(p) for p in extra_paths] + [str(paths.NLTK_DATA_DIR)] + list(nltk.data.path)
    for resource in ("corpora/wordnet", "corpora/wordnet.zip/wordnet/"):
        try:
            return nltk.data.find(resource, paths=search)
        except LookupError:
            continue
    return None


def authorize(root) -> None:
    """nltk >= 3.9 reads corpora only below ``nltk.data.path``: the folder we chose is authorised."""
    import nltk

    text = str(getattr(root, "path", root))
    if ".zip" in text:  # a zipped corpus found by nltk.data.find is already below nltk.data.path
        return
    if text not in nltk.data.path:
        nltk.data.path.append(text)


def copy_wordnet_dict(source: Path, dest: Path, *, create_missing_exc: bool = False) -> Path:
    """Copy a WordNet dict folder to ``dest`` in the form nltk accepts; return ``dest``.

    Files are copied (not linked) with mode 0644, ``lexnames`` is written when absent, and the copy
    is assembled in a temporary folder then renamed, so an interrupted set-up leaves nothing behind.
    ``create_missing_exc`` writes empty morphological exception files (some 3.1 distributions omit
    them; they do not affect synsets or their names).
    """
    source = Path(source)
    missing = [name for name in WORDNET_FILES[:8] if not (source / name).is_file()]
    if missing:
        raise UserError(f"{source} is not a WordNet dict folder (missing {', '.join(missing)})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet.", dir=dest.parent))
    try:
        for name in WORDNET_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, tmp / name)
            elif name.endswith(".exc") and create_missing_exc:
                (tmp / name).write_text("")
        lexnames = source / "lexnames"
        if lexnames.is_file():
            shutil.copyfile(lexnames, tmp / "lexnames")
        else:
            (tmp / "lexnames").write_text(lexnames_text())
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        os.chmod(tmp, 0o755)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest
