"""The cost table: US dollars per million tokens, per provider and model, in one place.

The embedded model costs nothing per token. Prices for hosted models are list prices at the
time of writing; a spec can override them with ``options.price_per_mtok: {input, output}``.
A model missing from the table costs 0 and ``is_priced`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from compound.intelligence.llm.types import Usage

# (provider, model) -> (input, output) dollars per million tokens
PRICES: dict[tuple[str, str], tuple[float, float]] = {
    ("openai", "gpt-4o"): (2.50, 10.00),
    ("openai", "gpt-4o-mini"): (0.15, 0.60),
    ("openai", "gpt-4.1"): (2.00, 8.00),
    ("openai", "gpt-4.1-mini"): (0.40, 1.60),
    ("openai", "gpt-4.1-nano"): (0.10, 0.40),
    ("anthropic", "claude-3-5-haiku-latest"): (0.80, 4.00),
    ("anthropic", "claude-haiku-4-5"): (1.00, 5.00),
    ("anthropic", "claude-sonnet-4-5"): (3.00, 15.00),
    ("anthropic", "claude-opus-4-1"): (15.00, 75.00),
}
FREE_PROVIDERS = {"embedded", "scripted"}


def is_priced(provider: str, model: str) -> bool:
    """Whether the table knows what ``model`` costs."""
    return provider in FREE_PROVIDERS or (provider, model) in PRICES


def cost_usd(
    provider: str, model: str, usage: Usage, override: Mapping[str, float] | None = None
) -> float:
    """What ``usage`` costs; ``override`` is ``{"input": $, "output": $}`` per million."""
    if override is not None:
        rates = (float(override.get("input", 0.0)), float(override.get("output", 0.0)))
    elif provider in FREE_PROVIDERS:
        return 0.0
    else:
        rates = PRICES.get((provider, model), (0.0, 0.0))
    return (usage.prompt_tokens * rates[0] + usage.completion_tokens * rates[1]) / 1_000_000
