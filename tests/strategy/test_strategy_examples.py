"""The examples in the strategy modules' docstrings run and show what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "compound.strategy.answers", "compound.strategy.batching", "compound.strategy.budgets",
    "compound.strategy.build", "compound.strategy.calibration", "compound.strategy.ensembles",
    "compound.strategy.fallback", "compound.strategy.plot", "compound.strategy.retry",
    "compound.strategy.review", "compound.strategy.routing", "compound.strategy.spec",
    "compound.strategy.steps", "compound.strategy.streaming", "compound.strategy.trace",
    "compound.strategy.cache.exact",
    "compound.strategy.cache.keys", "compound.strategy.cache.llm",
    "compound.strategy.cache.semantic",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_the_public_surface_is_deliberate() -> None:
    import compound.strategy as strategy

    assert set(strategy.__all__) == set(strategy._EXPORTS)
    for name in strategy.__all__:
        assert getattr(strategy, name) is not None
