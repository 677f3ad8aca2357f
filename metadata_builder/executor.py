"""One way to run per-shard work, used by every sharded command (``wiki-count``, ``match``, ``balance``).

``map_tasks(fn, tasks, shared=..., workers=N)`` calls ``fn(task, shared)`` for every task and yields
``(task, result)`` as tasks finish. ``shared`` is a large read-only object (an automaton, a
probability table) that reaches each worker once: with the local engine it is inherited
copy-on-write by forked workers, never pickled per task.

Determinism is the caller's job and is easy: every task writes its own output (or returns its own
result), and the caller combines results in task order, not completion order.

A task that raises does not stop the others: its exception is collected and, once every other task
has finished, :class:`TasksFailed` (a :class:`UserError`) names each failed task, so finished shards
are kept and a rerun redoes only the failed ones.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from tqdm.auto import tqdm

from .errors import UserError

ENGINES = ("local",)

_SHARED: Any = None  # set in the parent before forking; read by workers


@dataclass
class TaskError:
    task: Any
    message: str
    traceback: str


class TasksFailed(UserError):
    def __init__(self, errors: list[TaskError]):
        self.errors = errors
        names = "; ".join(f"{_task_name(e.task)}: {e.message}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(
            f"{len(errors)} task(s) failed: {names}{more}. Finished shards are kept; rerun to redo only these."
        )


def _task_name(task) -> str:
    return str(getattr(task, "name", task))


def _call(fn, task):
    try:
        return task, fn(task, _SHARED), None
    except Exception as exc:  # collected and reported with the task's name
        return task, None, TaskError(task, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _call_packed(args):
    fn, task = args
    return _call(fn, task)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def map_tasks(
    fn: Callable[[Any, Any], Any],
    tasks: Iterable[Any],
    *,
    shared: Any = None,
    workers: int = 1,
    engine: str = "local",
    desc: str | None = None,
    unit: str = "shard",
    progress: bool = True,
) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(task, shared)`` over ``tasks``; yield ``(task, result)`` in completion order.

    Parameters
    ----------
    fn : a module-level function (it is sent to workers by reference).
    tasks : small picklable descriptions of the work (paths, byte ranges...).
    shared : read-only object every call receives; sent to each worker once.
    workers : processes; 1 runs in this process (easiest to debug and profile).
    engine : ``"local"`` (multiprocessing, fork).
    """
    global _SHARED
    tasks = list(tasks)
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    errors: list[TaskError] = []
    bar = tqdm(total=len(tasks), desc=desc, unit=f" {unit}", disable=not progress or not tasks)
    previous, _SHARED = _SHARED, shared
    try:
        if workers == 1 or len(tasks) <= 1:
            results = (_call(fn, t) for t in tasks)
            pool = None
        else:
            pool = mp.get_context("fork").Pool(min(workers, len(tasks)))
            results = pool.imap_unordered(_call_packed, [(fn, t) for t in tasks])
        try:
            for task, result, error in results:
                bar.update(1)
                if error is not None:
                    errors.append(error)
                    continue
                yield task, result
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    finally:
        _SHARED = previous
        bar.close()
    if errors:
        raise TasksFailed(errors)


def add_executor_arguments(parser, default_workers_: int | None = None) -> None:
    """The ``--workers`` / ``--engine`` options every sharded command shares."""
    parser.add_argument("--workers", type=int, default=default_workers_ or default_workers(),
                        help="parallel worker processes (default: the cores available)")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="where tasks run: local processes (default)")
