"""One way to run per-shard work, used by every sharded command (``wiki-count``, ``match``, ``balance``).

``map_tasks(fn, tasks, shared=..., workers=N, engine=...)`` calls ``fn(task, shared)`` for every task
and yields ``(task, result)`` as tasks finish. ``shared`` is a large read-only object (an automaton, a
probability table) that reaches each worker once, never pickled per task:

- ``engine="local"`` (default): forked processes inherit it copy-on-write.
- ``engine="ray"``: it is put in Ray's object store once (``ray.put``): a node holds one copy,
  however many tasks and workers run there, and each worker process deserialises it once, on its
  first task, and keeps it in a one-entry cache for the tasks that follow. Ray is an optional extra
  (``pip install 'metadata-builder[ray]'``).

Determinism is the caller's job and is easy: every task writes its own output (or returns its own
result), and the caller combines results in task order, not completion order; so the outputs do not
depend on the engine or the worker count.

A task that raises does not stop the others: its exception is collected and, once every other task
has finished, :class:`TasksFailed` (a :class:`UserError`) names each failed task, so finished shards
are kept and a rerun redoes only the failed ones. Both engines report the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import logging
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from tqdm.auto import tqdm

from .errors import UserError

ENGINES = ("local", "ray")
RAY_INSTALL_HINT = "pip install 'metadata-builder[ray]'"

_SHARED: Any = None  # set in the parent before forking; read by workers
#: In a Ray worker process: the deserialised ``shared`` of the job's current ObjectRef (hex -> object).
_RAY_WORKER_SHARED: dict[str, Any] = {}
#: How many times this process deserialised a ``shared`` object from Ray's object store (for tests).
_RAY_SHARED_LOADS = 0


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
    """How failures name a task: its ``.name`` (a shard), else the ``name`` key or the first item
    with a ``.name`` of a dict / tuple task (``{"pool": shard, ...}``, ``(shard, out_dir)``), else ``str``."""
    if hasattr(task, "name"):
        return str(task.name)
    if isinstance(task, dict) and "name" in task:
        return str(task["name"])
    items = task.values() if isinstance(task, dict) else task if isinstance(task, (tuple, list)) else ()
    for item in items:
        if hasattr(item, "name"):
            return str(item.name)
    return str(task)


def _call(fn, task, shared=None):
    try:
        return task, fn(task, shared), None
    except Exception as exc:  # collected and reported with the task's name
        return task, None, TaskError(task, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _call_packed(args):
    fn, task = args
    return _call(fn, task, _SHARED)


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
    ray_address: str | None = None,
) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(task, shared)`` over ``tasks``; yield ``(task, result)`` in completion order.

    Parameters
    ----------
    fn : a module-level function (it is sent to workers by reference).
    tasks : small picklable descriptions of the work (paths, byte ranges...).
    shared : read-only object every call receives; sent to each worker once.
    workers : local engine: processes (1 runs in this process, easiest to debug and profile).
        Ray engine: the CPUs of the local Ray instance started when none is running; on a cluster
        the cluster's CPUs decide (one task per CPU) and ``workers`` is not used.
    engine : ``"local"`` (multiprocessing, fork) or ``"ray"`` (Ray core tasks).
    ray_address : the Ray cluster to join (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``);
        default: the ``RAY_ADDRESS`` environment variable (which ``--ray-address`` sets), else a
        new local instance.
    """
    global _SHARED
    tasks = list(tasks)
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if engine == "ray":
        if not tasks:  # e.g. a resumed run with every shard done: no need to start or join Ray
            return
        yield from _map_ray(fn, tasks, shared, workers, desc, unit, progress, ray_address)
        return
    errors: list[TaskError] = []
    bar = tqdm(total=len(tasks), desc=desc, unit=f" {unit}", disable=not progress or not tasks)
    previous, _SHARED = _SHARED, shared
    try:
        if workers == 1 or len(tasks) <= 1:
            results = (_call(fn, t, shared) for t in tasks)
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


# --- Ray engine -----------------------------------------------------------------------------------

def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"--engine ray: Ray is not installed; {RAY_INSTALL_HINT}") from None
    return ray


