"""Where per-shard work runs: an executor is a value built once (from the CLI or in Python) and passed on.

- :class:`Local` ``(workers=N)``: forked processes on this machine (``workers=1`` runs in this process,
  easiest to debug and profile). A large read-only ``shared`` object (an automaton, a probability
  table) is inherited copy-on-write, never pickled per task.
- :class:`Ray` ``(address=..., workers=N)``: Ray core tasks on a cluster (or on a local Ray instance
  with ``workers`` CPUs when no address is given). ``shared`` is put in Ray's object store once: a
  node holds one copy, and each worker process deserialises it once, on its first task, and keeps
  it for the tasks that follow. Ray is an optional extra (``pip install 'metadata-builder[ray]'``).

``executor.map(fn, tasks, shared=...)`` calls ``fn(task, shared)`` for every task and yields
``(task, result)`` as tasks finish. Determinism is the caller's job and is easy: every task writes
its own output (or returns its own result) and the caller combines results in task order, so the
outputs do not depend on the executor or the worker count (:mod:`.shards` does exactly that).

A task that raises does not stop the others: its error is collected and, once every other task
has finished, :class:`TasksFailed` (a :class:`UserError`) names each failed task, so finished shards
are kept and a rerun redoes only the failed ones. Both executors report the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import logging
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator

from ..errors import UserError

ENGINES = ("local", "ray")
RAY_INSTALL_HINT = "pip install 'metadata-builder[ray]'"
#: Ray reruns a task whose worker process or node died this many times before reporting it failed.
RAY_MAX_RETRIES = 3

_SHARED: Any = None  # the local executor's shared object: set in the parent before forking
#: In a Ray worker process: the deserialised ``shared`` of the job's current ObjectRef (hex -> object).
_RAY_WORKER_SHARED: dict[str, Any] = {}


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
    """How failures name a task: its ``.name`` (a shard), its ``"name"`` key, else ``str``."""
    if hasattr(task, "name"):
        return str(task.name)
    if isinstance(task, dict) and "name" in task:
        return str(task["name"])
    return str(task)


def _call(fn, task, shared=None):
    try:
        return task, fn(task, shared), None
    except Exception as exc:  # collected and reported with the task's name
        return task, None, TaskError(task, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _call_packed(args):
    fn, task = args
    return _call(fn, task, _SHARED)


def _worker_init() -> None:
    """Pool initializer. The kernel kills this worker when its parent dies (Linux), so a driver
    killed by a signal or by the OOM killer never leaves workers behind. Arrow's own thread pool
    is cut to one thread: the processes are the parallelism, and idle threads cost address space."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux/glibc: nothing to do
        pass
    try:
        import pyarrow

        pyarrow.set_cpu_count(1)
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass


def default_workers() -> int:
    """The cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Executor:
    """What every executor offers: ``map`` and a progress switch."""

    progress: bool = True
    workers: int | None = None

    def map(self, fn: Callable[[Any, Any], Any], tasks: Iterable[Any], *, shared: Any = None,
            desc: str | None = None, unit: str = "shard") -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def quiet(self) -> "Executor":
        """The same executor without progress bars."""
        return replace(self, progress=False)

    @property
    def parallelism(self) -> int:
        """How many tasks run at once here (for thread counts of the steps around ``map``)."""
        return max(1, self.workers or default_workers())


@dataclass(frozen=True)
class Local(Executor):
    """Forked worker processes on this machine; ``workers=1`` runs every task in this process."""

    workers: int = 1
    progress: bool = True

    def __post_init__(self):
        if not isinstance(self.workers, int) or self.workers < 1:
            raise UserError(f"--workers must be >= 1, got {self.workers}")

    def map(self, fn, tasks, *, shared=None, desc=None, unit="shard"):
        global _SHARED
        tasks = list(tasks)
        errors: list[TaskError] = []
        from tqdm.auto import tqdm  # here, not at the top: a command's --help should not wait for it

        bar = tqdm(total=len(tasks), desc=desc, unit=f" {unit}", disable=not self.progress or not tasks)
        previous, _SHARED = _SHARED, shared
        try:
            results = (_call(fn, t, shared) for t in tasks) if self.workers == 1 or len(tasks) <= 1 \
                else _forked(fn, tasks, min(self.workers, len(tasks)))
            for task, result, error in results:
                bar.update(1)
                if error is not None:
                    errors.append(error)
                    continue
                yield task, result
        finally:
            _SHARED = previous
            bar.close()
        if errors:
            raise TasksFailed(errors)


#: What a task is told when its worker process vanished (``kill -9``, the kernel's OOM killer).
WORKER_DIED = "its worker process died (killed by a signal, or by the system when out of memory)"


def _forked(fn, tasks: list, workers: int):
    """``(task, result, error)`` of every task, in completion order, from forked worker processes.

    A worker that dies does not hang the run: its task, and the tasks that were waiting for a
    worker when it died, come back as errors (the run reports them; a rerun redoes them). Nor does
    the pool's own machinery: when one of its threads fails (it cannot start a thread when the
    address space is exhausted, ``ulimit -v``), the run stops with a MemoryError instead of waiting
    for results that will never come.
    """
    import threading
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    failed: list[BaseException] = []
    previous_hook = threading.excepthook

    def hook(args):  # an exception ending a thread of the pool (its manager, its queue feeder)
        if type(args.thread).__module__.startswith(("concurrent.futures", "multiprocessing")):
            failed.append(args.exc_value)
        else:
            previous_hook(args)

    threading.excepthook = hook
    before = set(mp.active_children())
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_worker_init)
    done = False
    try:
        futures = {pool.submit(_call_packed, (fn, task)): task for task in tasks}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    yield future.result()
                except BrokenProcessPool:
                    yield futures[future], None, TaskError(futures[future], WORKER_DIED, "")
            if failed and pending:
                error = failed[0]
                if isinstance(error, MemoryError) or "can't start new thread" in str(error):
                    raise MemoryError(f"the worker pool could not go on ({error})")
                raise RuntimeError(f"the worker pool's {type(error).__name__}: {error}") from error
        done = True
    finally:
        threading.excepthook = previous_hook
        # every task finished: wait for the pool's manager thread, so that it does not race the
        # interpreter's exit (concurrent.futures' exit hook then writes to a pipe the thread closed:
        # a traceback after the command's own one-line error); stopped early: do not wait for workers
        pool.shutdown(wait=done, cancel_futures=True)
        if failed:  # the pool cannot tell its workers to stop: they would keep the process from exiting
            for worker in set(mp.active_children()) - before:
                worker.terminate()


@dataclass(frozen=True)
class Ray(Executor):
    """Ray core tasks: on the cluster at ``address`` (``"auto"``, ``"HOST:6379"``,
    ``"ray://HOST:10001"``), or on a new local Ray instance with ``workers`` CPUs when there is none.
    On a cluster the cluster's CPUs decide (one task per CPU) and ``workers`` is not used."""

    address: str | None = None
    workers: int | None = None
    progress: bool = True

    def map(self, fn, tasks, *, shared=None, desc=None, unit="shard"):
        tasks = list(tasks)
        if not tasks:  # e.g. a resumed run with every shard done: no need to start or join Ray
            return
        yield from _map_ray(fn, tasks, shared, self, desc, unit)


