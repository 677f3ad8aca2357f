"""Wikitext -> plain text: a fast regex cleaner (default) and mwparserfromhell's ``strip_code`` (reference).

The fast cleaner, in this order: comments removed; ``<ref>``, ``<math>``, ``<gallery>`` and other
non-prose tag blocks removed; templates ``{{...}}`` removed (innermost first, so nesting works);
tables ``{| ... |}`` removed (line-based, nesting counted); links ``[[target|text]]`` replaced by
their text (``[[dog]]s`` -> ``dogs``), links to files, images, categories and other languages
removed (captions included); external links ``[url text]`` -> ``text``, bare URLs removed; headings
keep their text on their own line; list and indent marks, bold/italic quotes, magic words and the
remaining HTML tags dropped (``<br>`` becomes a line break); HTML entities decoded last.

Line breaks are kept: the tokenizer uses them as sentence-level run boundaries (see ``tokens.py``).
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only named in annotations: importing the dump reader here would slow the CLI's start
    from .dump import Siteinfo

CLEANERS = ("fast", "mwparserfromhell")

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_DROP_TAGS = ("ref|references|math|chem|ce|gallery|timeline|syntaxhighlight|source|score|graph|"
              "mapframe|maplink|templatedata|imagemap|hiero|inputbox|categorytree|pre|code")
#: A whole block; its body may not contain the same tag (so an unclosed ``<ref>`` stops the search at
#: the next ``<ref``, keeping the cost linear instead of rescanning the rest of the page each time).
_TAG_BLOCK = re.compile(rf"<({_DROP_TAGS})\b[^>]*?(?:/>|>[^<]*(?:<(?!/?\1\b)[^<]*)*</\1\s*>)", re.I)
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_LINK = re.compile(r"\[\[([^\[\]]*)\]\]([^\W\d_]*)")
#: ``[url label]``: the label stays on its line and is short, so a page of unclosed ``[http...``
#: cannot make the search quadratic.
_EXTERNAL = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]*(?:[ \t]+([^\]\n]{0,300}))?\]")
_URL = re.compile(r"(?:https?|ftp)://[^\s\]|<>]+")
_URL_START = (5, 4, 3)  # "https", "http", "ftp": where a URL can start before its "://"
#: A heading line (``^(=+)\s*(.*?)\s*\1\s*$`` in multi-line mode), found from the "\n" before it: a
#: literal first character lets the regex engine jump between line breaks instead of trying every
#: position (4x faster). A match ends before a "\n" (``$``), so that "\n" is never taken from the
#: next heading; the first line is tried on its own (``_FIRST_HEADING``).
_HEADING = re.compile(r"\n(=+)\s*(.*?)\s*\1\s*$", re.M)
_FIRST_HEADING = re.compile(r"\A(=+)\s*(.*?)\s*\1\s*$", re.M)
#: ``^[*#:;]+\s*`` in multi-line mode, written to start with a character set (a mark not preceded by
#: a character other than "\n"): the regex engine then skips to the next mark instead of trying
#: every position (~2x faster, same matches).
_LIST_MARK = re.compile(r"[*#:;](?<![^\n][*#:;])[*#:;]*\s*")
_QUOTES = re.compile(r"''+")  # not '{2,}: a literal prefix makes the search 8x faster
_MAGIC = re.compile(r"__[A-Z]+__")
_BREAK_TAG = re.compile(r"<br\s*/?>|</?(?:p|div|li|ul|ol|tr|td|th|table|blockquote)\b[^>]*>", re.I)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_LANG_PREFIX = re.compile(r"^[a-z]{2,3}(?:-[a-z]+)*$")


class _LinkRule:
    """What to do with ``[[target|text]]``: its text, or nothing (files, categories, languages)."""

    def __init__(self, info: Siteinfo):
        self.drop = info.hidden_link_prefixes
        self.known = info.link_prefixes

    def __call__(self, m: re.Match) -> str:
        return self.text(*m.groups())

    def text(self, inner: str, trail: str) -> str:
        target, bar, label = inner.partition("|")
        target = target.strip()
        if ":" not in target:  # most links
            pass
        elif target.startswith(":"):  # [[:Category:X]] is a visible link
            target = target[1:]
        else:
            prefix = target.split(":", 1)[0].strip().replace("_", " ").lower()
            if prefix in self.drop or (prefix not in self.known and _LANG_PREFIX.match(prefix)):
                return ""
        text = label.rsplit("|", 1)[-1] if bar else target
        return text + trail


def _replace_links_plain(text: str, rule: _LinkRule) -> str:
    """Links -> their text, innermost first (a file caption's links, then the file): the reference
    form of :func:`_replace_links`."""
    for _ in range(10):
        text, n = _LINK.subn(rule, text)
        if not n:
            break
    return text


def _replace_links(text: str, rule: _LinkRule) -> str:
    """:func:`_replace_links_plain` with one ``split`` per pass instead of a Python call per link.

    ``_LINK.split`` finds the very matches ``subn`` would (text, inner, trail, text, ...); a link
    whose inner part has no ``:`` becomes its last ``|`` part, or its stripped target, plus the
    trail, as :meth:`_LinkRule.text` says, without a call; the others go through the rule.
    """
    text_of = rule.text
    for _ in range(10):
        parts = _LINK.split(text)
        if len(parts) == 1:
            break
        out = [parts[0]]
        for i in range(1, len(parts), 3):
            inner, trail = parts[i], parts[i + 1]
            if ":" in inner:
                out.append(text_of(inner, trail))
            elif "|" in inner:
                out.append(inner[inner.rindex("|") + 1:] + trail)
            else:
                out.append(inner.strip() + trail)
            out.append(parts[i + 2])
        text = "".join(out)
    return text


def _remove_nested(pattern: re.Pattern, text: str, limit: int = 20) -> str:
    for _ in range(limit):
        text, n = pattern.subn("", text)
        if not n:
            break
    return text


def _remove_tables_plain(text: str) -> str:
    """Tables ``{| ... |}`` removed, line by line (nesting counted): the reference form of :func:`_remove_tables`."""
    if "{|" not in text:
        return text
    out, depth = [], 0
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("{|"):
            depth += 1
        elif depth and stripped.startswith("|}"):
            depth -= 1
            continue
        if not depth:
            out.append(line)
    return "\n".join(out)


#: A line that opens or closes a table (after leading white space, as ``str.lstrip`` strips it).
_TABLE_LINE = re.compile(r"^[^\S\n]*(\{\||\|\})", re.M)


def _remove_tables(text: str) -> str:
    """:func:`_remove_tables_plain`, visiting only the lines that open or close a table.

    A table's lines run from its ``{|`` line through the ``|}`` line that brings the depth back to
    0, or to the end; each is cut out with the ``\\n`` that ends it. The plain form joins the kept
    lines with ``\\n``: when the text's last line goes, the last kept line loses its ``\\n`` too.
    """
    if "{|" not in text:
        return text
    kept, depth, start, cut, last_line_removed = [], 0, 0, 0, False
    for m in _TABLE_LINE.finditer(text):
        if m.group(1) == "{|":
            if depth == 0:
                cut = m.start()  # the start of the table's first line
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                kept.append(text[start:cut])
                end = text.find("\n", m.end())
                start, last_line_removed = (len(text), True) if end < 0 else (end + 1, False)
    if depth:  # a table still open at the end
        kept.append(text[start:cut])
        last_line_removed = True
    else:
        kept.append(text[start:])
    out = "".join(kept)
    return out[:-1] if last_line_removed and out else out


def _remove_urls(text: str) -> str:
    """``_URL.sub("", text)``, with the search driven by ``str.find("://")`` (C speed).

    Every match has its ``://`` 5, 4 or 3 characters after its start, and the ``://`` of a text are
    at least 3 apart, so trying those starts in order, ``://`` after ``://``, finds the same
    leftmost matches the regex scan would.
    """
    out, pos = [], 0
    i = text.find("://")
    while i >= 0:
        for back in _URL_START:
            start = i - back
            m = _URL.match(text, start) if start >= pos else None
            if m:
                out.append(text[pos:start])
                pos = m.end()
                break
        i = text.find("://", max(i + 3, pos))
    out.append(text[pos:])
    return "".join(out)


def clean_fast(text: str, info: Siteinfo) -> str:
    """Plain text of a page's wikitext (see the module docstring for the rules).

    A rule whose pattern needs a string the text lacks (``<!--``, ``<``, ``{{``, ``[[``, ``//``,
    ``__``...) is skipped: an ``in`` test is far cheaper than a regex pass finding nothing.
    """
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    if "<" in text:
        text = _TAG_BLOCK.sub("", text)
    if "{{" in text:
        text = _remove_nested(_TEMPLATE, text)
    text = _remove_tables(text)
    if "[[" in text:  # innermost links first: a file caption's links, then the file itself
        text = _replace_links(text, _LinkRule(info))
    if "//" in text:
        text = _EXTERNAL.sub(r"\1", text)
        text = _remove_urls(text)
    if text.startswith("="):
        text = _FIRST_HEADING.sub(r"\2", text, count=1)
    if "\n=" in text:
        text = _HEADING.sub("\n\\2", text)
    text = _LIST_MARK.sub("", text)
    if "''" in text:
        text = _QUOTES.sub("", text)
    if "__" in text:
        text = _MAGIC.sub("", text)
    if "<" in text:
        text = _BREAK_TAG.sub("\n", text)
        text = _TAG.sub("", text)
    return html.unescape(text)


def clean_mwparserfromhell(text: str, info: Siteinfo) -> str:
    """Reference cleaner: mwparserfromhell's ``strip_code`` after removing file/category links."""
    import mwparserfromhell

    code = mwparserfromhell.parse(text)
    drop = info.hidden_link_prefixes
    for link in code.filter_wikilinks():
        title = str(link.title).strip()
        if ":" in title and not title.startswith(":") and title.split(":", 1)[0].strip().lower() in drop:
            try:
                code.remove(link)
            except ValueError:  # already gone with an enclosing node
                pass
    return code.strip_code(normalize=True, collapse=True)


def get_cleaner(name: str):
    if name == "fast":
        return clean_fast
    if name == "mwparserfromhell":
        return clean_mwparserfromhell
    raise ValueError(f"unknown cleaner {name!r}; choose one of {', '.join(CLEANERS)}")
