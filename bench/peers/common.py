"""Shared by the peer benchmarks (run inside bench/.peers-venv, never in compound's venv)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_per_call(fn: Callable[[], Any], *, number: int, repeat: int,
                    after: Callable[[], Any] | None = None) -> float:
    """Median over ``repeat`` rounds of the mean seconds per call of ``fn``; ``after`` runs
    inside each round (to include e.g. flushing a trace writer)."""
    for _ in range(max(3, number // 10)):
        fn()
    if after is not None:
        after()
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        if after is not None:
            after()
        rounds.append((time.perf_counter() - start) / number)
    return statistics.median(rounds)


def step_functions() -> tuple[Callable[[int], int], ...]:
    """The 5 zero-latency steps every framework chains (distinct names: s1 ... s5)."""

    def s1(x: int) -> int:
        return x + 1

    def s2(x: int) -> int:
        return x + 1

    def s3(x: int) -> int:
        return x + 1

    def s4(x: int) -> int:
        return x + 1

    def s5(x: int) -> int:
        return x + 1

    return s1, s2, s3, s4, s5


def plain_pipeline() -> Callable[[], Any]:
    """The same 5 zero-latency steps as plain Python calls: the baseline."""
    s1, s2, s3, s4, s5 = step_functions()
    return lambda: s5(s4(s3(s2(s1(0)))))


def tool_functions() -> tuple[Callable[..., Any], ...]:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    def negate(a: int) -> int:
        """Negate an integer."""
        return -a

    return add, multiply, negate