def ray_init(address: str | None = None, workers: int | None = None):
    """Join (or start) Ray once per process and return the ``ray`` module.

    An already initialised Ray (a notebook, a test fixture) is used as it is. Otherwise ``address``
    (or ``RAY_ADDRESS``) names the cluster to join (``"auto"``: the one ``ray start`` runs on this
    machine); without either, a new local instance with ``workers`` CPUs is started, quietly (no
    dashboard, worker logs not copied to the terminal: task errors come back with their tracebacks).
    """
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    options = dict(log_to_driver=False, logging_level=logging.WARNING)
    try:
        if address:
            ray.init(address=address, **options)
        else:  # always a new instance: never a cluster that 'ray start' left recorded (maybe long gone)
            ray.init(address="local", num_cpus=workers, include_dashboard=False, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray instance"
        raise UserError(f"--engine ray: cannot start or join {where}: {exc}; "
                        "check --ray-address / RAY_ADDRESS and that 'ray start' runs there") from None
    return ray


def _ray_shared(box):
    """``shared`` in a Ray worker: fetched and deserialised once per process, then cached."""
    global _RAY_SHARED_LOADS
    if box is None:
        return None
    ref = box[0]
    key = ref.hex()
    if key not in _RAY_WORKER_SHARED:
        import ray

        _RAY_WORKER_SHARED.clear()  # one job's object at a time: a long-lived worker does not pile them up
        _RAY_WORKER_SHARED[key] = ray.get(ref)
        _RAY_SHARED_LOADS += 1
    return _RAY_WORKER_SHARED[key]


def _ray_task(fn, task, box):
    """The Ray remote body: the same ``_call`` as the local engine, so failures read the same.

    ``box`` is ``[ObjectRef]``: wrapped in a list so that Ray does not resolve (and deserialise) it
    for every task; :func:`_ray_shared` resolves it once per worker instead.
    """
    try:
        shared = _ray_shared(box)
    except Exception as exc:
        return task, None, TaskError(task, f"cannot load the shared object: {type(exc).__name__}: {exc}",
                                     traceback.format_exc())
    return _call(fn, task, shared)


def ray_shared_loads() -> int:
    """How many times this worker process deserialised ``shared`` (run it as a Ray task to ask)."""
    return _RAY_SHARED_LOADS


_REMOTE = None
#: Ray reruns a task whose worker process or node died this many times before reporting it failed.
RAY_MAX_RETRIES = 3


def _map_ray(fn, tasks, shared, workers, desc, unit, progress, ray_address):
    global _REMOTE
    ray = ray_init(ray_address, workers)
    if _REMOTE is None:
        # num_cpus=1: one task per CPU, so a node runs as many shards at once as it has cores.
        _REMOTE = ray.remote(num_cpus=1)(_ray_task)
    errors: list[TaskError] = []
    bar = tqdm(total=len(tasks), desc=desc, unit=f" {unit}", disable=not progress or not tasks)
    box = [ray.put(shared)] if shared is not None else None  # into the object store once
    remote = _REMOTE.options(max_retries=RAY_MAX_RETRIES)  # exceptions are caught in _call, never retried
    # Tasks in flight: enough that no CPU waits for work (4 per CPU, at least 64), while thousands of
    # shards are not all queued at once (so each ray.wait round stays cheap).
    in_flight = max(64, 4 * int(ray.cluster_resources().get("CPU", 1)))
    queue = iter(enumerate(tasks))
    pending: dict = {}
    try:
        while True:
            for i, task in itertools.islice(queue, max(0, in_flight - len(pending))):
                pending[remote.remote(fn, task, box)] = i
            if not pending:
                break
            refs = list(pending)
            done, refs = ray.wait(refs, num_returns=1)
            if refs:  # take every other finished task in the same round
                more, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                done += more
            for ref in done:
                task = tasks[pending.pop(ref)]
                bar.update(1)
                try:
                    _, result, error = ray.get(ref)
                except Exception as exc:  # the worker or its node died: Ray's own retries are spent
                    first_line = (str(exc).strip().splitlines() or [""])[0].rstrip(".")
                    result, error = None, TaskError(task, f"{type(exc).__name__}: {first_line}", str(exc))
                if error is not None:
                    errors.append(TaskError(task, error.message, error.traceback))
                    continue
                yield task, result
    finally:
        for ref in pending:  # stopped early (an error in the caller, Ctrl-C): drop the rest
            ray.cancel(ref)
        bar.close()
    if errors:
        raise TasksFailed(errors)


# --- command-line options -------------------------------------------------------------------------

def _engine(value: str) -> str:
    if value == "ray" and importlib.util.find_spec("ray") is None:
        raise argparse.ArgumentTypeError(f"Ray is not installed; {RAY_INSTALL_HINT}")
    return value


class _RayAddress(argparse.Action):
    """``--ray-address ADDR`` is ``RAY_ADDRESS=ADDR``: the engine (and Ray itself) read it there."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        os.environ["RAY_ADDRESS"] = values


def add_executor_arguments(parser, default_workers_: int | None = None) -> None:
    """The ``--workers`` / ``--engine`` / ``--ray-address`` options every sharded command shares."""
    parser.add_argument("--workers", type=int, default=default_workers_ or default_workers(),
                        help="parallel worker processes (default: the cores available); with --engine ray "
                             "and no cluster, the CPUs of the local Ray instance")
    parser.add_argument("--engine", type=_engine, choices=ENGINES, default="local",
                        help="where tasks run: local processes (default) or Ray core tasks "
                             f"(a cluster or a local instance; needs {RAY_INSTALL_HINT})")
    parser.add_argument("--ray-address", action=_RayAddress, default=None, metavar="ADDR",
                        help="with --engine ray: the cluster to join (HOST:6379, ray://HOST:10001, or 'auto' "
                             "for the one 'ray start' runs on this machine); default: $RAY_ADDRESS, else a new "
                             "local Ray instance with --workers CPUs")
