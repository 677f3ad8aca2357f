"""Wikipedia sources from raw MediaWiki dumps: reading (:mod:`.dump`), wikitext cleaning
(:mod:`.cleaner`), the recipe's tokens (:mod:`.tokens`), sharded counting with an out-of-core merge
(:mod:`.counts`), image captions (:mod:`.captions`) and hourly pageviews (:mod:`.pageviews`).
``wiki_count`` is imported on first use (importing this package costs nothing).
"""

__all__ = ["wiki_count"]


def __getattr__(name: str):
    if name == "wiki_count":
        from .counts.run import wiki_count

        return wiki_count
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
