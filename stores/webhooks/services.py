"""Every write to a store's webhook endpoints and their deliveries, other than the worker's."""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from genvoris.errors import invalid_field
from genvoris.ratelimit import enforce
from stores.models import AuditEntry, Store
from stores.services import Actor, audit_record
from stores.webhooks.catalogue import ALL, SUBSCRIBABLE, TEST
from stores.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from stores.webhooks.signing import new_secret
from stores.webhooks.targets import UrlRefused, check_url
from stores.webhooks.transport import Response
from stores.webhooks.worker import delivery_attempt, delivery_claim

MAX_ENDPOINTS_PER_STORE = 20
ROTATION_GRACE = timedelta(hours=24)
TEST_PINGS_PER_MINUTE = 6
_SECRET_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=")


def validated_events(events: Any) -> list[str]:
    """A subscription: known event types (or "*" for all of them), each once, in catalogue order."""
    if events is None:
        return [ALL]
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise invalid_field("events", 'Must be a non-empty list of event types, or ["*"] for every type.')
    unknown = [e for e in events if e != ALL and e not in SUBSCRIBABLE]
    if unknown:
        raise invalid_field("events", f"Unknown event type {unknown[0][:64]!r}; see the list in the documentation.")
    if ALL in events:
        return [ALL]
    return [e for e in SUBSCRIBABLE if e in events]


def validated_secret(secret: Any) -> str:
    if secret is None:
        return new_secret()
    if not isinstance(secret, str) or not 24 <= len(secret) <= 128 or not set(secret) <= _SECRET_CHARS:
        raise invalid_field(
            "secret",
            "Must be 24 to 128 characters of letters, digits and -_.~+/=; or leave it out for a generated one.",
        )
    return secret


def _validated_url(url: Any) -> str:
    try:
        return check_url(url)
    except UrlRefused as refused:
        raise invalid_field("url", str(refused)) from None


def _validated_description(description: Any) -> str:
    if not isinstance(description, str) or len(description.strip()) > 200:
        raise invalid_field("description", "Must be text of at most 200 characters.")
    return description.strip()


def _lock_store(store: Store) -> None:
    """Endpoint changes of one store queue here, so the subscriptions they leave are complete."""
    Store.objects.select_for_update(no_key=True).filter(pk=store.pk).values_list("pk", flat=True).get()


def _topics_refresh(store: Store) -> None:
    topics: set[str] = set()
    for events in WebhookEndpoint.objects.filter(store=store, active=True).values_list("events", flat=True):
        topics.update(events)
    store.webhook_topics = sorted(topics)
    Store.objects.filter(pk=store.pk).update(webhook_topics=store.webhook_topics)


def _audit(endpoint: WebhookEndpoint, action: AuditEntry.Action, actor: Actor, **detail: Any) -> None:
    audit_record(
        store_id=endpoint.store_id,
        action=action,
        target=endpoint.public_id,
        actor=actor,
        detail={"url": endpoint.url, **detail},
    )


@transaction.atomic
def webhook_endpoint_create(
    *,
    store: Store,
    url: Any,
    events: Any = None,
    description: Any = "",
    secret: Any = None,
    actor: Actor,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, which is returned here and never shown again."""
    url, events = _validated_url(url), validated_events(events)
    description, secret = _validated_description(description), validated_secret(secret)
    _lock_store(store)
    if WebhookEndpoint.objects.filter(store=store).count() >= MAX_ENDPOINTS_PER_STORE:
        raise invalid_field("url", f"A store has at most {MAX_ENDPOINTS_PER_STORE} endpoints; delete one first.")
    endpoint = WebhookEndpoint.objects.create(
        store=store, url=url, events=events, description=description, secret=secret
    )
    _topics_refresh(store)
    _audit(endpoint, AuditEntry.Action.WEBHOOK_CREATED, actor, events=events)
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: Actor,
    url: Any = None,
    events: Any = None,
    description: Any = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change what was sent; the store's subscriptions follow. A disabled endpoint gets no new
    deliveries; those already made keep their schedule (and are refused at send time if the
    endpoint is still disabled then: see the worker)."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = _validated_url(url)
    if events is not None:
        changes["events"] = validated_events(events)
    if description is not None:
        changes["description"] = _validated_description(description)
    if active is not None:
        changes["active"] = bool(active)
    _lock_store(endpoint.store)
    endpoint.refresh_from_db()
    before = {field: getattr(endpoint, field) for field in changes}
    changed = [field for field, value in changes.items() if before[field] != value]
    if not changed:
        return endpoint
    for field in changed:
        setattr(endpoint, field, changes[field])
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=[*changed, "updated_at"])
    _topics_refresh(endpoint.store)
    _audit(
        endpoint,
        AuditEntry.Action.WEBHOOK_UPDATED,
        actor,
        before={f: before[f] for f in changed},
        after={f: changes[f] for f in changed},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """The endpoint goes with its delivery log; what it had not received yet is not sent."""
    store = endpoint.store
    _lock_store(store)
    _audit(endpoint, AuditEntry.Action.WEBHOOK_DELETED, actor)
    endpoint.delete()
    _topics_refresh(store)


@transaction.atomic
def webhook_secret_rotate(*, endpoint: WebhookEndpoint, actor: Actor, now: datetime | None = None) -> str:
    """A new secret, returned once; the old one keeps signing beside it for 24 hours, so the
    receiver can switch without missing a delivery."""
    now = now or timezone.now()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = new_secret()
    endpoint.previous_secret, endpoint.secret = endpoint.secret, secret
    endpoint.previous_secret_expires_at = expires = now + ROTATION_GRACE
    endpoint.updated_at = now
    endpoint.save(update_fields=["previous_secret", "secret", "previous_secret_expires_at", "updated_at"])
    _audit(endpoint, AuditEntry.Action.WEBHOOK_SECRET_ROTATED, actor, previous_valid_until=expires.isoformat())
    return secret


def webhook_test_send(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> tuple[WebhookDelivery, Response]:
    """A `webhook.test` event for this endpoint only, sent now, while the merchant waits; if it
    fails it stays in the outbox and is retried like any delivery. At most six a minute."""
    enforce(
        f"webhook-test:{endpoint.public_id}",
        limit=TEST_PINGS_PER_MINUTE,
        window_seconds=60,
        message="Too many test pings for this endpoint; wait a minute.",
    )
    now = now or timezone.now()
    delivery = _test_delivery(endpoint, now)
    claim = delivery_claim(delivery=delivery, now=now)
    assert claim is not None  # nobody else knows of this delivery yet
    result = delivery_attempt(claim)
    delivery.refresh_from_db()
    return delivery, result.response


@transaction.atomic
def _test_delivery(endpoint: WebhookEndpoint, now: datetime) -> WebhookDelivery:
    event = WebhookEvent.objects.create(
        store_id=endpoint.store_id,
        type=TEST,
        data={
            "endpointId": endpoint.public_id,
            "message": "A test ping from Genvoris. If your endpoint verified this signature, it is set up.",
        },
        dispatched=True,
        created_at=now,
    )
    return WebhookDelivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=now)


@transaction.atomic
def webhook_delivery_resend(*, delivery: WebhookDelivery, now: datetime | None = None) -> bool:
    """Put a dead delivery back in the outbox with a fresh retry schedule; False if it is not dead."""
    now = now or timezone.now()
    resent = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.DEAD).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=now, resend_base=F("attempts")
    )
    return resent == 1
