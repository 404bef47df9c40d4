"""The embedded model's thread policy: all cores on an idle machine, the free ones when other
threads are running."""

from __future__ import annotations

import pytest

from compound.intelligence.llm.threads import ThreadPolicy, busy_elsewhere


@pytest.mark.parametrize(("cores", "others", "threads"), [
    (2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 1.6, 1), (2, 9.0, 1),
    (8, 0.0, 8), (8, 3.0, 5), (8, 7.9, 1), (1, 5.0, 1),
])
def test_threads_follow_what_runs_elsewhere(cores: int, others: float, threads: int) -> None:
    assert ThreadPolicy(cores=cores, others=lambda: others).choose() == threads


def test_an_unknown_load_gives_every_core() -> None:
    assert ThreadPolicy(cores=4, others=lambda: None).choose() == 4


def test_a_busy_process_is_seen() -> None:
    """A process spinning on a core counts as (about) one thread running elsewhere."""
    import multiprocessing
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the runnable count is read from /proc/loadavg")
    spinning = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    spinning.start()
    try:
        seen = max(busy_elsewhere() or 0.0 for _ in range(20))
    finally:
        spinning.terminate()
        spinning.join()
    assert seen >= 1


def _spin() -> None:
    while True:
        pass
