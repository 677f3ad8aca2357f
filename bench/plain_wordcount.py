"""Baseline word count: docs/recipe.md §1.4 unigrams over wikiextractor's ``<doc>`` output read from stdin.

Written independently of ``metadata_builder`` on purpose, so the benchmark compares two
pipelines rather than one code path with itself. The rule (docs/recipe.md §1.4): lower-case; ``–`` -> ``-``,
``’`` -> ``'``; split on anything but word characters, ``-`` and ``'``; keep tokens that start and
end with a word character and contain no digit; keep words seen in >= 3 articles.
The ``<doc ...>`` / ``</doc>`` lines and the title line wikiextractor repeats after ``<doc>`` are
not article text and are skipped. Writes ``word<TAB>count<TAB>articles`` lines, most frequent first.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

#: A maximal run of word characters, '-' and "'" that starts and ends with a non-digit word
#: character and holds no digit: exactly the recipe's tokens, found in one pass.
TOKEN = re.compile(r"(?<![\w'\-])[^\W\d](?:[^\W\d'\-]|['\-])*(?<![\-'])(?![\w'\-])")
NORMALISE = str.maketrans({"–": "-", "’": "'"})


def tokens(text: str) -> list[str]:
    """docs/recipe.md §1.4 unigram tokens of one text."""
    return TOKEN.findall(text.lower().translate(NORMALISE))


def count(lines) -> tuple[Counter, Counter]:
    """Word counts and article counts over wikiextractor doc-format lines."""
    counts, articles = Counter(), Counter()
    doc: list[str] = []
    skip_title = False
    for line in lines:
        if line.startswith("<doc "):
            doc, skip_title = [], True
        elif line.startswith("</doc>"):
            words = tokens("".join(doc))
            counts.update(words)
            articles.update(set(words))
        elif skip_title:
            skip_title = False
        else:
            doc.append(line)
    return counts, articles


def main() -> None:
    counts, articles = count(sys.stdin)
    out = sys.stdout
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if articles[word] >= 3:
            out.write(f"{word}\t{n}\t{articles[word]}\n")


if __name__ == "__main__":
    main()
