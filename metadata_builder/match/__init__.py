"""Sub-string matching of alt-text pools against the metadata (docs/recipe.md §2), sharded and resumable.

From Python, :class:`Matcher` matches texts (a list, a pandas Series, an Arrow array) and explains
a text's matches and near misses; :func:`~.run.match_pools` is the ``match`` command's work.
"""

from .matcher import Explanation, Matcher

__all__ = ["Explanation", "Matcher"]
