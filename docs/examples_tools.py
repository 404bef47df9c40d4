"""Tools used by the examples in docs/tools.md and docs/workflows.md."""

from __future__ import annotations


def weather(city: str) -> str:
    """Today's weather in a city.

    Args:
        city: the city's name, e.g. "Oslo".
    """
    return f"Sunny in {city}, 21 C."


def refund(order_id: str, amount: float) -> str:
    """Refund an order (an example: it only says what it would do).

    Args:
        order_id: the order to refund.
        amount: how much, in euros.
    """
    return f"would refund {amount:.2f} EUR on order {order_id}"
