"""Sub-string matching of alt-text pools against the metadata (docs/recipe.md §2), sharded and resumable."""

from .engine import Matcher

__all__ = ["Matcher"]
