"""Formatting for the merchant portal's templates: numbers, shares, durations, query strings."""

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.timesince import timesince

from genvoris import formatting

register = template.Library()

EMPTY = formatting.EMPTY
# What merchants read for an outcome or a blocked try-on's reason.
LABELS = {
    "debited": "Successful",
    "failed": "Failed",
    "credit_limit_reached": "Out of credits",
    "end_customer_quota": "Customer quota",
    "quota_exhausted": "Quota used up",
    "no_plan": "No plan",
    "paused": "Customer paused",
    "cancelled": "Customer cancelled",
    "topup": "Top-up",
}


@register.filter
def num(value: Any) -> str:
    """12345 → "12,345"; None → "—"."""
    return EMPTY if value is None else f"{int(value):,}"


@register.filter
def signed(value: int) -> str:
    """1200 → "+1,200"; -300 → "−300" (a true minus sign)."""
    return f"+{value:,}" if value >= 0 else f"−{-value:,}"


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """0.9734 → "97.3%"."""
    return EMPTY if value is None else f"{value * 100:.{digits}f}%"


@register.filter
def seconds(ms: int | float | None, rounded_to: int = 0) -> str:
    """A generation time: 4200 → "4.2 s", 42 → "42 ms" (genvoris.formatting.duration)."""
    return formatting.duration(ms, rounded_to)


@register.filter
def price(value: Any, currency: str = "") -> str:
    """A price per credit: "0.0800" → "$0.08", 0 → "Free" (genvoris.formatting.price)."""
    return formatting.price(value, currency or None)


@register.filter
def share(value: int | float | None, total: int | float | None) -> str:
    """A CSS width in percent, clamped to 0–100, with a dot as the decimal mark whatever the locale."""
    if not value or not total:
        return "0"
    return f"{max(0.0, min(100.0, 100 * value / total)):.1f}"


@register.filter
def label(code: str) -> str:
    return LABELS.get(code, code.replace("_", " ").capitalize())


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, in words; "just now" under a minute."""
    if moment is None:
        return EMPTY
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.simple_tag(takes_context=True)
def query(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (None or "" drops one)."""
    params: QueryDict = context["request"].GET.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value not in (None, ""):
            params[name] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def money(cents: int | None, currency: str = "") -> str:
    """123456, "EUR" → "1,234.56 EUR": minor units shown as hundredths for every currency."""
    if cents is None:
        return EMPTY
    sign = "−" if cents < 0 else ""
    whole, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{whole:,}.{rest:02d}{' ' + currency if currency else ''}"


@register.filter
def ratio(value: float | None, digits: int = 2) -> str:
    """1.5 → "1.50"; None → "—"."""
    return EMPTY if value is None else f"{value:.{digits}f}"
