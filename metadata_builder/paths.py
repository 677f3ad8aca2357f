"""Where the project keeps provisioned data (ignored by git) and where its outputs go by default."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Downloaded or generated inputs: WordNet copies, the embedded Wikipedia sample.
CACHE_DIR = Path(os.environ.get("METADATA_BUILDER_CACHE", PROJECT_ROOT / ".cache"))
#: Default output folder of ``make metadata`` and friends.
BUILD_DIR = PROJECT_ROOT / "build"

NLTK_DATA_DIR = CACHE_DIR / "nltk_data"
WORDNET31_DIR = CACHE_DIR / "wordnet-3.1" / "dict"

#: The real, shortened English Wikipedia dump shipped inside the gensim 4.4.0 wheel.
WIKI_SAMPLE_NAME = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WIKI_SAMPLE = CACHE_DIR / "wiki" / WIKI_SAMPLE_NAME
