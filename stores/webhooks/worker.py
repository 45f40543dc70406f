"""The delivery side of the outbox: fan events out to endpoints, claim due deliveries, attempt them.

Each step is a short transaction; no transaction is open while a request is in flight. A claim
moves the delivery's `next_attempt_at` one lease ahead before the request is made, so several
workers never send the same attempt (the claim is `FOR UPDATE SKIP LOCKED` on PostgreSQL, and a
conditional update on every database), and a worker that dies mid-attempt leaves a delivery that
falls due again when the lease ends: retried, never dropped.
"""

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from stores.webhooks.catalogue import subscribes
from stores.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from stores.webhooks.signing import signature_header
from stores.webhooks.transport import TIMEOUT_SECONDS, Response, post

# After the n-th failed attempt, the next one waits RETRY_DELAYS[n-1] seconds; after the last, dead.
RETRY_DELAYS = (10, 30, 120, 300, 900, 1800, 2700, 3600)
# How long a claimed attempt may take before its delivery is due again: past the request's
# deadline (DNS, connect, TLS and the answer all fit in TIMEOUT_SECONDS) with a wide margin.
LEASE = timedelta(seconds=TIMEOUT_SECONDS * 6)
INTERRUPTED = "The worker stopped during this attempt; it was retried."

# Outbox rows kept by later apps (the try-on events of `tryon`), turned into WebhookEvents by the
# callables they register here: stores cannot import them (SPEC §1: stores ← quotas ← tryon).
OutboxSource = Callable[[datetime, int], int]
_SOURCES: list[OutboxSource] = []


def register_outbox_source(source: OutboxSource) -> None:
    if source not in _SOURCES:
        _SOURCES.append(source)


def webhooks_dispatch(*, now: datetime, batch: int = 500) -> int:
    """Turn every registered outbox's due rows into events, then events into deliveries."""
    for source in _SOURCES:
        source(now, batch)
    made = 0
    while True:
        count, deliveries = _fan_out(now=now, batch=batch)
        made += deliveries
        if count < batch:
            return made


@transaction.atomic
def _fan_out(*, now: datetime, batch: int) -> tuple[int, int]:
    """One batch of events not yet dispatched: a delivery for each active endpoint of the store that
    subscribes to the type and existed when the event happened. Returns (events, deliveries)."""
    events = list(
        WebhookEvent.objects.select_for_update(skip_locked=True)
        .filter(dispatched=False)
        .order_by("id")
        .only("id", "store_id", "type", "created_at")[:batch]
    )
    if not events:
        return 0, 0
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(store_id__in={e.store_id for e in events}, active=True).only(
        "id", "store_id", "events", "created_at"
    ):
        endpoints.setdefault(endpoint.store_id, []).append(endpoint)
    deliveries = [
        WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=now)
        for event in events
        for endpoint in endpoints.get(event.store_id, [])
        if subscribes(endpoint.events, event.type) and endpoint.created_at <= event.created_at
    ]
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(dispatched=True)
    return len(events), len(deliveries)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    endpoint_id: int
    number: int  # the attempt's number, 1 for the first
    attempt_id: int


def deliveries_claim(*, now: datetime, limit: int, busy_endpoints: Iterable[int] = ()) -> list[Claim]:
    """Claim up to `limit` due deliveries, at most one per endpoint and none of `busy_endpoints`
    (those this worker has in flight), so one slow endpoint holds one worker thread at most."""
    busy = set(busy_endpoints)
    claims: list[Claim] = []
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=WebhookDelivery.OPEN, next_attempt_at__lte=now, endpoint__active=True)
            .exclude(endpoint_id__in=busy)
            .order_by("next_attempt_at", "id")
            .values_list("id", "endpoint_id", "attempts")[: limit * 4]
        )
        for delivery_id, endpoint_id, attempts in due:
            if endpoint_id in busy:
                continue
            claim = _claim_one(delivery_id, endpoint_id, attempts, now)
            if claim is not None:
                claims.append(claim)
                busy.add(endpoint_id)
                if len(claims) == limit:
                    break
    return claims


def delivery_claim(*, delivery: WebhookDelivery, now: datetime) -> Claim | None:
    """Claim this one delivery now, whenever it was due (a test ping sent inline, a resend)."""
    with transaction.atomic():
        return _claim_one(delivery.pk, delivery.endpoint_id, delivery.attempts, now, only_if_due=False)


