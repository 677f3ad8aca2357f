"""Image captions and ``alt=`` texts from a Wikipedia dump: a real image-text pool that needs no download.

Editors describe the images they place in articles in three places, and each gives a text:

- image links ``[[File:x.jpg|thumb|upright|alt=What the image shows|The caption]]`` (also ``Image:``):
  the caption is the last positional parameter that is not a layout option (MediaWiki's own rule),
  the ``alt=`` parameter is the description written for screen readers;
- gallery lines ``File:x.jpg|caption|alt=...`` inside ``<gallery>``;
- infobox-style template parameters ``caption`` / ``image_caption`` / ``alt`` / ``image_alt`` ...

Wiki markup is reduced to the text a reader sees (links -> their label, templates, references and
comments dropped, entities decoded) and runs of white space become one space. Rows come in dump
order (page by page; within a page image links, then galleries, then templates, each in page
order), so the output is deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import mwparserfromhell
import pandas as pd

from .dump import Page, ReadReport, plan_shards
from .dump import iter_pages as read_pages

IMAGE_NAMESPACES = ("file", "image")
#: Layout keywords of an image link: never a caption (https://www.mediawiki.org/wiki/Help:Images).
_OPTION_WORDS = {
    "thumb", "thumbnail", "frame", "framed", "frameless", "border", "left", "right", "center",
    "centre", "none", "upright", "baseline", "middle", "sub", "super", "text-top", "text-bottom",
    "top", "bottom",
}
_OPTION_KEYS = {"link", "alt", "page", "lang", "class", "upright", "thumb", "thumbnail", "start", "end",
                "loop", "muted", "thumbtime"}
_SIZE = re.compile(r"^\s*(\d+\s*(x\s*\d+)?|x\s*\d+)\s*px\s*$", re.IGNORECASE)
_CAPTION_PARAMS = {"caption", "image_caption", "imagecaption", "caption1", "caption2", "image caption"}
_ALT_PARAMS = {"alt", "image_alt", "imagealt", "alt1", "alt2", "image alt"}
_SPACES = re.compile(r"\s+")

KINDS = ("caption", "alt", "gallery_caption", "gallery_alt", "template_caption", "template_alt")


def iter_pages(dump: str | Path, report: ReadReport | None = None) -> Iterator[Page]:
    """Every well-formed page of ``dump``, in order, streamed by the project's dump reader.

    Plain, ``.bz2``, ``.xz``, ``.gz`` and multistream dumps; malformed pages and a truncated end are
    recorded in ``report`` (:class:`metadata_builder.sources.wiki.dump.ReadReport`) instead of failing.
    """
    report = report if report is not None else ReadReport()
    for shard in plan_shards([dump], shard_bytes=1 << 62):  # one shard per file: read in order
        yield from read_pages(shard, report)


def _plain(wikitext) -> str:
    """The text a reader sees, on one line."""
    if not isinstance(wikitext, mwparserfromhell.wikicode.Wikicode):
        wikitext = mwparserfromhell.parse(str(wikitext))
    return _SPACES.sub(" ", wikitext.strip_code(normalize=True, collapse=True)).strip()


def _split_params(wikicode) -> list[str]:
    """Split an image link's text on its top-level ``|`` (not those inside nested links/templates)."""
    parts, current = [], []
    for node in wikicode.nodes:
        if isinstance(node, mwparserfromhell.nodes.Text):
            pieces = str(node).split("|")
            current.append(pieces[0])
            for piece in pieces[1:]:
                parts.append("".join(current))
                current = [piece]
        else:
            current.append(str(node))
    parts.append("".join(current))
    return parts


def _is_option(param: str) -> bool:
    p = param.strip()
    if p.lower() in _OPTION_WORDS or _SIZE.match(p):
        return True
    key, eq, _ = p.partition("=")
    return bool(eq) and key.strip().lower() in _OPTION_KEYS


def image_texts(params: list[str]) -> tuple[str, str]:
    """``(caption, alt)`` of an image link's parameters (after the file name); empty when absent."""
    caption, alt = "", ""
    for param in params:
        key, eq, value = param.partition("=")
        if eq and key.strip().lower() == "alt":
            alt = value
        elif not _is_option(param):
            caption = param  # MediaWiki: the last non-option parameter is the caption
    return _plain(caption), _plain(alt)


def _is_image_title(title: str, namespaces=IMAGE_NAMESPACES) -> bool:
    ns, colon, _ = title.strip().partition(":")
    return bool(colon) and ns.strip().lower() in namespaces


