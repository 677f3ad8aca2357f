"""Sharded, resumable counting of Wikipedia dumps: one shard's partials (:mod:`.shard`), the out-of-core
merge (:mod:`.merge`), and the command's run (:mod:`.run`)."""

from .run import wiki_count

__all__ = ["wiki_count"]
