"""metadata-builder: MetaCLIP's data curation (metadata, matching, balancing), rebuilt from public sources.

The CLI (``metadata-builder``) wraps these plain functions, usable from notebooks::

    from metadata_builder import wordnet_entries, assemble, Source
"""

__version__ = "0.1.0"

from .assemble import Assembled, Source, assemble, write_outputs  # noqa: E402
from .errors import UserError  # noqa: E402
from .sources.wordnet import wordnet_entries, wordnet_synsets  # noqa: E402

__all__ = ["Assembled", "Source", "UserError", "assemble", "wordnet_entries", "wordnet_synsets", "write_outputs"]
