"""Try-ons as the webhook outbox (SPEC §7): the committed TryOnEvent row is the record of what to
report, so a try-on writes nothing for webhooks beyond the bits in its own insert.

The track service sets the bits (`signals`); the worker calls `tryon_webhooks_dispatch`, which
turns flagged rows into WebhookEvents and clears the bits in one transaction, so each try-on is
reported once. A rolled-back try-on has no row, so it reports nothing.
"""

from datetime import datetime
from typing import Any

from django.db import transaction

from genvoris.fields import iso_utc
from quotas.models import UsagePeriod
from quotas.webhooks import customer_data, usage_data, warning_at
from stores.webhooks.catalogue import subscribes, subscribes_any
from stores.webhooks.models import WebhookEvent
from tryon.models import TryOnEvent

_TRYON_TYPES = {TryOnEvent.Outcome.DEBITED: "tryon.completed", TryOnEvent.Outcome.FAILED: "tryon.failed"}
_EXHAUSTED_TYPES = ("customer.quota_exhausted", "end_customer.quota_exhausted")
_WARNING_TYPE = "end_customer.quota_warning"


def signals(
    topics: list[str], outcome: str, *, used: int | None = None, limit: int | None = None, reason: str = ""
) -> int:
    """The `webhooks` bits of a try-on about to be inserted: what happened that the store's
    endpoints subscribe to. `used` and `limit` are the shopper's period after a debit."""
    if not topics:
        return 0
    bits = 0
    tryon_type = _TRYON_TYPES.get(TryOnEvent.Outcome(outcome))
    if tryon_type is not None and subscribes(topics, tryon_type):
        bits |= TryOnEvent.WEBHOOK_TRYON
    if used is not None and limit is not None:
        if used == warning_at(limit) and subscribes(topics, _WARNING_TYPE):
            bits |= TryOnEvent.WEBHOOK_QUOTA_WARNING
        if used == limit and subscribes_any(topics, *_EXHAUSTED_TYPES):
            bits |= TryOnEvent.WEBHOOK_QUOTA_EXHAUSTED
    if reason == "quota_exhausted" and subscribes_any(topics, *_EXHAUSTED_TYPES):
        bits |= TryOnEvent.WEBHOOK_QUOTA_EXHAUSTED
    return bits


def tryon_webhooks_dispatch(now: datetime, batch: int) -> int:
    """Report flagged try-ons, a batch at a time, until none is left; the events made."""
    made = 0
    while True:
        rows, events = _dispatch_batch(batch)
        made += events
        if rows < batch:
            return made


@transaction.atomic
def _dispatch_batch(batch: int) -> tuple[int, int]:
    rows = list(
        TryOnEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(webhooks__gt=0)
        .select_related("store", "end_customer__plan")
        .order_by("id")[:batch]
    )
    events = [event for row in rows for event in _events_of(row)]
    # A row is locked while it is reported and its bits cleared in the same commit; the unique
    # (store, type, source) is the net under that.
    WebhookEvent.objects.bulk_create(events, ignore_conflicts=True)
    TryOnEvent.objects.filter(pk__in=[row.pk for row in rows]).update(webhooks=0)
    return len(rows), len(events)


def _events_of(row: TryOnEvent) -> list[WebhookEvent]:
    topics = row.store.webhook_topics or []
    out: list[tuple[str, dict[str, Any]]] = []
    customer = customer_data(row.end_customer) if row.end_customer else None
    if row.webhooks & TryOnEvent.WEBHOOK_TRYON:
        out.append((_TRYON_TYPES[TryOnEvent.Outcome(row.outcome)], _tryon_data(row, customer)))
    if row.webhooks & (TryOnEvent.WEBHOOK_QUOTA_WARNING | TryOnEvent.WEBHOOK_QUOTA_EXHAUSTED):
        period = _period_at(row)
        if period is not None:
            if row.webhooks & TryOnEvent.WEBHOOK_QUOTA_WARNING:
                usage = usage_data(period, used=warning_at(period.limit))
                out.append((_WARNING_TYPE, {"customer": customer, "usage": usage, "tryOnId": row.public_id}))
            if row.webhooks & TryOnEvent.WEBHOOK_QUOTA_EXHAUSTED:
                usage = usage_data(period, used=max(period.used, period.limit) if not row.debited else period.limit)
                data = {"customer": customer, "usage": usage, "tryOnId": row.public_id}
                out.extend((event_type, data) for event_type in _EXHAUSTED_TYPES)
    return [
        WebhookEvent(store_id=row.store_id, type=t, data=data, source=row.public_id, created_at=row.created_at)
        for t, data in out
        if subscribes(topics, t)
    ]


def _tryon_data(row: TryOnEvent, customer: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "tryOn": {
            "id": row.public_id,
            "outcome": row.outcome,
            "productType": row.product_type,
            "productTitle": row.product_title,
            "pageUrl": row.page_url,
            "variationCount": row.variation_count,
            "generationTimeMs": row.generation_time_ms,
            "createdAt": iso_utc(row.created_at),
        },
        "customer": customer,
        "creditsDebited": 1 if row.debited else 0,
    }


def _period_at(row: TryOnEvent) -> UsagePeriod | None:
    return (
        UsagePeriod.objects.filter(
            customer_id=row.end_customer_id, period_start__lte=row.created_at, period_end__gt=row.created_at
        )
        .order_by("-period_start")
        .first()
    )
