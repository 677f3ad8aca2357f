"""``metadata-builder``: one sub-command per module in :mod:`metadata_builder.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``; adding a
command is adding a module (its file name is ``NAME`` with ``_`` for ``-``). Only the module of the command
being run is imported, so a command starts without importing every other command's libraries. Every
command takes ``--no-progress`` (added here when its module does not define it), read by
:func:`~metadata_builder.runtime.executor.from_args`. Problems the user can fix (:class:`~metadata_builder.errors.UserError`)
print one line and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import UserError


def _command_modules(only: str | None = None):
    """Every command module, or only the one for the command ``only`` when there is one."""
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    if only is not None and only.replace("-", "_") in names:
        names = [only.replace("-", "_")]
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in names]


def _command_of(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (its first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser: every command, or only the command ``only`` (what :func:`main` runs)."""
    parser = argparse.ArgumentParser(
        prog="metadata-builder",
        description="Rebuild MetaCLIP's metadata, match alt-texts against it, balance and analyse the pool.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules(only):
        if only is not None and module.NAME != only:  # a module whose file name is not its command
            return build_parser()
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__)
        module.add_arguments(p)
        try:
            p.add_argument("--no-progress", action="store_true", help="no progress bars")
        except argparse.ArgumentError:  # the command defines it itself
            pass
        p.set_defaults(_run=module.run)
    return parser


#: errno values that mean "the disk is full" (no space, quota, file too large).
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(_command_of(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    try:
        return args._run(args) or 0
    except UserError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print("metadata-builder: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
        return 130
    except MemoryError:
        return _error(f"{args.command} ran out of memory; finished shards are kept: rerun with fewer --workers "
                      "(or a smaller --batch-size / --memory-limit where the command has one) to resume")
    except OSError as exc:
        if exc.errno not in _FULL:
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        return _error(f"{args.command}: the disk is full{where} ({exc.strerror}); free space, then rerun the same "
                      "command to resume (finished shards are kept)")


def _error(message: str) -> int:
    print(f"metadata-builder: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