def _claim_one(
    delivery_id: int, endpoint_id: int, attempts: int, now: datetime, *, only_if_due: bool = True
) -> Claim | None:
    open_ = WebhookDelivery.objects.filter(pk=delivery_id, attempts=attempts, status__in=WebhookDelivery.OPEN)
    if only_if_due:
        open_ = open_.filter(next_attempt_at__lte=now)
    # Compare-and-set on the attempt count: of two claimers that read the same row, one wins.
    if not open_.update(attempts=F("attempts") + 1, next_attempt_at=now + LEASE, last_attempt_at=now):
        return None
    WebhookAttempt.objects.filter(delivery_id=delivery_id, finished_at__isnull=True).update(
        finished_at=now, error=INTERRUPTED
    )
    attempt = WebhookAttempt.objects.create(delivery_id=delivery_id, number=attempts + 1, started_at=now)
    return Claim(delivery_id=delivery_id, endpoint_id=endpoint_id, number=attempts + 1, attempt_id=attempt.pk)


def envelope(event: WebhookEvent) -> bytes:
    """The body every attempt of every delivery of the event carries, byte for byte."""
    return json.dumps(envelope_json(event), separators=(",", ":"), ensure_ascii=False).encode()


def envelope_json(event: WebhookEvent) -> dict[str, Any]:
    """The envelope of SPEC §7, as the receiver gets it."""
    return {"id": event.public_id, "type": event.type, "created": int(event.created_at.timestamp()), "data": event.data}


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and the previous one during its grace period after a rotation."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


@dataclass(frozen=True)
class AttemptResult:
    response: Response
    status: str  # the delivery's status after it: succeeded, failed (a retry is due) or dead
    recorded: bool  # False if the lease had run out and a later attempt owns the delivery


def delivery_attempt(claim: Claim, *, send: Callable[..., Response] = post) -> AttemptResult:
    """Make the claimed attempt: sign the envelope with a fresh timestamp, POST it, record it."""
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=claim.delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    body = envelope(event)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Genvoris-Event": event.type,
        "X-Genvoris-Delivery": delivery.public_id,
        "X-Genvoris-Attempt": str(claim.number),
        "X-Genvoris-Signature": signature_header(signing_secrets(endpoint, timezone.now()), timestamp, body),
    }
    response = send(endpoint.url, body, headers)
    return _record(claim, response, finished=timezone.now())


@transaction.atomic
def _record(claim: Claim, response: Response, *, finished: datetime) -> AttemptResult:
    WebhookAttempt.objects.filter(pk=claim.attempt_id).update(
        finished_at=finished,
        status_code=response.status_code,
        latency_ms=response.latency_ms,
        error=response.error[:300],
        response_excerpt=response.excerpt[:1000],
        address=response.address[:64],
    )
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=claim.delivery_id).first()
    if delivery is None or delivery.attempts != claim.number:
        # Deleted with its endpoint, or the lease ran out and a later attempt owns it now.
        return AttemptResult(response, delivery.status if delivery else "deleted", recorded=False)
    retries_used = claim.number - delivery.resend_base
    if response.ok:
        status, next_at = WebhookDelivery.Status.SUCCEEDED, None
    elif retries_used > len(RETRY_DELAYS):
        status, next_at = WebhookDelivery.Status.DEAD, None
    else:
        status = WebhookDelivery.Status.FAILED
        next_at = finished + timedelta(seconds=RETRY_DELAYS[retries_used - 1])
    delivery.status, delivery.next_attempt_at = status, next_at
    delivery.last_status_code, delivery.last_latency_ms = response.status_code, response.latency_ms
    delivery.last_error = response.error[:300]
    delivery.save(update_fields=["status", "next_attempt_at", "last_status_code", "last_latency_ms", "last_error"])
    return AttemptResult(response, status, recorded=True)


@dataclass(frozen=True)
class Backlog:
    """What waits for the worker: deliveries to disabled endpoints wait for them to be enabled."""

    due: int  # open deliveries to active endpoints whose time has come
    oldest_due_seconds: float  # how long the oldest of them has waited: the worker's lag


def webhooks_backlog(*, now: datetime) -> Backlog:
    due = WebhookDelivery.objects.filter(
        status__in=WebhookDelivery.OPEN, next_attempt_at__lte=now, endpoint__active=True
    )
    figures = due.aggregate(oldest=Min("next_attempt_at"))
    oldest = figures["oldest"]
    return Backlog(due=due.count(), oldest_due_seconds=(now - oldest).total_seconds() if oldest else 0.0)