def image_namespaces(dump: str | Path) -> set[str]:
    """Lower-cased names of the file namespace in ``dump``: ``file``, ``image`` and the wiki's own (``ファイル``)."""
    names = set(IMAGE_NAMESPACES)
    for shard in plan_shards([dump], shard_bytes=1 << 62):
        if shard.siteinfo is not None:
            names |= shard.siteinfo.names_of(6)
    return names


def page_captions(text: str, namespaces=IMAGE_NAMESPACES) -> list[tuple[str, str, str]]:
    """All ``(kind, file_or_template, text)`` image descriptions of one page's wikitext.

    ``namespaces``: lower-cased names of the file namespace (:func:`image_namespaces`).
    """
    code = mwparserfromhell.parse(text)
    found = []  # (kind, file or template, text)
    for link in code.filter_wikilinks(recursive=True):
        title = str(link.title)
        if title.startswith(":") or not _is_image_title(title, namespaces):
            continue
        params = _split_params(link.text) if link.text is not None else []
        caption, alt = image_texts(params)
        name = title.split(":", 1)[1].strip()
        found.append(("caption", name, caption))
        found.append(("alt", name, alt))
    for tag in code.filter_tags(recursive=True, matches=lambda n: str(n.tag).strip().lower() == "gallery"):
        if tag.contents is None:
            continue
        for line in str(tag.contents).splitlines():
            file_part, bar, rest = line.partition("|")
            if not bar or not file_part.strip():
                continue
            caption, alt = image_texts(_split_params(mwparserfromhell.parse(rest)))
            name = file_part.split(":", 1)[1].strip() if _is_image_title(file_part, namespaces) else file_part.strip()
            found.append(("gallery_caption", name, caption))
            found.append(("gallery_alt", name, alt))
    for template in code.filter_templates(recursive=True):
        for param in template.params:
            key = str(param.name).strip().lower()
            if key in _CAPTION_PARAMS or key in _ALT_PARAMS:
                kind = "template_caption" if key in _CAPTION_PARAMS else "template_alt"
                text = _plain(param.value)
                if text.lower() != key:  # an editor's unfilled placeholder ("alt1=alt1")
                    found.append((kind, str(template.name).strip(), text))
    return [row for row in found if row[2]]


@dataclass
class CaptionStats:
    """What the extraction saw: pages read, skipped (by reason) and texts found (by kind)."""

    pages: int = 0
    articles: int = 0
    skipped: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)
    cut: object = None  # where a truncated dump stopped (metadata_builder.sources.wiki.dump.Cut), if it did


def extract_captions(dump: str | Path, namespaces=(0,), progress: bool = True) -> tuple[pd.DataFrame, CaptionStats]:
    """Every image caption and alt text of the article pages of ``dump``.

    Returns a DataFrame with columns ``text``, ``kind`` (one of :data:`KINDS`), ``page_id``,
    ``title`` and ``file`` (the image file, or the template for infobox parameters), in dump order,
    and the :class:`CaptionStats` of the run. Redirects and pages outside ``namespaces`` are skipped
    and counted; a page whose markup cannot be parsed is skipped and counted too.
    """
    from tqdm.auto import tqdm

    file_names = image_namespaces(dump)  # a missing dump fails here, before the progress bar
    stats = CaptionStats()
    report = ReadReport()
    rows = []
    for page in tqdm(iter_pages(dump, report), desc="pages", unit=" pages", disable=not progress):
        stats.pages += 1
        if page.ns not in namespaces:
            reason = "other namespace"
        elif page.redirect is not None:
            reason = "redirect"
        else:
            reason = None
        if reason:
            stats.skipped[reason] = stats.skipped.get(reason, 0) + 1
            continue
        try:
            found = page_captions(page.text, file_names)
        except Exception:  # noqa: BLE001 - one malformed page must not stop a dump; it is counted
            stats.skipped["unparsable markup"] = stats.skipped.get("unparsable markup", 0) + 1
            continue
        stats.articles += 1
        for kind, where, text in found:
            stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
            rows.append((text, kind, page.page_id, page.title, where))
    if report.malformed:
        stats.skipped["malformed page"] = report.malformed
    stats.cut = report.cut
    df = pd.DataFrame(rows, columns=["text", "kind", "page_id", "title", "file"])
    df["page_id"] = df["page_id"].astype("int64")
    return df, stats
