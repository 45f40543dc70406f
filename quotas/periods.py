"""Usage windows: 30 days, back to back from the customer's first period."""

from datetime import datetime, timedelta

PERIOD = timedelta(days=30)


def window_at(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The window holding `now`, continuing the sequence that [start, end) belongs to."""
    if now < end:
        return start, end
    skipped = (now - end) // PERIOD
    new_start = end + skipped * PERIOD
    return new_start, new_start + PERIOD
