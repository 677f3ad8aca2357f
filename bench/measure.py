"""Run one benchmark step in a child process and measure it: wall, CPU, peak memory."""

from __future__ import annotations

import os
import subprocess
import time

import psutil


def run_measured(argv: list[str], interval: float = 0.5, **popen) -> dict:
    """Run ``argv`` to completion; return its exit code and what it cost.

    ``max_rss_process`` is ``wait4``'s ``ru_maxrss`` (the largest single process among the command
    and its waited-for descendants); ``peak_rss_tree`` is the largest sum of RSS over the live
    process tree, sampled every ``interval`` seconds (copy-on-write pages shared by forked workers
    count once per process, so it is an upper bound).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, **popen)
    root = psutil.Process(proc.pid)
    peak_tree = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = 0
        try:
            for p in [root] + root.children(recursive=True):
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak_tree = max(peak_tree, rss)
        time.sleep(interval)
    return {
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": time.perf_counter() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_process": usage.ru_maxrss * 1024,
        "peak_rss_tree": peak_tree,
    }
