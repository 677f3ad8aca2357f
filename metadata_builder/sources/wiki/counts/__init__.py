"""Sharded, resumable counting of Wikipedia dumps: one shard's partials (:mod:`.shard`), the out-of-core
merge (:mod:`.merge`), and the command's run (:mod:`.run`). ``wiki_count`` is imported on first use, so
that :mod:`.options` can be read without the counting code's libraries."""

__all__ = ["wiki_count"]


def __getattr__(name: str):
    if name == "wiki_count":
        from .run import wiki_count

        return wiki_count
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
