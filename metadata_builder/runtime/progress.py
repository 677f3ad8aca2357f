"""A progress bar that worker processes feed while they work (bytes read, rows matched, pages...).

The executor's own bar counts finished shards, which says nothing while one large shard runs. A
:class:`LiveBar` owns a small shared array of counters (inherited by forked workers); workers add to
it through a :class:`Meter`, a thread in the parent redraws the bar twice a second. The first
counter advances the bar towards its total; the others are shown beside it. Under Ray the array
is not shared (``counters`` is None): the bar then only shows the end.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

from tqdm.auto import tqdm

#: The redraw thread's stack (the default, 8 MiB of address space, is far more than it needs; under
#: an address-space limit every thread's reservation counts).
_STACK = 256 * 1024


class LiveBar:
    """tqdm over ``counters[0]`` towards ``total``; ``postfix(counters, seconds)`` describes the rest.

    Use as a context manager; hand :attr:`counters` to the workers (``None`` when not live).
    """

    def __init__(self, total: int | None, *, desc: str, unit: str, size: int = 1, enabled: bool = True,
                 live: bool = True, unit_scale: bool = False,
                 postfix: Callable[[Sequence[int], float], dict] | None = None):
        import multiprocessing as mp

        self.counters = mp.get_context("fork").Array("q", size) if (enabled and live) else None
        self.bar = tqdm(total=total, unit=unit, unit_scale=unit_scale, desc=desc, disable=not enabled)
        self.postfix = postfix
        self.started = time.perf_counter()
        self._stop: threading.Event | None = None

    def _show(self) -> None:
        values = list(self.counters)
        self.bar.n = min(values[0], self.bar.total) if self.bar.total else values[0]
        if self.postfix is not None:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.bar.set_postfix(self.postfix(values, elapsed), refresh=False)
        self.bar.refresh()

    def __enter__(self) -> "LiveBar":
        if self.counters is not None:
            self._stop = threading.Event()

            def loop():
                while not self._stop.wait(0.5):
                    self._show()

            self._thread = threading.Thread(target=loop, daemon=True)
            previous = threading.stack_size(_STACK)  # a small stack: this thread only redraws a bar
            try:
                self._thread.start()
            except RuntimeError:  # no thread to spare (a tight address-space limit): no live updates
                self._stop = None
            finally:
                threading.stack_size(previous)
        return self

    def __exit__(self, *exc) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join()
            self._show()
        self.bar.close()


class Meter:
    """A worker's side of a :class:`LiveBar`: local totals, sent to the shared counters in steps
    (every ``every`` units of the first counter) so the lock is rarely taken."""

    def __init__(self, counters, size: int, every: int = 1 << 20):
        self.counters, self.every = counters, every
        self.sent = [0] * size
        self.now = [0] * size

    def set(self, index: int, value: int) -> None:
        self.now[index] = value
        if index == 0 and self.counters is not None and self.now[0] - self.sent[0] >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.counters is None:
            return
        with self.counters.get_lock():
            for i, (now, sent) in enumerate(zip(self.now, self.sent)):
                self.counters[i] += now - sent
        self.sent = list(self.now)
