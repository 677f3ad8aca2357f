"""metadata-builder: MetaCLIP's data curation (metadata, matching, balancing), rebuilt from public sources.

The CLI (``metadata-builder``) wraps these plain functions, usable from notebooks::

    from metadata_builder import wordnet_entries, assemble, Source

They are imported on first use (PEP 562), so ``import metadata_builder`` (and so every CLI
command's start-up) does not pay for pandas and friends unless it uses them.
"""

import sys
import types

__version__ = "0.1.0"

_LAZY = {"Assembled": "assemble", "Source": "assemble", "write_outputs": "assemble", "UserError": "errors",
         "wordnet_entries": "sources.wordnet", "wordnet_synsets": "sources.wordnet"}

__all__ = ["Assembled", "Source", "UserError", "assemble", "wordnet_entries", "wordnet_synsets", "write_outputs"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``metadata_builder.assemble`` is the function, as the eager import made it, even once the
    submodule of that name is imported (the import system then sets the attribute: ignored here)."""

    @property
    def assemble(self):
        from .assemble import assemble

        return assemble

    @assemble.setter
    def assemble(self, module):
        pass


sys.modules[__name__].__class__ = _Package
