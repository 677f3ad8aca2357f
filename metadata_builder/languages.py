"""Language codes of recipe ``metaclip-v2`` (Meta CLIP 2, worldwide): which Wikipedia a dump is,
which languages are written without spaces, and how Open Multilingual Wordnet codes map to Wikipedias.

Wikipedia codes are the dump's database name without its ``wiki`` suffix (``jawiki`` -> ``ja``,
``zh_yuewiki`` -> ``zh_yue``), the form Meta CLIP 2 names its per-language files with. The OMW map is
data (``metadata_builder/data/omw_wikipedia.tsv``): the released map of 30 codes, with one fix by
default (OMW ``als`` is Albanian, Wikipedia ``sq``; the released map sends it to Alemannic ``als``).
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from .errors import UserError

#: Wikipedias tokenised by a word segmenter instead of white space in Meta CLIP 2 (released
#: ``metadata/build_ngram.py``, ``no_space_languages``); their bigrams are joined without a space.
NO_SPACE_LANGUAGES = frozenset({"bo", "dz", "ja", "km", "lo", "my", "ryu", "th", "zh", "zh_classical", "zh_yue"})

#: The OMW -> Wikipedia maps: ``metaclip-v2`` (default, ``als`` -> ``sq``) and ``released``.
OMW_MAPS = ("metaclip-v2", "released")
OMW_MAP_FILE = Path(__file__).with_name("data") / "omw_wikipedia.tsv"

_WIKI_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_BASE_HOST = re.compile(r"^https?://([a-z0-9-]+)\.wikipedia\.org/", re.I)


def is_no_space(lang: str | None) -> bool:
    """True when Meta CLIP 2 segments ``lang`` with a word segmenter (and joins its bigrams without a space)."""
    return lang in NO_SPACE_LANGUAGES


def wiki_code(dbname: str | None, base: str | None = None) -> str | None:
    """The Wikipedia code of a dump from its ``<siteinfo>``: ``<dbname>`` (``jawiki``), else the host
    of ``<base>`` (``https://zh-yue.wikipedia.org/...`` -> ``zh_yue``); None when neither says.

    Only Wikipedias: a Wiktionary (``enwiktionary``) or Commons dump gives None.
    """
    if dbname and dbname.endswith("wiki") and len(dbname) > 4:
        code = dbname[: -len("wiki")]
        if _WIKI_CODE.match(code) and code not in ("commons", "meta", "species", "mediawiki", "wikidata"):
            return code
    if base:
        match = _BASE_HOST.match(base.strip())
        if match:
            return match.group(1).lower().replace("-", "_")
    return None


def check_wiki_code(code: str, option: str = "--lang") -> str:
    """``code`` if it looks like a Wikipedia code (``ja``, ``zh_yue``; ``-`` read as ``_``), else one line."""
    code = code.strip().replace("-", "_")
    if not _WIKI_CODE.match(code):
        raise UserError(f"{option} {code!r} is not a Wikipedia language code (e.g. ja, vi, zh_yue)")
    return code


@lru_cache(maxsize=None)
def _omw_rows(path: str) -> tuple:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = [line for line in f if line.strip() and not line.startswith("#")]
    except OSError as exc:
        raise UserError(f"cannot read the OMW map {path}: {exc}") from None
    rows = list(csv.DictReader(lines, delimiter="\t"))
    if not rows or not {"omw", "wiki"} <= set(rows[0]):
        raise UserError(f"{path}: an OMW map needs the columns omw and wiki (tab-separated, one header line)")
    return tuple(rows)


def omw_to_wiki(which: str = "metaclip-v2") -> dict[str, str]:
    """OMW code -> Wikipedia code under the map ``which``: ``metaclip-v2`` (default), ``released``, or the
    path of a tab-separated file with columns ``omw`` and ``wiki`` (``-`` leaves a code unmapped)."""
    if which in OMW_MAPS:
        rows, column = _omw_rows(str(OMW_MAP_FILE)), "wiki" if which == "metaclip-v2" else "released"
    else:
        rows, column = _omw_rows(str(Path(which).expanduser())), "wiki"
    return {r["omw"]: r[column] for r in rows if r.get(column) and r[column] != "-"}


def omw_codes_for(lang: str, which: str = "metaclip-v2") -> list[str]:
    """The OMW codes whose names go into Wikipedia ``lang``'s metadata (sorted)."""
    return sorted(code for code, wiki in omw_to_wiki(which).items() if wiki == lang)
