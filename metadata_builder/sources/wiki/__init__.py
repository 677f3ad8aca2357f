"""Wikipedia sources from raw MediaWiki dumps: reading (:mod:`.dump`), wikitext cleaning
(:mod:`.cleaner`), the recipe's tokens (:mod:`.tokens`), sharded counting with an out-of-core merge
(:mod:`.counts`), image captions (:mod:`.captions`) and hourly pageviews (:mod:`.pageviews`).
"""

from .counts import wiki_count

__all__ = ["wiki_count"]
