"""``metadata-builder``: one sub-command per module in :mod:`metadata_builder.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``; adding a
command is adding a module. Problems the user can fix (:class:`~metadata_builder.errors.UserError`)
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


def _command_modules():
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metadata-builder",
        description="Rebuild MetaCLIP's metadata, match alt-texts against it, balance and analyse the pool.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


#: errno values that mean "the disk is full" (no space, quota, file too large).
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
