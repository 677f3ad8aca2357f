"""Fault injection for tests/test_faults.py, loaded into a command's process (and its forked workers)
by putting this folder first on ``PYTHONPATH``. Nothing of it is in the library.

``METADATA_BUILDER_FAULT="KIND@module:attribute[#N]"`` wraps ``module.attribute`` (a function, or
``Class.method``) so that its N-th call (default 1) in a process does KIND instead of running:

- ``kill``: the process kills itself with SIGKILL (a crash, a lost node, ``kill -9``);
- ``enospc``: ``OSError(ENOSPC)`` is raised, as when the disk fills up;
- ``memory``: ``MemoryError`` is raised.
"""

import errno
import importlib
import os
import signal

_SPEC = os.environ.get("METADATA_BUILDER_FAULT")


def _install(spec: str) -> None:
    kind, target = spec.split("@", 1)
    target, _, nth = target.partition("#")
    module_name, attribute = target.split(":", 1)
    owner = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = {"n": 0}

    def faulty(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == int(nth or 1):
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if kind == "enospc":
                where = args[0] if args and isinstance(args[0], (str, os.PathLike)) else None
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), where)
            if kind == "memory":
                raise MemoryError("injected")
        return original(*args, **kwargs)

    # pickled by name (a task sent to a worker) it must resolve to itself
    faulty.__module__, faulty.__qualname__ = original.__module__, original.__qualname__
    setattr(owner, name, faulty)


if _SPEC:
    _install(_SPEC)
