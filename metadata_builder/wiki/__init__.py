"""Wikipedia sources from raw MediaWiki dumps: reading (``dump``), wikitext cleaning (``cleaner``),
the recipe's tokens (``tokens``) and sharded, resumable counting with an out-of-core merge (``count``).
"""

from .count import wiki_count

__all__ = ["wiki_count"]
