"""How many CPU threads the embedded model computes with, chosen before each call from how
busy the rest of the machine is.

llama.cpp splits each token's work across its threads and waits for the slowest at every
layer, so one thread that the scheduler puts aside stalls them all. On an idle machine every
core helps; when other processes keep a core busy, fewer threads go faster. Measured on this
project's 2-core machine with the embedded Gemma 3 270M (a 48-token answer, median of 3):

==============================  ==========  ==========
tokens per second               1 thread    2 threads
==============================  ==========  ==========
generation, machine idle        33.0        52.0
generation, one busy process    25.0        3.6
prompt (~700 tokens), idle      188         329
prompt, one busy process        86          60
==============================  ==========  ==========

So :class:`ThreadPolicy` counts the threads running elsewhere just before the call: on Linux
the kernel's count of runnable threads (``/proc/loadavg``), sampled a few times over a few
milliseconds, less this process's own running threads; elsewhere the 1-minute load average
(which lags: work that ended a minute ago still counts). It gives all cores when less than
half a core is busy elsewhere, else the cores left free (at least one).

Example:
    >>> ThreadPolicy(cores=2, others=lambda: 0.0).choose()
    2
    >>> ThreadPolicy(cores=2, others=lambda: 1.0).choose()
    1
    >>> ThreadPolicy(cores=8, others=lambda: 3.0).choose()
    5
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

#: Less than this many threads running elsewhere counts as an idle machine.
IDLE_BELOW = 0.5
#: Samples of the runnable count, and the pause between them.
SAMPLES, PAUSE_S = 5, 0.002


def busy_elsewhere() -> float | None:
    """Threads running on the machine besides the caller, now (None where unknown)."""
    try:
        counts = []
        for sample in range(SAMPLES):
            if sample:
                time.sleep(PAUSE_S)
            running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
            counts.append(int(running) - _running_here())
        return max(0.0, statistics.median(counts))
    except (OSError, IndexError, ValueError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on this platform (Windows)
        return None


def _running_here() -> int:
    """This process's threads that are running (the caller among them, and any llama.cpp
    worker still spinning after the last call): not someone else's load."""
    found = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        found += stat[stat.rindex(")") + 2] == "R"
    return max(found, 1)


class ThreadPolicy:
    """Threads for the next call: all ``cores`` on an idle machine, else those left free.

    Args:
        cores: the CPU cores to use at most (the machine's by default).
        others: how many threads run elsewhere (:func:`busy_elsewhere`; None where
            unknown, which gives all cores).
    """

    def __init__(self, *, cores: int | None = None,
                 others: Callable[[], float | None] = busy_elsewhere) -> None:
        self.cores = max(1, cores or os.cpu_count() or 1)
        self.others = others

    def choose(self) -> int:
        """The threads for the next call."""
        busy = self.others()
        if busy is None or busy < IDLE_BELOW:
            return self.cores
        return max(1, min(self.cores, int(self.cores - busy + 0.5)))
