"""How a figure reads wherever it is shown (portal templates, selectors, the admin's columns):
one function per kind of figure, so a price or a duration reads the same on every page."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

EMPTY = "—"
# Symbols written before the amount; any other currency follows it by its code ("12 CHF").
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def price(value: Any, currency: str | None = None) -> str:
    """A price per credit: Decimal("0.0800") → "$0.08", 12 → "$12", 0.0125 → "$0.0125", 0 → "Free".

    Whole amounts carry no decimals; others at least two (cents) and no trailing zeros beyond them.
    """
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return EMPTY
    if not amount.is_finite():
        return EMPTY
    if amount == 0:
        return "Free"
    code = (currency or settings.BILLING_CURRENCY).upper()
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # a finite amount
    places = 0 if amount == amount.to_integral_value() else max(2, -exponent)
    figure = f"{abs(amount):,.{places}f}"
    sign = "−" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{figure}" if symbol else f"{sign}{figure} {code}"


def duration(ms: int | float | None, rounded_to: int = 0) -> str:
    """A generation time: 4200 → "4.2 s", 42 → "42 ms", 0.4 → "< 1 ms". Under a second it is
    milliseconds, so a fast generation never reads "0.0 s". A figure `rounded_to` the nearest
    100 ms (the overview's median, from histogram buckets) that rounded to 0 reads "< 50 ms"."""
    if ms is None:
        return EMPTY
    if rounded_to and ms < rounded_to / 2:
        return f"< {rounded_to // 2} ms"
    if ms < 1:
        return "< 1 ms"
    if ms < 1000:
        return f"{round(ms)} ms" if round(ms) < 1000 else "1.0 s"
    return f"{ms / 1000:.1f} s"
