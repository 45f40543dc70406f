"""genvoris/formatting.py: a price and a duration read the same on every page (issue 13)."""

from decimal import Decimal
from typing import Any

import pytest

from genvoris.formatting import duration, price


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Decimal("0.0800"), "USD", "$0.08"),
        (Decimal("0"), "USD", "Free"),
        (Decimal("0.0000"), "EUR", "Free"),
        (Decimal("12.0000"), "EUR", "€12"),
        (Decimal("1.5"), "GBP", "£1.50"),
        (Decimal("0.0125"), "USD", "$0.0125"),
        (Decimal("1234.5"), "USD", "$1,234.50"),
        (Decimal("0.08"), "chf", "0.08 CHF"),
        ("0.0800", "USD", "$0.08"),  # as an audit entry's detail holds it
        (3, "USD", "$3"),
        (None, "USD", "—"),
        ("lots", "USD", "—"),
        (Decimal("NaN"), "USD", "—"),
    ],
)
def test_price(value: Any, currency: str, shown: str) -> None:
    assert price(value, currency) == shown


def test_price_defaults_to_the_billing_currency(settings: Any) -> None:
    settings.BILLING_CURRENCY = "EUR"
    assert price(Decimal("0.0800")) == "€0.08"


DURATIONS = [
    (None, "—"),
    (0, "< 1 ms"),
    (0.4, "< 1 ms"),
    (42, "42 ms"),
    (42.6, "43 ms"),
    (999, "999 ms"),
    (999.7, "1.0 s"),
    (1000, "1.0 s"),
    (4200, "4.2 s"),
    (61_000, "61.0 s"),
]


@pytest.mark.parametrize(("ms", "shown"), DURATIONS)
def test_duration(ms: float | None, shown: str) -> None:
    assert duration(ms) == shown


def test_a_duration_rounded_to_buckets_never_reads_zero() -> None:
    assert [duration(ms, 100) for ms in (0, 100, 300, 2000)] == ["< 50 ms", "100 ms", "300 ms", "2.0 s"]