def from_args(args, *, progress: bool | None = None) -> Executor:
    """The executor the command-line options ask for (``--engine``, ``--workers``, ``--ray-address``)."""
    show = (not getattr(args, "no_progress", False)) if progress is None else progress
    if getattr(args, "engine", "local") == "ray":
        return Ray(address=args.ray_address, workers=args.workers, progress=show)
    return Local(workers=args.workers, progress=show)


# --- Ray ------------------------------------------------------------------------------------------

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
    if box is None:
        return None
    ref = box[0]
    key = ref.hex()
    if key not in _RAY_WORKER_SHARED:
        import ray

        _RAY_WORKER_SHARED.clear()  # one job's object at a time: a long-lived worker does not pile them up
        _RAY_WORKER_SHARED[key] = ray.get(ref)
    return _RAY_WORKER_SHARED[key]


def _ray_task(fn, task, box):
    """The Ray remote body: the same ``_call`` as the local executor, so failures read the same.

    ``box`` is ``[ObjectRef]``: wrapped in a list so that Ray does not resolve (and deserialise) it
    for every task; :func:`_ray_shared` resolves it once per worker instead.
    """
    try:
        shared = _ray_shared(box)
    except Exception as exc:
        return task, None, TaskError(task, f"cannot load the shared object: {type(exc).__name__}: {exc}",
                                     traceback.format_exc())
    return _call(fn, task, shared)


_REMOTE = None


def _map_ray(fn, tasks, shared, executor: Ray, desc, unit):
    global _REMOTE
    ray = ray_init(executor.address, executor.workers)
    if _REMOTE is None:
        # num_cpus=1: one task per CPU, so a node runs as many shards at once as it has cores.
        _REMOTE = ray.remote(num_cpus=1)(_ray_task)
    errors: list[TaskError] = []
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit=f" {unit}", disable=not executor.progress or not tasks)
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


def _workers(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {value!r}") from None
    if workers < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {workers}")
    return workers


def add_executor_arguments(parser) -> None:
    """The ``--workers`` / ``--engine`` / ``--ray-address`` options every sharded command shares
    (turned into an executor by :func:`from_args`)."""
    parser.add_argument("--workers", type=_workers, default=default_workers(),
                        help="parallel worker processes (default: the cores available); with --engine ray "
                             "and no cluster, the CPUs of the local Ray instance")
    parser.add_argument("--engine", type=_engine, choices=ENGINES, default="local",
                        help="where tasks run: local processes (default) or Ray core tasks "
                             f"(a cluster or a local instance; needs {RAY_INSTALL_HINT})")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="with --engine ray: the cluster to join (HOST:6379, ray://HOST:10001, or 'auto' "
                             "for the one 'ray start' runs on this machine); default: $RAY_ADDRESS, else a new "
                             "local Ray instance with --workers CPUs")
